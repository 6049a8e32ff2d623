package plumtree

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func val(s string) metadata.Value { return metadata.Value{TS: 1, Node: "x", Data: []byte(s)} }

func data(d dvv) []string {
	var out []string
	for _, v := range d.values() {
		out = append(out, string(v.Data))
	}
	slices.Sort(out)
	return out
}

func TestDVVUpdateAndSync(t *testing.T) {
	// a writes v1; b sees it and writes v2; a concurrently writes v3.
	a1 := update(nil, nil, "a", val("v1"))
	b1 := update(a1, a1.join(), "b", val("v2"))
	if got := data(b1); !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("b after a write covering v1: %v", got)
	}
	a2 := update(a1, a1.join(), "a", val("v3"))
	if !less(a1.join(), b1.join()) || !less(a1.join(), a2.join()) {
		t.Fatalf("later writes must descend the first")
	}
	if less(a2.join(), b1.join()) || less(b1.join(), a2.join()) {
		t.Fatalf("concurrent writes must not be ordered")
	}
	m := syncDVV(a2, b1)
	if got := data(m); !slices.Equal(got, []string{"v2", "v3"}) {
		t.Fatalf("sync of concurrent writes = %v; want both siblings", got)
	}
	if got := data(syncDVV(b1, a2)); !slices.Equal(got, data(m)) {
		t.Fatalf("sync is not commutative: %v vs %v", got, data(m))
	}
	// A write with the merged context supersedes both.
	c := update(m, m.join(), "c", val("v4"))
	if got := data(c); !slices.Equal(got, []string{"v4"}) {
		t.Fatalf("write with merged context left %v", got)
	}
	// Syncing an older version in changes nothing.
	if got := data(syncDVV(c, a2)); !slices.Equal(got, []string{"v4"}) {
		t.Fatalf("sync with an ancestor resurrected %v", got)
	}
	// A write with a partial context keeps what it did not see.
	p := update(m, a2.join(), "a", val("v5"))
	if got := data(p); !slices.Equal(got, []string{"v2", "v5"}) {
		t.Fatalf("partial context: %v; want v2 kept beside v5", got)
	}
}

// TestLocalWritesNeverShareADot is the VerneMQ race, made impossible by the
// core serializing writes: two writes of one key on one node, each reading
// the context first, must take different dots, and the later one must
// supersede the earlier.
func TestLocalWritesNeverShareADot(t *testing.T) {
	d := update(nil, nil, "a", val("x"))
	ctx := d.join()
	d2 := update(d, ctx, "a", val("y"))
	d3 := update(d2, d2.join(), "a", val("z"))
	if d3[0].n != 3 || !slices.Equal(data(d3), []string{"z"}) {
		t.Fatalf("serial writes: %+v", d3)
	}
	// Had both writers used the stale ctx, they would have produced equal
	// clocks with different values: exactly what merge cannot reconcile.
	racy1, racy2 := update(d, ctx, "a", val("y")), update(d, ctx, "a", val("w"))
	if !equalVV(racy1.join(), racy2.join()) {
		t.Fatalf("expected the race to produce equal clocks")
	}
}

// TestDVVSyncProperties checks sync on random histories: commutative,
// idempotent, and the result descends both sides.
func TestDVVSyncProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	actors := []string{"a", "b", "c"}
	for i := range 2000 {
		// Three replicas evolve with random writes and random syncs.
		reps := make([]dvv, 3)
		for range 12 {
			j := r.IntN(3)
			if r.IntN(2) == 0 {
				reps[j] = update(reps[j], reps[j].join(), actors[j], val(string(rune('A'+r.IntN(26)))))
			} else {
				reps[j] = syncDVV(reps[j], reps[r.IntN(3)])
			}
		}
		a, b := reps[0], reps[1]
		ab, ba := syncDVV(a, b), syncDVV(b, a)
		if string(appendDVV(nil, ab)) != string(appendDVV(nil, ba)) {
			t.Fatalf("case %d: sync not commutative:\n%+v\n%+v", i, ab, ba)
		}
		if string(appendDVV(nil, syncDVV(ab, ab))) != string(appendDVV(nil, ab)) {
			t.Fatalf("case %d: sync not idempotent", i)
		}
		if !descends(ab.join(), a.join()) || !descends(ab.join(), b.join()) {
			t.Fatalf("case %d: sync does not descend its inputs", i)
		}
		dec, err := decodeDVV(appendDVV(nil, ab))
		if err != nil || string(appendDVV(nil, dec)) != string(appendDVV(nil, ab)) {
			t.Fatalf("case %d: encoding does not round-trip: %v", i, err)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good := appendDVV(nil, update(nil, nil, "a", val("x")))
	for n := range len(good) {
		if _, err := decodeDVV(good[:n]); err == nil {
			t.Fatalf("truncated object (%d of %d bytes) decoded", n, len(good))
		}
	}
	if _, err := decodeDVV(append(good, 0)); err == nil {
		t.Fatalf("trailing byte accepted")
	}
	if _, err := decodeContext(metadata.Context("m\x01")); err == nil {
		t.Fatalf("foreign context accepted")
	}
}
