package swc

import "testing"

func TestDKM(t *testing.T) {
	k := NewDKM()
	if !k.Insert(Dot{"a", 1}, "k1") || k.Insert(Dot{"a", 1}, "k1") {
		t.Fatal("insert is not idempotent")
	}
	k.Insert(Dot{"b", 2}, "k1")
	if s, ok := k.Key(Dot{"b", 2}); !ok || s != "k1" || k.Len() != 2 {
		t.Fatalf("lookup = %q %v", s, ok)
	}
	if !k.Remove(Dot{"a", 1}) || k.Remove(Dot{"a", 1}) || k.Len() != 1 {
		t.Fatal("remove")
	}
	for _, d := range []Dot{{"n#1.2", 1}, {"x", 1 << 40}} {
		g, got, err := parseDKMKey(dkmKey(7, d))
		if err != nil || g != 7 || got != d {
			t.Fatalf("key round trip %v: %d %v %v", d, g, got, err)
		}
	}
	if _, _, err := parseDKMKey([]byte{1, 2, 3}); err == nil {
		t.Fatal("garbage key parsed")
	}
}

func TestWatermark(t *testing.T) {
	w := NewWatermark()
	w.UpdatePeer("a", BVV{"a": {Base: 5}, "b": {Base: 2}})
	w.UpdatePeer("b", BVV{"a": {Base: 3}, "b": {Base: 4}})
	if m := w.Min("a", []ID{"a", "b"}); m != 3 {
		t.Fatalf("min(a) = %d; want 3", m)
	}
	if m := w.Min("a", []ID{"a", "b", "c"}); m != 0 {
		t.Fatalf("an unknown observer must hold the minimum at 0, got %d", m)
	}
	w.UpdatePeer("b", BVV{"a": {Base: 1}}) // columns never shrink
	if w.Get("b", "a") != 3 {
		t.Fatal("column shrank")
	}
	o := NewWatermark()
	o.UpdatePeer("b", BVV{"a": {Base: 9}, "z": {Base: 1}})
	o.UpdatePeer("q", BVV{"a": {Base: 9}})
	w.LeftJoin(o)
	if w.Get("b", "a") != 9 || w.Get("b", "z") != 0 || w.Column("q") != nil {
		t.Fatalf("left join took more than the left side's cells")
	}
	got, err := decodeWatermark(appendWatermark(nil, w))
	if err != nil || got.Get("a", "a") != 5 || got.Get("b", "a") != 9 {
		t.Fatalf("round trip: %v", err)
	}
	w.RemoveObserver("b")
	if m := w.Min("a", []ID{"a"}); m != 5 {
		t.Fatal("remove")
	}
}
