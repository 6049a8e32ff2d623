package plumtree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

// The fuzz targets of the wire and disk codec. Seeds come from the
// package's own encoders, by way of real cores; the committed corpus is in
// testdata/fuzz/<Target>/.

var fuzzFP = metadata.FullPrefix{Prefix: "vmq", Sub: "subscriber"}

var fuzzMembers = []string{"n1", "n2", "n3"}

// fuzzCore builds a core as the package's benchmarks do (the simulator's
// config, a counting clock, a fixed random source), deterministically: the
// same calls give the same state, so a seed recorded against one core
// (an exchange id, say) still matches the fresh core of every fuzz run.
func fuzzCore(t testing.TB, self string) *Core {
	t.Helper()
	var now int64
	c, err := New(self, SimConfig(), sim.Env{Clock: func() int64 { now++; return now }, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	c.SetMembers(fuzzMembers)
	return c
}

// fuzzTarget is the core FuzzStep steps: n2 with two objects (one
// deleted) and an exchange with n1 under way, so that replies, grafts and
// merges meet state rather than an empty core.
func fuzzTarget(t testing.TB) *Core {
	c, _ := newFuzzTarget(t)
	return c
}

// newFuzzTarget returns the fuzz target and what it sent: its broadcasts
// and the exchange's first request.
func newFuzzTarget(t testing.TB) (*Core, []sim.Envelope) {
	c := fuzzCore(t, "n2")
	if err := c.Put(fuzzFP, []byte("k1"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(fuzzFP, []byte("k2")); err != nil {
		t.Fatal(err)
	}
	if !c.Exchanging() {
		t.Fatal("no exchange with n1") // SetMembers starts one with the first joined peer
	}
	return c, c.Ready().Send
}

// stepSeeds returns messages the cores really send: the broadcasts,
// announcements and exchange traffic of n1 (which has its own objects)
// and of the fuzz target, pumped between the two for a few ticks. n1's
// first reply answers the exchange every fresh fuzz target has open.
func stepSeeds(t testing.TB) [][]byte {
	n1 := fuzzCore(t, "n1")
	n2, sent := newFuzzTarget(t)
	_ = n1.Put(fuzzFP, []byte("k1"), []byte("other"))
	_ = n1.Put(fuzzFP, []byte("k3"), []byte("v3"))
	_ = n1.Put(metadata.FullPrefix{Prefix: "vmq", Sub: "retain"}, []byte("t/1"), []byte("r"))
	perType := map[byte]int{}
	var seeds [][]byte
	keep := func(msg []byte) {
		if perType[msg[0]] < 2 {
			perType[msg[0]]++
			seeds = append(seeds, msg)
		}
	}
	q := append(n1.Ready().Send, sent...)
	for range 20 {
		n1.Tick()
		n2.Tick()
		q = append(q, n1.Ready().Send...)
		q = append(q, n2.Ready().Send...)
		for len(q) > 0 {
			e := q[0]
			q = q[1:]
			keep(e.Data)
			switch e.To {
			case "n1":
				_ = n1.Step("n2", e.Data)
				q = append(q, n1.Ready().Send...)
			case "n2":
				_ = n2.Step("n1", e.Data)
				q = append(q, n2.Ready().Send...)
			}
		}
	}
	return seeds
}

// FuzzStep feeds arbitrary messages from n1 to a core with state. Step
// must refuse a malformed message with an error and apply a well-formed
// one without panicking; and whatever the core sends in reply, or on the
// next ticks, must be accepted by a peer's Step (the encoders and Step's
// decoding agree).
func FuzzStep(f *testing.F) {
	for _, msg := range stepSeeds(f) {
		f.Add(msg)
	}
	skey := string(metadata.EncodeKey(fuzzFP, []byte("k1")))
	tree, _ := metadata.PrefixRange(fuzzFP)
	f.Add(appendString([]byte{msgPrune}, "n1"))
	f.Add(appendAnnounce(nil, msgGraft, announce{skey: skey, vv: vv{{id: "n2", n: 1}}, round: 1, root: "n2"}))
	f.Add(appendString([]byte{msgPullPrefix}, string(tree)))
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := fuzzTarget(t)
		if err := c.Step("n1", msg); err != nil {
			return
		}
		out := c.Ready().Send
		for range 3 {
			c.Tick()
			out = append(out, c.Ready().Send...)
		}
		for _, e := range out {
			peer := fuzzCore(t, e.To)
			if err := peer.Step("n2", e.Data); err != nil {
				t.Fatalf("after Step(%x), the core sent %s a message it refuses: %x: %v", msg, e.To, e.Data, err)
			}
			peer.Ready()
		}
	})
}

// objectSeeds returns stored objects as the core persists them: a live
// value, a tombstone, and siblings from two writers.
func objectSeeds(t testing.TB) [][]byte {
	n1, n2 := fuzzCore(t, "n1"), fuzzCore(t, "n2")
	_ = n1.Put(fuzzFP, []byte("k1"), []byte("v1"))
	_ = n1.Delete(fuzzFP, []byte("k2"))
	_ = n2.Put(fuzzFP, []byte("k1"), []byte("concurrent"))
	_ = n1.Put(fuzzFP, []byte("k3"), nil)
	var seeds [][]byte
	for _, e := range n2.Ready().Send {
		if e.To == "n1" {
			_ = n1.Step("n2", e.Data)
		}
	}
	for _, w := range n1.Ready().Persist {
		if w.Keyspace == Keyspace && !w.Delete {
			seeds = append(seeds, w.Value)
		}
	}
	return seeds
}

// FuzzDecodeDVV fuzzes the decoding of a stored object (Restore; the same
// reader decodes the clocks in Broadcast and Merge). What decodes
// re-encodes to bytes that decode to an equal clock, and the encoding of
// a decoded clock is a fixed point (objects are hashed by their encoding).
func FuzzDecodeDVV(f *testing.F) {
	for _, b := range objectSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDVV(b)
		if err != nil {
			return
		}
		enc := appendDVV(nil, d)
		d2, err := decodeDVV(enc)
		if err != nil {
			t.Fatalf("re-decode of %x (from %x): %v", enc, b, err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("decode(encode(%+v)) = %+v", d, d2)
		}
		if enc2 := appendDVV(nil, d2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %x then %x", enc, enc2)
		}
	})
}

// FuzzDecodeContext fuzzes the context PutRaw takes back from a caller.
func FuzzDecodeContext(f *testing.F) {
	c := fuzzCore(f, "n1")
	_ = c.Put(fuzzFP, []byte("k"), []byte("v"))
	c2 := fuzzCore(f, "n2")
	_ = c2.Put(fuzzFP, []byte("k"), []byte("w"))
	for _, e := range c2.Ready().Send {
		if e.To == "n1" {
			_ = c.Step("n2", e.Data)
		}
	}
	_, cc, err := c.GetRaw(fuzzFP, []byte("k"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(cc))
	f.Add([]byte{ctxTag})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeContext(b)
		if err != nil {
			return
		}
		v2, err := decodeContext(encodeContext(v))
		if err != nil || len(v) != len(v2) || (len(v) > 0 && !reflect.DeepEqual(v, v2)) {
			t.Fatalf("decodeContext(encodeContext(%v)) = %v, %v", v, v2, err)
		}
	})
}

// TestFuzzSeedsDecode keeps the seed generators honest: every seed is
// accepted, so the fuzzers start from valid encodings.
func TestFuzzSeedsDecode(t *testing.T) {
	seeds := stepSeeds(t)
	types := map[byte]bool{}
	for _, msg := range seeds {
		types[msg[0]] = true
		if err := fuzzTarget(t).Step("n1", msg); err != nil {
			t.Errorf("seed %x: %v", msg, err)
		}
	}
	if len(types) < 5 {
		t.Errorf("step seeds cover message types %v only", types)
	}
	for _, b := range objectSeeds(t) {
		if _, err := decodeDVV(b); err != nil {
			t.Errorf("object seed %x: %v", b, err)
		}
	}
	t.Log(fmt.Sprint(len(seeds), " step seeds, types ", types))
}
