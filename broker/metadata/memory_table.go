package metadata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// table holds the keys of one FullPrefix. Fold needs them in order; Put
// must stay O(1). So new keys go to an unsorted pending list, and the first
// Fold after writes sorts the pending keys and merges them into the sorted
// list: O(k log k + n) for k new keys, paid by folds, which are rare next to
// writes.
type table struct {
	entries map[string]*entry
	sorted  []*entry // by key; excludes pending
	pending []*entry
}

// entry is one key: its siblings with their dots (parallel slices, so that
// sibs can go straight to Resolve).
type entry struct {
	key  []byte // owned by the store, handed out read-only
	sibs []Value
	dots []uint64
}

func newTable() *table {
	return &table{entries: make(map[string]*entry)}
}

func (t *table) lookup(key []byte) *entry { return t.entries[string(key)] }

func (t *table) insert(key []byte) *entry {
	e := &entry{key: bytes.Clone(key)}
	if e.key == nil {
		e.key = []byte{}
	}
	t.entries[string(e.key)] = e
	t.pending = append(t.pending, e)
	return e
}

func compareEntries(a, b *entry) int { return bytes.Compare(a.key, b.key) }

// ensureSorted merges the pending keys into the sorted list.
func (t *table) ensureSorted() {
	if len(t.pending) == 0 {
		return
	}
	slices.SortFunc(t.pending, compareEntries)
	merged := make([]*entry, 0, len(t.sorted)+len(t.pending))
	i, j := 0, 0
	for i < len(t.sorted) && j < len(t.pending) {
		if compareEntries(t.sorted[i], t.pending[j]) < 0 {
			merged = append(merged, t.sorted[i])
			i++
		} else {
			merged = append(merged, t.pending[j])
			j++
		}
	}
	merged = append(merged, t.sorted[i:]...)
	merged = append(merged, t.pending[j:]...)
	t.sorted = merged
	clear(t.pending)
	t.pending = t.pending[:0]
}

// after returns the index in sorted of the first key greater than key.
func (t *table) after(key []byte) int {
	i, found := slices.BinarySearchFunc(t.sorted, key, func(e *entry, k []byte) int {
		return bytes.Compare(e.key, k)
	})
	if found {
		i++
	}
	return i
}

// removeIf deletes the entries for which drop returns true and returns how
// many it deleted.
func (t *table) removeIf(drop func(*entry) bool) int {
	t.ensureSorted()
	kept := t.sorted[:0]
	n := 0
	for _, e := range t.sorted {
		if drop(e) {
			delete(t.entries, string(e.key))
			n++
			continue
		}
		kept = append(kept, e)
	}
	clear(t.sorted[len(kept):])
	t.sorted = kept
	return n
}

// maxDot returns the highest dot of e: its causal context.
func (e *entry) maxDot() uint64 {
	var d uint64
	for _, x := range e.dots {
		d = max(d, x)
	}
	return d
}

// resolved returns e's LWW winner, or the zero Value and false when e has
// no siblings (a nil entry has none).
func (e *entry) resolved() (Value, bool) {
	if e == nil {
		return Value{}, false
	}
	return Resolve(e.sibs)
}

// memContextTag starts every Memory context, to reject most foreign ones.
const memContextTag = 'm'

func encodeMemContext(dot uint64) Context {
	if dot == 0 {
		return nil
	}
	return binary.AppendUvarint([]byte{memContextTag}, dot)
}

func decodeMemContext(cc Context) (uint64, error) {
	if len(cc) == 0 {
		return 0, nil
	}
	if cc[0] != memContextTag {
		return 0, fmt.Errorf("%w: not a memory store context", ErrBadContext)
	}
	dot, n := binary.Uvarint(cc[1:])
	if n <= 0 || 1+n != len(cc) {
		return 0, fmt.Errorf("%w: bad sequence number", ErrBadContext)
	}
	return dot, nil
}
