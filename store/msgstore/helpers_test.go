package msgstore

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/nautilus-mq/nautilus/store"
)

// location opens engines on one place; calling it again after Close reopens the same data.
type location func(o store.Options) (store.Engine, error)

// engines runs fn against the memory engine and RocksDB.
func engines(t *testing.T, fn func(t *testing.T, loc location)) {
	t.Run("memory", func(t *testing.T) {
		st := store.NewMemStorage()
		fn(t, func(o store.Options) (store.Engine, error) {
			m, err := store.OpenMemory(st, o)
			if err != nil {
				return nil, err
			}
			return m, nil
		})
	})
	t.Run("rocksdb", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, func(o store.Options) (store.Engine, error) {
			o.Dir = dir
			o.Sync = orDefault(o.Sync, store.SyncOff) // tests do not need the disk to be synced
			d, err := store.Open(o)
			if err != nil {
				return nil, err
			}
			return d, nil
		})
	})
}

func orDefault(p, d store.SyncPolicy) store.SyncPolicy {
	if p == "" {
		return d
	}
	return p
}

// openStore opens an engine and a Store on loc; both close at cleanup (or earlier by the
// returned func, which is idempotent).
func openStore(t *testing.T, loc location, o store.Options) (*Store, store.Engine, func()) {
	t.Helper()
	e, err := loc(o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(e, Options{})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			if err := e.Close(); err != nil {
				t.Errorf("close engine: %v", err)
			}
		}
	}
	t.Cleanup(closeFn)
	return s, e, closeFn
}

func msg(id uint64, payload string) Message {
	return Message{ID: id, Topic: fmt.Sprintf("t/%d", id), Payload: []byte(payload), QoS: 1}
}

func targets(qs ...QueueID) []Target {
	out := make([]Target, len(qs))
	for i, q := range qs {
		out[i] = Target{Queue: q, QoS: 1}
	}
	return out
}

// dump reads the engine directly: queue -> "seq:msgID" list, and the stored message ids.
func dump(t *testing.T, e store.Engine) (map[QueueID][]string, []uint64) {
	t.Helper()
	idx := map[QueueID][]string{}
	it, err := e.NewIterator(store.QueueIndex, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		q, seq, err := parseIndexKey(it.Key())
		if err != nil {
			t.Fatal(err)
		}
		ev, err := decodeEntry(it.Value(), true)
		if err != nil {
			t.Fatal(err)
		}
		idx[q] = append(idx[q], fmt.Sprintf("%d:%d", seq, ev.msgID))
	}
	it.Close()
	var ids []uint64
	it, _ = e.NewIterator(store.Messages, nil, nil)
	for ok := it.First(); ok; ok = it.Next() {
		ids = append(ids, beUint64(it.Key()))
	}
	it.Close()
	return idx, ids
}

// checkConsistent verifies that every entry's payload exists, every payload is referenced,
// and the in-memory state matches the engine.
func checkConsistent(t *testing.T, s *Store, e store.Engine) {
	t.Helper()
	idx, ids := dump(t, e)
	refs := map[uint64]uint32{}
	entries := 0
	for q, es := range idx {
		for _, x := range es {
			var seq, id uint64
			fmt.Sscanf(x, "%d:%d", &seq, &id)
			refs[id]++
		}
		entries += len(es)
		if got := s.Len(q); got != len(es) {
			t.Errorf("Len(%q) = %d, engine holds %d", q, got, len(es))
		}
	}
	for _, id := range ids {
		if refs[id] == 0 {
			t.Errorf("orphan payload %d", id)
		}
	}
	for id := range refs {
		if !slices.Contains(ids, id) {
			t.Errorf("entries point at missing payload %d", id)
		}
	}
	s.mu.Lock()
	for id, n := range refs {
		if s.refs[id] != n {
			t.Errorf("refcount(%d) = %d in memory, %d in the index", id, s.refs[id], n)
		}
	}
	if len(s.refs) != len(refs) || s.entries != entries {
		t.Errorf("memory: %d messages %d entries; engine: %d, %d", len(s.refs), s.entries, len(refs), entries)
	}
	s.mu.Unlock()
}

func seqs(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

type atomicID struct{ v atomic.Uint64 }

func (a *atomicID) next() uint64 { return a.v.Add(1) }
