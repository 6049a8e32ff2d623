package plumtree

import (
	"slices"
)

// hashTree is one Merkle tree of VerneMQ's hashtree.erl: keys fall into S
// segments (buckets of (key, hash) pairs) under an index of width W. Bucket
// b of level l covers children b·W .. b·W+W−1 of level l+1; the children of
// the last level are the segments; level 0 holds one bucket, the top hash.
//
// Upstream preallocates every segment and bucket (a root tree has 65 536
// segments). Here everything is sparse: only non-empty segments and buckets
// exist, and a hash of 0 means empty, so a tree costs memory in proportion
// to its keys and a small simulated cluster can afford the real shapes.
//
// Inserts only mark a segment dirty; update (run lazily before any read of
// hashes) rehashes dirty segments and the buckets above them, bottom-up.
type hashTree struct {
	segments uint32
	width    uint32
	levels   int // bucket levels above the segments

	segs    map[uint32]map[string]uint64 // segment → key → hash
	segHash map[uint32]uint64            // segment → hash of its pairs
	buckets []map[uint32]uint64          // level → bucket → hash
	dirty   map[uint32]struct{}          // segments changed since update
}

// TreeShape is the segment count and index width of one kind of tree.
type TreeShape struct {
	Segments uint32
	Width    uint32
}

func newHashTree(s TreeShape) *hashTree {
	if s.Segments < 1 {
		s.Segments = 1
	}
	if s.Width < 2 {
		s.Width = 2
	}
	levels := 1
	for cover := uint64(s.Width); cover < uint64(s.Segments); cover *= uint64(s.Width) {
		levels++
	}
	t := &hashTree{
		segments: s.Segments,
		width:    s.Width,
		levels:   levels,
		segs:     map[uint32]map[string]uint64{},
		segHash:  map[uint32]uint64{},
		buckets:  make([]map[uint32]uint64, levels),
		dirty:    map[uint32]struct{}{},
	}
	for i := range t.buckets {
		t.buckets[i] = map[uint32]uint64{}
	}
	return t
}

// segmentOf places a key. FNV-1a is stable across processes, so every node
// puts a key in the same segment (a keyed hash like maphash would not).
func (t *hashTree) segmentOf(key string) uint32 {
	return uint32(fnvString(fnvOffset, key) % uint64(t.segments))
}

// insert sets key's hash (0 removes the key).
func (t *hashTree) insert(key string, h uint64) {
	s := t.segmentOf(key)
	seg := t.segs[s]
	if h == 0 {
		if _, ok := seg[key]; !ok {
			return
		}
		delete(seg, key)
	} else {
		if seg == nil {
			seg = map[string]uint64{}
			t.segs[s] = seg
		}
		if seg[key] == h {
			return
		}
		seg[key] = h
	}
	t.dirty[s] = struct{}{}
}

// update rehashes what changed since the last update.
func (t *hashTree) update() {
	if len(t.dirty) == 0 {
		return
	}
	changed := make([]uint32, 0, len(t.dirty))
	for s := range t.dirty {
		changed = append(changed, s)
		h := t.hashSegment(s)
		if h == 0 {
			delete(t.segHash, s)
			delete(t.segs, s)
		} else {
			t.segHash[s] = h
		}
	}
	clear(t.dirty)
	// Walk up: each level's dirty buckets are the parents of the changed
	// children below.
	below := t.segHash
	for l := t.levels - 1; l >= 0; l-- {
		parents := make(map[uint32]struct{}, len(changed))
		for _, c := range changed {
			parents[c/t.width] = struct{}{}
		}
		changed = changed[:0]
		for b := range parents {
			changed = append(changed, b)
			h := hashChildren(b, t.width, below)
			if h == 0 {
				delete(t.buckets[l], b)
			} else {
				t.buckets[l][b] = h
			}
		}
		below = t.buckets[l]
	}
}

// top returns the tree's top hash (0 when empty).
func (t *hashTree) top() uint64 {
	t.update()
	return t.buckets[0][0]
}

// child is one non-empty child of a bucket: its index and hash.
type child struct {
	idx  uint32
	hash uint64
}

// bucket returns the non-empty children of bucket b at level l, by index.
func (t *hashTree) bucket(l int, b uint32) []child {
	t.update()
	if l < 0 || l >= t.levels {
		return nil
	}
	below := t.segHash
	if l+1 < t.levels {
		below = t.buckets[l+1]
	}
	var out []child
	for i := b * t.width; i < b*t.width+t.width; i++ {
		if h, ok := below[i]; ok {
			out = append(out, child{i, h})
		}
	}
	return out
}

// keyHash is one pair of a segment.
type keyHash struct {
	key  string
	hash uint64
}

// segment returns the pairs of segment s, sorted by key.
func (t *hashTree) segment(s uint32) []keyHash {
	seg := t.segs[s]
	out := make([]keyHash, 0, len(seg))
	for k, h := range seg {
		out = append(out, keyHash{k, h})
	}
	slices.SortFunc(out, func(a, b keyHash) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}

func (t *hashTree) hashSegment(s uint32) uint64 {
	pairs := t.segment(s)
	if len(pairs) == 0 {
		return 0
	}
	h := fnvOffset
	for _, p := range pairs {
		h = fnvString(h, p.key)
		h = fnvUint64(h, p.hash)
	}
	return nonZero(h)
}

func hashChildren(b, width uint32, below map[uint32]uint64) uint64 {
	h, any := fnvOffset, false
	for i := b * width; i < b*width+width; i++ {
		if c, ok := below[i]; ok {
			h = fnvUint64(fnvUint64(h, uint64(i)), c)
			any = true
		}
	}
	if !any {
		return 0
	}
	return nonZero(h)
}

// keys returns the number of keys in the tree.
func (t *hashTree) keys() int {
	n := 0
	for _, seg := range t.segs {
		n += len(seg)
	}
	return n
}

// FNV-1a, 64 bits, written out so hashing allocates nothing.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	h ^= 0xff // terminator: ("ab","c") and ("a","bc") hash apart
	h *= fnvPrime
	return h
}

func fnvBytes(h uint64, p []byte) uint64 {
	for _, c := range p {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func fnvUint64(h, v uint64) uint64 {
	for range 8 {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}
