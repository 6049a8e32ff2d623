package session

import (
	"context"
	"sync"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// maxPendingAcks bounds the PUBLISHes of one connection whose acknowledgement waits for the
// store: beyond it the reader stops reading, which is back-pressure on that client only.
const maxPendingAcks = 1024

// acks sends the acknowledgements of a connection's QoS 1/2 PUBLISHes in the order the
// PUBLISHes came [MQTT-4.6.0-2] [MQTT-4.6.0-3], each once its message is as durable as
// store.sync makes it. The reader does not wait for the sync: it routes a PUBLISH (the store
// writes are applied then), hands the acknowledgement over and reads on, so the messages a
// client pipelines share group commits instead of each waiting for an fsync of its own. A
// goroutine runs only while acknowledgements wait; with nothing stored, or nothing ahead of
// it, a PUBLISH is acknowledged by the reader itself.
type acks struct {
	mu      sync.Mutex
	q       []pendingAck
	running bool
	room    sync.Cond // signalled when q shrinks; L is mu
}

// pendingAck is the acknowledgement of one PUBLISH.
type pendingAck struct {
	pend   queue.Pending // the publish's store writes
	id     uint16
	qos    byte
	rc     packet.ReasonCode
	reason string
	// published is the message once routed, for on_publish when it is stored; nil when
	// refused.
	published *message.Message
	// again: a QoS 2 resend of a message already received, acknowledged again.
	again bool
}

// queueAck acknowledges a in its turn. Only the reader calls it.
func (c *Conn) queueAck(a pendingAck) {
	k := &c.acks
	k.mu.Lock()
	if !k.running && len(k.q) == 0 && a.pend.Empty() {
		k.mu.Unlock()
		c.finishAck(&a, nil)
		return
	}
	if k.room.L == nil {
		k.room.L = &k.mu
	}
	for len(k.q) >= maxPendingAcks {
		k.room.Wait()
	}
	k.q = append(k.q, a)
	if !k.running {
		k.running = true
		go c.runAcks()
	}
	k.mu.Unlock()
}

// runAcks sends the waiting acknowledgements in order, each after its sync.
func (c *Conn) runAcks() {
	k := &c.acks
	for {
		k.mu.Lock()
		if len(k.q) == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		a := k.q[0]
		k.q[0] = pendingAck{}
		k.q = k.q[1:]
		k.room.Broadcast()
		k.mu.Unlock()
		if !c.finishAck(&a, a.pend.Wait()) {
			// The connection is being closed: what is left is not acknowledged, and the client
			// sends it again.
			k.mu.Lock()
			k.q, k.running = nil, false
			k.room.Broadcast()
			k.mu.Unlock()
			return
		}
	}
}

// finishAck acknowledges a once its writes are durable (err nil), or refuses it; it reports
// false when it closed the connection instead (an MQTT 3.1.x client cannot be refused).
func (c *Conn) finishAck(a *pendingAck, err error) bool {
	rc, reason := a.rc, a.reason
	if err != nil {
		if !a.rc.Failure() { // one refused already when routed was counted then
			c.env.Metrics.PublishRefused.Inc()
			// The error is part of the cause: a new kind of store failure (a stopped engine
			// after a failed sync, say) is logged at once, not folded into the last one's count.
			c.env.refusals().publishes.Log("not durable for a persistent subscriber or a peer: "+err.Error(), c.peerAttrs()...)
		}
		if a.qos == 2 && !a.again {
			c.state.mu.Lock()
			delete(c.inQoS2Locked(), a.id)
			c.state.mu.Unlock()
		}
		if c.version != packet.V5 {
			c.nc.Close() // the reader sees it and ends the connection
			return false
		}
		rc, reason = packet.UnspecifiedError, err.Error()
	} else if a.published != nil {
		c.env.Hooks.Published(context.Background(), c.client, a.published)
	}
	if a.again {
		c.send(&packet.Pubrec{PacketID: a.id})
		return true
	}
	c.ackPublish(a.qos, a.id, rc, reason)
	return true
}
