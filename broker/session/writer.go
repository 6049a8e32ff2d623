package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// writeStall is how long one write may block before the client counts as gone; a consumer
// that reads nothing for this long is disconnected rather than allowed to pin its queue.
const writeStall = 60 * time.Second

// deliveryBatch is how many deliveries one write round takes from the queue at most.
const deliveryBatch = 64

// Write buffers are pooled across connections: most connections are idle most of the time,
// and an idle connection should cost its socket and little else.
var (
	bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}
	dsPool  = sync.Pool{New: func() any { d := make([]queue.Delivery, 0, deliveryBatch); return &d }}
)

// acquire takes buffers from the pools for a round of writing.
func (w *writer) acquire() {
	if w.buf == nil {
		w.buf = (*bufPool.Get().(*[]byte))[:0]
	}
	if w.ds == nil {
		w.ds = (*dsPool.Get().(*[]queue.Delivery))[:0]
	}
}

// release returns the buffers once everything in them is written.
func (w *writer) release() {
	if w.buf != nil && len(w.buf) == 0 && cap(w.buf) <= 1<<20 {
		b := w.buf
		bufPool.Put(&b)
		w.buf = nil
	}
	if w.ds != nil {
		clear(w.ds[:cap(w.ds)]) // drop message references before pooling
		d := w.ds[:0]
		dsPool.Put(&d)
		w.ds = nil
	}
}

// writer is the state the write loop keeps between rounds. It is pooled: a connection holds
// one only while its writer goroutine runs.
type writer struct {
	buf []byte
	ds  []queue.Delivery
	pub packet.Publish
	// sent are the stored deliveries encoded since the last flush, with their packet ids.
	sent []queue.Sent
}

var writerPool = sync.Pool{New: func() any { return &writer{} }}

// The writer runs on demand: a goroutine is started when there is something to send and exits
// when there is nothing left, so an idle connection has no writer goroutine (its stack, its
// descriptor and a blocked select were over a third of an idle connection's memory). wstate
// says whether one runs; Wake starts one or tells the running one to look again.
const (
	wNew     int32 = iota // the handshake is not done: the first writer starts after it
	wIdle                 // no writer runs
	wRunning              // a writer runs
	wDirty                // a writer runs and was woken since it last looked for work
	wStopped              // the connection is ending: no writer starts again
)

// Wake tells the connection there may be something to send: deliveries in a queue it takes
// from (it is the queues' queue.Waker), a control packet, a freed in-flight slot. It never
// blocks.
func (c *Conn) Wake() {
	for {
		switch c.wstate.Load() {
		case wIdle:
			if c.wstate.CompareAndSwap(wIdle, wRunning) {
				go c.writeLoop(false)
				return
			}
		case wRunning:
			if c.wstate.CompareAndSwap(wRunning, wDirty) {
				return
			}
		default:
			// wNew: the first writer, started after the handshake, looks at everything;
			// wDirty: already told; wStopped: nothing is sent any more.
			return
		}
	}
}

// startWriter starts the first writer once the CONNACK is out. It resends what the session had
// in flight before anything else [MQTT-4.4.0-1]. A new session has nothing in flight, and
// usually nothing queued: its connection starts idle, with no goroutine until something is to
// be sent (in a storm of device connects, that goroutine was one of two started per device).
func (c *Conn) startWriter() {
	if c.fresh {
		// A delivery queued before the swap found wNew and left it to the first writer: look.
		if c.wstate.CompareAndSwap(wNew, wIdle) && c.hasWork() {
			c.Wake()
		}
		return
	}
	if c.wstate.CompareAndSwap(wNew, wRunning) {
		go c.writeLoop(true)
	}
}

// hasWork reports whether anything waits to be sent.
func (c *Conn) hasWork() bool {
	return len(c.ctrl) > 0 || c.state.Queue.Len() > 0 || (c.own != nil && c.own.Len() > 0)
}

// writeLoop writes until there is nothing to send, then exits; first is the connection's
// first writer.
func (c *Conn) writeLoop(first bool) {
	defer func() {
		if r := recover(); r != nil {
			// The reader sees the socket closed and ends the connection.
			c.logger().Error("connection writer panicked; closing this connection only", "panic", fmt.Sprint(r))
			c.nc.Close()
			c.wstate.Store(wStopped)
			c.writerOnce.Do(func() { close(c.writerDone) })
		}
	}()
	w := writerPool.Get().(*writer)
	w.acquire()
	if first {
		c.resendInflight(w, time.Time{})
	}
	for {
		select {
		case <-c.done:
			c.flushControl(w)
			c.stopWriter(w)
			return
		default:
		}
		if c.retryDue.Swap(false) {
			c.resendInflight(w, c.env.Now().Add(-c.opts.RetryInterval))
		}
		w.acquire()
		more, closeAfter := c.fillRound(w)
		if len(w.buf) > 0 && !c.flush(w) {
			c.stopWriter(w) // the socket is closed: the reader sees it and ends the connection
			return
		}
		if closeAfter {
			c.hangUp()
			c.stopWriter(w)
			return
		}
		if more {
			continue
		}
		// Nothing to send. An idle connection holds no buffers and no goroutine.
		w.release()
		if c.retries() && c.inflightLen() > 0 {
			c.armRetry()
		}
		if c.wstate.CompareAndSwap(wRunning, wIdle) {
			c.putWriter(w)
			return
		}
		// Woken meanwhile: look again.
		c.wstate.Store(wRunning)
	}
}

// retries is whether unacknowledged messages are resent on this connection: MQTT 5 forbids
// resending within a connection [MQTT-4.4.0-1]; 3.1.x clients get VerneMQ's retry_interval.
func (c *Conn) retries() bool {
	return c.version != packet.V5 && c.opts.RetryInterval > 0
}

// armRetry makes a writer run in half a retry interval to resend what is still unacknowledged
// by then. Only a writer calls it, so retryT has one user at a time.
func (c *Conn) armRetry() {
	if c.retryArmed.Swap(true) {
		return
	}
	d := c.opts.RetryInterval / 2
	if c.retryT == nil {
		c.retryT = time.AfterFunc(d, c.retryFire)
		return
	}
	c.retryT.Reset(d)
}

func (c *Conn) retryFire() {
	c.retryArmed.Store(false)
	c.retryDue.Store(true)
	c.Wake()
}

// stopWriter ends the last writer of the connection.
func (c *Conn) stopWriter(w *writer) {
	if c.retryT != nil {
		c.retryT.Stop()
	}
	w.release()
	c.putWriter(w)
	c.wstate.Store(wStopped)
	c.writerOnce.Do(func() { close(c.writerDone) })
}

// putWriter returns w to the pool, without references to messages.
func (c *Conn) putWriter(w *writer) {
	w.pub = packet.Publish{}
	w.sent = w.sent[:0]
	w.buf = nil // release kept a buffer it could not pool (a write cut short)
	writerPool.Put(w)
}

// flushControl writes the control packets still queued when the reader ends the connection.
// A DISCONNECT the reader queued just before returning (a protocol error) races with done in
// the select above; without this it is lost half of the time and the client is closed without
// the reason it must be told [MQTT-4.13.1-1].
func (c *Conn) flushControl(w *writer) {
	for {
		select {
		case op := <-c.ctrl:
			if c.encodeControl(w, &op) {
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.nc.Write(w.buf); err == nil {
					c.hungUp.Store(true) // the reader has ended already: no wake needed
				}
				w.buf = w.buf[:0]
				return
			}
			continue
		default:
		}
		return
	}
}

// fillRound encodes one round of output into w.buf: deliveries are taken from the queue first,
// then the control packets queued so far are encoded ahead of them (see the package doc for
// why that order keeps SUBACK before its retained messages). It reports whether the queue may
// have more to send right away, and whether the connection closes after this round.
func (c *Conn) fillRound(w *writer) (more, closeAfter bool) {
	room := c.window() - c.inflightLen()
	w.ds = w.ds[:0]
	if room > 0 {
		w.ds = c.take(w.ds, min(room, deliveryBatch))
	}
	for !closeAfter {
		select {
		case op := <-c.ctrl:
			closeAfter = c.encodeControl(w, &op)
			continue
		default:
		}
		break
	}
	if closeAfter {
		c.untake(w.ds)
		return false, true
	}
	for _, d := range w.ds {
		c.encodeDelivery(w, d)
	}
	return room > 0 && len(w.ds) == min(room, deliveryBatch), false
}

func (c *Conn) encodeControl(w *writer, op *outPacket) bool {
	buf, err := packet.Encode(w.buf, c.version, op.p)
	if err != nil {
		c.logger().Error("cannot encode control packet", "type", op.p.Type().String(), "error", err)
		return op.closeAfter
	}
	w.buf = buf
	c.env.Metrics.PacketsOut.Inc()
	return op.closeAfter
}

// window is how many QoS 1/2 messages may be unacknowledged towards the client: its Receive
// Maximum [MQTT-3.3.4-9] [MQTT-4.9.0-2], bounded by max_inflight_messages.
func (c *Conn) window() int {
	n := int(c.clientRecvMax)
	if c.opts.MaxInflight > 0 && c.opts.MaxInflight < n {
		n = c.opts.MaxInflight
	}
	return n
}

func (c *Conn) inflightLen() int {
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	return c.inflightN
}

// encodeDelivery turns one delivery into a PUBLISH in w.buf, registering it in flight for
// QoS 1 and 2. A message larger than the client's Maximum Packet Size is dropped and counted,
// never sent [MQTT-3.1.2-25].
func (c *Conn) encodeDelivery(w *writer, d queue.Delivery) {
	if c.env.Hooks.HasOnDeliver() {
		res := c.env.Hooks.OnDeliver(context.Background(), &hooks.Deliver{Client: c.client, Topic: d.Msg.Topic, Payload: d.Msg.Payload, QoS: d.QoS, Retain: d.Retain})
		if res.Verdict == hooks.Deny {
			return
		}
		if res.Topic != nil || res.Payload != nil {
			m := *d.Msg
			if res.Topic != nil {
				m.Topic = *res.Topic
			}
			if res.Payload != nil {
				m.Payload = res.Payload
			}
			d.Msg = &m
		}
	}
	var f *inflight
	if d.QoS > 0 {
		c.state.mu.Lock()
		f = &inflight{id: d.PacketID, d: d, sent: c.env.Now(), owner: c}
		if _, used := c.state.out[f.id]; f.id == 0 || !d.Dup || used {
			f.id = c.state.nextPacketIDLocked()
		}
		// Sent before a restart with this identifier and its PUBREC came back: the client
		// waits for PUBREL, and a PUBLISH it has released would be a new message to it.
		f.rel = d.Released && d.QoS == 2 && f.id == d.PacketID
		c.state.addInflightLocked(f)
		c.state.mu.Unlock()
	}
	start := len(w.buf)
	var p packet.Packet = &w.pub
	if f != nil && f.rel {
		p = &packet.Pubrel{PacketID: f.id}
	} else {
		c.buildPublish(&w.pub, d, f, false, true)
	}
	buf, err := packet.Encode(w.buf, c.version, p)
	if err == nil && c.clientMaxPacket > 0 && len(buf)-start > int(c.clientMaxPacket) {
		err = packet.PacketTooLarge
	}
	if err != nil {
		w.buf = buf[:start]
		if f != nil {
			c.state.mu.Lock()
			c.state.removeInflightLocked(f.id)
			c.state.mu.Unlock()
		}
		c.env.Metrics.DroppedTooLarge.Inc()
		c.env.Metrics.Dropped.Inc()
		c.env.Hooks.MessageDropped(context.Background(), c.client.Mountpoint, c.client.ClientID, d.Msg, "too_large")
		return
	}
	w.buf = buf
	if d.Seq != 0 && d.QoS > 0 && (!d.Dup || f.id != d.PacketID) {
		w.sent = append(w.sent, queue.Sent{Seq: d.Seq, PacketID: f.id})
	}
	c.env.Metrics.PublishOut.Inc()
	c.env.Metrics.PacketsOut.Inc()
}

// buildPublish fills p for delivery d. useAlias is false for resends, which must carry the
// topic name because the alias mapping may not have survived.
func (c *Conn) buildPublish(p *packet.Publish, d queue.Delivery, f *inflight, dup, useAlias bool) {
	m := d.Msg
	props := p.Properties
	props.Reset()
	// A stored delivery sent before a restart goes out again with DUP [MQTT-3.3.1-1].
	*p = packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: d.QoS, Retain: d.Retain, Dup: dup || (d.Dup && d.QoS > 0), Properties: props}
	if f != nil {
		p.PacketID = f.id
	}
	if c.version != packet.V5 {
		return
	}
	pr := &p.Properties
	mp := &m.Props
	if mp.HasPayloadFmt {
		pr.PayloadFormat = mp.PayloadFormat
		pr.SetPresent(packet.PropPayloadFormat)
	}
	if mp.ContentType != "" {
		pr.ContentType = mp.ContentType
		pr.SetPresent(packet.PropContentType)
	}
	if mp.ResponseTopic != "" {
		pr.ResponseTopic = mp.ResponseTopic
		pr.SetPresent(packet.PropResponseTopic)
	}
	if mp.CorrelationData != nil {
		pr.CorrelationData = mp.CorrelationData
		pr.SetPresent(packet.PropCorrelationData)
	}
	if secs, ok := m.RemainingExpiry(c.env.Now()); ok {
		// [MQTT-3.3.2-6] forward the remaining lifetime, not the original one.
		pr.MessageExpiry = secs
		pr.SetPresent(packet.PropMessageExpiry)
	}
	for _, up := range mp.UserProperties {
		pr.UserProperties = append(pr.UserProperties, packet.UserProperty{Key: up.Key, Value: up.Value})
	}
	pr.SubscriptionIDs = append(pr.SubscriptionIDs, d.SubIDs...)
	if useAlias && c.clientAliasMax > 0 {
		if alias, ok := c.aliasesOut[m.Topic]; ok {
			p.Topic = ""
			pr.TopicAlias = alias
			pr.SetPresent(packet.PropTopicAlias)
		} else if len(c.aliasesOut) < int(c.clientAliasMax) {
			if c.aliasesOut == nil {
				c.aliasesOut = map[string]uint16{}
			}
			alias := uint16(len(c.aliasesOut) + 1)
			c.aliasesOut[m.Topic] = alias
			pr.TopicAlias = alias
			pr.SetPresent(packet.PropTopicAlias)
		}
	}
}

// resendInflight re-sends, in their original order, the unacknowledged messages sent before
// olderThan: PUBLISH with DUP set, or PUBREL for QoS 2 messages already received
// [MQTT-4.4.0-1] [MQTT-3.3.1-1]. With olderThan zero, as on reconnect, it takes over and
// resends every message whose connection is gone.
func (c *Conn) resendInflight(w *writer, olderThan time.Time) {
	c.state.mu.Lock()
	var due []*inflight
	for _, id := range c.state.outOrder {
		f := c.state.out[id]
		if olderThan.IsZero() && f.owner == nil {
			f.owner = c
			c.inflightN++
		}
		if f.owner == c && (olderThan.IsZero() || f.sent.Before(olderThan)) {
			f.sent = c.env.Now()
			due = append(due, f)
		}
	}
	c.state.mu.Unlock()
	for _, f := range due {
		var p packet.Packet
		if f.rel {
			p = &packet.Pubrel{PacketID: f.id}
		} else {
			c.buildPublish(&w.pub, f.d, f, true, false)
			p = &w.pub
		}
		if buf, err := packet.Encode(w.buf, c.version, p); err == nil {
			w.buf = buf
			c.env.Metrics.PacketsOut.Inc()
		}
	}
}

// flush writes w.buf in one call. It reports false when the connection is broken.
func (c *Conn) flush(w *writer) bool {
	if len(w.sent) > 0 {
		// Marked before the write: a crash right after it must resend these as the same
		// packets (DUP, same identifiers), or a QoS 2 client that got them takes the resend
		// for a new message. A mark for a write that never happened only sets DUP on a first
		// delivery, which MQTT allows ("might be a re-delivery").
		if err := c.state.Queue.MarkSent(w.sent); err != nil {
			c.logger().Warn("cannot mark stored messages sent", "error", err)
		}
		w.sent = w.sent[:0]
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeStall))
	n, err := c.nc.Write(w.buf)
	c.env.Metrics.BytesOut.Add(int64(n))
	w.buf = w.buf[:0]
	if err != nil {
		c.nc.Close()
		return false
	}
	return true
}
