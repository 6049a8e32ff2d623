package store_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/nautilus-mq/nautilus/store"
)

// memModel is the reference the memory engine is checked against: a plain map, sorted on
// demand.
type memModel map[string]string

func (m memModel) clone() memModel {
	c := make(memModel, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// between lists the model's keys in [lower, upper) in ascending order (nil bounds are open).
func (m memModel) between(lower, upper []byte) []string {
	var out []string
	for k := range m {
		if lower != nil && k < string(lower) || upper != nil && k >= string(upper) {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// walk moves it through a random mix of positioning calls and checks each position against
// want (the keys it may see, ascending) and the values against m.
func walk(t *testing.T, rng *rand.Rand, it store.Iterator, want []string, m memModel, what string) {
	t.Helper()
	pos := -1 // index into want, or -1/len(want) when off either end
	check := func(op string, ok bool) {
		t.Helper()
		valid := pos >= 0 && pos < len(want)
		if ok != valid || it.Valid() != valid {
			t.Fatalf("%s: %s returned %v (Valid %v), want %v at %d of %d", what, op, ok, it.Valid(), valid, pos, len(want))
		}
		if !valid {
			return
		}
		if k := string(it.Key()); k != want[pos] {
			t.Fatalf("%s: %s at %q, want %q", what, op, k, want[pos])
		}
		if v := string(it.Value()); v != m[want[pos]] {
			t.Fatalf("%s: %s value %q, want %q", what, op, v, m[want[pos]])
		}
	}
	// seekGE is the index of the first wanted key >= k; the iterator's bounds are already in want.
	seekGE := func(k string) int {
		i, _ := slices.BinarySearch(want, k)
		return i
	}
	// Full scans both ways first: they run past the iterator's internal buffering.
	var fwd, back []string
	for ok := it.First(); ok; ok = it.Next() {
		fwd = append(fwd, string(it.Key()))
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		back = append(back, string(it.Key()))
	}
	slices.Reverse(back)
	if !slices.Equal(fwd, want) || !slices.Equal(back, want) {
		t.Fatalf("%s: forward scan %q, backward %q, want %q", what, fwd, back, want)
	}
	for range 200 {
		switch op := rng.IntN(10); {
		case op == 0:
			pos = 0
			check("First", it.First())
		case op == 1:
			pos = len(want) - 1
			check("Last", it.Last())
		case op == 2:
			k := fmt.Sprintf("k%03d", rng.IntN(300))
			pos = seekGE(k)
			check("SeekGE "+k, it.SeekGE([]byte(k)))
		case op == 3:
			k := fmt.Sprintf("k%03d", rng.IntN(300))
			pos = seekGE(k) - 1
			check("SeekLT "+k, it.SeekLT([]byte(k)))
		case op < 7:
			ok := it.Next()
			if pos >= 0 && pos < len(want) {
				pos++
			} else {
				pos = len(want) // an invalid iterator stays invalid
			}
			check("Next", ok)
		default:
			ok := it.Prev()
			if pos >= 0 && pos < len(want) {
				pos--
			} else {
				pos = -1
			}
			check("Prev", ok)
		}
	}
}

// TestMemoryModel drives the memory engine with random batches and checks Get, iterators
// (random bounds, both directions, runs longer than the iterator's internal buffering) and
// snapshots taken along the way against a model, also after writes that came later and after
// a close and reopen of the same MemStorage.
func TestMemoryModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	st := store.NewMemStorage()
	open := func() *store.MemDB {
		e, err := store.OpenMemory(st, store.Options{Sync: store.SyncOff})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	m := memModel{}
	type pinned struct {
		snap store.Snapshot
		it   store.Iterator
		lo   []byte
		hi   []byte
		m    memModel
	}
	var pins []pinned
	bound := func() []byte {
		if rng.IntN(3) == 0 {
			return nil
		}
		return []byte(fmt.Sprintf("k%03d", rng.IntN(300)))
	}
	for round := range 300 {
		b := e.NewBatch()
		for range 1 + rng.IntN(20) {
			k := fmt.Sprintf("k%03d", rng.IntN(300))
			if rng.IntN(4) == 0 {
				b.Delete(store.Metadata, []byte(k))
				delete(m, k)
				continue
			}
			v := fmt.Sprintf("v%d-%d", round, rng.IntN(1000))
			if rng.IntN(10) == 0 {
				v = "" // empty values are stored and read back as such
			}
			b.Put(store.Metadata, []byte(k), []byte(v))
			m[k] = v
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("k%03d", rng.IntN(300))
		got, err := e.Get(store.Metadata, []byte(k))
		if want, ok := m[k]; ok != (err == nil) || string(got) != want || ok && got == nil {
			t.Fatalf("round %d: Get(%s) = %q, %v; want %q, present %v", round, k, got, err, want, ok)
		}
		if round%10 == 0 {
			p := pinned{lo: bound(), hi: bound(), m: m.clone()}
			var err error
			if p.snap, err = e.NewSnapshot(); err != nil {
				t.Fatal(err)
			}
			if p.it, err = e.NewIterator(store.Metadata, p.lo, p.hi); err != nil {
				t.Fatal(err)
			}
			pins = append(pins, p)
		}
		if round == 150 { // a restart: every pin must be released before Close
			for _, p := range pins {
				walk(t, rng, p.it, p.m.between(p.lo, p.hi), p.m, "iterator before reopen")
				p.it.Close()
				p.snap.Close()
			}
			pins = nil
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			e = open()
		}
	}
	for i, p := range pins {
		walk(t, rng, p.it, p.m.between(p.lo, p.hi), p.m, fmt.Sprintf("iterator %d", i))
		lo, hi := bound(), bound()
		sit, err := p.snap.NewIterator(store.Metadata, lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		walk(t, rng, sit, p.m.between(lo, hi), p.m, fmt.Sprintf("snapshot %d iterator", i))
		sit.Close()
		for k, v := range p.m {
			if got, err := p.snap.Get(store.Metadata, []byte(k)); err != nil || string(got) != v {
				t.Fatalf("snapshot %d: Get(%s) = %q, %v; want %q", i, k, got, err, v)
			}
		}
		p.it.Close()
		p.snap.Close()
	}
	it, err := e.NewIterator(store.Metadata, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	walk(t, rng, it, m.between(nil, nil), m, "final iterator")
	it.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryConcurrentReaders reads through Get, iterators and snapshots while another
// goroutine commits (run with -race): every snapshot and iterator sees one committed state,
// in which the two keys each batch writes carry the same value.
func TestMemoryConcurrentReaders(t *testing.T) {
	e, err := store.OpenMemory(store.NewMemStorage(), store.Options{Sync: store.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const rounds = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range rounds {
			b := e.NewBatch()
			v := []byte(fmt.Sprint(i))
			b.Put(store.Metadata, []byte("a"), v)
			b.Put(store.Metadata, []byte("b"), v)
			for j := range 5 { // keep the tree a few levels deep
				b.Put(store.Metadata, []byte(fmt.Sprintf("c%05d", i*5+j)), v)
			}
			if err := b.Commit(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds / 4 {
				snap, err := e.NewSnapshot()
				if err != nil {
					t.Error(err)
					return
				}
				a, errA := snap.Get(store.Metadata, []byte("a"))
				b, errB := snap.Get(store.Metadata, []byte("b"))
				if (errA == nil) != (errB == nil) || !bytes.Equal(a, b) {
					t.Errorf("snapshot sees a=%q (%v), b=%q (%v)", a, errA, b, errB)
				}
				snap.Close()
				it, err := e.NewIterator(store.Metadata, nil, []byte("c"))
				if err != nil {
					t.Error(err)
					return
				}
				var vals []string
				for ok := it.First(); ok; ok = it.Next() {
					vals = append(vals, string(it.Value()))
				}
				it.Close()
				if len(vals) == 2 && vals[0] != vals[1] || len(vals) == 1 {
					t.Errorf("iterator sees %q", vals)
				}
				_, _ = e.Get(store.Metadata, []byte("c00000"))
			}
		}()
	}
	wg.Wait()
}
