package plumtree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/quick"
)

// naiveDiff compares two key → hash maps entry by entry.
func naiveDiff(a, b map[string]uint64) keyDiff {
	var d keyDiff
	for k, h := range a {
		if hb, ok := b[k]; !ok {
			d.RemoteMissing = append(d.RemoteMissing, k)
		} else if hb != h {
			d.Different = append(d.Different, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d.Missing = append(d.Missing, k)
		}
	}
	return d
}

func sortedDiff(d keyDiff) keyDiff {
	for _, l := range []*[]string{&d.Missing, &d.RemoteMissing, &d.Different} {
		slices.Sort(*l)
		if len(*l) == 0 {
			*l = nil
		}
	}
	return d
}

// TestTreeDiffMatchesNaive is the property test of the Merkle walk: for
// random key sets and random divergence, the top-down walk finds exactly
// the differences a full comparison finds, over several tree shapes.
func TestTreeDiffMatchesNaive(t *testing.T) {
	shapes := []TreeShape{{1, 2}, {4, 2}, {16, 4}, {64, 8}, {100, 7}, {1024, 32}}
	check := func(seed uint64, nKeys uint8, shapeIdx uint8) bool {
		r := rand.New(rand.NewPCG(seed, 3))
		shape := shapes[int(shapeIdx)%len(shapes)]
		a, b := map[string]uint64{}, map[string]uint64{}
		for i := range int(nKeys) {
			k := fmt.Sprintf("key-%d", i)
			h := r.Uint64() | 1
			switch r.IntN(6) {
			case 0: // only on a
				a[k] = h
			case 1: // only on b
				b[k] = h
			case 2: // different
				a[k], b[k] = h, h+2
			default:
				a[k], b[k] = h, h
			}
		}
		ta, tb := newHashTree(shape), newHashTree(shape)
		// Insert in different orders, with overwrites, to exercise update.
		for k, h := range a {
			ta.insert(k, h^0xff)
			ta.top()
			ta.insert(k, h)
		}
		keys := make([]string, 0, len(b))
		for k := range b {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			tb.insert(k, b[k])
		}
		got, want := sortedDiff(diffTrees(ta, tb)), sortedDiff(naiveDiff(a, b))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Logf("shape %v keys %d: walk %v; naive %v", shape, nKeys, got, want)
			return false
		}
		if (ta.top() == tb.top()) != (len(want.Missing)+len(want.RemoteMissing)+len(want.Different) == 0) {
			t.Logf("top hashes disagree with the diff")
			return false
		}
		return ta.keys() == len(a) && tb.keys() == len(b)
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 3000}); err != nil {
		t.Fatal(err)
	}
}

// TestTreeRemove checks that removing keys restores the empty tree.
func TestTreeRemove(t *testing.T) {
	tr := newHashTree(TreeShape{64, 4})
	for i := range 100 {
		tr.insert(fmt.Sprint(i), uint64(i+1))
	}
	if tr.top() == 0 || tr.levels != 3 {
		t.Fatalf("top %x levels %d", tr.top(), tr.levels)
	}
	for i := range 100 {
		tr.insert(fmt.Sprint(i), 0)
	}
	if tr.top() != 0 || len(tr.segs) != 0 || len(tr.bhash[0]) != 0 || len(tr.children[0]) != 0 {
		t.Fatalf("tree not empty after removing every key")
	}
}
