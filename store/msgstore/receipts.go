package msgstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nautilus-mq/nautilus/store"
)

// Receipts make an incoming QoS 2 message exactly-once across a crash. Enqueue writes one
// small key per target queue into the receipts keyspace in the batch that adds the queue
// entry, so a queue either holds the message and its receipt or neither; the receipt outlives
// the entry (the subscriber may have acknowledged it meanwhile) until the publisher releases
// the packet identifier (PUBREL). A resend after a crash skips the queues that have the
// receipt, so none gets the message twice and none misses it, however far the first attempt
// got.
//
// Key: uvarint len(owner) | owner | id (8 bytes, big endian) | queue id. The length prefix keeps
// one owner's receipts contiguous and no owner a prefix of another.

func receiptPrefix(dst []byte, owner string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(owner)))
	return append(dst, owner...)
}

func receiptKey(r *Receipt, q QueueID) []byte {
	k := receiptPrefix(make([]byte, 0, len(r.Owner)+len(q)+4), r.Owner)
	k = binary.BigEndian.AppendUint64(k, r.ID)
	return append(k, q...)
}

// Received reports whether q took the message named by r (and r was not released since).
func (s *Store) Received(r Receipt, q QueueID) (bool, error) {
	s.mu.Lock()
	_, err := s.get(store.Receipts, receiptKey(&r, q))
	s.mu.Unlock()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("msgstore: read receipt of %q/%d: %w", r.Owner, r.ID, err)
}

// Release forgets the receipts of r, and waits for the sync policy when there were any: the
// publisher may reuse the packet identifier once it is told the flow is complete, and a
// receipt left behind by a power loss would make a resend of the new message skip queues.
func (s *Store) Release(r Receipt) error {
	lo := receiptKey(&r, "")
	return s.deleteRange(lo, prefixEnd(lo), fmt.Sprintf("%q/%d", r.Owner, r.ID), true, nil)
}

// ReleaseBelow forgets every receipt of owner whose identifier is below id (a forwarding
// stream: the sender resends nothing below it, and never uses an identifier twice, so the
// release need not be durable).
func (s *Store) ReleaseBelow(owner string, id uint64) error {
	if id == 0 {
		return nil
	}
	lo := receiptKey(&Receipt{Owner: owner}, "")
	hi := receiptKey(&Receipt{Owner: owner, ID: id}, "")
	return s.deleteRange(lo, hi, fmt.Sprintf("%q below %d", owner, id), false, nil)
}

// ReleaseOthers forgets every receipt whose owner starts with prefix and has length n (the
// owners of one kind and one sender, whatever their last bytes), except those of keep.
func (s *Store) ReleaseOthers(prefix string, n int, keep string) error {
	lo := binary.AppendUvarint(nil, uint64(n))
	lo = append(lo, prefix...)
	kept := receiptPrefix(nil, keep)
	return s.deleteRange(lo, prefixEnd(lo), fmt.Sprintf("%q…", prefix), false, func(k []byte) bool { return !bytes.HasPrefix(k, kept) })
}

// ReleaseOwner forgets every receipt of owner (its session ended).
func (s *Store) ReleaseOwner(owner string) error {
	lo := receiptPrefix(nil, owner)
	return s.deleteRange(lo, prefixEnd(lo), fmt.Sprintf("%q", owner), true, nil)
}

// deleteRange deletes the receipts in [lo, hi) that match picks (all, with nil); wait:
// for the sync policy.
func (s *Store) deleteRange(lo, hi []byte, what string, wait bool, match func([]byte) bool) error {
	b, err := s.receiptDeletes(lo, hi, match)
	if err == nil && b != nil && wait {
		err = b.SyncWait()
	}
	if err != nil {
		return fmt.Errorf("msgstore: release receipts of %s: %w", what, err)
	}
	return nil
}

// receiptDeletes applies the deletes of the receipts in [lo, hi) that match, as a batch of its
// own, and returns it to wait on (nil: none matched). The scan reads the engine, so the
// pending set is applied first, and no window's write may overtake the batch (writeMu); the
// sync is waited for after writeMu is released.
func (s *Store) receiptDeletes(lo, hi []byte, match func([]byte) bool) (store.Batch, error) {
	err := s.applyAndHold()
	defer s.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	it, err := s.e.NewIterator(store.Receipts, lo, hi)
	if err != nil {
		return nil, err
	}
	b := s.e.NewBatch()
	for ok := it.First(); ok; ok = it.Next() {
		if match == nil || match(it.Key()) {
			b.Delete(store.Receipts, it.Key())
		}
	}
	err = it.Error()
	it.Close()
	if err != nil || b.Len() == 0 {
		b.Close()
		return nil, err
	}
	if err := b.CommitNoSyncWait(); err != nil {
		return nil, err
	}
	return b, nil
}

// prefixEnd is the smallest key above every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
