package swc

import (
	"cmp"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// VV is a version vector: replica → counter, every counter up to it seen.
type VV map[ID]uint64

// Clone returns a copy.
func (v VV) Clone() VV {
	out := make(VV, len(v))
	for id, n := range v {
		out[id] = n
	}
	return out
}

// Covers reports whether d is in v.
func (v VV) Covers(d Dot) bool { return d.N <= v[d.ID] }

// raise sets v[id] to at least n.
func (v VV) raise(id ID, n uint64) {
	if n > v[id] {
		v[id] = n
	}
}

// DotVal is one version of a key: its dot and the value written there.
type DotVal struct {
	Dot Dot
	Val metadata.Value
}

// DCC is a dot causal container, the object of one key: its current
// versions (siblings, each under the dot that wrote it; tombstones are ⊥
// values) and its causal context, the dots the object has seen. Vals is
// sorted by dot. Stored objects are stripped (context entries the node clock
// already covers are left out) and filled again before use.
type DCC struct {
	Vals []DotVal
	Ctx  VV
}

func cmpDot(a, b Dot) int {
	if c := cmp.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.N, b.N)
}

// Clone returns a copy sharing the values' bytes (never modified).
func (d DCC) Clone() DCC {
	return DCC{Vals: slices.Clone(d.Vals), Ctx: d.Ctx.Clone()}
}

// Dots returns the dots of the values, sorted.
func (d DCC) Dots() []Dot {
	out := make([]Dot, len(d.Vals))
	for i, dv := range d.Vals {
		out[i] = dv.Dot
	}
	return out
}

// Values returns the values (siblings).
func (d DCC) Values() []metadata.Value {
	out := make([]metadata.Value, len(d.Vals))
	for i, dv := range d.Vals {
		out[i] = dv.Val
	}
	return out
}

// Distinct returns the values without repeats: concurrent write-backs of
// one winner on several nodes leave equal values under different dots,
// which are one version to a reader.
func (d DCC) Distinct() []metadata.Value {
	out := make([]metadata.Value, 0, len(d.Vals))
	for _, dv := range d.Vals {
		if !slices.ContainsFunc(out, func(v metadata.Value) bool { return metadata.Compare(v, dv.Val) == 0 }) {
			out = append(out, dv.Val)
		}
	}
	return out
}

// has reports whether d holds a value under dot.
func (d DCC) has(dot Dot) bool {
	_, ok := slices.BinarySearchFunc(d.Vals, dot, func(dv DotVal, t Dot) int { return cmpDot(dv.Dot, t) })
	return ok
}

// Add puts v under dot and records dot in the context.
func (d *DCC) Add(dot Dot, v metadata.Value) {
	i, ok := slices.BinarySearchFunc(d.Vals, dot, func(dv DotVal, t Dot) int { return cmpDot(dv.Dot, t) })
	if ok {
		d.Vals[i].Val = v
	} else {
		d.Vals = slices.Insert(d.Vals, i, DotVal{Dot: dot, Val: v})
	}
	if d.Ctx == nil {
		d.Ctx = VV{}
	}
	d.Ctx.raise(dot.ID, dot.N)
}

// Discard drops the values whose dots v covers (a write that has seen them
// replaces them) and joins v into the context.
func (d *DCC) Discard(v VV) {
	d.Vals = slices.DeleteFunc(d.Vals, func(dv DotVal) bool { return v.Covers(dv.Dot) })
	if d.Ctx == nil {
		d.Ctx = VV{}
	}
	for id, n := range v {
		d.Ctx.raise(id, n)
	}
}

// Sync merges two versions of one object: a value survives if both hold it,
// or if the side lacking it has not seen its dot (so it is not superseded
// there). The context is the pointwise maximum. Both inputs must be filled.
func Sync(a, b DCC) DCC {
	out := DCC{Ctx: make(VV, max(len(a.Ctx), len(b.Ctx)))}
	for _, dv := range a.Vals {
		if b.has(dv.Dot) || !b.Ctx.Covers(dv.Dot) {
			out.Vals = append(out.Vals, dv)
		}
	}
	for _, dv := range b.Vals {
		if !a.has(dv.Dot) && !a.Ctx.Covers(dv.Dot) {
			out.Vals = append(out.Vals, dv)
		}
	}
	slices.SortFunc(out.Vals, func(x, y DotVal) int { return cmpDot(x.Dot, y.Dot) })
	for _, ctx := range []VV{a.Ctx, b.Ctx} {
		for id, n := range ctx {
			out.Ctx.raise(id, n)
		}
	}
	out.dedupe()
	return out
}

// dedupe keeps one dot per distinct value, the greatest. Several nodes that
// write the same LWW winner back at once leave equal values under different
// dots; every node keeping the same one makes them collapse without a new
// write (the context still covers the dots dropped, so Sync drops them on
// the nodes that have not deduplicated yet).
func (d *DCC) dedupe() {
	if len(d.Vals) < 2 {
		return
	}
	var keep []DotVal
	for i, dv := range d.Vals {
		dup := false
		for j, o := range d.Vals {
			if j != i && metadata.Compare(o.Val, dv.Val) == 0 && cmpDot(o.Dot, dv.Dot) > 0 {
				dup = true
				break
			}
		}
		if !dup {
			keep = append(keep, dv)
		}
	}
	d.Vals = keep
}

// Strip removes the context entries the node clock's bases cover: the
// stored form, usually an empty context.
func (d *DCC) Strip(c BVV) {
	for id, n := range d.Ctx {
		if n <= c[id].Base {
			delete(d.Ctx, id)
		}
	}
	if len(d.Ctx) == 0 {
		d.Ctx = nil
	}
}

// Fill adds the node clock's bases back into the context (before every read
// or merge of a stored object).
func (d *DCC) Fill(c BVV) {
	if d.Ctx == nil {
		d.Ctx = make(VV, len(c))
	}
	for id, e := range c {
		d.Ctx.raise(id, e.Base)
	}
}

// AddToClock records every value dot of d in c.
func (d DCC) AddToClock(c BVV) {
	for _, dv := range d.Vals {
		c.Add(dv.Dot)
	}
}

// allTombstones reports whether d has values and all of them are ⊥.
func (d DCC) allTombstones() bool {
	for _, dv := range d.Vals {
		if !dv.Val.Tomb {
			return false
		}
	}
	return len(d.Vals) > 0
}

// sameDots reports whether two sorted dot lists are equal.
func sameDots(a, b []DotVal) bool {
	return slices.EqualFunc(a, b, func(x, y DotVal) bool { return x.Dot == y.Dot })
}

// sameCtx reports whether two contexts are equal (nil equals empty).
func sameCtx(a, b VV) bool {
	if len(a) != len(b) {
		return false
	}
	for id, n := range a {
		if m, ok := b[id]; !ok || m != n {
			return false
		}
	}
	return true
}
