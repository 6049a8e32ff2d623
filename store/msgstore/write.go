package msgstore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/nautilus-mq/nautilus/store"
)

// Enqueue stores msg once and appends an entry for it to every target queue, in one atomic
// batch; each entry gets the next sequence of its queue. Enqueueing an id that is already
// stored adds references to the stored copy (the payload is not rewritten).
func (s *Store) Enqueue(msg Message, targets []Target) error {
	_, b, err := s.enqueue(msg, targets)
	return wait(b, err, msg.ID)
}

// Append enqueues msg to one queue and returns the sequence its entry got, so the caller can
// later delete or mark exactly that entry.
func (s *Store) Append(msg Message, t Target) (uint64, error) {
	seq, d, err := s.AppendNoSyncWait(msg, t)
	return seq, wait(d, err, msg.ID)
}

// Durability is what a write applied without waiting for its sync waits on; SyncWait returns
// once the write is as durable as the engine's sync policy makes it.
type Durability interface{ SyncWait() error }

// AppendNoSyncWait is Append that returns once the batch is applied (a crash of the process
// no longer loses it, and every later read sees it) without waiting for the sync policy: the
// caller waits on the returned Durability, for example after releasing its own locks, or once
// for many appends (a sync covers every batch applied before it).
func (s *Store) AppendNoSyncWait(msg Message, t Target) (uint64, Durability, error) {
	next, b, err := s.enqueue(msg, []Target{t})
	if err != nil {
		return 0, nil, err
	}
	return next[t.Queue] - 1, b, nil
}

func wait(d Durability, err error, id uint64) error {
	if err != nil || d == nil {
		return err
	}
	if err := d.SyncWait(); err != nil {
		return fmt.Errorf("msgstore: enqueue message %d: applied but not durable: %w", id, err)
	}
	return nil
}

// enqueue implements Enqueue and returns, per queue, the sequence after the last entry added,
// and the applied batch to wait on for durability.
func (s *Store) enqueue(msg Message, targets []Target) (map[QueueID]uint64, Durability, error) {
	if len(targets) == 0 {
		return nil, nil, nil
	}
	val := appendMessage(nil, &msg)
	ev := entryValue{msgID: msg.ID, expiresAt: msg.ExpiresAt}
	var ebuf []byte

	s.mu.Lock()
	if err := s.checkID(msg.ID, val); err != nil {
		s.mu.Unlock()
		return nil, nil, err
	}
	b := s.e.NewBatch()
	if s.refs[msg.ID] == 0 {
		b.Put(store.Messages, msgKey(msg.ID), val)
	}
	// Sequences are reserved locally and published only if the batch applies.
	next := make(map[QueueID]uint64, min(len(targets), 64))
	for _, t := range targets {
		seq, ok := next[t.Queue]
		if !ok {
			seq = 1
			if qs := s.queues[t.Queue]; qs != nil {
				seq = qs.next
			}
		}
		next[t.Queue] = seq + 1
		ev.qos, ev.subIDs = t.QoS, t.SubIDs
		ebuf = appendEntry(ebuf[:0], &ev)
		b.Put(store.QueueIndex, indexKey(t.Queue, seq), ebuf)
		if msg.Receipt != nil {
			b.Put(store.Receipts, receiptKey(msg.Receipt, t.Queue), []byte{1})
		}
	}
	if err := b.CommitNoSyncWait(); err != nil {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("msgstore: enqueue message %d to %d queues: %w", msg.ID, len(targets), err)
	}
	s.refs[msg.ID] += uint32(len(targets))
	s.entries += len(targets)
	for _, t := range targets {
		qs := s.queues[t.Queue]
		if qs == nil {
			qs = &queueState{}
			s.queues[t.Queue] = qs
		}
		qs.n++
	}
	for q, n := range next {
		s.queues[q].next = n
	}
	s.noteExpiry(msg.ExpiresAt)
	s.mu.Unlock()
	return next, b, nil
}

// ErrIDReused is returned by Enqueue for a message whose id is that of a different stored
// message: adding a reference would deliver the stored payload in place of the new one.
var ErrIDReused = errors.New("message id already names a different stored message")

// checkID guards the payload sharing of enqueue; mu held. An id above MaxID was issued in this
// run, and its caller keeps ids unique, so a reference to it is the same message. An id at or
// below MaxID that is still referenced may come from an earlier run's counter: it is accepted
// only when the stored payload is byte for byte the one being enqueued (one point read, on a
// path a broker that issues ids above MaxID never takes).
func (s *Store) checkID(id uint64, val []byte) error {
	if id > s.floor || s.refs[id] == 0 {
		return nil
	}
	stored, err := s.e.Get(store.Messages, msgKey(id))
	if err != nil {
		return fmt.Errorf("msgstore: enqueue message %d: verify stored payload: %w", id, err)
	}
	if !bytes.Equal(stored, val) {
		return fmt.Errorf("msgstore: enqueue message %d (stored ids go up to %d): %w", id, s.floor, ErrIDReused)
	}
	return nil
}

// Delete removes entries of q by sequence (unknown ones are ignored) and the payloads whose
// last reference they were, in one atomic batch, and waits for the sync policy. It returns
// how many entries it removed.
func (s *Store) Delete(q QueueID, seqs ...uint64) (int, error) {
	n, b, err := s.DeleteNoSyncWait(q, seqs...)
	if err != nil || b == nil {
		return n, err
	}
	if err := b.SyncWait(); err != nil {
		return n, fmt.Errorf("msgstore: delete from %q: applied but not durable: %w", q, err)
	}
	return n, nil
}

// DeleteNoSyncWait is Delete without the wait for the sync policy. Acknowledged messages are
// removed this way: a delete that a power loss undoes only delivers a message again, and the
// next synced write of the engine makes it durable anyway (the log is ordered).
func (s *Store) DeleteNoSyncWait(q QueueID, seqs ...uint64) (int, Durability, error) {
	s.mu.Lock()
	b := s.e.NewBatch()
	n, drops, err := s.deleteLocked(b, q, seqs)
	if err != nil || n == 0 {
		s.mu.Unlock()
		b.Close()
		return 0, nil, err
	}
	if err := b.CommitNoSyncWait(); err != nil {
		s.mu.Unlock()
		return 0, nil, fmt.Errorf("msgstore: delete %d entries of %q: %w", n, q, err)
	}
	s.applyDrops(q, n, drops)
	s.mu.Unlock()
	return n, b, nil
}

// deleteLocked adds the deletes for seqs of q to b and returns the entry count and the
// references dropped per message. Entries are read back (one point lookup each) because the
// message id is in the entry; mu is held, so what it reads is the latest applied state.
func (s *Store) deleteLocked(b store.Batch, q QueueID, seqs []uint64) (int, map[uint64]uint32, error) {
	drops := map[uint64]uint32{}
	seen := make(map[uint64]bool, len(seqs))
	n := 0
	for _, seq := range seqs {
		if seen[seq] {
			continue
		}
		seen[seq] = true
		k := indexKey(q, seq)
		v, err := s.e.Get(store.QueueIndex, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("msgstore: delete from %q: %w", q, err)
		}
		ev, err := decodeEntry(v, false)
		if err != nil {
			return 0, nil, fmt.Errorf("msgstore: delete from %q seq %d: %w", q, seq, err)
		}
		b.Delete(store.QueueIndex, k)
		drops[ev.msgID]++
		n++
	}
	s.addPayloadDeletes(b, drops)
	return n, drops, nil
}

// addPayloadDeletes deletes, in the same batch, every payload whose references all go.
func (s *Store) addPayloadDeletes(b store.Batch, drops map[uint64]uint32) {
	for id, d := range drops {
		if s.refs[id] <= d {
			b.Delete(store.Messages, msgKey(id))
		}
	}
}

// applyDrops publishes a committed delete to the in-memory state; mu held.
func (s *Store) applyDrops(q QueueID, n int, drops map[uint64]uint32) {
	for id, d := range drops {
		if s.refs[id] <= d {
			delete(s.refs, id)
		} else {
			s.refs[id] -= d
		}
	}
	s.entries -= n
	if qs := s.queues[q]; qs != nil {
		qs.n -= n
	}
}

// DeleteQueue removes every entry of q (one atomic batch, however long the queue) and forgets
// its sequence counter.
func (s *Store) DeleteQueue(q QueueID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qs := s.queues[q]
	if qs == nil {
		return 0, nil
	}
	lo, hi := queueBounds(q, 0, 0)
	it, err := s.e.NewIterator(store.QueueIndex, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("msgstore: delete queue %q: %w", q, err)
	}
	b := s.e.NewBatch()
	drops := map[uint64]uint32{}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		ev, err := decodeEntry(it.Value(), false)
		if err != nil {
			it.Close()
			b.Close()
			return 0, fmt.Errorf("msgstore: delete queue %q: %w", q, err)
		}
		b.Delete(store.QueueIndex, it.Key())
		drops[ev.msgID]++
		n++
	}
	err = it.Error()
	it.Close()
	if err != nil {
		b.Close()
		return 0, fmt.Errorf("msgstore: delete queue %q: %w", q, err)
	}
	s.addPayloadDeletes(b, drops)
	// The whole queue is one batch so a crash never leaves half a queue; SyncWait under mu
	// is acceptable here because deleting a queue is rare (session expiry, takeover).
	if err := b.Commit(); err != nil {
		return 0, fmt.Errorf("msgstore: delete queue %q: %w", q, err)
	}
	s.applyDrops(q, n, drops)
	delete(s.queues, q)
	return n, nil
}

// MarkSent records how entries went out: sent (a later delivery sets DUP), with which packet
// identifier, and whether a QoS 2 PUBREC came back. Marks only accumulate: a mark without
// Released does not undo an earlier one with it (the writer's mark after a write can come after
// the reader saw the PUBREC). Only the small index entries are rewritten, and the sync policy
// is not waited for: a mark that a power loss undoes costs the DUP flag or the packet
// identifier of one redelivery.
func (s *Store) MarkSent(q QueueID, sent ...Sent) error {
	s.mu.Lock()
	b := s.e.NewBatch()
	for _, st := range sent {
		k := indexKey(q, st.Seq)
		v, err := s.e.Get(store.QueueIndex, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			s.mu.Unlock()
			b.Close()
			return fmt.Errorf("msgstore: mark sent in %q: %w", q, err)
		}
		ev, err := decodeEntry(v, true)
		if err != nil {
			s.mu.Unlock()
			b.Close()
			return fmt.Errorf("msgstore: mark sent in %q seq %d: %w", q, st.Seq, err)
		}
		was := ev
		ev.dup = true
		if st.PacketID != 0 && !ev.released {
			ev.packetID = st.PacketID
		}
		ev.released = ev.released || st.Released
		if ev.dup != was.dup || ev.packetID != was.packetID || ev.released != was.released {
			b.Put(store.QueueIndex, k, appendEntry(nil, &ev))
		}
	}
	if b.Len() == 0 {
		s.mu.Unlock()
		b.Close()
		return nil
	}
	err := b.CommitNoSyncWait()
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("msgstore: mark sent in %q: %w", q, err)
	}
	return nil
}
