package swc

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestEntryNorm(t *testing.T) {
	e := Entry{Base: 5}.add(7).add(6) // (5, 0b11) → (7, 0)
	if e.Base != 7 || e.Bits != nil {
		t.Fatalf("norm = %+v; want (7, 0)", e)
	}
	e = Entry{}.add(3).add(70)
	if e.Base != 0 || !e.Contains(3) || e.Contains(2) || !e.Contains(70) || e.Contains(69) || e.Max() != 70 {
		t.Fatalf("sparse entry %+v", e)
	}
	e = e.add(1).add(2) // 1..3 contiguous now
	if e.Base != 3 || !e.Contains(70) || !e.Normal() {
		t.Fatalf("after filling the gap: %+v", e)
	}
}

func TestMissingDots(t *testing.T) {
	a := BVV{"x": {Base: 12}}
	b := BVV{"x": Entry{Base: 5}.add(7).add(8).add(9)}
	got := a.MissingDots(b, []ID{"x"})
	want := []Dot{{"x", 6}, {"x", 10}, {"x", 11}, {"x", 12}}
	if !slices.Equal(got, want) {
		t.Fatalf("missing = %v; want %v", got, want)
	}
}

// model is a set of counters per id: what a BVV must mean.
type model map[ID]map[uint64]bool

func (m model) check(t *testing.T, c BVV) {
	t.Helper()
	for id, set := range m {
		e := c[id]
		if !e.Normal() {
			t.Fatalf("%s not normalized: %+v", id, e)
		}
		var hi uint64
		for n := range set {
			hi = max(hi, n)
		}
		for n := uint64(1); n <= hi+70; n++ {
			if e.Contains(n) != set[n] {
				t.Fatalf("%s contains %d = %v; model %v (entry %+v)", id, n, e.Contains(n), set[n], e)
			}
		}
	}
}

// TestBVVProperties checks Add, Merge, Event and MissingDots against a set
// model, and the invariants of §5.6: a node's own entry never has gaps, and
// clocks only grow.
func TestBVVProperties(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		ids := []ID{"a", "b", "c"}
		c, m := BVV{}, model{}
		add := func(c BVV, m model, d Dot) {
			c.Add(d)
			if m[d.ID] == nil {
				m[d.ID] = map[uint64]bool{}
			}
			m[d.ID][d.N] = true
		}
		for range 300 {
			before := c.Clone()
			switch r.IntN(4) {
			case 0, 1:
				add(c, m, Dot{ids[1+r.IntN(2)], 1 + r.Uint64N(150)})
			case 2:
				d := c.Event("a")
				if m["a"] == nil {
					m["a"] = map[uint64]bool{}
				}
				if m["a"][d.N] {
					t.Fatalf("seed %d: Event reused dot %v", seed, d)
				}
				m["a"][d.N] = true
				if e := c["a"]; len(e.Bits) != 0 {
					t.Fatalf("seed %d: own entry has gaps: %+v", seed, e)
				}
			case 3:
				o, om := BVV{}, model{}
				for range r.IntN(20) {
					add(o, om, Dot{ids[1+r.IntN(2)], 1 + r.Uint64N(150)})
				}
				missing := o.MissingDots(c, o.IDs())
				for _, d := range missing {
					if c.Contains(d) || !o.Contains(d) {
						t.Fatalf("seed %d: missing dot %v wrong", seed, d)
					}
				}
				for id, set := range om {
					for n := range set {
						if !c.Contains(Dot{id, n}) && !slices.Contains(missing, Dot{id, n}) {
							t.Fatalf("seed %d: %s:%d not reported missing", seed, id, n)
						}
						add(BVV{}, m, Dot{id, n})
					}
				}
				c.Merge(o)
			}
			m.check(t, c)
			for id, e := range before { // clocks only grow
				e.each(0, func(n uint64) bool {
					if !c[id].Contains(n) {
						t.Fatalf("seed %d: clock lost %s:%d", seed, id, n)
					}
					return true
				})
			}
		}
	}
}

func TestBVVEncoding(t *testing.T) {
	c := BVV{"a": {Base: 3}, "b": Entry{}.add(2).add(200)}
	got, err := decodeBVV(appendBVV(nil, c))
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range c {
		if got[id].Base != e.Base || !slices.Equal(got[id].Bits, e.Bits) {
			t.Fatalf("%s: %+v; want %+v", id, got[id], e)
		}
	}
	if _, err := decodeBVV([]byte{5, 1}); err == nil {
		t.Fatal("garbage decoded")
	}
}
