package metadatatest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// future is a timestamp far ahead of any real clock: a peer whose clock runs
// ahead. It leaves room for +1 steps.
const future = int64(1) << 62

func (su *suite) testLWWSiblings(t *testing.T) {
	s := su.newStore(t)
	// Three concurrent versions (nil context: none has seen the others).
	b, a, z := live(100, nodeB, "b"), live(100, nodeA, "a"), live(90, nodeC, "z")
	for _, v := range []metadata.Value{b, a, z} {
		putRaw(t, s, fpA, "k", v, nil)
	}
	sibs, _ := getRaw(t, s, fpA, "k")
	wantSiblings(t, sibs, b, a, z)
	if w, _ := metadata.Resolve(sibs); !sameValue(w, b) {
		t.Fatalf("Resolve = %s; want the highest TS, then node name: %s", fmtValue(w), fmtValue(b))
	}
	wantGet(t, s, fpA, "k", str("b"))
	// Get wrote the winner back: one sibling left, the winner itself.
	sibs, _ = getRaw(t, s, fpA, "k")
	wantSiblings(t, sibs, b)

	// Same TS and node: the bytes decide.
	x, y := live(100, nodeA, "x"), live(100, nodeA, "y")
	putRaw(t, s, fpA, "bytes", x, nil)
	putRaw(t, s, fpA, "bytes", y, nil)
	wantGet(t, s, fpA, "bytes", str("y"))
	sibs, _ = getRaw(t, s, fpA, "bytes")
	wantSiblings(t, sibs, y)
}

func (su *suite) testLWWFoldWritesBack(t *testing.T) {
	s := su.newStore(t)
	for i := range 3 {
		k := fmt.Sprintf("k%d", i)
		putRaw(t, s, fpA, k, live(10, nodeA, "lose"), nil)
		putRaw(t, s, fpA, k, live(20, nodeB, "win"), nil)
	}
	put(t, s, fpA, "plain", "p")
	want := []kv{{"k0", "win"}, {"k1", "win"}, {"k2", "win"}, {"plain", "p"}}
	if got := fold(t, s, fpA); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Fold = %q; want %q", got, want)
	}
	for i := range 3 {
		sibs, _ := getRaw(t, s, fpA, fmt.Sprintf("k%d", i))
		wantSiblings(t, sibs, live(20, nodeB, "win"))
	}
}

func (su *suite) testLWWTombstoneSibling(t *testing.T) {
	s := su.newStore(t)
	// The delete is the later write: the key is absent.
	putRaw(t, s, fpA, "deleted", live(100, nodeA, "v"), nil)
	putRaw(t, s, fpA, "deleted", tomb(200, nodeB), nil)
	// The value is the later write: the key is present.
	putRaw(t, s, fpA, "revived", tomb(100, nodeA), nil)
	putRaw(t, s, fpA, "revived", live(200, nodeB, "v"), nil)

	if got := fold(t, s, fpA); fmt.Sprint(got) != fmt.Sprint([]kv{{"revived", "v"}}) {
		t.Fatalf("Fold = %q; want only the revived key", got)
	}
	wantGet(t, s, fpA, "deleted", nil)
	wantGet(t, s, fpA, "revived", str("v"))
	sibs, _ := getRaw(t, s, fpA, "deleted")
	if len(sibs) > 1 || (len(sibs) == 1 && !sameValue(sibs[0], tomb(200, nodeB))) {
		t.Fatalf("GetRaw after write-back = %s; want the tombstone alone (or nothing)", fmtValues(sibs))
	}
}

func (su *suite) testPutRawContext(t *testing.T) {
	s := su.newStore(t)
	putRaw(t, s, fpA, "k", live(100, nodeA, "x"), nil)
	putRaw(t, s, fpA, "k", live(100, nodeB, "y"), nil)
	// A write with the context of what it read replaces all of it, even with
	// a lower timestamp: the context says it came after.
	_, cc := getRaw(t, s, fpA, "k")
	z := live(50, nodeC, "z")
	putRaw(t, s, fpA, "k", z, cc)
	sibs, _ := getRaw(t, s, fpA, "k")
	wantSiblings(t, sibs, z)
	wantGet(t, s, fpA, "k", str("z"))

	// A write that did not see a concurrent one leaves it as a sibling.
	_, cc = getRaw(t, s, fpA, "k")
	w := live(10, nodeD, "w")
	putRaw(t, s, fpA, "k", w, nil) // concurrent, unseen by the next writer
	u := live(20, nodeA, "u")
	putRaw(t, s, fpA, "k", u, cc)
	sibs, _ = getRaw(t, s, fpA, "k")
	wantSiblings(t, sibs, w, u)
	wantGet(t, s, fpA, "k", str("u"))

	// A context from an absent key covers nothing.
	sibs, cc = getRaw(t, s, fpA, "absent")
	if len(sibs) != 0 {
		t.Fatalf("GetRaw of an absent key = %s", fmtValues(sibs))
	}
	putRaw(t, s, fpA, "absent", live(1, nodeA, "one"), cc)
	wantGet(t, s, fpA, "absent", str("one"))
}

func (su *suite) testLocalWriteWins(t *testing.T) {
	s := su.newStore(t)
	// A peer's clock runs far ahead; our later write must still win here.
	putRaw(t, s, fpA, "k", live(future, nodeA, "ahead"), nil)
	put(t, s, fpA, "k", "local")
	wantGet(t, s, fpA, "k", str("local"))
	sibs, _ := getRaw(t, s, fpA, "k")
	if len(sibs) != 1 || sibs[0].TS <= future || sibs[0].Node == nodeA {
		t.Fatalf("GetRaw after a local Put over a future value = %s; want one local value with TS > %d",
			fmtValues(sibs), future)
	}

	putRaw(t, s, fpA, "d", live(future+10, nodeA, "ahead"), nil)
	del(t, s, fpA, "d")
	wantGet(t, s, fpA, "d", nil)
	sibs, _ = getRaw(t, s, fpA, "d")
	if w, ok := metadata.Resolve(sibs); ok && (!w.Tomb || w.TS <= future+10) {
		t.Fatalf("GetRaw after a local Delete over a future value = %s; want a tombstone with TS > %d",
			fmtValues(sibs), future+10)
	}
}

func (su *suite) testSameNodeWritesNeverSibling(t *testing.T) {
	s := su.newStore(t)
	const writers, writes = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				if err := s.Put(bg, fpA, []byte("k"), fmt.Appendf(nil, "%d-%d", w, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sibs, _ := getRaw(t, s, fpA, "k")
	if len(sibs) != 1 {
		t.Fatalf("concurrent local Puts left siblings: %s", fmtValues(sibs))
	}
	wantGet(t, s, fpA, "k", str(string(sibs[0].Data)))
}
