package msgstore

import (
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// Writes are held back and applied together. Every RocksDB write costs a fixed few
// microseconds (a cgo call, the write-ahead log append, the memtable), and a persistent
// session's delivery makes three (the entry, the sent mark, the removal on acknowledgement)
// within milliseconds of each other. So the store keeps the writes of mutations in a pending
// set and applies it as one batch when someone waits for durability (the publisher's PUBACK
// waits, so the set is applied before it at the latest), before any read of the engine that
// must see it, when the set grows large, and at most pendingDelay after its first write. A
// write in the set that a later one supersedes is not applied at all: an entry delivered and
// acknowledged within one window costs no engine write, and a mark on an entry still pending
// rewrites it in memory.
//
// What a write held back means for a crash of the process: nothing acknowledged is lost (every
// acknowledgement waits for the apply and the sync policy). What a kill -9 can take back is
// what nobody waited for: the removal of an acknowledged entry (the message is delivered again)
// and a QoS 1 sent mark (the redelivery goes without DUP and with a new packet identifier,
// which QoS 1 allows). QoS 2 sent marks are applied before MarkSent returns, so the socket
// write that follows never gets ahead of them.

// pendingDelay bounds how long a write nobody waits for stays in memory.
const pendingDelay = 10 * time.Millisecond

// pendingMax applies the set as soon as the mutation under way is done once it holds this
// many writes.
const pendingMax = 4096

type pendKey struct {
	ks  store.Keyspace
	key string
}

// pendOp is the latest write of one key. fresh: the key is not in the engine (the write
// created it in this window), so a delete drops the write instead of applying a delete.
type pendOp struct {
	val   []byte // nil: a delete
	fresh bool
}

// window is one generation of the pending set: the writes made between two applies, and
// how their apply went.
type window struct {
	done  bool
	err   error      // the apply failed: none of the window's writes are in the engine
	batch Durability // what to wait on for the sync (nil: nothing was ever applied)
}

// undo is one change to the in-memory counts a pending write made: delta entries of queue q
// referencing message id (+1 an enqueue, -1 a delete). A failed apply reverts them, so the
// counts describe the engine again.
type undo struct {
	q     QueueID
	id    uint64
	delta int32
}

// pendingWrite is what a mutation returns to wait on: its window's apply, then the sync.
type pendingWrite struct {
	s *Store
	w *window
}

// SyncWait applies the window if it is still pending and waits for the sync. While another
// waiter's sync is in progress the window stays open, to be applied by the first waiter after
// it: what piles up during an fsync goes to the engine as one batch, and what was acknowledged
// meanwhile not at all.
func (p pendingWrite) SyncWait() error {
	s := p.s
	s.mu.Lock()
	for !p.w.done {
		if s.syncing {
			s.synced.Wait()
			continue
		}
		s.applyLocked(p.w)
	}
	err, d := p.w.err, p.w.batch
	if err != nil || d == nil {
		s.mu.Unlock()
		return err
	}
	if s.syncing {
		s.mu.Unlock()
		return d.SyncWait()
	}
	s.syncing = true
	s.mu.Unlock()
	err = d.SyncWait()
	s.mu.Lock()
	s.syncing = false
	s.synced.Broadcast()
	s.mu.Unlock()
	return err
}

// put records a write of key; mu held. fresh says the caller knows the key is absent from
// the engine.
func (s *Store) put(ks store.Keyspace, key []byte, val []byte, fresh bool) {
	k := pendKey{ks, string(key)}
	if op, ok := s.pend[k]; ok {
		fresh = op.fresh
	}
	s.pend[k] = pendOp{val: val, fresh: fresh}
	s.notePending()
}

// del records a delete of key; mu held.
func (s *Store) del(ks store.Keyspace, key []byte) {
	k := pendKey{ks, string(key)}
	if op, ok := s.pend[k]; ok && op.fresh {
		delete(s.pend, k) // never applied: nothing to delete
		return
	}
	s.pend[k] = pendOp{}
	s.notePending()
}

// count changes the in-memory reference counts and queue lengths, revertibly; mu held.
func (s *Store) count(q QueueID, id uint64, delta int32) {
	s.adjust(q, id, delta)
	s.undo = append(s.undo, undo{q, id, delta})
}

func (s *Store) adjust(q QueueID, id uint64, delta int32) {
	qs := s.queues[q]
	if qs == nil {
		qs = &queueState{}
		s.queues[q] = qs
	}
	qs.n += int(delta)
	s.entries += int(delta)
	if r := int64(s.refs[id]) + int64(delta); r > 0 {
		s.refs[id] = uint32(r)
	} else {
		delete(s.refs, id)
	}
}

// get reads key as the store will hold it once the pending set is applied; mu held.
func (s *Store) get(ks store.Keyspace, key []byte) ([]byte, error) {
	if op, ok := s.pend[pendKey{ks, string(key)}]; ok {
		if op.val == nil {
			return nil, store.ErrNotFound
		}
		return op.val, nil
	}
	if op, ok := s.applying[pendKey{ks, string(key)}]; ok {
		if op.val == nil {
			return nil, store.ErrNotFound
		}
		return op.val, nil
	}
	if ks == store.QueueIndex {
		if v, ok := s.cache[string(key)]; ok {
			return v, nil
		}
	}
	return s.e.Get(ks, key)
}

func (s *Store) notePending() {
	switch {
	case len(s.pend) == pendingMax:
		// Not inline: the caller is in the middle of a mutation (an enqueue to many queues),
		// and a failed apply must revert whole mutations. The timer applies it right after.
		s.timer.Reset(0)
	case len(s.pend) == 1:
		s.timer.Reset(pendingDelay)
	}
}

// durable is what the writes made so far under mu wait on.
func (s *Store) durable() Durability { return pendingWrite{s, s.cur} }

// applyLocked applies the pending set, unless w (when given) turns out to be applied by the
// time this caller's turn comes. mu is held on entry and on return, and released while the
// engine writes, so that mutations go on meanwhile, into the next window. Windows are written
// one at a time in the order they were closed: writeMu is taken before the window is closed.
func (s *Store) applyLocked(w *window) error {
	s.mu.Unlock()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if w != nil && w.done {
		return w.err
	}
	return s.writeWindowLocked(true)
}

// writeWindowLocked closes the current window and writes it as one batch; writeMu and mu held,
// mu released during the write when release is set (reads find the window's writes in
// s.applying meanwhile). When the engine refuses the batch, nothing of the window is in the
// engine, and the next window may build on it (a delete of an entry it wrote), so both go:
// their count changes are reverted, and their waiters get the error.
func (s *Store) writeWindowLocked(release bool) error {
	w := s.cur
	s.cur = &window{}
	if len(s.pend) == 0 {
		w.done, w.batch = true, s.last
		s.undo = s.undo[:0]
		return nil
	}
	b := s.e.NewBatch()
	for k, op := range s.pend {
		if op.val == nil {
			b.Delete(k.ks, []byte(k.key))
		} else {
			b.Put(k.ks, []byte(k.key), op.val)
		}
	}
	applied, undo := s.pend, s.undo
	s.pend, s.spare, s.undo = s.spare, nil, nil
	if s.pend == nil {
		s.pend = make(map[pendKey]pendOp, len(applied))
	}
	s.applying = applied
	if release {
		s.mu.Unlock()
	}
	err := b.CommitNoSyncWait()
	if release {
		s.mu.Lock()
	}
	s.applying = nil
	w.done = true
	defer func() { clear(applied); s.spare = applied }()
	if err != nil {
		w.err = fmt.Errorf("msgstore: apply %d pending writes: %w", len(applied), err)
		next := s.cur
		s.cur = &window{}
		next.done, next.err = true, w.err
		s.revert(s.undo)
		s.revert(undo)
		clear(s.pend)
		s.undo = s.undo[:0]
		return w.err
	}
	s.last, w.batch = b, b
	for k, op := range applied {
		if k.ks == store.QueueIndex {
			s.cacheEntry(k.key, op.val)
		}
	}
	return nil
}

func (s *Store) revert(undo []undo) {
	for i := len(undo) - 1; i >= 0; i-- {
		s.adjust(undo[i].q, undo[i].id, -undo[i].delta)
	}
}

// entryCacheMax bounds the entries applied recently that the store keeps in memory.
const entryCacheMax = 1 << 16

// cacheEntry keeps (val) or forgets (nil) an applied index entry; mu held. The entries of
// online sessions are marked sent and removed within moments of being applied, and without
// the cache each of those would first read the entry back from the engine. When the cache is
// full an arbitrary entry goes (map iteration starts at random): the entries of offline queues
// would otherwise fill it for good.
func (s *Store) cacheEntry(key string, val []byte) {
	if val == nil {
		delete(s.cache, key)
		return
	}
	if _, ok := s.cache[key]; !ok && len(s.cache) >= entryCacheMax {
		for k := range s.cache {
			delete(s.cache, k)
			break
		}
	}
	s.cache[key] = val
}

// apply applies whatever is pending, so that reads of the engine see it.
func (s *Store) apply() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyLocked(nil)
}

// applyAndHold applies whatever is pending and returns with writeMu held (the caller unlocks
// it), so that a direct write of the caller's cannot interleave with a window's.
func (s *Store) applyAndHold() error {
	s.writeMu.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeWindowLocked(false)
}

// Flush applies every pending write and waits for the sync policy. The broker calls it before
// it closes the engine; the store stays usable.
func (s *Store) Flush() error {
	s.mu.Lock()
	err := s.applyLocked(nil)
	d := s.last
	s.mu.Unlock()
	if err != nil || d == nil {
		return err
	}
	if err := d.SyncWait(); err != nil {
		return fmt.Errorf("msgstore: flush: %w", err)
	}
	return nil
}

// Close flushes and stops the timer that applies a window nobody waits for.
func (s *Store) Close() error {
	s.timer.Stop()
	return s.Flush()
}
