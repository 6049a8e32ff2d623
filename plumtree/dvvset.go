package plumtree

import (
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// A dvv is a dotted version vector set (DVVSet, Almeida et al., as in
// riak's and VerneMQ's dvvset.erl): one entry per actor, sorted by actor id.
// Entry (id, n, vals) says that id wrote events 1..n of this key and that
// vals, newest first, are the values of events n-len(vals)+1..n that no
// later write has superseded. The causal context of the object is its join:
// the version vector of the entries' counters.
//
// VerneMQ's DVVSet also has anonymous values (written without a dot); every
// write here goes through update, which always makes a dot, so they never
// occur and are left out.
type dvv []dvvEntry

type dvvEntry struct {
	id   string
	n    uint64
	vals []metadata.Value
}

// vv is a version vector sorted by actor id.
type vv []vvEntry

type vvEntry struct {
	id string
	n  uint64
}

// join returns the causal context of d.
func (d dvv) join() vv {
	v := make(vv, len(d))
	for i, e := range d {
		v[i] = vvEntry{e.id, e.n}
	}
	return v
}

// values returns every current value (the siblings), in entry order.
func (d dvv) values() []metadata.Value {
	n := 0
	for _, e := range d {
		n += len(e.vals)
	}
	out := make([]metadata.Value, 0, n)
	for _, e := range d {
		out = append(out, e.vals...)
	}
	return out
}

// distinct returns the current values with duplicates removed. Two nodes
// that read the same siblings at the same time both write the winner back,
// each with a dot of its own: the merged object then holds the same value
// twice. Those copies are one version to a reader, so GetRaw shows it once
// and a read does not write it back again (which would only race again).
func (d dvv) distinct() []metadata.Value {
	vals := d.values()
	out := vals[:0]
	for _, v := range vals {
		dup := false
		for _, u := range out {
			if metadata.Compare(u, v) == 0 && u.Tomb == v.Tomb {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// update records a write of v by actor self that has seen ctx: values of
// cur covered by ctx are discarded, self's counter is bumped and v becomes
// its newest value. Values not covered stay as siblings (dvvset:update/3
// applied to dvvset:new(ctx, v)).
func update(cur dvv, ctx vv, self string, v metadata.Value) dvv {
	seen := make(dvv, len(ctx))
	for i, e := range ctx {
		seen[i] = dvvEntry{id: e.id, n: e.n}
	}
	return event(syncDVV(seen, cur), self, v)
}

// event adds the next dot of id with value v. d is not modified.
func event(d dvv, id string, v metadata.Value) dvv {
	i, found := slices.BinarySearchFunc(d, id, func(e dvvEntry, id string) int {
		switch {
		case e.id < id:
			return -1
		case e.id > id:
			return 1
		}
		return 0
	})
	out := make(dvv, 0, len(d)+1)
	out = append(out, d[:i]...)
	if found {
		e := d[i]
		vals := make([]metadata.Value, 0, len(e.vals)+1)
		vals = append(append(vals, v), e.vals...)
		out = append(out, dvvEntry{id: id, n: e.n + 1, vals: vals})
		return append(out, d[i+1:]...)
	}
	out = append(out, dvvEntry{id: id, n: 1, vals: []metadata.Value{v}})
	return append(out, d[i:]...)
}

// syncDVV merges two clocks: per actor the larger counter wins, and a value
// survives unless the other side has seen its dot without keeping it.
// Neither input is modified; the result may share value slices with them.
func syncDVV(a, b dvv) dvv {
	out := make(dvv, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].id < b[j].id:
			out = append(out, a[i])
			i++
		case a[i].id > b[j].id:
			out = append(out, b[j])
			j++
		default:
			out = append(out, mergeEntry(a[i], b[j]))
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// mergeEntry merges two entries of one actor (dvvset.erl merge/5): the
// higher counter wins, and its values are cut to those the other side has
// not seen (events above the other's counter) unless the other side's
// values start even later.
func mergeEntry(x, y dvvEntry) dvvEntry {
	if x.n < y.n {
		x, y = y, x
	}
	lx, ly := uint64(len(x.vals)), uint64(len(y.vals))
	if x.n-lx >= y.n-ly {
		return x
	}
	keep := x.n - y.n + ly // values of x above y's first current event
	return dvvEntry{id: x.id, n: x.n, vals: x.vals[:keep]}
}

// descends reports whether a has seen everything b has (a >= b pointwise).
func descends(a, b vv) bool {
	i := 0
	for _, eb := range b {
		for i < len(a) && a[i].id < eb.id {
			i++
		}
		if i == len(a) || a[i].id != eb.id || a[i].n < eb.n {
			if eb.n == 0 {
				continue
			}
			return false
		}
	}
	return true
}

// equalVV reports whether a and b name the same events.
func equalVV(a, b vv) bool { return descends(a, b) && descends(b, a) }

// less reports whether a is strictly older than b: b has seen all of a and
// more (dvvset:less/2, counters only).
func less(a, b vv) bool { return descends(b, a) && !descends(a, b) }
