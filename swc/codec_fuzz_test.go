package swc

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

// The fuzz targets of the wire and disk codec. Seeds come from the
// package's own encoders, by way of real cores; the committed corpus is in
// testdata/fuzz/<Target>/.

var fuzzMembers = []string{"a", "b", "c"}

// fuzzCore builds a core as the package's benchmarks do (the simulator's
// config, a fixed clock and random source), so that it gets the same
// replica id every time and a seed recorded from one core is a message of
// the same sender to every fresh core.
func fuzzCore(t testing.TB, name string) *Core {
	t.Helper()
	c, err := New(name, SimConfig(), sim.Env{Clock: func() int64 { return 1 }, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	c.SetMembers(fuzzMembers)
	c.Ready()
	return c
}

// fuzzTarget is the core FuzzStep steps: b with a live key and a deleted
// one, and its first exchanges started, so that a sync reply from a finds
// the exchange it answers.
func fuzzTarget(t testing.TB) *Core {
	c, _ := newFuzzTarget(t)
	return c
}

// newFuzzTarget returns the fuzz target and the sync requests it sent.
func newFuzzTarget(t testing.TB) (*Core, []sim.Envelope) {
	c := fuzzCore(t, "b")
	_ = c.Put(fpH, []byte("k1"), []byte("v1"))
	_ = c.Delete(fpH, []byte("k2"))
	c.Ready()
	for range 6 {
		c.Tick()
	}
	return c, c.Ready().Send
}

// fuzzSource is a with objects of its own, some of them in b's groups.
func fuzzSource(t testing.TB) *Core {
	c := fuzzCore(t, "a")
	for _, k := range []string{"k1", "k3", "k4", "k5"} {
		_ = c.Put(fpH, []byte(k), []byte("from a"))
	}
	_ = c.Delete(fpH, []byte("k4"))
	return c
}

// stepSeeds returns messages a sends b: broadcasts, sync requests and
// the replies to b's requests (the first ones answer the exchanges every
// fresh fuzz target has open), pumped between the two for a few ticks.
func stepSeeds(t testing.TB) [][]byte {
	a, b := fuzzSource(t), fuzzTarget(t)
	_, reqs := newFuzzTarget(t)
	perType := map[byte]int{}
	var seeds [][]byte
	q := append(a.Ready().Send, reqs...)
	for range 20 {
		a.Tick()
		b.Tick()
		q = append(q, a.Ready().Send...)
		q = append(q, b.Ready().Send...)
		for len(q) > 0 {
			e := q[0]
			q = q[1:]
			switch e.To {
			case "a":
				_ = a.Step("b", e.Data)
				q = append(q, a.Ready().Send...)
			case "b":
				if perType[e.Data[0]] < 3 {
					perType[e.Data[0]]++
					seeds = append(seeds, e.Data)
				}
				_ = b.Step("a", e.Data)
				q = append(q, b.Ready().Send...)
			}
		}
	}
	return seeds
}

// FuzzStep feeds arbitrary messages from a to a core with state. Step
// must refuse a malformed message with an error and apply a well-formed
// one without panicking, leaving the core's invariants (checkInvariants)
// intact; what the core sends in reply, or on the next ticks, must be
// accepted by a peer's Step.
func FuzzStep(f *testing.F) {
	for _, msg := range stepSeeds(f) {
		f.Add(msg)
	}
	f.Add([]byte{})
	f.Add([]byte{msgBroadcast})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := fuzzTarget(t)
		if farDot(c, msg) {
			t.Skip("a value dot far above the node clock (see farDot)")
		}
		if err := c.Step("a", msg); err != nil {
			return
		}
		out := c.Ready().Send
		for range 3 {
			c.Tick()
			out = append(out, c.Ready().Send...)
		}
		checkInvariants(t, c)
		for _, e := range out {
			peer := fuzzCore(t, e.To)
			if err := peer.Step("b", e.Data); err != nil {
				t.Fatalf("after Step(%x), the core sent %s a message it refuses: %x: %v", msg, e.To, e.Data, err)
			}
			peer.Ready()
		}
	})
}

// maxFuzzGap bounds how far above the target's clock base a fuzzed value
// dot may lie.
const maxFuzzGap = 1 << 20

// farDot reports whether msg decodes and carries a value dot more than
// maxFuzzGap above the target's clock base for its replica. Step records
// every remote value dot in the node clock, whose bitmap (bvv.go) takes a
// bit per counter between the base and the dot; Step refuses gaps above
// maxDotGap (2^30), but one just below it still costs 128 MiB, far too slow
// for a fuzz iteration, so FuzzStep leaves such messages out
// (TestFarDotRefused covers the refusal).
func farDot(c *Core, msg []byte) bool {
	h, body, err := decodeMsg(msg)
	if err != nil || h.group >= len(c.groups) {
		return false
	}
	var items []item
	switch v := body.(type) {
	case []item:
		items = v
	case syncResp:
		items = v.items
	}
	clock := c.groups[h.group].clock
	for _, it := range items {
		for _, dv := range it.dcc.Vals {
			if dv.Dot.N > clock[dv.Dot.ID].Base+maxFuzzGap {
				return true
			}
		}
	}
	return false
}

// decodeMsg decodes a message the way Step does, without a core.
func decodeMsg(msg []byte) (header, any, error) {
	r := &reader{b: msg}
	h := decodeHeader(r)
	if r.err != nil {
		return h, nil, r.err
	}
	switch h.typ {
	case msgBroadcast:
		items := r.items()
		return h, items, r.done()
	case msgSyncReq:
		q, err := decodeSyncReq(r)
		return h, q, err
	case msgSyncResp:
		s, err := decodeSyncResp(r)
		return h, s, err
	}
	return h, nil, errMalformed
}

// FuzzDecodeMessage fuzzes the message decoders Step uses, without a core:
// what decodes re-encodes to a message that decodes equally.
func FuzzDecodeMessage(f *testing.F) {
	for _, msg := range stepSeeds(f) {
		f.Add(msg)
	}
	f.Add(encodeSyncReq(1, "a#1", syncReq{ex: 3, clock: BVV{"a#1": {Base: 2, Bits: []uint64{2}}}, cursor: &Dot{ID: "a#1", N: 5}}))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, body, err := decodeMsg(msg)
		if err != nil {
			return
		}
		var enc []byte
		switch v := body.(type) {
		case []item:
			enc = encodeBroadcast(h.group, h.actor, v)
		case syncReq:
			enc = encodeSyncReq(h.group, h.actor, v)
		case syncResp:
			enc = encodeSyncResp(h.group, h.actor, v)
		}
		h2, body2, err := decodeMsg(enc)
		if err != nil || h2 != h || !reflect.DeepEqual(body, body2) {
			t.Fatalf("decode(encode(%+v %+v)) = %+v %+v, %v", h, body, h2, body2, err)
		}
	})
}

// persisted returns the values of one core's writes: objects, dot-key
// entries and meta records by key.
func persisted(c *Core) (objs, dkmKeys [][]byte, meta map[string][][]byte) {
	meta = map[string][][]byte{}
	for _, w := range c.Ready().Persist {
		switch {
		case w.Delete:
		case w.Keyspace == ObjectKeyspace:
			objs = append(objs, w.Value)
		case w.Keyspace == DKMKeyspace:
			dkmKeys = append(dkmKeys, w.Key)
		case w.Keyspace == MetaKeyspace:
			k := string(w.Key)
			if len(meta[k]) < 3 {
				meta[k] = append(meta[k], w.Value)
			}
		}
	}
	return objs, dkmKeys, meta
}

// diskSeeds is what b persists after syncing with a: objects (live,
// deleted, from either writer), dot-key entries, clocks, watermarks and
// the member → replica id map.
func diskSeeds(t testing.TB) (objs, dkmKeys [][]byte, meta map[string][][]byte) {
	a, b := fuzzSource(t), fuzzCore(t, "b")
	_ = b.Put(fpH, []byte("k1"), []byte("concurrent"))
	_ = b.Delete(fpH, []byte("k2"))
	for _, e := range a.Ready().Send {
		if e.To == "b" {
			_ = b.Step("a", e.Data)
		}
	}
	return persisted(b)
}

// FuzzDecodeDCC fuzzes the decoding of a stored object (Restore; the same
// reader decodes the objects in broadcasts and sync replies).
func FuzzDecodeDCC(f *testing.F) {
	objs, _, _ := diskSeeds(f)
	for _, b := range objs {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDCC(b)
		if err != nil {
			return
		}
		enc := appendDCC(nil, d)
		d2, err := decodeDCC(enc)
		if err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("decodeDCC(appendDCC(%+v)) = %+v, %v", d, d2, err)
		}
		if enc2 := appendDCC(nil, d2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %x then %x", enc, enc2)
		}
	})
}

// FuzzDecodeBVV fuzzes the decoding of a stored node clock.
func FuzzDecodeBVV(f *testing.F) {
	_, _, meta := diskSeeds(f)
	for k, vs := range meta {
		if strings.HasPrefix(k, "clock/") {
			for _, b := range vs {
				f.Add(b)
			}
		}
	}
	f.Add(appendBVV(nil, BVV{"a#1": {Base: 3, Bits: []uint64{0b110, 0, 1}}, "b#1": {Base: 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeBVV(b)
		if err != nil {
			return
		}
		for id, e := range c {
			if !e.Normal() {
				t.Fatalf("decoded entry %s %+v is not normalized", id, e)
			}
		}
		c2, err := decodeBVV(appendBVV(nil, c))
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("decodeBVV(appendBVV(%v)) = %v, %v", c, c2, err)
		}
	})
}

// FuzzDecodeWatermark fuzzes the decoding of a stored watermark matrix.
func FuzzDecodeWatermark(f *testing.F) {
	_, _, meta := diskSeeds(f)
	for k, vs := range meta {
		if strings.HasPrefix(k, "wm/") {
			for _, b := range vs {
				f.Add(b)
			}
		}
	}
	w := NewWatermark()
	w.UpdatePeer("a#1", BVV{"a#1": {Base: 4}, "b#1": {Base: 2}})
	w.UpdatePeer("b#1", BVV{"a#1": {Base: 3}})
	f.Add(appendWatermark(nil, w))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeWatermark(b)
		if err != nil {
			return
		}
		w2, err := decodeWatermark(appendWatermark(nil, w))
		if err != nil || !reflect.DeepEqual(w, w2) {
			t.Fatalf("decodeWatermark(appendWatermark(%v)) = %v, %v", w.cols, w2.cols, err)
		}
	})
}

// FuzzDecodeActors fuzzes the decoding of the stored member → replica id
// map.
func FuzzDecodeActors(f *testing.F) {
	_, _, meta := diskSeeds(f)
	for _, b := range meta[metaActors] {
		f.Add(b)
	}
	f.Add(encodeActors(map[string]ID{"a": "a#1", "b": "b#2", "c": ""}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeActors(b)
		if err != nil {
			return
		}
		m2, err := decodeActors(encodeActors(m))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("decodeActors(encodeActors(%v)) = %v, %v", m, m2, err)
		}
	})
}

// FuzzParseDKMKey fuzzes the decoding of a stored dot-key map entry's key
// (the value is the object's store key, checked when the object is).
func FuzzParseDKMKey(f *testing.F) {
	_, keys, _ := diskSeeds(f)
	for _, k := range keys {
		f.Add(k)
	}
	f.Add(dkmKey(9, Dot{ID: "", N: 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, d, err := parseDKMKey(b)
		if err != nil {
			return
		}
		g2, d2, err := parseDKMKey(dkmKey(g, d))
		if err != nil || g2 != g || d2 != d {
			t.Fatalf("parseDKMKey(dkmKey(%d, %v)) = %d, %v, %v", g, d, g2, d2, err)
		}
	})
}

// FuzzDecodeContext fuzzes the context PutRaw takes back from a caller.
func FuzzDecodeContext(f *testing.F) {
	a := fuzzSource(f)
	_, cc, err := a.GetRaw(fpH, []byte("k1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(cc))
	f.Add([]byte{ctxMagic})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeContext(b)
		if err != nil {
			return
		}
		v2, err := decodeContext(encodeContext(v))
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("decodeContext(encodeContext(%v)) = %v, %v", v, v2, err)
		}
	})
}

// TestFuzzSeeds keeps the seed generators honest: the seeds cover every
// message type and the stored records, and they all decode.
func TestFuzzSeeds(t *testing.T) {
	types := map[byte]bool{}
	for _, msg := range stepSeeds(t) {
		types[msg[0]] = true
		if err := fuzzTarget(t).Step("a", msg); err != nil {
			t.Errorf("seed %x: %v", msg, err)
		}
	}
	if len(types) != 3 {
		t.Errorf("step seeds cover message types %v", types)
	}
	objs, keys, meta := diskSeeds(t)
	clocks, wms := 0, 0
	for k, vs := range meta {
		if strings.HasPrefix(k, "clock/") {
			clocks += len(vs)
		} else if strings.HasPrefix(k, "wm/") {
			wms += len(vs)
		}
	}
	if len(objs) == 0 || len(keys) == 0 || len(meta[metaActors]) == 0 || clocks == 0 || wms == 0 {
		t.Errorf("disk seeds: %d objects, %d dot-key entries, meta %v", len(objs), len(keys), meta)
	}
	for _, b := range objs {
		if _, err := decodeDCC(b); err != nil {
			t.Errorf("object seed %x: %v", b, err)
		}
	}
}
