package session

import (
	"context"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// detach ends this connection's hold on its session: the will is published or scheduled, and
// the state either ends now (clean session, expiry 0) or waits offline for its expiry.
func (c *Conn) detach() {
	s := c.state
	if s == nil {
		return
	}
	c.mu.Lock()
	will := c.will
	if c.graceful {
		will = nil
	}
	willDelay := c.willDelay
	c.mu.Unlock()

	s.mu.Lock()
	if attached, acks := c.leaveSharedLocked(s); attached {
		s.mu.Unlock()
		c.leftShared(acks, will, willDelay)
		return
	}
	if s.conn != c {
		s.mu.Unlock()
		s.Queue.RemoveWaiter(c) // attached once, and taken over without waiting for it
		c.publishWill(will)
		return
	}
	expiry := s.expiry
	c.leaving = true
	s.mu.Unlock()
	c.leaveLast()
	// The queue goes offline before the session says so: whoever sees the session offline
	// (a publisher's on_offline_message, a test, the admin API) then finds its queue offline
	// too. No other connection can attach meanwhile: attach waits for this one to close.
	if expiry != 0 {
		c.storeInflight(s)
	}
	s.Queue.SetOnline(false)
	s.mu.Lock()
	s.conn = nil
	// What is still in flight is resent, and owned, by the next connection.
	for _, f := range s.out {
		f.owner = nil
	}
	c.inflightN = 0
	gen := s.attachGen
	// A session that ends with its connection is marked in the same step as it goes offline,
	// so no new connection can attach to it in between.
	endsNow := expiry == 0 && s.markEndingLocked()
	s.mu.Unlock()
	ctx := context.Background()
	c.env.Hooks.ClientOffline(ctx, c.client)

	if will != nil && willDelay > 0 && expiry != 0 {
		// [MQTT-3.1.3-9] a delayed will waits for the delay or the end of the session,
		// whichever comes first; a reconnect in time cancels it (see attach).
		delay := time.Duration(willDelay) * time.Second
		if expiry > 0 && expiry < delay {
			delay = expiry
		}
		w := will
		s.mu.Lock()
		s.pendingWill = func() { c.publishWill(w) }
		s.willTimer = time.AfterFunc(delay, func() {
			if f := s.takeWill(); f != nil {
				f()
			}
		})
		s.mu.Unlock()
		will = nil
	}
	c.publishWill(will)

	switch {
	case expiry == 0:
		if endsNow {
			c.env.finishSession(s, queue.DropSessionGone)
		}
		c.env.Hooks.ClientGone(ctx, c.client)
	case expiry > 0:
		// The deadline is absolute and persisted, so expiry holds across a restart.
		c.env.save(s, c.env.Now().Add(expiry))
		s.mu.Lock()
		s.expiryTimer = time.AfterFunc(expiry, func() { c.env.expire(s, gen) })
		s.mu.Unlock()
	default:
		c.env.save(s, time.Time{})
	}
}

// expire ends an offline session whose expiry came, unless a connection attached since.
func (e *Env) expire(s *State, gen uint64) {
	s.mu.Lock()
	expired := s.conn == nil && s.attachGen == gen
	s.mu.Unlock()
	if expired {
		e.Log.Info("session expired", "client_id", s.ID.ClientID, "mountpoint", s.ID.Mountpoint)
		e.endSession(s, queue.DropSessionGone)
		e.Hooks.SessionExpired(context.Background(), s.ID.Mountpoint, s.ID.ClientID)
	}
}

func (c *Conn) publishWill(m *message.Message) {
	if m == nil {
		return
	}
	m.Arrived = c.env.Now()
	if m.Props.HasExpiry {
		m.ExpiresAt = m.Arrived.Add(time.Duration(m.Props.MessageExpiry) * time.Second)
	}
	if c.env.Hooks.HasAuthOnPublish() {
		if rc, _ := c.authorizePublish(context.Background(), m); rc != packet.Success {
			c.logger().Info("will not published: not authorized", "topic", m.Topic)
			return
		}
	}
	if _, err := c.env.Router.Publish(m); err != nil {
		c.logger().Error("will not stored for every persistent subscriber", "topic", m.Topic, "error", err)
	}
	c.env.Hooks.Published(context.Background(), c.client, m)
}

// endSession removes a session for good: its subscriptions leave the routing table, its
// queued messages are dropped (and reported), and a pending will fires now.
func (e *Env) endSession(s *State, reason queue.DropReason) {
	if e.Sessions.Get(s.ID) != s {
		return // already gone, or handed to another node
	}
	s.mu.Lock()
	mine := s.markEndingLocked()
	ended := s.ended
	s.mu.Unlock()
	if !mine {
		<-ended // another caller is ending it; return once it is gone
		return
	}
	e.finishSession(s, reason)
}

// finishSession does the work of ending s, which the caller has marked as ending. The state
// stays in the table until its subscriptions and stored messages are gone: a connection for
// the same client id that arrives meanwhile waits for s.ended instead of subscribing under
// the same id and having its subscriptions removed by this ending.
func (e *Env) finishSession(s *State, reason queue.DropReason) {
	defer close(s.ended)
	s.mu.Lock()
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
		s.expiryTimer = nil
	}
	s.mu.Unlock()
	// A session that ends before its will delay sends the will now [MQTT-3.1.2-8].
	if f := s.takeWill(); f != nil {
		f()
	}
	e.Router.RemoveSubscriber(s.ID)
	s.Queue.Drain(reason)
	if e.Persist != nil && s.Queue.Persistent() {
		if err := e.Persist.DeleteSession(s.ID); err != nil {
			e.Log.Error("cannot delete persisted session", "client_id", s.ID.ClientID, "error", err)
		}
	}
	e.Sessions.remove(s.ID, s)
}

// newQueue makes the queue of a new session state, wired to the drop counters and to the
// on_message_drop and on_offline_message hooks.
func (e *Env) newQueue(id queue.SubscriberID, p queue.Policy) *queue.Queue {
	q := queue.New(p, e.dropFunc(id))
	if e.Hooks.HasOnOfflineMessage() {
		q.OnOffline(func(d queue.Delivery) {
			e.Hooks.OfflineMessage(context.Background(), hooks.Client{Mountpoint: id.Mountpoint, ClientID: id.ClientID}, d.Msg)
		})
	}
	return q
}

// dropFunc counts a queue's drops and tells the on_message_drop hook.
func (e *Env) dropFunc(id queue.SubscriberID) queue.DropFunc {
	return func(d queue.Delivery, reason queue.DropReason) {
		e.Metrics.Dropped.Inc()
		switch reason {
		case queue.DropQueueFull:
			e.Metrics.DroppedQueueFull.Inc()
		case queue.DropExpired:
			e.Metrics.DroppedExpired.Inc()
		}
		e.Hooks.MessageDropped(context.Background(), id.Mountpoint, id.ClientID, d.Msg, string(reason))
	}
}

// Shutdown ends every online connection with reason (ServerShuttingDown on a graceful stop)
// and waits, up to ctx's deadline, for them to close.
func (e *Env) Shutdown(ctx context.Context, reason packet.ReasonCode) {
	var conns []*Conn
	e.Sessions.Each(func(s *State) {
		s.mu.Lock()
		conns = append(conns, s.connsLocked()...)
		s.mu.Unlock()
	})
	for _, c := range conns {
		c.Kick(reason)
	}
	for _, c := range conns {
		select {
		case <-c.Closed():
		case <-ctx.Done():
			return
		}
	}
}

// ClientInfo is the hook view of a session for callers outside a connection.
func (s *State) ClientInfo() hooks.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return hooks.Client{Mountpoint: s.ID.Mountpoint, ClientID: s.ID.ClientID, Username: s.username}
}

// takeWill removes the pending delayed will, if any, and returns the function that publishes
// it; the caller decides whether to run it (session end) or drop it (resumed session).
func (s *State) takeWill() func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.pendingWill
	s.pendingWill = nil
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
	return f
}

// storeInflight writes the unacknowledged deliveries that were sent from memory to the
// session's store, before the queue spills its backlog after them, so a restart keeps them in
// their order. In this process they stay in flight and are resent with their packet ids on
// reconnect [MQTT-4.4.0-1]; after a restart they come back from the store with DUP set.
func (c *Conn) storeInflight(s *State) {
	s.mu.Lock()
	var ds []queue.Delivery
	var fs []*inflight
	for _, id := range s.outOrder {
		if f := s.out[id]; f.d.Seq == 0 {
			d := f.d
			d.PacketID, d.Released = f.id, f.rel
			ds = append(ds, d)
			fs = append(fs, f)
		}
	}
	s.mu.Unlock()
	if len(ds) == 0 {
		return
	}
	ds = s.Queue.StoreInflight(ds)
	s.mu.Lock()
	for i, f := range fs {
		f.d.Seq = ds[i].Seq
	}
	s.mu.Unlock()
}
