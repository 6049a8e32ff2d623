package msgstore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

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
// and what to wait on for durability. The writes join the pending set.
func (s *Store) enqueue(msg Message, targets []Target) (map[QueueID]uint64, Durability, error) {
	if len(targets) == 0 {
		return nil, nil, nil
	}
	ev := entryValue{msgID: msg.ID, expiresAt: msg.ExpiresAt}

	s.mu.Lock()
	defer s.mu.Unlock()
	// The payload is encoded only when it is written or checked: a publish to many queues
	// writes it with the first and adds references after.
	if s.refs[msg.ID] == 0 {
		s.put(store.Messages, msgKey(msg.ID), appendMessage(nil, &msg), true)
	} else if err := s.checkID(msg.ID, &msg); err != nil {
		return nil, nil, err
	}
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
		s.put(store.QueueIndex, indexKey(t.Queue, seq), appendEntry(nil, &ev), true)
		if msg.Receipt != nil {
			s.put(store.Receipts, receiptKey(msg.Receipt, t.Queue), []byte{1}, false)
		}
	}
	for _, t := range targets {
		s.count(t.Queue, msg.ID, 1)
	}
	for q, n := range next {
		s.queues[q].next = n
	}
	s.noteExpiry(msg.ExpiresAt)
	return next, s.durable(), nil
}

// ErrIDReused is returned by Enqueue for a message whose id is that of a different stored
// message: adding a reference would deliver the stored payload in place of the new one.
var ErrIDReused = errors.New("message id already names a different stored message")

// checkID guards the payload sharing of enqueue; mu held. An id above MaxID was issued in this
// run, and its caller keeps ids unique, so a reference to it is the same message. An id at or
// below MaxID that is still referenced may come from an earlier run's counter: it is accepted
// only when the stored payload is byte for byte the one being enqueued (one point read, on a
// path a broker that issues ids above MaxID never takes).
func (s *Store) checkID(id uint64, msg *Message) error {
	if id > s.floor || s.refs[id] == 0 {
		return nil
	}
	val := appendMessage(nil, msg)
	stored, err := s.get(store.Messages, msgKey(id))
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
// removed this way: a delete that a crash undoes only delivers a message again, and the next
// synced write of the engine makes it durable anyway (the log is ordered).
func (s *Store) DeleteNoSyncWait(q QueueID, seqs ...uint64) (int, Durability, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.deleteLocked(q, seqs)
	if err != nil || n == 0 {
		return 0, nil, err
	}
	return n, s.durable(), nil
}

// deleteLocked deletes seqs of q and the payloads whose last reference they were, and returns
// the entry count; mu held. Entries are read (from the pending set, or one point lookup)
// because the message id is in the entry.
func (s *Store) deleteLocked(q QueueID, seqs []uint64) (int, error) {
	type found struct {
		key []byte
		id  uint64
	}
	var del []found
	for i, seq := range seqs {
		if slices.Contains(seqs[:i], seq) {
			continue
		}
		k := indexKey(q, seq)
		v, err := s.get(store.QueueIndex, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("msgstore: delete from %q: %w", q, err)
		}
		ev, err := decodeEntry(v, false)
		if err != nil {
			return 0, fmt.Errorf("msgstore: delete from %q seq %d: %w", q, seq, err)
		}
		del = append(del, found{k, ev.msgID})
	}
	for _, f := range del {
		s.del(store.QueueIndex, f.key)
		s.count(q, f.id, -1)
		if s.refs[f.id] == 0 {
			s.del(store.Messages, msgKey(f.id))
		}
	}
	return len(del), nil
}

// DeleteQueue removes every entry of q (one atomic batch, however long the queue) and forgets
// its sequence counter.
func (s *Store) DeleteQueue(q QueueID) (int, error) {
	// The scan below reads the engine, which must hold the queue's pending writes, and the
	// delete is a batch of its own, which no window's write may overtake.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	qs := s.queues[q]
	if qs == nil {
		return 0, nil
	}
	if err := s.writeWindowLocked(false); err != nil {
		return 0, err
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
		delete(s.cache, string(it.Key()))
		drops[ev.msgID]++
		n++
	}
	err = it.Error()
	it.Close()
	if err != nil {
		b.Close()
		return 0, fmt.Errorf("msgstore: delete queue %q: %w", q, err)
	}
	for id, d := range drops {
		if s.refs[id] <= d {
			b.Delete(store.Messages, msgKey(id))
		}
	}
	// The whole queue is one batch so a crash never leaves half a queue; SyncWait under mu
	// is acceptable here because deleting a queue is rare (session expiry, takeover).
	if err := b.Commit(); err != nil {
		return 0, fmt.Errorf("msgstore: delete queue %q: %w", q, err)
	}
	for id, d := range drops {
		s.adjust(q, id, -int32(d))
	}
	delete(s.queues, q)
	return n, nil
}

// MarkSent records how entries went out: sent (a later delivery sets DUP), with which packet
// identifier, and whether a QoS 2 PUBREC came back. Marks only accumulate: a mark without
// Released does not undo an earlier one with it (the writer's mark after a write can come after
// the reader saw the PUBREC). Only the small index entries are rewritten, and the sync policy
// is not waited for: a mark that a power loss undoes costs the DUP flag or the packet
// identifier of one redelivery. A QoS 2 entry's marks are applied before MarkSent returns, so
// that a kill -9 after the socket write that follows cannot make a restart resend a PUBLISH
// as a new message, or after its PUBREL (the receiver would deliver it twice); a QoS 1 mark
// may wait in the pending set.
func (s *Store) MarkSent(q QueueID, sent ...Sent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := false
	for _, st := range sent {
		k := indexKey(q, st.Seq)
		v, err := s.get(store.QueueIndex, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("msgstore: mark sent in %q: %w", q, err)
		}
		ev, err := decodeEntry(v, true)
		if err != nil {
			return fmt.Errorf("msgstore: mark sent in %q seq %d: %w", q, st.Seq, err)
		}
		was := ev
		ev.dup = true
		if st.PacketID != 0 && !ev.released {
			ev.packetID = st.PacketID
		}
		ev.released = ev.released || st.Released
		if ev.dup != was.dup || ev.packetID != was.packetID || ev.released != was.released {
			s.put(store.QueueIndex, k, appendEntry(nil, &ev), false)
			now = now || ev.qos == 2
		}
	}
	if now {
		return s.applyLocked(nil)
	}
	return nil
}

// WriteRecord writes val under key in keyspace ks (a nil val deletes it) through the pending
// set, for records whose order against the queues matters: a session record that names the
// QoS 2 packet identifiers it received must never reach the disk before the queue entries of
// those messages, or a restart would take a resend for a duplicate of a message it lost. The
// keyspace must not be one of the store's own.
func (s *Store) WriteRecord(ks store.Keyspace, key, val []byte) Durability {
	s.mu.Lock()
	defer s.mu.Unlock()
	if val == nil {
		s.del(ks, key)
	} else {
		s.put(ks, key, val, false)
	}
	return s.durable()
}
