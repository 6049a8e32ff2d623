package msgstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// Read returns up to n entries of q from the oldest (FIFO) or newest (LIFO) end. Entries
// whose message expired at now are not returned and are deleted; so are entries whose payload
// is missing. It reads one page, never the whole queue.
func (s *Store) Read(q QueueID, n int, order Order, now time.Time) ([]Entry, error) {
	return s.ReadAfter(q, 0, n, order, now)
}

// ReadAfter pages on from a cursor: with FIFO it returns entries with Seq > after, with LIFO
// entries with Seq < after; after = 0 starts at the end chosen by order. Pass the last Seq
// of a page to get the next one without deleting the first.
func (s *Store) ReadAfter(q QueueID, after uint64, n int, order Order, now time.Time) ([]Entry, error) {
	return s.ReadRange(q, after, 0, n, order, now)
}

// ReadRange is ReadAfter that, with FIFO, stops before the entry with sequence before (0: no
// bound), so a caller that holds the newest entries in memory pages only the older ones.
func (s *Store) ReadRange(q QueueID, after, before uint64, n int, order Order, now time.Time) ([]Entry, error) {
	if n <= 0 || s.Len(q) == 0 {
		return nil, nil
	}
	if err := s.apply(); err != nil { // the page is read from the engine
		return nil, err
	}
	var lo, hi []byte
	switch {
	case order == FIFO && (after == ^uint64(0) || (before != 0 && before <= after+1)):
		return nil, nil
	case order == FIFO:
		lo, hi = queueBounds(q, after+1, before)
	case after == 0:
		lo, hi = queueBounds(q, 0, 0)
	default:
		lo, hi = queueBounds(q, 0, after)
	}
	// A snapshot makes the index page and the payloads it points at one consistent view
	// even while other goroutines delete.
	snap, err := s.e.NewSnapshot()
	if err != nil {
		return nil, fmt.Errorf("msgstore: read %q: %w", q, err)
	}
	defer snap.Close()
	it, err := snap.NewIterator(store.QueueIndex, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("msgstore: read %q: %w", q, err)
	}
	defer it.Close()

	out := make([]Entry, 0, min(n, 64))
	var drop []uint64
	ok := it.First()
	if order == LIFO {
		ok = it.Last()
	}
	for ; ok && len(out) < n; ok = step(it, order) {
		_, seq, err := parseIndexKey(it.Key())
		if err != nil {
			return nil, err
		}
		ev, err := decodeEntry(it.Value(), true)
		if err != nil {
			return nil, fmt.Errorf("msgstore: read %q seq %d: %w", q, seq, err)
		}
		if ev.expires(now) {
			drop = append(drop, seq)
			continue
		}
		v, err := snap.Get(store.Messages, msgKey(ev.msgID))
		if errors.Is(err, store.ErrNotFound) {
			drop = append(drop, seq) // cannot happen after Open's repair; be safe anyway
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("msgstore: read %q message %d: %w", q, ev.msgID, err)
		}
		m, err := decodeMessage(ev.msgID, v)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Seq: seq, Message: m, QoS: ev.qos, Dup: ev.dup, SubIDs: ev.subIDs, PacketID: ev.packetID, Released: ev.released})
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("msgstore: read %q: %w", q, err)
	}
	if len(drop) > 0 {
		if _, err := s.Delete(q, drop...); err != nil {
			return out, fmt.Errorf("msgstore: read %q: drop expired: %w", q, err)
		}
	}
	return out, nil
}

func step(it store.Iterator, o Order) bool {
	if o == LIFO {
		return it.Prev()
	}
	return it.Next()
}

// Sweep deletes every entry whose message expired at now, and payloads left without
// references, and returns how many entries it removed. The caller runs it periodically. It
// returns at once when no stored entry can have expired yet (an in-memory lower bound of the
// expiry times); otherwise it scans the whole queue index, reading only the small entries,
// and deletes in batches of Options.SweepBatch.
func (s *Store) Sweep(now time.Time) (int, error) {
	s.mu.Lock()
	if s.minExpiry == 0 || s.minExpiry > now.UnixMilli() {
		s.mu.Unlock()
		return 0, nil
	}
	s.enqMin = 0              // from here, Enqueue records what arrives during the scan
	err := s.applyLocked(nil) // the scan reads the engine
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}

	it, err := s.e.NewIterator(store.QueueIndex, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("msgstore: sweep: %w", err)
	}
	defer it.Close()
	var (
		removed int
		newMin  int64
		pendQ   QueueID
		pend    []uint64
	)
	flush := func() error {
		if len(pend) == 0 {
			return nil
		}
		n, err := s.Delete(pendQ, pend...)
		removed += n
		pend = pend[:0]
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		q, seq, err := parseIndexKey(it.Key())
		if err != nil {
			return removed, fmt.Errorf("msgstore: sweep: %w", err)
		}
		ev, err := decodeEntry(it.Value(), false)
		if err != nil {
			return removed, fmt.Errorf("msgstore: sweep: %w", err)
		}
		if !ev.expires(now) {
			if ev.expiresAt > now.UnixMilli() && (newMin == 0 || ev.expiresAt < newMin) {
				newMin = ev.expiresAt
			}
			continue
		}
		if q != pendQ || len(pend) >= s.sweepBatch {
			if err := flush(); err != nil {
				return removed, fmt.Errorf("msgstore: sweep: %w", err)
			}
			pendQ = q
		}
		pend = append(pend, seq)
	}
	if err := flush(); err != nil {
		return removed, fmt.Errorf("msgstore: sweep: %w", err)
	}
	if err := it.Error(); err != nil {
		return removed, fmt.Errorf("msgstore: sweep: %w", err)
	}
	s.mu.Lock()
	s.minExpiry = newMin
	if s.enqMin != 0 && (newMin == 0 || s.enqMin < newMin) {
		s.minExpiry = s.enqMin
	}
	s.mu.Unlock()
	return removed, nil
}
