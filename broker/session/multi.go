package session

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Several connections on one session (allow_multiple_sessions, VerneMQ's "multiple sessions"
// and "session balancing"). The session keeps one queue, one set of subscriptions and one
// packet-identifier space; each connection has its own in-flight window (inflight.owner), its
// own signal from the queue and its own queue for what only it receives:
//
//   - balance: the connections take from the session's queue as competing consumers, so each
//     message goes to one of them; what a leaving connection had not finished goes back to the
//     front of the queue for the others, with DUP set.
//   - fanout: whichever connection takes a message from the session's queue puts a copy in
//     the own queue of every other connection, so each receives every message; what a leaving
//     connection had not finished is dropped for it alone.
//
// As in VerneMQ, the sharing is local to a node: a connection for the client id on another
// node takes the session over as usual, and clean start is ignored by a connection that
// joins a session already online.

// setupShared prepares a connection that may share its session, before its writer starts.
func (c *Conn) setupShared(policy queue.Policy) {
	if !c.multi {
		return
	}
	policy.Total = nil // the node's total counts the session's queue, not these copies
	c.own = queue.New(policy, c.env.dropFunc(c.state.ID))
	c.own.SetOnline(true)
	c.own.AddWaiter(c)
}

// joinLocked attaches c beside the connections already on s. The caller holds s.mu.
func (c *Conn) joinLocked(s *State, expiry time.Duration) {
	c.joined = true
	s.others = append(s.others, c)
	// The latest connection's session expiry and username apply, as on a reconnect.
	s.expiry = expiry
	s.username = c.client.Username
	c.state = s
}

// take takes up to max deliveries for this connection: from its own queue first (older: they
// were taken from the session's queue before what is left there), then from the session's.
func (c *Conn) take(dst []queue.Delivery, max int) []queue.Delivery {
	now := c.env.Now()
	if c.own == nil {
		return c.state.Queue.Take(dst, max, now)
	}
	if !c.balance {
		c.state.fanMu.Lock()
		defer c.state.fanMu.Unlock()
	}
	n := len(dst)
	dst = c.own.Take(dst, max, now)
	if max -= len(dst) - n; max <= 0 {
		return dst
	}
	start := len(dst)
	dst = c.state.Queue.Take(dst, max, now)
	if len(dst) == start {
		return dst
	}
	if c.balance {
		return spread(dst, start, c.balanceTargets())
	}
	c.state.mu.Lock()
	var others []*queue.Queue
	for _, o := range c.state.connsLocked() {
		if o != c && o.own != nil {
			others = append(others, o.own)
		}
	}
	c.state.mu.Unlock()
	for _, d := range dst[start:] {
		cp := d
		cp.Seq = 0 // the stored entry is this connection's to acknowledge
		for _, q := range others {
			q.Enqueue(cp)
		}
	}
	return dst
}

// target is another connection of a balanced session that a message may be dealt to: its own
// queue, and how many more it can take before its in-flight window is full.
type target struct {
	q    *queue.Queue
	room int
}

// balanceTargets lists the session's other connections with room in their in-flight window.
func (c *Conn) balanceTargets() []target {
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	var ts []target
	for _, o := range c.state.connsLocked() {
		if o == c || o.own == nil {
			continue
		}
		if room := o.window() - o.inflightN - o.own.Len(); room > 0 {
			ts = append(ts, target{o.own, room})
		}
	}
	return ts
}

// spread deals the deliveries dst[start:], just taken from the session's queue, at random
// over this connection and the others with room in their window, one draw per message as
// VerneMQ's balance mode did: the connection whose writer happened to take first no longer
// keeps the whole batch (500 messages went 443/57 that way). A message dealt to another
// connection keeps its stored entry, which that connection acknowledges; one its queue
// refuses stays here. It returns what this connection keeps.
func spread(dst []queue.Delivery, start int, others []target) []queue.Delivery {
	kept := dst[:start]
	for _, d := range dst[start:] {
		n := 0
		for _, o := range others {
			if o.room > 0 {
				n++
			}
		}
		if i := rand.IntN(n + 1); i < n {
			o := nthWithRoom(others, i)
			if o.q.Enqueue(d) {
				o.room--
				continue
			}
			o.room = 0
		}
		kept = append(kept, d)
	}
	clear(dst[len(kept):])
	return kept
}

// nthWithRoom is the i-th target that still has room.
func nthWithRoom(ts []target, i int) *target {
	for k := range ts {
		if ts[k].room > 0 {
			if i == 0 {
				return &ts[k]
			}
			i--
		}
	}
	return nil
}

// untake returns deliveries taken but not sent (the connection is closing).
func (c *Conn) untake(ds []queue.Delivery) {
	if c.own == nil {
		c.state.Queue.PushFront(ds)
		return
	}
	// Other connections may have taken stored deliveries after these: giving a stored one back
	// would make the queue page those again. They go back as in-memory deliveries instead.
	ds = c.toMemory(ds)
	if c.balance {
		c.state.Queue.PushFront(ds)
		return
	}
	c.own.PushFront(ds)
}

// toMemory acknowledges the stored deliveries among ds and returns them as in-memory ones.
func (c *Conn) toMemory(ds []queue.Delivery) []queue.Delivery {
	for i := range ds {
		if ds[i].Seq == 0 {
			continue
		}
		if err := c.state.Queue.Ack(ds[i].Seq); err != nil {
			c.logger().Warn("cannot move a stored message back to the session's queue", "error", err)
		}
		ds[i].Seq = 0
	}
	return ds
}

// leaveSharedLocked takes c off s, which other connections keep online, and reports whether c
// was attached to s. The caller holds s.mu. What c had in flight and not finished goes back to
// the front of the session's queue for the others (balance) while s.mu is held, so the last
// connection cannot take the queue offline in between (that would leave them in memory only);
// it returns the stored entries to acknowledge (fanout, and released QoS 2).
func (c *Conn) leaveSharedLocked(s *State) (attached bool, acks []uint64) {
	switch {
	case s.conn == c && len(s.others) > 0:
		s.conn = s.others[0]
		s.others = slices.Delete(s.others, 0, 1)
	case s.conn != c:
		i := slices.Index(s.others, c)
		if i < 0 {
			return false, nil
		}
		s.others = slices.Delete(s.others, i, i+1)
	default:
		return false, nil
	}
	var back []queue.Delivery
	for _, id := range slices.Clone(s.outOrder) {
		f := s.out[id]
		if f.owner != c {
			continue
		}
		s.removeInflightLocked(id)
		switch {
		case c.balance && !f.rel:
			d := f.d
			d.Dup = true // the client id may have seen it on this connection
			back = append(back, d)
		case f.d.Seq != 0:
			// A fanout copy is this connection's alone; a released QoS 2 message reached the
			// client, and a PUBREL on another connection would name an identifier it never saw.
			acks = append(acks, f.d.Seq)
		}
	}
	if c.balance && c.own != nil {
		// Messages dealt to this connection and not taken yet go back for the others.
		back = append(back, c.own.Take(nil, c.own.Len(), c.env.Now())...)
	}
	s.Queue.PushFront(c.toMemory(back))
	return true, acks
}

// leftShared finishes a connection's leave from a session others keep online: the stored
// entries it alone held are removed, the will is published as for any connection, and hooks
// hear the connection went offline. The session itself goes on.
func (c *Conn) leftShared(acks []uint64, will *message.Message, willDelay uint32) {
	s := c.state
	s.Queue.RemoveWaiter(c)
	for _, seq := range acks {
		if err := s.Queue.Ack(seq); err != nil {
			c.logger().Warn("cannot remove a message from the store", "error", err)
		}
	}
	c.env.Hooks.ClientOffline(context.Background(), c.client)
	if will != nil && willDelay > 0 {
		// The session does not end, so the delay alone decides [MQTT-3.1.3-9].
		time.AfterFunc(time.Duration(willDelay)*time.Second, func() { c.publishWill(will) })
		return
	}
	c.publishWill(will)
}

// leaveLast is the part of the last connection's detach that concerns sharing: what its own
// queue still holds goes back to the session's queue, to be kept offline like the rest.
func (c *Conn) leaveLast() {
	c.state.Queue.RemoveWaiter(c)
	if c.own == nil {
		return
	}
	c.state.Queue.PushFront(c.own.Take(nil, c.own.Len(), c.env.Now()))
}

// kickAll ends every connection on s for a connection that takes the session over, and waits
// (up to a bound) for each to close.
func (e *Env) kickAll(conns []*Conn, newCleanStart bool, wait time.Duration, log func()) {
	for _, o := range conns {
		o.takenOver(newCleanStart)
	}
	deadline := time.After(wait)
	for _, o := range conns {
		select {
		case <-o.Closed():
		case <-deadline:
			log()
			return
		}
	}
}

// allowMultiple is whether this client may share its session: allow_multiple_sessions, or
// the auth_on_register modifier.
func (c *Conn) allowMultiple(mods *hooks.RegisterResult) bool {
	if mods != nil && mods.AllowMultiple != nil {
		return *mods.AllowMultiple
	}
	return c.opts.MultipleSessions
}
