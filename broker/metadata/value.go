package metadata

import (
	"bytes"
	"cmp"
	"strings"
)

// Value is the envelope every backend stores for one version of a key.
// Backends keep concurrent versions as siblings; readers pick one with
// Resolve.
type Value struct {
	// TS is the writer's clock in unix microseconds when the value was
	// written, raised above the key's previous winner (see the package doc).
	TS int64
	// Node is the name of the writing node: the first tie-break when two
	// writes carry the same TS.
	Node string
	// Tomb marks a delete. A tombstone carries no Data.
	Tomb bool
	// Data is the caller's value, opaque to the store (msgpack-encoded by
	// the broker's codecs). Never nil for a live value written through Put.
	Data []byte
}

// Live reports whether v is a value rather than a tombstone.
func (v Value) Live() bool { return !v.Tomb }

// Compare orders values for last-writer-wins: by TS, then Node, then
// bytes.Compare of Data, then a tombstone above a live value. It returns -1,
// 0 or +1. The order is total over distinct values, so every node resolves
// the same siblings to the same winner whatever order it received them in.
//
// The last two keys only matter when one node wrote two values with the same
// timestamp, which a correct store never does (see the package doc), or for
// values forged through PutRaw; they exist so the answer is still
// deterministic.
func Compare(a, b Value) int {
	if c := cmp.Compare(a.TS, b.TS); c != 0 {
		return c
	}
	if c := strings.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Data, b.Data); c != 0 {
		return c
	}
	switch {
	case a.Tomb == b.Tomb:
		return 0
	case a.Tomb:
		return 1
	default:
		return -1
	}
}

// Less reports whether a loses to b under last-writer-wins (Compare < 0).
func Less(a, b Value) bool { return Compare(a, b) < 0 }

// Resolve returns the last-writer-wins winner of sibs, which may be a
// tombstone (then the key reads as absent). ok is false only when sibs is
// empty. Resolve does not modify sibs.
func Resolve(sibs []Value) (winner Value, ok bool) {
	if len(sibs) == 0 {
		return Value{}, false
	}
	winner = sibs[0]
	for _, v := range sibs[1:] {
		if Less(winner, v) {
			winner = v
		}
	}
	return winner, true
}

// Context is an opaque causal context returned by GetRaw and passed back to
// PutRaw: it names the versions of one key the caller has seen, so that
// PutRaw replaces exactly those and keeps any written concurrently as
// siblings. Its content is private to the backend (a DVVSet join for
// plumtree, a filled DCC context for swc, a sequence number for Memory), and
// it is only meaningful for the key and the store it was read from. A nil
// Context means "nothing seen": the write becomes a sibling of everything.
type Context []byte
