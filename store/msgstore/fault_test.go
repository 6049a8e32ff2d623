package msgstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/fault"
)

// scriptOps is a fixed sequence of store operations, each one atomic batch: each waits for
// its writes (a QoS 1 mark is held back, so that op flushes after it).
func scriptOps(s *Store, now time.Time) []func() error {
	expiring := msg(4, "expiring")
	expiring.ExpiresAt = now.UnixMilli() - 1
	return []func() error{
		func() error { return s.Enqueue(msg(1, "one"), targets("a", "b", "c")) },
		func() error { return s.Enqueue(msg(2, "two"), targets("a", "b")) },
		func() error { _, err := s.Delete("a", 1); return err },
		func() error { return s.Enqueue(msg(3, "three"), targets("c")) },
		func() error { _, err := s.Delete("b", 1, 2); return err },
		func() error {
			if err := s.MarkSent("c", Sent{Seq: 1}); err != nil {
				return err
			}
			return s.Flush()
		},
		func() error { return s.Enqueue(expiring, targets("a", "c")) },
		func() error { _, err := s.DeleteQueue("c"); return err },
		func() error { _, err := s.Sweep(now); return err }, // one expired entry left: one batch
		func() error { _, err := s.Delete("a", 2); return err },
		func() error { return s.Enqueue(msg(5, "five"), targets("b")) },
	}
}

// prefixStates[i] is the engine's content after the first i operations, from a clean run.
func prefixStates(t *testing.T, now time.Time) []string {
	e, _ := store.OpenMemory(store.NewMemStorage(), store.Options{})
	defer e.Close()
	s, _ := Open(e, Options{})
	out := []string{state(t, e)}
	for _, op := range scriptOps(s, now) {
		if err := op(); err != nil {
			t.Fatal(err)
		}
		out = append(out, state(t, e))
	}
	return out
}

func state(t *testing.T, e store.Engine) string {
	idx, ids := dump(t, e)
	return fmt.Sprint(idx, ids)
}

// TestCrashMidSequence stops the "disk" at every write of the script in turn (that write and
// everything after it fails, as if the process died there), reopens, and checks that the store
// is consistent and holds exactly the operations that returned success.
func TestCrashMidSequence(t *testing.T) {
	now := time.UnixMilli(5_000_000)
	prefixes := prefixStates(t, now)
	engines(t, func(t *testing.T, loc location) {
		for k := 0; ; k++ {
			s, _, closeFn := openStore(t, loc, store.Options{Injector: fault.CrashAt(store.OpWrite, k)})
			failedAt := -1
			for i, op := range scriptOps(s, now) {
				if err := op(); err != nil {
					if !errors.Is(err, fault.ErrInjected) {
						t.Fatalf("crash at write %d: op %d returned %v, want a wrapped injected error", k, i, err)
					}
					failedAt = i
					break
				}
			}
			closeFn()
			if failedAt < 0 {
				if k != len(prefixes)-1 {
					t.Errorf("script made %d writes, want one per op (%d)", k, len(prefixes)-1)
				}
				return
			}
			s, e, closeFn := openStore(t, loc, store.Options{})
			checkConsistent(t, s, e)
			if st := s.Stats(); st.OrphansRemoved+st.DanglingRemoved != 0 {
				t.Errorf("crash at write %d needed repair: %+v", k, st)
			}
			if got := state(t, e); got != prefixes[failedAt] {
				t.Errorf("crash at write %d (op %d): state\n%s\nwant the state after %d ops\n%s", k, failedAt, got, failedAt, prefixes[failedAt])
			}
			for q := range s.Queues() { // start the next round empty
				if _, err := s.DeleteQueue(q); err != nil {
					t.Fatal(err)
				}
			}
			closeFn()
		}
	})
}

// TestFailNthWrite fails one write in the middle: that operation reports the wrapped error
// and changes nothing, later operations succeed, and a reopen agrees.
func TestFailNthWrite(t *testing.T) {
	now := time.UnixMilli(5_000_000)
	prefixes := prefixStates(t, now)
	engines(t, func(t *testing.T, loc location) {
		const n = 4 // Delete("b", 1, 2)
		s, e, closeFn := openStore(t, loc, store.Options{Injector: fault.OnIndex(store.OpWrite, n)})
		for i, op := range scriptOps(s, now)[:n+1] {
			err := op()
			if (i == n) != errors.Is(err, fault.ErrInjected) {
				t.Fatalf("op %d: %v", i, err)
			}
		}
		if got := state(t, e); got != prefixes[n] {
			t.Fatalf("failed op changed the store:\n%s\nwant\n%s", got, prefixes[n])
		}
		checkConsistent(t, s, e)
		if _, err := s.Delete("b", 1, 2); err != nil { // the retry works
			t.Fatal(err)
		}
		want := state(t, e)
		closeFn()
		s, e, _ = openStore(t, loc, store.Options{})
		checkConsistent(t, s, e)
		if got := state(t, e); got != want || s.Len("b") != 0 {
			t.Fatalf("after reopen %s, want %s", got, want)
		}
	})
}

// TestFailSyncAlways: under SyncAlways a failed fsync fails the operation and stops the
// engine (durability of the applied batch is unknown); the reopened store is consistent.
func TestFailSyncAlways(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, closeFn := openStore(t, loc, store.Options{Sync: store.SyncAlways, Injector: fault.OnIndex(store.OpSync, 1)})
		if err := s.Enqueue(msg(1, "one"), targets("a", "b")); err != nil {
			t.Fatal(err)
		}
		if err := s.Enqueue(msg(2, "two"), targets("a")); !errors.Is(err, fault.ErrInjected) {
			t.Fatalf("Enqueue with failing sync = %v", err)
		}
		if _, err := s.Delete("a", 1); !errors.Is(err, fault.ErrInjected) {
			t.Fatalf("Delete after failed sync = %v, want the engine stopped", err)
		}
		closeFn()
		s, e, _ := openStore(t, loc, store.Options{Sync: store.SyncAlways})
		checkConsistent(t, s, e)
		if s.Len("b") != 1 || s.Len("a") < 1 {
			t.Fatalf("lens a=%d b=%d", s.Len("a"), s.Len("b"))
		}
	})
}
