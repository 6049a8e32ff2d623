package swc

import (
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func val(s string) metadata.Value { return metadata.Value{TS: 1, Node: "n", Data: []byte(s)} }

// TestDCCWorkedExample follows §3.9 rows 1, 2 and 9.
func TestDCCWorkedExample(t *testing.T) {
	var k DCC
	k.Add(Dot{"A", 1}, val("v1"))
	// A puts v2 having seen v1: the context {A:1} discards it.
	k2 := k.Clone()
	k2.Discard(VV{"A": 1})
	k2.Add(Dot{"A", 2}, val("v2"))
	if len(k2.Vals) != 1 || k2.Vals[0].Dot != (Dot{"A", 2}) {
		t.Fatalf("after overwrite: %+v", k2.Vals)
	}
	// C got only the second write: its clock (A: 0|b10) does not cover the
	// context, so strip keeps it.
	c := BVV{}
	c.Add(Dot{"A", 2})
	st := k2.Clone()
	st.Strip(c)
	if st.Ctx["A"] != 2 {
		t.Fatalf("strip dropped an uncovered context: %+v", st.Ctx)
	}
	c.Add(Dot{"A", 1})
	st.Strip(c)
	if st.Ctx != nil {
		t.Fatalf("strip kept a covered context: %+v", st.Ctx)
	}
	// Concurrent writes on both sides of a partition become siblings.
	x, y := k2.Clone(), k2.Clone()
	x.Discard(x.Ctx.Clone())
	x.Add(Dot{"A", 3}, val("x"))
	y.Discard(y.Ctx.Clone())
	y.Add(Dot{"C", 1}, val("y"))
	s := Sync(x, y)
	if len(s.Vals) != 2 || s.Ctx["A"] != 3 || s.Ctx["C"] != 1 {
		t.Fatalf("sync = %+v", s)
	}
	// A write that saw both replaces both.
	s.Discard(s.Ctx.Clone())
	s.Add(Dot{"B", 1}, val("z"))
	if len(Sync(s, x).Vals) != 1 || len(Sync(y, s).Vals) != 1 {
		t.Fatalf("a write that saw the siblings did not replace them")
	}
}

func TestDCCSyncCommutes(t *testing.T) {
	var a, b DCC
	a.Add(Dot{"A", 1}, val("a"))
	b.Add(Dot{"B", 1}, val("b"))
	b.Ctx["A"] = 1 // b saw a's dot and dropped it
	ab, ba := Sync(a, b), Sync(b, a)
	if !sameDots(ab.Vals, ba.Vals) || !sameCtx(ab.Ctx, ba.Ctx) || len(ab.Vals) != 1 || ab.Vals[0].Dot.ID != "B" {
		t.Fatalf("sync(a,b) = %+v, sync(b,a) = %+v", ab, ba)
	}
	if s := Sync(ab, ab); !sameDots(s.Vals, ab.Vals) {
		t.Fatalf("sync is not idempotent")
	}
}

func TestDCCFillAndEncoding(t *testing.T) {
	var d DCC
	d.Add(Dot{"A", 4}, metadata.Value{TS: 9, Node: "x", Tomb: true})
	d.Fill(BVV{"A": {Base: 2}, "B": {Base: 7}})
	if d.Ctx["A"] != 4 || d.Ctx["B"] != 7 {
		t.Fatalf("fill = %+v", d.Ctx)
	}
	got, err := decodeDCC(appendDCC(nil, d))
	if err != nil || !sameDots(got.Vals, d.Vals) || !sameCtx(got.Ctx, d.Ctx) || !got.Vals[0].Val.Tomb {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	if !d.allTombstones() {
		t.Fatal("allTombstones")
	}
}
