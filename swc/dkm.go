package swc

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// DKM is one group's dot-key map: for every dot that is the dot of a
// current version of some key (a value or a ⊥), the key's store key. A peer
// that lacks some dots asks for them by dot; the map says which objects to
// send. Dots that were superseded are not in it (the object holding the
// superseding dot answers for them), and garbage collection removes the dots
// of a collected delete, so its size falls to the number of live versions.
//
// VerneMQ's variant keeps latest/candidates/gc tables because it drops ⊥
// values at once; here ⊥ values stay in their object until collected, so the
// index is simply "dot → key of the object holding it", kept equal to the
// objects' value dots by Core.save, and written in the same batch.
type DKM struct {
	m map[Dot]string
}

// NewDKM returns an empty map.
func NewDKM() *DKM { return &DKM{m: map[Dot]string{}} }

// Insert maps d to skey, reporting whether it was new.
func (k *DKM) Insert(d Dot, skey string) bool {
	if _, ok := k.m[d]; ok {
		return false
	}
	k.m[d] = skey
	return true
}

// Remove forgets d, reporting whether it was there.
func (k *DKM) Remove(d Dot) bool {
	if _, ok := k.m[d]; !ok {
		return false
	}
	delete(k.m, d)
	return true
}

// Key returns the store key d maps to.
func (k *DKM) Key(d Dot) (string, bool) {
	s, ok := k.m[d]
	return s, ok
}

// Len is the number of indexed dots.
func (k *DKM) Len() int { return len(k.m) }

// Dots returns every indexed dot, sorted (tests and invariant checks).
func (k *DKM) Dots() []Dot {
	out := make([]Dot, 0, len(k.m))
	for d := range k.m {
		out = append(out, d)
	}
	slices.SortFunc(out, cmpDot)
	return out
}

// dkmKey is the store key of d in group g: the group byte, the length-
// prefixed replica id and the big-endian counter, so one replica's dots of
// one group are contiguous and in counter order.
func dkmKey(g int, d Dot) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(d.ID)+8)
	b = append(b, byte(g))
	b = binary.AppendUvarint(b, uint64(len(d.ID)))
	b = append(b, d.ID...)
	return binary.BigEndian.AppendUint64(b, d.N)
}

// parseDKMKey decodes dkmKey.
func parseDKMKey(b []byte) (int, Dot, error) {
	if len(b) < 1+1+8 {
		return 0, Dot{}, fmt.Errorf("swc: dot-key record key of %d bytes", len(b))
	}
	g := int(b[0])
	n, w := binary.Uvarint(b[1:])
	// Compare without computing 1+w+n+8: a length near 2^64 wraps the sum
	// around to len(b) and int(n) goes negative, which panicked slicing b
	// (the regression input is testdata/fuzz/FuzzParseDKMKey/length-overflow).
	if w <= 0 || uint64(len(b)-1-w) < 8 || n != uint64(len(b)-1-w)-8 {
		return 0, Dot{}, fmt.Errorf("swc: malformed dot-key record key %x", b)
	}
	id := string(b[1+w : 1+w+int(n)])
	return g, Dot{ID: id, N: binary.BigEndian.Uint64(b[len(b)-8:])}, nil
}
