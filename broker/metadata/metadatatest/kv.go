package metadatatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func (su *suite) testPutGet(t *testing.T) {
	s := su.newStore(t)
	wantGet(t, s, fpA, "k", nil)
	put(t, s, fpA, "k", "v1")
	wantGet(t, s, fpA, "k", str("v1"))
	put(t, s, fpA, "k", "v2")
	wantGet(t, s, fpA, "k", str("v2"))
	wantGet(t, s, fpA, "k2", nil)
	wantGet(t, s, fpB, "k", nil)

	// An empty value is a value: present, with no bytes.
	put(t, s, fpA, "empty", "")
	wantGet(t, s, fpA, "empty", str(""))

	// Keys are bytes, NULs included.
	put(t, s, fpA, "a\x00b", "nul")
	wantGet(t, s, fpA, "a\x00b", str("nul"))
	wantGet(t, s, fpA, "a", nil)

	// A local write replaces, it never leaves siblings.
	sibs, _ := getRaw(t, s, fpA, "k")
	if len(sibs) != 1 || sibs[0].Tomb || string(sibs[0].Data) != "v2" {
		t.Fatalf("GetRaw after two Puts = %s; want one live sibling \"v2\"", fmtValues(sibs))
	}
	if sibs[0].Node == "" {
		t.Fatalf("GetRaw: local write has no node name")
	}
}

func (su *suite) testPutCopiesValue(t *testing.T) {
	s := su.newStore(t)
	key, val := []byte("k"), []byte("abc")
	if err := s.Put(bg, fpA, key, val); err != nil {
		t.Fatal(err)
	}
	key[0], val[0] = 'z', 'x' // the caller reuses its buffers
	wantGet(t, s, fpA, "k", str("abc"))
	wantGet(t, s, fpA, "z", nil)
}

func (su *suite) testDelete(t *testing.T) {
	s := su.newStore(t)
	put(t, s, fpA, "k", "v")
	del(t, s, fpA, "k")
	wantGet(t, s, fpA, "k", nil)
	// GetRaw shows the tombstone, or nothing once a backend collected it.
	if sibs, _ := getRaw(t, s, fpA, "k"); len(sibs) > 0 {
		if w, _ := metadata.Resolve(sibs); !w.Tomb {
			t.Fatalf("GetRaw after Delete = %s; want a tombstone winner", fmtValues(sibs))
		}
	}
	del(t, s, fpA, "never-written") // not an error
	wantGet(t, s, fpA, "never-written", nil)
	put(t, s, fpA, "k", "again")
	wantGet(t, s, fpA, "k", str("again"))
}

// randKey returns 1 to 8 bytes from an alphabet rich in the bytes the key
// encoding treats specially.
func randKey(r *rand.Rand) string {
	const alphabet = "\x00\x01\x02\xfe\xffab"
	b := make([]byte, 1+r.IntN(8))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func (su *suite) testFoldOrder(t *testing.T) {
	s := su.newStore(t)
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var keys []string
	for len(keys) < 500 {
		k := randKey(r)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, k := range keys { // random insertion order
		put(t, s, fpA, k, fmt.Sprintf("%x", k))
	}
	got := fold(t, s, fpA)
	slices.SortFunc(keys, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	if len(got) != len(keys) {
		t.Fatalf("Fold visited %d keys; want %d", len(got), len(keys))
	}
	for i, k := range keys {
		if got[i].key != k || got[i].val != fmt.Sprintf("%x", k) {
			t.Fatalf("Fold entry %d = (%q, %q); want (%q, %x)", i, got[i].key, got[i].val, k, k)
		}
	}
}

func (su *suite) testFoldPrefixIsolation(t *testing.T) {
	s := su.newStore(t)
	// Prefixes that would collide under a naive concatenation.
	fps := []metadata.FullPrefix{
		{Prefix: "metadatatest", Sub: "p"},
		{Prefix: "metadatatest", Sub: "pq"},
		{Prefix: "metadatatest", Sub: "p\x00"},
		{Prefix: "metadatatest", Sub: ""},
		{Prefix: "metadatatestp", Sub: ""},
		{Prefix: "metadatates", Sub: "tp"},
	}
	for _, fp := range fps {
		put(t, s, fp, "k", fp.String())
		put(t, s, fp, "only-"+fp.String(), "x")
	}
	for _, fp := range fps {
		want := []kv{{"k", fp.String()}, {"only-" + fp.String(), "x"}}
		if got := fold(t, s, fp); !slices.Equal(got, want) {
			t.Fatalf("Fold(%q) = %q; want %q", fp, got, want)
		}
	}
	if got := fold(t, s, metadata.FullPrefix{Prefix: "metadatatest", Sub: "unused"}); len(got) != 0 {
		t.Fatalf("Fold of an unused prefix = %q; want nothing", got)
	}
}

func (su *suite) testFoldHidesTombstones(t *testing.T) {
	s := su.newStore(t)
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		put(t, s, fpA, k, "v"+k)
	}
	del(t, s, fpA, "k2")
	del(t, s, fpA, "k4")
	del(t, s, fpA, "k9") // a tombstone for a key never written
	want := []kv{{"k1", "vk1"}, {"k3", "vk3"}, {"k5", "vk5"}}
	if got := fold(t, s, fpA); !slices.Equal(got, want) {
		t.Fatalf("Fold = %q; want %q", got, want)
	}
	for _, k := range []string{"k1", "k3", "k5"} {
		del(t, s, fpA, k)
	}
	if got := fold(t, s, fpA); len(got) != 0 {
		t.Fatalf("Fold after deleting everything = %q; want nothing", got)
	}
}

func (su *suite) testFoldStopsOnError(t *testing.T) {
	s := su.newStore(t)
	for i := range 10 {
		put(t, s, fpA, fmt.Sprintf("k%02d", i), "v")
	}
	errStop := errors.New("stop")
	calls := 0
	err := s.Fold(bg, fpA, func(key, val []byte) error {
		calls++
		if calls == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Fold = %v; want the callback's error", err)
	}
	if calls != 3 {
		t.Fatalf("Fold called fn %d times after it failed on call 3", calls)
	}
}

func (su *suite) testFoldCallbackMayWrite(t *testing.T) {
	s := su.newStore(t)
	for i := range 600 { // more than one chunk for stores that fold in chunks
		put(t, s, fpA, fmt.Sprintf("k%03d", i), "v")
	}
	n := 0
	su.within(t, "Fold with a callback that writes", func() error {
		return s.Fold(bg, fpA, func(key, val []byte) error {
			n++
			if err := s.Put(bg, fpB, key, []byte("copied")); err != nil {
				return err
			}
			return s.Put(bg, fpA, key, []byte("seen")) // the key being visited
		})
	})
	if n != 600 {
		t.Fatalf("Fold visited %d keys; want 600", n)
	}
	wantGet(t, s, fpA, "k599", str("seen"))
	wantGet(t, s, fpB, "k000", str("copied"))
}

func (su *suite) testCanceledContext(t *testing.T) {
	s := su.newStore(t)
	put(t, s, fpA, "k", "v")
	ctx, cancel := context.WithCancel(bg)
	cancel()
	key := []byte("k")
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v; want context.Canceled", op, err)
		}
	}
	check("Put", s.Put(ctx, fpA, key, []byte("x")))
	_, _, err := s.Get(ctx, fpA, key)
	check("Get", err)
	check("Delete", s.Delete(ctx, fpA, key))
	check("Fold", s.Fold(ctx, fpA, func(key, val []byte) error { return nil }))
	_, _, err = s.GetRaw(ctx, fpA, key)
	check("GetRaw", err)
	check("PutRaw", s.PutRaw(ctx, fpA, key, live(1, nodeA, "x"), nil))
	wantGet(t, s, fpA, "k", str("v"))
}
