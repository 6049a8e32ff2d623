package metadata_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func TestCompare(t *testing.T) {
	// Each value beats every value before it.
	ordered := []metadata.Value{
		{TS: 1, Node: "z", Data: []byte("z")},
		{TS: 2, Node: "a", Data: []byte("z")},
		{TS: 2, Node: "b", Data: nil},
		{TS: 2, Node: "b", Tomb: true}, // same as above but a tombstone: the delete wins the tie
		{TS: 2, Node: "b", Data: []byte("a")},
		{TS: 2, Node: "b", Data: []byte("b")},
		{TS: 3, Node: "", Tomb: true},
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := metadata.Compare(a, b); got != want {
				t.Errorf("Compare(%v, %v) = %d; want %d", a, b, got, want)
			}
			if got := metadata.Less(a, b); got != (want < 0) {
				t.Errorf("Less(%v, %v) = %t", a, b, got)
			}
		}
	}
}

func TestResolve(t *testing.T) {
	if _, ok := metadata.Resolve(nil); ok {
		t.Fatal("Resolve(nil) reported a winner")
	}
	sibs := []metadata.Value{
		{TS: 5, Node: "n1", Data: []byte("old")},
		{TS: 9, Node: "n0", Tomb: true},
		{TS: 9, Node: "n2", Data: []byte("win")},
		{TS: 9, Node: "n2", Data: []byte("wim")},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 { // the winner does not depend on arrival order
		r.Shuffle(len(sibs), func(i, j int) { sibs[i], sibs[j] = sibs[j], sibs[i] })
		before := slices.Clone(sibs)
		w, ok := metadata.Resolve(sibs)
		if !ok || w.Node != "n2" || string(w.Data) != "win" || !w.Live() {
			t.Fatalf("Resolve(%v) = %v, %t", sibs, w, ok)
		}
		if !slices.EqualFunc(before, sibs, func(a, b metadata.Value) bool { return metadata.Compare(a, b) == 0 }) {
			t.Fatal("Resolve modified its input")
		}
	}
}
