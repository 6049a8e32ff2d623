package queue

import (
	"slices"
	"time"
)

// Backing keeps the stored part of a queue: what its session receives after a broker restart.
// While the session is offline every delivery the queue keeps goes to the backing; when the
// session returns, the queue pages stored deliveries in, so start-up never loads whole queues
// into memory. A stored delivery stays in the backing until the client acknowledges it, so a
// crash between sending and acknowledging redelivers it (with DUP when it was marked sent).
type Backing interface {
	// Append stores d at the newest end and returns its Seq; it returns once d is as durable
	// as the store's sync policy makes it.
	Append(d Delivery) (uint64, error)
	// Page returns up to n stored deliveries in order — oldest first, or newest first for
	// lifo — after the cursor (a Seq; 0 starts at the chosen end), with Seq set, skipping and
	// removing expired ones, whose number it reports.
	Page(after uint64, n int, lifo bool, now time.Time) (ds []Delivery, expired int, err error)
	// Remove forgets acknowledged deliveries.
	Remove(seqs ...uint64) error
	// MarkSent records that deliveries went out, so a restart redelivers them with DUP set.
	MarkSent(seqs ...uint64) error
	// Len is the number of stored deliveries, cheaply.
	Len() int
	// Clear removes every stored delivery (the session ended).
	Clear() error
}

// SetBacking attaches a store to the queue; stored counts as queued. It is set once, before the
// queue is used.
func (q *Queue) SetBacking(b Backing) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.backing = b
	q.stored = b.Len()
	q.addTotalLocked(int64(q.stored))
}

// Persistent reports whether the queue has a backing store.
func (q *Queue) Persistent() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.backing != nil
}

// Ack forgets a stored delivery the client acknowledged (seq 0, an in-memory delivery, is a
// no-op).
func (q *Queue) Ack(seq uint64) error {
	if seq == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.taken, seq)
	if q.backing == nil {
		return nil
	}
	return q.backing.Remove(seq)
}

// MarkSent records that stored deliveries were written to the client.
func (q *Queue) MarkSent(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.backing == nil {
		return nil
	}
	return q.backing.MarkSent(seqs...)
}

// storeLocked appends d to the backing, applying the offline bound there.
func (q *Queue) storeLocked(d Delivery) (kept bool, evicted *Delivery, reason DropReason) {
	max := q.policy.MaxOffline
	if max >= 0 && q.backing.Len() >= max {
		if q.policy.Type == FIFO || max == 0 {
			return false, nil, DropQueueFull
		}
		// LIFO: make room by dropping the oldest stored delivery.
		if old, _, err := q.backing.Page(0, 1, false, time.Time{}); err == nil && len(old) == 1 {
			if q.backing.Remove(old[0].Seq) == nil {
				evicted = &old[0]
				q.stored--
				q.addTotalLocked(-1)
			}
		}
	}
	if _, err := q.backing.Append(d); err != nil {
		return false, evicted, DropStoreError
	}
	q.stored++
	q.addTotalLocked(1)
	return true, evicted, ""
}

// takeStoredLocked pages up to max stored deliveries into dst.
func (q *Queue) takeStoredLocked(dst []Delivery, max int, now time.Time) []Delivery {
	if q.backing == nil || max <= 0 || q.stored <= 0 {
		return dst
	}
	lifo := q.policy.Type == LIFO
	after := q.cursor
	if lifo {
		after = 0
	}
	page, expired, err := q.backing.Page(after, max+len(q.taken), lifo, now)
	if err != nil {
		return dst
	}
	if expired > 0 {
		q.stored -= expired
		q.addTotalLocked(-int64(expired))
		q.dropped += uint64(expired)
		q.expiredStored += expired
	}
	for _, d := range page {
		if lifo {
			if _, ok := q.taken[d.Seq]; ok {
				continue
			}
			if q.taken == nil {
				q.taken = map[uint64]struct{}{}
			}
			q.taken[d.Seq] = struct{}{}
		} else {
			q.cursor = d.Seq
		}
		dst = append(dst, d)
		q.stored--
		q.addTotalLocked(-1)
		if max--; max == 0 {
			break
		}
	}
	if len(page) == 0 {
		// Whatever the count said, nothing is left to page (expired entries were swept).
		q.addTotalLocked(-int64(q.stored))
		q.stored = 0
	}
	return dst
}

// untakeLocked returns stored deliveries that were taken but not sent.
func (q *Queue) untakeLocked(d Delivery) {
	if q.policy.Type == LIFO {
		delete(q.taken, d.Seq)
	} else if d.Seq <= q.cursor {
		q.cursor = d.Seq - 1
	}
	q.stored++
	q.addTotalLocked(1)
}

// spillLocked moves the in-memory backlog to the backing when the session goes offline, so it
// survives a restart like any offline message.
func (q *Queue) spillLocked() {
	for _, d := range q.items[q.head:] {
		if d.QoS == 0 && !q.policy.QoS0Offline {
			continue
		}
		if _, err := q.backing.Append(d); err == nil {
			q.stored++
			q.addTotalLocked(1)
		}
	}
	q.addTotalLocked(-int64(q.lenLocked()))
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}

// StoreInflight writes deliveries that were sent from memory and not yet acknowledged to the
// backing, marked sent, when their session goes offline: they are already out of the queue, so
// without this a restart would lose them. They are recorded as taken, so the queue does not
// page them in again while the session resends them itself; after a restart they come back
// from the store with DUP set. It returns ds with Seq filled in for those it stored.
func (q *Queue) StoreInflight(ds []Delivery) []Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.backing == nil {
		return ds
	}
	// The store must hand these out first when the session returns after a restart, in the
	// order they were sent: FIFO reads the lowest sequences first, so they go in before the
	// backlog spills; LIFO reads the highest first, so the backlog spills now and they follow
	// it in reverse.
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	if q.policy.Type == LIFO {
		q.spillLocked()
		slices.Reverse(idx)
	}
	for _, i := range idx {
		d := ds[i]
		if d.Seq != 0 || d.QoS == 0 {
			continue
		}
		seq, err := q.backing.Append(d)
		if err != nil {
			continue
		}
		q.backing.MarkSent(seq)
		ds[i].Seq = seq
		if q.policy.Type == LIFO {
			if q.taken == nil {
				q.taken = map[uint64]struct{}{}
			}
			q.taken[seq] = struct{}{}
		} else if seq > q.cursor {
			q.cursor = seq
		}
	}
	return ds
}
