package queue

import (
	"slices"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
)

// Backing keeps the stored part of a queue: what its session receives after a broker restart
// or crash. Every QoS 1/2 delivery of a persistent session goes to the backing, online or
// offline: offline the queue keeps it there only (and pages it in when the session returns, so
// start-up never loads whole queues into memory); online a FIFO queue also keeps it in memory
// to send it without a read. A stored delivery stays in the backing until the client
// acknowledges it, so a crash between sending and acknowledging redelivers it (with DUP when it
// was marked sent).
type Backing interface {
	// Append stores d at the newest end and returns its Seq once the write is applied (a
	// crash of the process no longer loses it), with what to wait on for the durability of the
	// store's sync policy (nil: nothing to wait for).
	Append(d Delivery) (uint64, Durable, error)
	// Page returns up to n stored deliveries in order — oldest first, or newest first for
	// lifo — after the cursor (a Seq; 0 starts at the chosen end) and, oldest first, before
	// the Seq before (0: no bound), with Seq set, skipping and removing expired ones, whose
	// number it reports.
	Page(after, before uint64, n int, lifo bool, now time.Time) (ds []Delivery, expired int, err error)
	// Remove forgets acknowledged deliveries. It need not wait for the sync policy: a removal
	// that a power loss undoes only delivers a message again.
	Remove(seqs ...uint64) error
	// MarkSent records that deliveries went out, and how, so a restart redelivers them as the
	// same packets (DUP set). Marks accumulate: Released once recorded stays.
	MarkSent(sent ...Sent) error
	// Received reports whether the backing took the QoS 2 message r names (Append records it
	// for a message that carries a receipt), since its publisher last released it.
	Received(r *message.Receipt) (bool, error)
	// Len is the number of stored deliveries, cheaply.
	Len() int
	// Clear removes every stored delivery (the session ended).
	Clear() error
}

// Durable waits for a store write applied without waiting for its sync.
type Durable interface{ SyncWait() error }

// Pending collects the store writes one publish made, so that its publisher waits once, after
// every queue took the message, rather than once per subscriber. Writes of one source share
// what they wait on (the message store's pending window, an engine's group commit), and
// consecutive equal ones are kept once; writes of different sources (the message store, the
// session records, the cluster outbox) are each waited for, because one source's sync does
// not apply another's held-back writes. The zero value is ready; a Pending belongs to one
// goroutine.
type Pending struct {
	last Durable
	more []Durable // earlier distinct ones, rare: a publish that reached several sources
}

// Add makes p wait for d too (nil is ignored).
func (p *Pending) Add(d Durable) {
	switch {
	case d == nil || d == p.last:
	case p.last == nil:
		p.last = d
	default:
		if !slices.Contains(p.more, p.last) {
			p.more = append(p.more, p.last)
		}
		p.last = d
	}
}

// Empty reports whether there is nothing to wait for.
func (p *Pending) Empty() bool { return p.last == nil }

// Wait returns once every write added is durable, or the first error.
func (p *Pending) Wait() error {
	d, more := p.last, p.more
	p.last, p.more = nil, nil
	if d == nil {
		return nil
	}
	err := d.SyncWait()
	for _, m := range more {
		if m == d {
			continue
		}
		if merr := m.SyncWait(); err == nil {
			err = merr
		}
	}
	return err
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

// MarkSent records that stored deliveries were written to the client, or that their QoS 2
// PUBREC came back.
func (q *Queue) MarkSent(sent []Sent) error {
	if len(sent) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.backing == nil {
		return nil
	}
	return q.backing.MarkSent(sent...)
}

// storeLocked appends d to the backing only, applying the bound in force there: online, the
// queue's length (stored plus in memory) against MaxOnline; offline, the stored entries
// (including those in flight) against MaxOffline.
func (q *Queue) storeLocked(d Delivery, p *Pending) (kept bool, evicted *Delivery, reason DropReason) {
	max, n := q.policy.MaxOffline, q.backing.Len()
	if q.online {
		max, n = q.policy.MaxOnline, q.stored+q.lenLocked()
	}
	if max >= 0 && n >= max {
		if q.policy.Type == FIFO || max == 0 {
			return false, nil, DropQueueFull
		}
		// LIFO: make room by dropping the oldest stored delivery.
		if old, _, err := q.backing.Page(0, 0, 1, false, time.Time{}); err == nil && len(old) == 1 {
			if q.backing.Remove(old[0].Seq) == nil {
				evicted = &old[0]
				if _, taken := q.taken[old[0].Seq]; taken {
					delete(q.taken, old[0].Seq)
				} else {
					q.stored--
					q.addTotalLocked(-1)
				}
			}
		}
	}
	_, w, err := q.backing.Append(d)
	if err != nil {
		return false, evicted, DropStoreError
	}
	p.Add(w)
	q.stored++
	q.addTotalLocked(1)
	return true, evicted, ""
}

// memFloorLocked is the Seq of the oldest delivery held both in memory and in the backing (0:
// none): the stored deliveries a FIFO queue pages in are those below it.
func (q *Queue) memFloorLocked() uint64 {
	for _, d := range q.items[q.head:] {
		if d.Seq != 0 {
			return d.Seq
		}
	}
	return 0
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
	var before uint64
	if !lifo {
		before = q.memFloorLocked()
	}
	page, expired, err := q.backing.Page(after, before, max+len(q.taken), lifo, now)
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
		if _, ok := q.taken[d.Seq]; ok {
			continue
		}
		if lifo {
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
	delete(q.taken, d.Seq)
	if q.policy.Type == FIFO && d.Seq <= q.cursor {
		q.cursor = d.Seq - 1
	}
	q.stored++
	q.addTotalLocked(1)
}

// spillLocked moves the in-memory backlog to the backing when the session goes offline, so it
// survives a restart like any offline message. Deliveries written through to the backing while
// the session was online are there already: they only leave memory, to be paged in again.
func (q *Queue) spillLocked() {
	for _, d := range q.items[q.head:] {
		if d.Seq != 0 {
			q.stored++
			q.addTotalLocked(1)
			continue
		}
		if d.QoS == 0 && !q.policy.QoS0Offline {
			continue
		}
		if _, _, err := q.backing.Append(d); err == nil {
			q.stored++
			q.addTotalLocked(1)
		}
	}
	q.addTotalLocked(-int64(q.lenLocked()))
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}

// StoreInflight writes deliveries that were sent from memory only and not yet acknowledged to
// the backing, marked sent, when their session goes offline: they are already out of the
// queue, so without this a restart would lose them. Deliveries of a persistent session are
// written through when queued, so this concerns those that entered memory without the store
// (a connection of a shared session giving its unfinished messages back). They are recorded as
// taken, so the queue does not page them in again while the session resends them itself;
// after a restart they come back from the store with DUP set. It returns ds with Seq filled in
// for those it stored.
func (q *Queue) StoreInflight(ds []Delivery) []Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.backing == nil {
		return ds
	}
	// LIFO reads the highest sequences first, so the backlog spills now and these follow it
	// in reverse, to come back first, in the order they were sent.
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
		seq, _, err := q.backing.Append(d)
		if err != nil {
			continue
		}
		q.backing.MarkSent(Sent{Seq: seq, PacketID: d.PacketID, Released: d.Released})
		ds[i].Seq = seq
		if q.taken == nil {
			q.taken = map[uint64]struct{}{}
		}
		q.taken[seq] = struct{}{}
	}
	return ds
}
