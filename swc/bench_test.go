package swc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

func benchCore(b *testing.B, name string) *Core {
	c, err := New(name, SimConfig(), sim.Env{Clock: func() int64 { return 1 }, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		b.Fatal(err)
	}
	c.SetMembers([]string{"a", "b", "c"})
	c.Ready()
	return c
}

// BenchmarkLocalWriteBatch: a local Put plus its share of a 100-write
// batch's Ready (persist writes, one broadcast per group and peer).
func BenchmarkLocalWriteBatch(b *testing.B) {
	c := benchCore(b, "a")
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "client-%d", i)
	}
	val := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = c.Put(fpH, keys[i%len(keys)], val)
		if i%100 == 99 {
			c.Ready()
		}
	}
}

// BenchmarkMergeRemoteBatch: a node receiving a broadcast of 100 new keys.
func BenchmarkMergeRemoteBatch(b *testing.B) {
	src := benchCore(b, "a")
	var msgs [][]byte
	for i := range 100 * 50 {
		_ = src.Put(fpH, fmt.Appendf(nil, "client-%d", i), make([]byte, 64))
		if i%100 == 99 {
			for _, e := range src.Ready().Send {
				if e.To == "b" {
					msgs = append(msgs, e.Data)
				}
			}
		}
	}
	b.ReportAllocs()
	var dst *Core
	for i := 0; b.Loop(); i++ {
		if i%len(msgs) == 0 {
			b.StopTimer()
			dst = benchCore(b, "b")
			dst.admit("a", src.self)
			b.StartTimer()
		}
		if err := dst.Step("a", msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		dst.Ready()
	}
}

// BenchmarkAntiEntropyDiff: serving one anti-entropy round to a peer that
// misses 100 of 10 000 keys (clock diff, dot-key lookups, object encoding).
func BenchmarkAntiEntropyDiff(b *testing.B) {
	src := benchCore(b, "a")
	src.cfg.Groups = 1
	src.groups = []*group{newGroup(0)}
	for i := range 10000 {
		_ = src.Put(fpH, fmt.Appendf(nil, "client-%d", i), make([]byte, 64))
	}
	src.Ready()
	theirs := src.groups[0].clock.Clone()
	theirs[src.self] = Entry{Base: 9900}
	q := syncReq{ex: 1, clock: theirs}
	src.admit("b", "b#1.1")
	b.ReportAllocs()
	for b.Loop() {
		src.serveSync(src.groups[0], "b", q)
		src.Ready()
	}
}
