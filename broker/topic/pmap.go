package topic

import (
	"math/bits"
	"slices"
)

// owner marks the nodes created by one write transaction. A node whose
// owner is the current transaction is not reachable from any published
// snapshot yet, so it may be changed in place; every other node is shared
// with readers and is copied before it changes (path copying).
//
// It must not be a zero-size type: distinct zero-size allocations may share
// an address, and identity is the whole point.
type owner struct{ _ byte }

// pmap is a persistent hash array mapped trie (Bagwell's HAMT): an immutable
// map whose updates copy only the O(log32 n) nodes on one path. The trie uses
// it for children and subscriber sets so that one subscribe under a level
// with a million siblings copies a few small arrays, not a million-entry map.
//
// Callers pass the key's hash; keys that collide on all 64 bits are kept in a
// linear collision node.
type pmap[K comparable, V any] struct {
	root *hnode[K, V]
	n    int
}

type hnode[K comparable, V any] struct {
	owner  *owner
	bitmap uint32 // unused in collision nodes (depth >= maxShift)
	slots  []hslot[K, V]
}

// hslot is either an interior pointer (sub != nil) or a leaf.
type hslot[K comparable, V any] struct {
	sub  *hnode[K, V]
	hash uint64
	key  K
	val  V
}

const (
	hamtBits = 5
	hamtMask = 1<<hamtBits - 1
	maxShift = 64 // at or beyond this shift, nodes are collision lists
)

func (m *pmap[K, V]) len() int { return m.n }

func (m *pmap[K, V]) get(h uint64, k K) (V, bool) {
	n := m.root
	for shift := uint(0); n != nil; shift += hamtBits {
		if shift >= maxShift {
			for i := range n.slots {
				if n.slots[i].key == k {
					return n.slots[i].val, true
				}
			}
			break
		}
		bit := uint32(1) << ((h >> shift) & hamtMask)
		if n.bitmap&bit == 0 {
			break
		}
		s := &n.slots[bits.OnesCount32(n.bitmap&(bit-1))]
		if s.sub != nil {
			n = s.sub
			continue
		}
		if s.hash == h && s.key == k {
			return s.val, true
		}
		break
	}
	var zero V
	return zero, false
}

// set inserts or replaces k and reports whether it was new.
func (m *pmap[K, V]) set(o *owner, h uint64, k K, v V) (added bool) {
	m.root, added = m.root.insert(o, 0, hslot[K, V]{hash: h, key: k, val: v})
	if added {
		m.n++
	}
	return added
}

// delete removes k and reports whether it was present.
func (m *pmap[K, V]) delete(o *owner, h uint64, k K) (removed bool) {
	m.root, removed = m.root.remove(o, 0, h, k)
	if removed {
		m.n--
	}
	return removed
}

// editable returns n itself if the transaction owns it, else a private copy
// with room for extra more slots.
func (n *hnode[K, V]) editable(o *owner, extra int) *hnode[K, V] {
	if n.owner == o {
		return n
	}
	slots := make([]hslot[K, V], len(n.slots), len(n.slots)+extra)
	copy(slots, n.slots)
	return &hnode[K, V]{owner: o, bitmap: n.bitmap, slots: slots}
}

func (n *hnode[K, V]) insert(o *owner, shift uint, leaf hslot[K, V]) (*hnode[K, V], bool) {
	if n == nil {
		return newLeafNode(o, shift, leaf), true
	}
	if shift >= maxShift {
		for i := range n.slots {
			if n.slots[i].key == leaf.key {
				m := n.editable(o, 0)
				m.slots[i].val = leaf.val
				return m, false
			}
		}
		m := n.editable(o, 1)
		m.slots = append(m.slots, leaf)
		return m, true
	}
	bit := uint32(1) << ((leaf.hash >> shift) & hamtMask)
	idx := bits.OnesCount32(n.bitmap & (bit - 1))
	if n.bitmap&bit == 0 {
		m := n.editable(o, 1)
		m.slots = slices.Insert(m.slots, idx, leaf)
		m.bitmap |= bit
		return m, true
	}
	s := n.slots[idx]
	switch {
	case s.sub != nil:
		sub, added := s.sub.insert(o, shift+hamtBits, leaf)
		if sub == s.sub { // changed in place
			return n, added
		}
		m := n.editable(o, 0)
		m.slots[idx].sub = sub
		return m, added
	case s.hash == leaf.hash && s.key == leaf.key:
		m := n.editable(o, 0)
		m.slots[idx].val = leaf.val
		return m, false
	default:
		m := n.editable(o, 0)
		m.slots[idx] = hslot[K, V]{sub: newPairNode(o, shift+hamtBits, s, leaf)}
		return m, true
	}
}

func newLeafNode[K comparable, V any](o *owner, shift uint, leaf hslot[K, V]) *hnode[K, V] {
	n := &hnode[K, V]{owner: o, slots: []hslot[K, V]{leaf}}
	if shift < maxShift {
		n.bitmap = 1 << ((leaf.hash >> shift) & hamtMask)
	}
	return n
}

// newPairNode builds the subtree holding two leaves whose hashes agree on
// all bits below shift.
func newPairNode[K comparable, V any](o *owner, shift uint, a, b hslot[K, V]) *hnode[K, V] {
	if shift >= maxShift {
		return &hnode[K, V]{owner: o, slots: []hslot[K, V]{a, b}}
	}
	ia, ib := (a.hash>>shift)&hamtMask, (b.hash>>shift)&hamtMask
	if ia == ib {
		return &hnode[K, V]{owner: o, bitmap: 1 << ia, slots: []hslot[K, V]{{sub: newPairNode(o, shift+hamtBits, a, b)}}}
	}
	if ia > ib {
		a, b = b, a
		ia, ib = ib, ia
	}
	return &hnode[K, V]{owner: o, bitmap: 1<<ia | 1<<ib, slots: []hslot[K, V]{a, b}}
}

func (n *hnode[K, V]) remove(o *owner, shift uint, h uint64, k K) (*hnode[K, V], bool) {
	if n == nil {
		return nil, false
	}
	if shift >= maxShift {
		for i := range n.slots {
			if n.slots[i].key == k {
				if len(n.slots) == 1 {
					return nil, true
				}
				m := n.editable(o, 0)
				m.slots = slices.Delete(m.slots, i, i+1)
				return m, true
			}
		}
		return n, false
	}
	bit := uint32(1) << ((h >> shift) & hamtMask)
	if n.bitmap&bit == 0 {
		return n, false
	}
	idx := bits.OnesCount32(n.bitmap & (bit - 1))
	s := n.slots[idx]
	if s.sub == nil {
		if s.hash != h || s.key != k {
			return n, false
		}
		return n.withoutSlot(o, idx, bit), true
	}
	sub, removed := s.sub.remove(o, shift+hamtBits, h, k)
	switch {
	case !removed:
		return n, false
	case sub == nil:
		return n.withoutSlot(o, idx, bit), true
	case len(sub.slots) == 1 && sub.slots[0].sub == nil:
		// A lone leaf moves up so lookups stay short after deletes.
		m := n.editable(o, 0)
		m.slots[idx] = sub.slots[0]
		return m, true
	default:
		m := n.editable(o, 0)
		m.slots[idx].sub = sub
		return m, true
	}
}

func (n *hnode[K, V]) withoutSlot(o *owner, idx int, bit uint32) *hnode[K, V] {
	if len(n.slots) == 1 {
		return nil
	}
	m := n.editable(o, 0)
	m.slots = slices.Delete(m.slots, idx, idx+1)
	m.bitmap &^= bit
	return m
}

// each calls fn for every entry until fn returns false.
func (n *hnode[K, V]) each(fn func(K, V) bool) bool {
	if n == nil {
		return true
	}
	for i := range n.slots {
		s := &n.slots[i]
		if s.sub != nil {
			if !s.sub.each(fn) {
				return false
			}
		} else if !fn(s.key, s.val) {
			return false
		}
	}
	return true
}
