// Package storetest is the contract every store.Engine passes: one suite, run against the
// memory engine and RocksDB, so that simulators on the memory engine see what production sees.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/fault"
)

// Location opens engines on one place (a directory, a MemStorage). Calling it again after
// Close reopens the same data.
type Location func(o store.Options) (store.Engine, error)

// NewLocation returns a fresh, empty Location for one test.
type NewLocation func(t *testing.T) Location

// Run runs the contract suite.
func Run(t *testing.T, newLoc NewLocation) {
	tests := []struct {
		name string
		fn   func(*testing.T, Location)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"KeyspacesAreSeparate", testKeyspaces},
		{"UnknownKeyspace", testUnknownKeyspace},
		{"BatchAtomicOnInjectedWrite", testBatchAtomic},
		{"IteratorBounds", testIteratorBounds},
		{"IteratorSeesCreationState", testIteratorStable},
		{"SnapshotIsolation", testSnapshot},
		{"Reopen", testReopen},
		{"ExtraKeyspaces", testExtraKeyspaces},
		{"SecondOpenLocked", testLocked},
		{"CloseWithOpenIterator", testCloseLive},
		{"SyncPolicies", testSyncPolicies},
		{"GroupCommitSharesSyncs", testGroupCommit},
		{"FailedSyncStopsEngine", testFailedSync},
		{"CommitNoSyncWait", testSplitCommit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newLoc(t)) })
	}
}

func open(t *testing.T, loc Location, o store.Options) store.Engine {
	t.Helper()
	e, err := loc(o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func put(t *testing.T, e store.Engine, ks store.Keyspace, kv ...string) {
	t.Helper()
	b := e.NewBatch()
	for i := 0; i+1 < len(kv); i += 2 {
		b.Put(ks, []byte(kv[i]), []byte(kv[i+1]))
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func get(t *testing.T, r store.Reader, ks store.Keyspace, k string) string {
	t.Helper()
	v, err := r.Get(ks, []byte(k))
	if errors.Is(err, store.ErrNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	return string(v)
}

func testGetPutDelete(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	if got := get(t, e, store.Messages, "a"); got != "<none>" {
		t.Fatalf("empty store: got %q", got)
	}
	put(t, e, store.Messages, "a", "1", "b", "", "a", "2") // last write in a batch wins
	if got := get(t, e, store.Messages, "a"); got != "2" {
		t.Fatalf("a = %q, want 2", got)
	}
	if got := get(t, e, store.Messages, "b"); got != "" {
		t.Fatalf("empty value = %q, want present and empty", got)
	}
	b := e.NewBatch()
	b.Delete(store.Messages, []byte("a"))
	b.Delete(store.Messages, []byte("never-existed"))
	if b.Len() != 2 {
		t.Fatalf("Len = %d", b.Len())
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, e, store.Messages, "a"); got != "<none>" {
		t.Fatalf("deleted a = %q", got)
	}
	// Get returns a copy: changing it does not change the store.
	v, _ := e.Get(store.Messages, []byte("b"))
	v = append(v, 'x')
	_ = v
	if got := get(t, e, store.Messages, "b"); got != "" {
		t.Fatalf("b changed through a returned slice: %q", got)
	}
}

func testKeyspaces(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	put(t, e, store.Messages, "k", "m")
	put(t, e, store.QueueIndex, "k", "q")
	if get(t, e, store.Messages, "k") != "m" || get(t, e, store.QueueIndex, "k") != "q" ||
		get(t, e, store.Metadata, "k") != "<none>" {
		t.Fatal("keyspaces leak into each other")
	}
}

func testUnknownKeyspace(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	if _, err := e.Get("nope", []byte("k")); !errors.Is(err, store.ErrUnknownKeyspace) {
		t.Fatalf("Get = %v", err)
	}
	if _, err := e.NewIterator("nope", nil, nil); !errors.Is(err, store.ErrUnknownKeyspace) {
		t.Fatalf("NewIterator = %v", err)
	}
	b := e.NewBatch()
	b.Put(store.Messages, []byte("ok"), []byte("1"))
	b.Put("nope", []byte("k"), []byte("v"))
	if err := b.Commit(); !errors.Is(err, store.ErrUnknownKeyspace) {
		t.Fatalf("Commit = %v", err)
	}
	if got := get(t, e, store.Messages, "ok"); got != "<none>" {
		t.Fatalf("a failed batch applied part of itself: %q", got)
	}
}

func testBatchAtomic(t *testing.T, loc Location) {
	inj := fault.OnIndex(store.OpWrite, 1)
	e := open(t, loc, store.Options{Injector: inj, Sync: store.SyncOff})
	put(t, e, store.Messages, "a", "1")
	b := e.NewBatch()
	b.Put(store.Messages, []byte("a"), []byte("2"))
	b.Put(store.QueueIndex, []byte("b"), []byte("2"))
	err := b.Commit()
	if !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("Commit = %v, want injected", err)
	}
	if get(t, e, store.Messages, "a") != "1" || get(t, e, store.QueueIndex, "b") != "<none>" {
		t.Fatal("failed batch was partly applied")
	}
	put(t, e, store.Messages, "a", "3") // a failed write does not stop the engine
	if get(t, e, store.Messages, "a") != "3" {
		t.Fatal("write after a failed write lost")
	}
}

func collect(t *testing.T, it store.Iterator, forward bool, ok bool) []string {
	t.Helper()
	var out []string
	for ; ok; ok = step(it, forward) {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

func step(it store.Iterator, forward bool) bool {
	if forward {
		return it.Next()
	}
	return it.Prev()
}

func testIteratorBounds(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	put(t, e, store.QueueIndex, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5")
	put(t, e, store.Messages, "c2", "other keyspace")
	cases := []struct {
		lower, upper string
		fwd, bwd     string
	}{
		{"", "", "a=1 b=2 c=3 d=4 e=5", "e=5 d=4 c=3 b=2 a=1"},
		{"b", "d", "b=2 c=3", "c=3 b=2"},
		{"bb", "dd", "c=3 d=4", "d=4 c=3"},
		{"x", "z", "", ""},
		{"c", "c", "", ""},
	}
	for _, c := range cases {
		it, err := e.NewIterator(store.QueueIndex, bound(c.lower), bound(c.upper))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(collect(t, it, true, it.First())); got != "["+c.fwd+"]" {
			t.Errorf("[%q,%q) forward = %s, want [%s]", c.lower, c.upper, got, c.fwd)
		}
		if got := fmt.Sprint(collect(t, it, false, it.Last())); got != "["+c.bwd+"]" {
			t.Errorf("[%q,%q) backward = %s, want [%s]", c.lower, c.upper, got, c.bwd)
		}
		it.Close()
	}
	it, _ := e.NewIterator(store.QueueIndex, []byte("b"), []byte("e"))
	defer it.Close()
	seeks := []struct {
		ge   bool
		key  string
		want string
	}{
		{true, "a", "b"}, {true, "c", "c"}, {true, "cc", "d"}, {true, "e", ""}, {true, "z", ""},
		{false, "z", "d"}, {false, "d", "c"}, {false, "cc", "c"}, {false, "b", ""}, {false, "a", ""},
	}
	for _, s := range seeks {
		var ok bool
		if s.ge {
			ok = it.SeekGE([]byte(s.key))
		} else {
			ok = it.SeekLT([]byte(s.key))
		}
		got := ""
		if ok {
			got = string(it.Key())
		}
		if got != s.want || ok != it.Valid() {
			t.Errorf("seek(ge=%v, %q) = %q (valid %v), want %q", s.ge, s.key, got, it.Valid(), s.want)
		}
	}
	// Stepping past the end and back.
	it.SeekGE([]byte("d"))
	if it.Next() {
		t.Errorf("Next past upper bound = %q", it.Key())
	}
}

func bound(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func testIteratorStable(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	put(t, e, store.Messages, "a", "1", "b", "2")
	it, err := e.NewIterator(store.Messages, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	put(t, e, store.Messages, "a", "changed", "c", "3")
	b := e.NewBatch()
	b.Delete(store.Messages, []byte("b"))
	b.Commit()
	if got := fmt.Sprint(collect(t, it, true, it.First())); got != "[a=1 b=2]" {
		t.Fatalf("iterator saw later commits: %s", got)
	}
}

func testSnapshot(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	put(t, e, store.Metadata, "a", "1", "b", "2")
	s, err := e.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, e, store.Metadata, "a", "new", "c", "3")
	b := e.NewBatch()
	b.Delete(store.Metadata, []byte("b"))
	b.Commit()
	if get(t, s, store.Metadata, "a") != "1" || get(t, s, store.Metadata, "b") != "2" || get(t, s, store.Metadata, "c") != "<none>" {
		t.Fatal("snapshot Get sees later commits")
	}
	if get(t, e, store.Metadata, "a") != "new" || get(t, e, store.Metadata, "b") != "<none>" {
		t.Fatal("engine does not see its own commits")
	}
	it, err := s.NewIterator(store.Metadata, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if got := fmt.Sprint(collect(t, it, true, it.First())); got != "[a=1 b=2]" {
		t.Fatalf("snapshot iterator = %s", got)
	}
}

func testReopen(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{Sync: store.SyncAlways})
	put(t, e, store.Messages, "m", "payload")
	put(t, e, store.QueueIndex, "q", "m")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(store.Messages, []byte("m")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	e = open(t, loc, store.Options{})
	if get(t, e, store.Messages, "m") != "payload" || get(t, e, store.QueueIndex, "q") != "m" {
		t.Fatal("data lost across reopen")
	}
}

func testExtraKeyspaces(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{ExtraKeyspaces: []store.Keyspace{"plumtree"}})
	put(t, e, "plumtree", "k", "v")
	e.Close()
	// Reopened without naming the family: it must still open, and the data must still be there.
	e = open(t, loc, store.Options{})
	e.Close()
	e = open(t, loc, store.Options{ExtraKeyspaces: []store.Keyspace{"plumtree", "swc"}})
	if get(t, e, "plumtree", "k") != "v" {
		t.Fatal("extra keyspace lost")
	}
	put(t, e, "swc", "k", "w")
}

func testLocked(t *testing.T, loc Location) {
	open(t, loc, store.Options{})
	_, err := loc(store.Options{})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
}

func testCloseLive(t *testing.T, loc Location) {
	e := open(t, loc, store.Options{})
	it, _ := e.NewIterator(store.Messages, nil, nil)
	if err := e.Close(); err == nil {
		t.Fatal("Close with an open iterator succeeded")
	}
	it.Close()
	s, _ := e.NewSnapshot()
	if err := e.Close(); err == nil {
		t.Fatal("Close with an open snapshot succeeded")
	}
	s.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func testSyncPolicies(t *testing.T, loc Location) {
	for _, p := range []store.SyncPolicy{store.SyncAlways, store.SyncBatch, store.SyncOff} {
		e := open(t, loc, store.Options{Sync: p})
		for i := 0; i < 3; i++ {
			put(t, e, store.Messages, "k", "v")
		}
		st := e.Stats()
		want := map[store.SyncPolicy]uint64{store.SyncAlways: 3, store.SyncBatch: 3, store.SyncOff: 0}[p]
		if st.Commits != 3 || st.Syncs != want {
			t.Errorf("%s: stats %+v, want 3 commits and %d syncs", p, st, want)
		}
		e.Close()
	}
	if _, err := loc(store.Options{Sync: "sometimes"}); err == nil {
		t.Fatal("unknown sync policy accepted")
	}
}

func testGroupCommit(t *testing.T, loc Location) {
	// Each sync takes 5ms, so committers that arrive during one pile up behind it.
	e := open(t, loc, store.Options{Sync: store.SyncBatch, Injector: fault.SlowSync(5 * time.Millisecond)})
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := e.NewBatch()
			b.Put(store.Messages, fmt.Appendf(nil, "k%02d", i), []byte("v"))
			errs <- b.Commit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := e.Stats()
	if st.Commits != n || st.Syncs >= n {
		t.Fatalf("stats %+v: want %d commits sharing fewer than %d syncs", st, n, n)
	}
	t.Logf("%d concurrent commits, %d syncs", st.Commits, st.Syncs)
	for i := range n {
		if got := get(t, e, store.Messages, fmt.Sprintf("k%02d", i)); got != "v" {
			t.Fatalf("k%02d = %q", i, got)
		}
	}
}

func testFailedSync(t *testing.T, loc Location) {
	for _, p := range []store.SyncPolicy{store.SyncAlways, store.SyncBatch} {
		t.Run(string(p), func(t *testing.T) {
			e := open(t, loc, store.Options{Sync: p, Injector: fault.OnIndex(store.OpSync, 1)})
			put(t, e, store.Messages, "a", "1")
			b := e.NewBatch()
			b.Put(store.Messages, []byte("b"), []byte("2"))
			if err := b.Commit(); !errors.Is(err, fault.ErrInjected) {
				t.Fatalf("Commit with failing sync = %v", err)
			}
			b = e.NewBatch()
			b.Put(store.Messages, []byte("c"), []byte("3"))
			if err := b.Commit(); !errors.Is(err, fault.ErrInjected) {
				t.Fatalf("Commit after a failed sync = %v, want the engine stopped", err)
			}
			e.Close()
			e = open(t, loc, store.Options{Sync: p})
			// a is durable; b's durability was unknown (applied but not synced); c never happened.
			if get(t, e, store.Messages, "a") != "1" || get(t, e, store.Messages, "c") != "<none>" {
				t.Fatal("reopen after failed sync inconsistent")
			}
			b = e.NewBatch()
			b.Delete(store.Messages, []byte("a"))
			b.Delete(store.Messages, []byte("b"))
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			e.Close()
		})
	}
}

func testSplitCommit(t *testing.T, loc Location) {
	for _, p := range []store.SyncPolicy{store.SyncAlways, store.SyncBatch, store.SyncOff} {
		e := open(t, loc, store.Options{Sync: p})
		b := e.NewBatch()
		b.Put(store.Messages, []byte("k"), []byte(p))
		if err := b.CommitNoSyncWait(); err != nil {
			t.Fatal(err)
		}
		if get(t, e, store.Messages, "k") != string(p) {
			t.Fatal("applied batch not visible before SyncWait")
		}
		if err := b.SyncWait(); err != nil {
			t.Fatal(err)
		}
		if p != store.SyncOff && e.Stats().Syncs != 1 {
			t.Errorf("%s: %d syncs after SyncWait, want 1", p, e.Stats().Syncs)
		}
		if !bytes.Equal([]byte(get(t, e, store.Messages, "k")), []byte(p)) {
			t.Fatal("lost")
		}
		e.Close()
	}
}
