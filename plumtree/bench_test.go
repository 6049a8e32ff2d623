package plumtree

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

var benchFP = metadata.FullPrefix{Prefix: "vmq", Sub: "subscriber"}

func benchCore(b *testing.B, self string, members []string) *Core {
	b.Helper()
	var now int64
	c, err := New(self, Config{}, sim.Env{Clock: func() int64 { now++; return now }, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		b.Fatal(err)
	}
	c.SetMembers(members)
	return c
}

// BenchmarkPutBroadcast is the local write path: stamp, DVVSet update,
// encode, Merkle insert, event, eager push and lazy scheduling to a
// 5-node tree.
func BenchmarkPutBroadcast(b *testing.B) {
	c := benchCore(b, "n1", []string{"n1", "n2", "n3", "n4", "n5"})
	keys := make([][]byte, 10_000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "client-%06d", i)
	}
	val := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = c.Put(benchFP, keys[i%len(keys)], val)
		rd := c.Ready()
		if len(rd.Send) == 0 {
			b.Fatal("nothing broadcast")
		}
		if i%1000 == 999 {
			c.bc.outstanding = map[string]map[string]*pendingIHave{} // as if acknowledged
		}
	}
}

// BenchmarkMergeRemote is the receive path of a broadcast: decode, merge
// a newer remote version into the local object, store, forward.
func BenchmarkMergeRemote(b *testing.B) {
	members := []string{"n1", "n2", "n3"}
	src, dst := benchCore(b, "n1", members), benchCore(b, "n2", members)
	const nkeys = 1000
	msgs := make([][]byte, 0, 8*nkeys)
	for round := range 8 {
		for i := range nkeys {
			_ = src.Put(benchFP, fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", round))
			for _, env := range src.Ready().Send {
				if env.To == "n2" && env.Data[0] == msgBroadcast {
					msgs = append(msgs, env.Data)
				}
			}
		}
	}
	if len(msgs) == 0 {
		b.Fatal("no broadcast to n2")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(msgs) == 0 && i > 0 {
			b.StopTimer()
			dst = benchCore(b, "n2", members)
			b.StartTimer()
		}
		if err := dst.Step("n1", msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		dst.Ready()
	}
}

// BenchmarkTreeUpdate measures a Merkle insert, which updates its segment
// and the buckets above it, in a leaf tree of default shape
// holding 100k keys.
func BenchmarkTreeUpdate(b *testing.B) {
	t := newHashTree(TreeShape{Segments: 1 << 20, Width: 1024})
	for i := range 100_000 {
		t.insert(fmt.Sprintf("key-%d", i), uint64(i)+1)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i*97)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t.insert(keys[i%len(keys)], uint64(i)+7)
	}
}

// BenchmarkTreeDiff walks two 100k-key trees that differ in 10 keys.
func BenchmarkTreeDiff(b *testing.B) {
	shape := TreeShape{Segments: 1 << 20, Width: 1024}
	x, y := newHashTree(shape), newHashTree(shape)
	for i := range 100_000 {
		k := fmt.Sprintf("key-%d", i)
		x.insert(k, uint64(i)+1)
		h := uint64(i) + 1
		if i%10_000 == 0 {
			h++
		}
		y.insert(k, h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := diffTrees(x, y); len(d.Different) != 10 {
			b.Fatalf("diff found %d keys", len(d.Different))
		}
	}
}
