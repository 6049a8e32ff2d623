// Package queue holds the per-subscriber message queue. A queue belongs to one subscriber id
// (mountpoint, client id) and outlives that client's connections: online it feeds the attached
// session within its inflight window, offline it keeps what the session will receive when it
// returns, within configured bounds. Every message a queue refuses is reported with a reason, so
// that drops are counted and reach the on_message_drop hook instead of vanishing.
package queue

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
)

// Delivery is one message as one subscriber will receive it: the granted QoS, the retain flag
// it is delivered with, and the subscription identifiers of the matching subscriptions.
type Delivery struct {
	Msg    *message.Message
	QoS    byte
	Retain bool
	SubIDs []uint32
	// Seq identifies a delivery read from the queue's backing store (0: held in memory only);
	// the session acknowledges it with Ack once the client has.
	Seq uint64
	// Dup is set on a stored delivery that was sent before a restart; PacketID is the packet
	// identifier it was sent with, and Released whether its QoS 2 PUBREC came back, when the
	// store recorded them (see Sent).
	Dup      bool
	PacketID uint16
	Released bool
}

// Sent records how a stored delivery went out, so that after a restart it goes out as the same
// packet: a PUBLISH with the same identifier, which a client still holding QoS 2 state for it
// acknowledges without delivering it again, or the PUBREL once its PUBREC came back.
type Sent struct {
	Seq      uint64
	PacketID uint16
	Released bool
}

// Type orders a queue.
type Type int

const (
	// FIFO delivers oldest first and, when full, refuses the newest message.
	FIFO Type = iota
	// LIFO delivers newest first and, when full, drops the oldest message.
	LIFO
)

// DropReason says why a message did not reach a subscriber.
type DropReason string

// Reasons a queue drops a message.
const (
	DropQueueFull   DropReason = "queue_full"
	DropExpired     DropReason = "expired"
	DropOfflineQoS0 DropReason = "offline_qos0"
	DropSessionGone DropReason = "session_gone"
	// DropStoreError: the message store refused the write (disk full, I/O error).
	DropStoreError DropReason = "store_error"
	// Moved: the queue's session moved to another node (Seal); not a drop: the router sends
	// the message after it.
	Moved DropReason = "moved"
)

// Policy bounds a queue. A negative maximum means unbounded.
type Policy struct {
	Type       Type
	MaxOnline  int
	MaxOffline int
	// QoS0Offline keeps QoS 0 messages for offline sessions; MQTT allows either choice
	// (MQTT 5 §4.1, 3.1.1 §3.1.2.4), VerneMQ's default is to drop them.
	QoS0Offline bool
	// Total, when set, is shared by every queue of a node and holds the number of deliveries
	// queued node-wide, so the overload guard can read it without visiting each queue.
	Total *atomic.Int64
}

// DropFunc is told about every message a queue drops. It runs with the queue's lock released.
type DropFunc func(d Delivery, reason DropReason)

// Queue is a bounded FIFO or LIFO of deliveries. It is safe for concurrent use: publishers
// enqueue from their own goroutines while the owning session takes.
type Queue struct {
	mu      sync.Mutex
	policy  Policy
	items   []Delivery // oldest first; LIFO takes from the end
	head    int        // index of the oldest live item in items
	online  bool
	onDrop  DropFunc
	dropped uint64

	backing Backing
	stored  int    // stored deliveries not yet taken
	cursor  uint64 // FIFO: Seq of the last stored delivery taken
	// taken are stored deliveries taken and not yet acknowledged that paging must skip: all
	// of them for LIFO, for FIFO those stored when already in flight (StoreInflight).
	taken map[uint64]struct{}
	// onOffline is told of every delivery kept while the session is offline.
	onOffline func(Delivery)
	// expiredStored counts stored deliveries found expired since the last report; the store
	// drops them without reading them back, so they are reported without their content.
	expiredStored int
	// waiters are told when work arrives: the connection attached to the session, or, with
	// allow_multiple_sessions, each of several connections taking from one queue (each must
	// hear of new work, not just one of them). Callbacks rather than channels: a connection
	// with nothing to send keeps no goroutine waiting on a channel.
	waiters atomic.Pointer[[]Waker]
	// sealed: the session moved to another node; Offer refuses everything with Moved.
	sealed bool
	// upgrade is the session's own upgrade_outgoing_qos (auth_on_register's UpgradeQoS):
	// 0 unset (the node's setting applies), 1 on, 2 off. The router reads it per delivery.
	upgrade atomic.Int32
}

// SetUpgradeQoS records the session's own choice of delivering at the subscription's QoS;
// nil leaves it to the node's upgrade_outgoing_qos.
func (q *Queue) SetUpgradeQoS(up *bool) {
	switch {
	case up == nil:
		q.upgrade.Store(0)
	case *up:
		q.upgrade.Store(1)
	default:
		q.upgrade.Store(2)
	}
}

// UpgradeQoS returns the session's own choice and whether it made one.
func (q *Queue) UpgradeQoS() (up, set bool) {
	v := q.upgrade.Load()
	return v == 1, v != 0
}

// New returns an offline queue.
func New(p Policy, onDrop DropFunc) *Queue {
	return &Queue{policy: p, onDrop: onDrop}
}

// OnOffline sets a function told of every delivery the queue keeps while its session is
// offline (the on_offline_message hook). It runs with the queue's lock released and must be
// set before the queue is shared.
func (q *Queue) OnOffline(fn func(Delivery)) { q.onOffline = fn }

// Waker is told that a queue has work. Wake runs on the enqueuer's goroutine, with no lock of
// the queue held, and must not block.
type Waker interface{ Wake() }

// SetOnline marks whether a session is attached; the bound in force changes with it.
func (q *Queue) SetOnline(online bool) {
	q.mu.Lock()
	q.online = online
	if !online && q.backing != nil {
		q.spillLocked()
	}
	q.mu.Unlock()
	if online {
		q.signal()
	}
}

// SetPolicy replaces the bounds, for example when a reconnecting client brings new limits.
func (q *Queue) SetPolicy(p Policy) {
	q.mu.Lock()
	q.policy = p
	q.mu.Unlock()
}

// Enqueue adds d, or drops it (or an older message, for LIFO) by the policy. It reports
// whether d itself was kept.
func (q *Queue) Enqueue(d Delivery) bool {
	kept, _ := q.Offer(d)
	return kept
}

// Offer is Enqueue that also says why d was dropped, so the router can tell a full queue
// (the policy working) from a store that failed (which the publisher must hear about). It
// returns once d is as durable as the store's sync policy makes it.
func (q *Queue) Offer(d Delivery) (kept bool, reason DropReason) {
	var p Pending
	kept, reason = q.OfferPending(d, &p)
	if err := p.Wait(); err != nil {
		return kept, DropStoreError
	}
	return kept, reason
}

// OfferPending is Offer that leaves the wait for durability to the caller, through p: a
// publisher offering one message to many queues waits once, for all of them. A delivery is
// applied to the store (safe from a crash of the process) before OfferPending returns; the
// caller must not acknowledge it before p.Wait succeeds. A failed wait is reported as
// DropStoreError with kept true: the queue holds the delivery, but the publisher must not be
// told it is stored.
func (q *Queue) OfferPending(d Delivery, p *Pending) (kept bool, reason DropReason) {
	q.mu.Lock()
	if q.sealed {
		q.mu.Unlock()
		return false, Moved
	}
	if d.Msg.Resent && q.tookLocked(d.Msg.Receipt) {
		q.mu.Unlock()
		return true, "" // stored before a crash: the publisher's resend must not add it again
	}
	if !q.online && d.QoS == 0 && !q.policy.QoS0Offline {
		q.dropped++
		q.mu.Unlock()
		q.drop(d, DropOfflineQoS0)
		return false, DropOfflineQoS0
	}
	if !q.online && q.onOffline != nil {
		defer func() {
			if kept {
				q.onOffline(d)
			}
		}()
	}
	if q.storeOnlyLocked(d) {
		kept, evicted, reason := q.storeLocked(d, p)
		if !kept {
			q.dropped++
		}
		if evicted != nil {
			q.dropped++
		}
		q.mu.Unlock()
		if evicted != nil {
			q.drop(*evicted, DropQueueFull)
		}
		if !kept {
			q.drop(d, reason)
			return false, reason
		}
		q.signal()
		return true, ""
	}
	max := q.policy.MaxOffline
	if q.online {
		max = q.policy.MaxOnline
	}
	var evicted *Delivery
	if max >= 0 && q.lenLocked() >= max {
		if q.policy.Type == FIFO || max == 0 {
			q.dropped++
			q.mu.Unlock()
			q.drop(d, DropQueueFull)
			return false, DropQueueFull
		}
		old := q.items[q.head]
		q.items[q.head] = Delivery{}
		q.head++
		q.dropped++
		evicted = &old
	}
	if q.backing != nil && d.QoS > 0 {
		// Written through: a crash while the session is online must not lose what its
		// publisher was told is stored. Memory keeps it too, so sending needs no read.
		seq, w, err := q.backing.Append(d)
		if err != nil {
			q.dropped++
			q.mu.Unlock()
			q.drop(d, DropStoreError)
			return false, DropStoreError
		}
		p.Add(w)
		d.Seq = seq
	}
	q.items = append(q.items, d)
	if evicted == nil {
		q.addTotalLocked(1)
	}
	q.mu.Unlock()
	if evicted != nil {
		q.drop(*evicted, DropQueueFull)
	}
	q.signal()
	return true, ""
}

// tookLocked reports whether the backing holds the receipt r: this queue took the message
// before. A store that cannot tell is taken to hold it not, since a duplicate is better than a
// loss.
func (q *Queue) tookLocked(r *message.Receipt) bool {
	if r == nil || q.backing == nil {
		return false
	}
	ok, err := q.backing.Received(r)
	return err == nil && ok
}

// Seal makes the queue refuse every later delivery with Moved: its session moved to another
// node, and what the queue holds is being handed over. What was offered before Seal returned
// is in the queue, for the hand-over to take.
func (q *Queue) Seal() {
	q.mu.Lock()
	q.sealed = true
	q.mu.Unlock()
}

// storeOnlyLocked reports whether d goes to the backing alone: always while the session is
// offline; online, for a LIFO queue (whose memory and store could not be merged newest first)
// and for a FIFO queue with stored deliveries still to page in and none written through in
// memory, which d must follow. The FIFO invariant this keeps: the deliveries to page in are
// the stored ones after the cursor and below memFloorLocked, all older than those in memory.
func (q *Queue) storeOnlyLocked(d Delivery) bool {
	switch {
	case q.backing == nil:
		return false
	case !q.online:
		return true
	case d.QoS == 0:
		return false
	case q.policy.Type == LIFO:
		return true
	}
	return q.stored > 0 && q.memFloorLocked() == 0
}

// Take removes up to max deliveries in the queue's order and appends them to dst. Expired
// messages are dropped on the way out rather than delivered [MQTT-3.3.2-5].
func (q *Queue) Take(dst []Delivery, max int, now time.Time) []Delivery {
	var expired []Delivery
	q.mu.Lock()
	if q.policy.Type == FIFO {
		// Stored deliveries are older than anything in memory.
		n := len(dst)
		dst = q.takeStoredLocked(dst, max, now)
		max -= len(dst) - n
	}
	before := len(dst)
	for max > 0 && q.lenLocked() > 0 {
		var d Delivery
		if q.policy.Type == LIFO {
			last := len(q.items) - 1
			d = q.items[last]
			q.items[last] = Delivery{}
			q.items = q.items[:last]
		} else {
			d = q.items[q.head]
			q.items[q.head] = Delivery{}
			q.head++
		}
		if d.Seq != 0 && q.policy.Type == FIFO {
			q.cursor = d.Seq // it leaves the part of the store still to page in
		}
		if d.Msg.Expired(now) {
			expired = append(expired, d)
			q.dropped++
			if d.Seq != 0 {
				q.backing.Remove(d.Seq)
			}
			continue
		}
		dst = append(dst, d)
		max--
	}
	q.compactLocked()
	q.addTotalLocked(-int64(len(dst) - before + len(expired)))
	if q.policy.Type == LIFO {
		// Stored deliveries are older than anything in memory.
		dst = q.takeStoredLocked(dst, max, now)
	}
	for ; q.expiredStored > 0; q.expiredStored-- {
		expired = append(expired, Delivery{Msg: &message.Message{}})
	}
	q.mu.Unlock()
	for _, d := range expired {
		q.drop(d, DropExpired)
	}
	return dst
}

// PushFront returns deliveries taken but not sent (the connection closed first) to the front
// of the queue, so they keep their place and are not counted against the bound again.
func (q *Queue) PushFront(ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	q.mu.Lock()
	mem := ds[:0:0]
	for _, d := range ds {
		if d.Seq != 0 {
			q.untakeLocked(d)
		} else {
			mem = append(mem, d)
		}
	}
	ds = mem
	if q.policy.Type == LIFO {
		// The front of a LIFO is its end; restore the original order there.
		for i := len(ds) - 1; i >= 0; i-- {
			q.items = append(q.items, ds[i])
		}
	} else {
		live := q.items[q.head:]
		items := make([]Delivery, 0, len(ds)+len(live))
		items = append(items, ds...)
		q.items = append(items, live...)
		q.head = 0
	}
	q.addTotalLocked(int64(len(ds)))
	q.mu.Unlock()
	q.signal()
}

// Len is the number of queued deliveries.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked() + q.stored
}

// Dropped is the number of messages this queue has dropped.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Drain empties the queue, reporting every delivery as dropped with reason; used when a
// session ends for good.
func (q *Queue) Drain(reason DropReason) {
	q.mu.Lock()
	items := append([]Delivery(nil), q.items[q.head:]...)
	q.items, q.head = nil, 0
	q.dropped += uint64(len(items))
	q.addTotalLocked(-int64(len(items)))
	if q.backing != nil {
		// Stored deliveries are not read back just to report them: they are counted.
		q.dropped += uint64(q.stored)
		q.addTotalLocked(-int64(q.stored))
		q.stored, q.cursor, q.taken = 0, 0, nil
		q.backing.Clear()
	}
	q.mu.Unlock()
	for _, d := range items {
		q.drop(d, reason)
	}
}

func (q *Queue) lenLocked() int { return len(q.items) - q.head }

func (q *Queue) addTotalLocked(n int64) {
	if q.policy.Total != nil && n != 0 {
		q.policy.Total.Add(n)
	}
}

// compactLocked reclaims the consumed prefix once it dominates the slice, so a long-lived
// FIFO does not grow without bound while staying amortised O(1) per operation.
func (q *Queue) compactLocked() {
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return
	}
	if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

func (q *Queue) signal() {
	if ws := q.waiters.Load(); ws != nil {
		for _, w := range *ws {
			w.Wake()
		}
	}
}

// AddWaiter makes the queue wake w whenever work arrives (a delivery added, the queue set
// online, deliveries pushed back). It wakes w at once, for the work already queued.
func (q *Queue) AddWaiter(w Waker) {
	q.mu.Lock()
	var ws []Waker
	if old := q.waiters.Load(); old != nil {
		ws = append(ws, *old...)
	}
	ws = append(ws, w)
	q.waiters.Store(&ws)
	q.mu.Unlock()
	w.Wake()
}

// RemoveWaiter undoes AddWaiter.
func (q *Queue) RemoveWaiter(w Waker) {
	q.mu.Lock()
	defer q.mu.Unlock()
	old := q.waiters.Load()
	if old == nil {
		return
	}
	var ws []Waker
	for _, o := range *old {
		if o != w {
			ws = append(ws, o)
		}
	}
	if len(ws) == 0 {
		q.waiters.Store(nil)
		return
	}
	q.waiters.Store(&ws)
}

func (q *Queue) drop(d Delivery, reason DropReason) {
	if q.onDrop != nil {
		q.onDrop(d, reason)
	}
}

// SubscriberID names a queue and the session that owns it: the tenant's mountpoint and the
// client id. Two tenants may use the same client id without meeting.
type SubscriberID struct {
	Mountpoint string
	ClientID   string
}
