package plumtree

import (
	"slices"
)

// hashTree is one Merkle tree of VerneMQ's hashtree.erl: keys fall into S
// segments (buckets of (key, hash) pairs) under an index of width W. Bucket
// b of level l covers children b·W .. b·W+W−1 of level l+1; the children of
// the last level are the segments; level 0 holds one bucket, the top hash.
//
// Two deviations from upstream, both for cost:
//   - Everything is sparse: only non-empty segments and buckets exist, and
//     a hash of 0 means empty, so a tree costs memory in proportion to its
//     keys (upstream preallocates 65 536 to 1 048 576 segments per tree),
//     and a small simulated cluster can afford the real shapes.
//   - Hashes are additive: a segment's hash is the sum (mod 2^64) of a mix
//     of each (key, hash) pair, and a bucket's the sum of a mix of each
//     (child index, child hash). An insert then updates its segment and its
//     ancestors by difference, O(levels), instead of marking the segment
//     dirty and rehashing it and W children per level later (upstream's
//     "update" step, which a 1024-wide index makes slow). A set hash of
//     this kind (AdHash) is not collision-resistant against an adversary;
//     the trees only compare replicas of one cluster, which do not forge.
type hashTree struct {
	segments uint32
	width    uint32
	levels   int // bucket levels above the segments

	segs     map[uint32]map[string]uint64   // segment → key → hash
	segHash  map[uint32]uint64              // segment → hash
	children []map[uint32]map[uint32]uint64 // level → bucket → child → hash
	bhash    []map[uint32]uint64            // level → bucket → hash
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
		children: make([]map[uint32]map[uint32]uint64, levels),
		bhash:    make([]map[uint32]uint64, levels),
	}
	for i := range levels {
		t.children[i] = map[uint32]map[uint32]uint64{}
		t.bhash[i] = map[uint32]uint64{}
	}
	return t
}

// segmentOf places a key whose FNV hash is kh. FNV-1a is stable across
// processes, so every node puts a key in the same segment (a keyed hash
// like maphash would not).
func (t *hashTree) segmentOf(kh uint64) uint32 { return uint32(kh % uint64(t.segments)) }

// insert sets key's hash (0 removes the key).
func (t *hashTree) insert(key string, h uint64) {
	kh := fnvString(fnvOffset, key)
	s := t.segmentOf(kh)
	seg := t.segs[s]
	old := seg[key]
	if old == h {
		return
	}
	if h == 0 {
		delete(seg, key)
	} else {
		if seg == nil {
			seg = map[string]uint64{}
			t.segs[s] = seg
		}
		seg[key] = h
	}
	oh := t.segHash[s]
	nh := oh - mixPair(kh, old) + mixPair(kh, h)
	if len(seg) == 0 {
		nh = 0
		delete(t.segs, s)
		delete(t.segHash, s)
	} else {
		t.segHash[s] = nh
	}
	t.propagate(s, oh, nh)
}

// propagate carries a child's hash change from old to new up to the top.
func (t *hashTree) propagate(idx uint32, old, new uint64) {
	for l := t.levels - 1; l >= 0 && old != new; l-- {
		b := idx / t.width
		ch := t.children[l][b]
		if new == 0 {
			delete(ch, idx)
		} else {
			if ch == nil {
				ch = map[uint32]uint64{}
				t.children[l][b] = ch
			}
			ch[idx] = new
		}
		ob := t.bhash[l][b]
		nb := ob - mixPair(uint64(idx), old) + mixPair(uint64(idx), new)
		if len(ch) == 0 {
			nb = 0
			delete(t.children[l], b)
			delete(t.bhash[l], b)
		} else {
			t.bhash[l][b] = nb
		}
		idx, old, new = b, ob, nb
	}
}

// top returns the tree's top hash (0 when empty).
func (t *hashTree) top() uint64 { return t.bhash[0][0] }

// child is one non-empty child of a bucket: its index and hash.
type child struct {
	idx  uint32
	hash uint64
}

// bucket returns the non-empty children of bucket b at level l, by index.
func (t *hashTree) bucket(l int, b uint32) []child {
	if l < 0 || l >= t.levels {
		return nil
	}
	ch := t.children[l][b]
	out := make([]child, 0, len(ch))
	for i, h := range ch {
		out = append(out, child{i, h})
	}
	slices.SortFunc(out, func(a, b child) int {
		switch {
		case a.idx < b.idx:
			return -1
		case a.idx > b.idx:
			return 1
		}
		return 0
	})
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
	slices.SortFunc(out, func(a, b keyHash) int { return compareStrings(a.key, b.key) })
	return out
}

// mixPair hashes one (id, hash) pair for an additive sum; an absent pair
// (hash 0) contributes 0. The finalizer is splitmix64's.
func mixPair(id, h uint64) uint64 {
	if h == 0 {
		return 0
	}
	x := id*0x9e3779b97f4a7c15 ^ h
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
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

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}
