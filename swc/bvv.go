package swc

import (
	"math/bits"
	"slices"
)

// ID names a replica in clocks: the node name plus an actor id made at the
// node's first boot ("name#<boot µs hex>.<random hex>"). A node that lost
// its data comes back under a new ID, so its old dots are never reused.
type ID = string

// Dot is one event of one replica: the Nth write it made in a group.
type Dot struct {
	ID ID
	N  uint64
}

// Entry is one replica's row of a node clock: every counter up to Base has
// been seen, and counter Base+1+i has been seen when bit i of Bits is set.
// The bitmap is unbounded and kept normalized (its bit 0 is always clear and
// it has no trailing zero words), so two equal entries are equal
// field by field.
type Entry struct {
	Base uint64
	Bits []uint64
}

// Contains reports whether counter n has been seen.
func (e Entry) Contains(n uint64) bool {
	if n == 0 || n <= e.Base {
		return true
	}
	i := n - e.Base - 1
	w := i / 64
	return w < uint64(len(e.Bits)) && e.Bits[w]&(1<<(i%64)) != 0
}

// Normal reports whether e has no gap-free prefix left in its bitmap: the
// form every operation returns.
func (e Entry) Normal() bool {
	return (len(e.Bits) == 0 || e.Bits[0]&1 == 0) && (len(e.Bits) == 0 || e.Bits[len(e.Bits)-1] != 0)
}

// add returns e with counter n set, normalized. It does not modify e.Bits.
func (e Entry) add(n uint64) Entry {
	if n <= e.Base {
		return e
	}
	i := n - e.Base - 1
	w := int(i / 64)
	b := slices.Clone(e.Bits)
	if w >= len(b) {
		b = append(b, make([]uint64, w+1-len(b))...)
	}
	b[w] |= 1 << (i % 64)
	return Entry{Base: e.Base, Bits: b}.norm()
}

// norm folds the set bits at the bottom of the bitmap into the base, as in
// (5, 0b11) → (7, 0). It may reuse e.Bits.
func (e Entry) norm() Entry {
	ones := 0
	for _, w := range e.Bits {
		t := bits.TrailingZeros64(^w)
		ones += t
		if t < 64 {
			break
		}
	}
	if ones > 0 {
		e.Base += uint64(ones)
		e.Bits = shiftRight(e.Bits, ones)
	}
	for len(e.Bits) > 0 && e.Bits[len(e.Bits)-1] == 0 {
		e.Bits = e.Bits[:len(e.Bits)-1]
	}
	if len(e.Bits) == 0 {
		e.Bits = nil
	}
	return e
}

// shiftRight shifts the bitmap down by n bits into a new slice.
func shiftRight(b []uint64, n int) []uint64 {
	words, rem := n/64, uint(n%64)
	if words >= len(b) {
		return nil
	}
	out := make([]uint64, len(b)-words)
	for i := range out {
		out[i] = b[i+words] >> rem
		if rem > 0 && i+words+1 < len(b) {
			out[i] |= b[i+words+1] << (64 - rem)
		}
	}
	return out
}

// each calls fn for every seen counter above from, in ascending order,
// until fn returns false.
func (e Entry) each(from uint64, fn func(n uint64) bool) {
	for n := from + 1; n <= e.Base; n++ {
		if !fn(n) {
			return
		}
	}
	for w, word := range e.Bits {
		for word != 0 {
			t := bits.TrailingZeros64(word)
			word &= word - 1
			if n := e.Base + 1 + uint64(w*64+t); n > from && !fn(n) {
				return
			}
		}
	}
}

// Max is the highest counter seen.
func (e Entry) Max() uint64 {
	if len(e.Bits) == 0 {
		return e.Base
	}
	last := len(e.Bits) - 1
	return e.Base + uint64(last*64+64-bits.LeadingZeros64(e.Bits[last]))
}

// mergeEntry is the union of two entries.
func mergeEntry(a, b Entry) Entry {
	if a.Base < b.Base {
		a, b = b, a
	}
	out := Entry{Base: a.Base, Bits: slices.Clone(a.Bits)}
	b.each(a.Base, func(n uint64) bool { out = out.add(n); return true })
	return out
}

// BVV is a node clock: for each replica, every dot of it this node has seen
// (applied to its objects, or learned to be superseded). A node's own entry
// never has gaps: it has seen every dot it made.
type BVV map[ID]Entry

// Clone returns a deep copy.
func (c BVV) Clone() BVV {
	out := make(BVV, len(c))
	for id, e := range c {
		out[id] = Entry{Base: e.Base, Bits: slices.Clone(e.Bits)}
	}
	return out
}

// Contains reports whether d has been seen.
func (c BVV) Contains(d Dot) bool { return c[d.ID].Contains(d.N) }

// Add records d as seen.
func (c BVV) Add(d Dot) {
	if d.N == 0 {
		return
	}
	c[d.ID] = c[d.ID].add(d.N)
}

// Event returns the next dot of id, which must be this node's own entry
// (gap-free by invariant), and records it.
func (c BVV) Event(id ID) Dot {
	e := c[id]
	e = Entry{Base: e.Max() + 1} // own entry is (n, 0); Max keeps even a broken one monotone
	c[id] = e
	return Dot{ID: id, N: e.Base}
}

// Merge adds every dot of o to c.
func (c BVV) Merge(o BVV) {
	for id, e := range o {
		if e.Base == 0 && len(e.Bits) == 0 {
			continue
		}
		c[id] = mergeEntry(c[id], e)
	}
}

// MergeEntry adds every dot of one entry to c.
func (c BVV) MergeEntry(id ID, e Entry) {
	if e.Base == 0 && len(e.Bits) == 0 {
		return
	}
	c[id] = mergeEntry(c[id], e)
}

// Join merges o into c restricted to the ids c already has.
func (c BVV) Join(o BVV) {
	for id := range c {
		if e, ok := o[id]; ok {
			c[id] = mergeEntry(c[id], e)
		}
	}
}

// Base returns the contiguous part of c as a version vector.
func (c BVV) Base() VV {
	out := make(VV, len(c))
	for id, e := range c {
		if e.Base > 0 {
			out[id] = e.Base
		}
	}
	return out
}

// IDs returns the replica ids of c, sorted.
func (c BVV) IDs() []ID {
	out := make([]ID, 0, len(c))
	for id := range c {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// MissingDots returns the dots of c's entries for ids that o has not seen,
// sorted by id then counter: what a node with clock o must fetch from a
// node with clock c. For example (12, 0) against (5, 0b1110) is 6, 10, 11,
// 12.
func (c BVV) MissingDots(o BVV, ids []ID) []Dot {
	var out []Dot
	for _, id := range ids {
		mine, ok := c[id]
		if !ok {
			continue
		}
		theirs := o[id]
		mine.each(theirs.Base, func(n uint64) bool {
			if !theirs.Contains(n) {
				out = append(out, Dot{ID: id, N: n})
			}
			return true
		})
	}
	return out
}
