package session

import (
	"context"
	"strings"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

// handlePublish accepts one PUBLISH from the client: resolves the topic alias, checks the
// topic and the receive window, asks auth_on_publish, routes, and acknowledges.
func (c *Conn) handlePublish(ctx context.Context, p *packet.Publish) error {
	c.env.Metrics.PublishIn.Inc()
	c.throttle()
	name := p.Topic
	if c.version == packet.V5 && len(p.Properties.SubscriptionIDs) > 0 {
		// [MQTT-3.3.4-6] subscription identifiers travel only from server to client.
		return c.protocolError(packet.ProtocolError, "subscription identifier in a PUBLISH from a client")
	}
	if c.version == packet.V5 && p.Properties.Has(packet.PropTopicAlias) {
		alias := p.Properties.TopicAlias
		if alias == 0 || alias > c.opts.TopicAliasMaxIn {
			// [MQTT-3.3.2-8] [MQTT-3.3.2-9] alias outside 1..Topic Alias Maximum.
			return c.protocolError(packet.TopicAliasInvalid, "topic alias out of range")
		}
		if name != "" {
			if c.aliasesIn == nil {
				c.aliasesIn = map[uint16]string{}
			}
			c.aliasesIn[alias] = strings.Clone(name)
		} else if name = c.aliasesIn[alias]; name == "" {
			return c.protocolError(packet.ProtocolError, "unknown topic alias")
		}
	} else if name == "" {
		return c.protocolError(packet.ProtocolError, "empty topic name without topic alias")
	}
	if err := topic.ValidateName(name, c.opts.TopicMaxDepth); err != nil {
		return c.protocolError(packet.TopicNameInvalid, err.Error())
	}
	if p.QoS == 2 {
		c.state.mu.Lock()
		in := c.inQoS2Locked()
		_, dup := in[p.PacketID]
		if !dup && c.version == packet.V5 && len(in) >= int(c.receiveMaximum()) {
			c.state.mu.Unlock()
			// [MQTT-3.3.4-7] more unacknowledged QoS 2 than our Receive Maximum.
			return c.protocolError(packet.ReceiveMaximumExceeded, "receive maximum exceeded")
		}
		c.state.mu.Unlock()
		if dup {
			// [MQTT-4.3.3-10] already routed: acknowledge again, do not deliver twice.
			c.queueAck(pendingAck{id: p.PacketID, qos: 2, again: true})
			return nil
		}
	}

	m := &message.Message{
		ID: message.NextID(), Mountpoint: c.client.Mountpoint, Topic: strings.Clone(name),
		Payload: append([]byte(nil), p.Payload...), QoS: p.QoS, Retain: p.Retain,
		From: c.client.ClientID, Arrived: c.env.Now(), SharedPolicy: c.sharedPolicy,
	}
	if p.QoS == 2 {
		m.Receipt, m.Resent = c.receipt(p.PacketID), p.Dup
	}
	if c.version == packet.V5 {
		copyProperties(&m.Props, &p.Properties)
		if m.Props.HasExpiry {
			m.ExpiresAt = m.Arrived.Add(time.Duration(m.Props.MessageExpiry) * time.Second)
		}
	}
	rc, reason := c.authorizePublish(ctx, m)
	a := pendingAck{id: p.PacketID, qos: p.QoS}
	if rc.Failure() {
		// Not logged: the plugin decided, and the client hears it in its acknowledgement.
		c.env.Metrics.PublishRefused.Inc()
	}
	if rc == packet.Success {
		n, err := c.env.Router.PublishNoWait(m, &a.pend)
		if err != nil {
			// The store refused the message for a persistent subscriber (disk full, I/O
			// error), or the cluster is partitioned and allow_publish_during_netsplit is off:
			// the publisher must keep it. MQTT 5 hears why; a 3.1.x client has no negative
			// acknowledgement, so it is disconnected and resends with DUP later.
			c.env.Metrics.PublishRefused.Inc()
			c.env.refusals().publishes.Log(err.Error(), c.peerAttrs("topic", m.Topic)...)
			if c.version != packet.V5 || p.QoS == 0 {
				if c.version != packet.V5 {
					return errClosedByServer
				}
				return nil
			}
			rc, reason = packet.UnspecifiedError, err.Error()
		} else {
			if n == 0 && c.version == packet.V5 {
				rc = packet.NoMatchingSubscribers
			}
			a.published = m
		}
	}
	if p.QoS == 0 {
		if a.published != nil {
			c.env.Hooks.Published(ctx, c.client, m)
		}
		return nil
	}
	if p.QoS == 2 && !rc.Failure() {
		// Known at once, so that a resend is recognised even before its PUBREC goes out, and
		// stored with the message: the PUBREC waits for both.
		c.state.mu.Lock()
		c.inQoS2Locked()[p.PacketID] = struct{}{}
		c.state.mu.Unlock()
		if !c.joined {
			c.env.saveInto(c.state, time.Time{}, &a.pend)
		}
	}
	a.rc, a.reason = rc, reason
	c.queueAck(a)
	return nil
}

func (c *Conn) authorizePublish(ctx context.Context, m *message.Message) (packet.ReasonCode, string) {
	if !c.env.Hooks.HasAuthOnPublish() {
		return packet.Success, ""
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res := c.env.Hooks.AuthOnPublish(hctx, &hooks.Publish{Client: c.client, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Properties: &m.Props})
	if res.Verdict != hooks.Allow {
		rc := res.Reason
		if !rc.Failure() || !rc.ValidFor(packet.PUBACK) {
			// A code PUBACK and PUBREC cannot carry would leave the client without an
			// acknowledgement (the codec refuses it); the publish is refused all the same.
			rc = packet.NotAuthorized
		}
		return rc, res.ReasonString
	}
	if res.Topic != nil {
		m.Topic = *res.Topic
	}
	if res.Payload != nil {
		m.Payload = res.Payload
	}
	if res.QoS != nil {
		m.QoS = *res.QoS
	}
	if res.Retain != nil {
		m.Retain = *res.Retain
	}
	return packet.Success, ""
}

// ackPublish sends the PUBACK or PUBREC of packet id (a QoS 2 message accepted is in the
// session's receive state already, saved with the message).
func (c *Conn) ackPublish(qos byte, id uint16, rc packet.ReasonCode, reason string) {
	if c.version != packet.V5 && rc.Failure() {
		// MQTT 3.1.1 has no way to refuse a PUBLISH; like Mosquitto we acknowledge and drop it,
		// so a client without the right does not reconnect in a loop.
		rc = packet.Success
	}
	switch qos {
	case 1:
		a := &packet.Puback{PacketID: id, ReasonCode: rc}
		c.reasonString(&a.Properties, reason)
		c.fitProperties(a, &a.Properties)
		c.send(a)
	case 2:
		a := &packet.Pubrec{PacketID: id, ReasonCode: rc}
		c.reasonString(&a.Properties, reason)
		c.fitProperties(a, &a.Properties)
		c.send(a)
	}
}

func (c *Conn) reasonString(pr *packet.Properties, s string) {
	if s != "" && c.version == packet.V5 && c.problemInfo {
		pr.ReasonString = s
		pr.SetPresent(packet.PropReasonString)
	}
}

// fitProperties leaves out the Reason String, then the User Properties, when they would make p
// larger than the client's Maximum Packet Size; the packet itself is always sent, since those
// are the properties the specification lets a server drop for that reason
// [MQTT-3.2.2-19] [MQTT-3.2.2-20] [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3]
// [MQTT-3.14.2-3] [MQTT-3.14.2-4].
func (c *Conn) fitProperties(p packet.Packet, pr *packet.Properties) {
	if c.clientMaxPacket == 0 || packet.Size(c.version, p) <= int(c.clientMaxPacket) {
		return
	}
	pr.Clear(packet.PropReasonString)
	if packet.Size(c.version, p) > int(c.clientMaxPacket) {
		pr.Clear(packet.PropUserProperty)
	}
}

func (c *Conn) receiveMaximum() uint16 {
	if c.opts.ReceiveMaximum == 0 {
		return 65535
	}
	return c.opts.ReceiveMaximum
}

// inQoS2Locked is the QoS 2 receive state this connection uses: the session's, which persists
// and survives reconnects, or, for a connection that joined a session already online
// (allow_multiple_sessions), its own, since packet identifiers are per connection. The caller
// holds state.mu.
func (c *Conn) inQoS2Locked() map[uint16]struct{} {
	if c.joined {
		if c.localInQoS2 == nil {
			c.localInQoS2 = map[uint16]struct{}{}
		}
		return c.localInQoS2
	}
	return c.state.inQoS2
}

// receipt names the QoS 2 message with packet identifier id for the store, when the session
// outlives its connection: only then does the publisher resend it after a broker restart. A
// connection that joined a session already online has identifiers of its own, which a
// session-wide receipt cannot name.
func (c *Conn) receipt(id uint16) *message.Receipt {
	if c.env.Persist == nil || c.joined {
		return nil
	}
	c.state.mu.Lock()
	persistent := c.state.persistentLocked()
	c.state.mu.Unlock()
	if !persistent {
		return nil
	}
	return &message.Receipt{Mountpoint: c.client.Mountpoint, ClientID: c.client.ClientID, PacketID: id}
}

// handlePubrel completes an incoming QoS 2 flow [MQTT-4.3.3-11].
func (c *Conn) handlePubrel(p *packet.Pubrel) {
	c.state.mu.Lock()
	in := c.inQoS2Locked()
	_, ok := in[p.PacketID]
	delete(in, p.PacketID)
	c.state.mu.Unlock()
	if ok {
		c.env.save(c.state, time.Time{})
	}
	// The receipts go before PUBCOMP: once it has PUBCOMP the client may reuse the identifier.
	// After a restart the identifier may be unknown (ok false) while receipts remain.
	if r := c.receipt(p.PacketID); r != nil {
		if err := c.env.Persist.Release(r); err != nil {
			// PUBCOMP has no code for this; without it the client sends PUBREL again on its
			// next connection, when the store may work again.
			c.logger().Error("cannot release a QoS 2 message's receipts; PUBCOMP withheld", "packet_id", p.PacketID, "error", err)
			return
		}
	}
	rc := packet.Success
	if !ok && c.version == packet.V5 {
		rc = packet.PacketIdentifierNotFound
	}
	c.send(&packet.Pubcomp{PacketID: p.PacketID, ReasonCode: rc})
}

// handlePubrec moves an outgoing QoS 2 message to its second phase.
func (c *Conn) handlePubrec(p *packet.Pubrec) {
	c.state.mu.Lock()
	f, ok := c.state.out[p.PacketID]
	ok = ok && f.owner == c // another connection's identifier is unknown here
	if ok && p.ReasonCode.Failure() {
		// [MQTT-4.4.0-2] a failed PUBREC ends the flow: nothing more is sent for this id.
		c.state.removeInflightLocked(p.PacketID)
		c.state.mu.Unlock()
		c.state.Queue.Ack(f.d.Seq)
		c.Wake()
		return
	}
	var seq uint64
	if ok {
		f.rel = true
		f.sent = c.env.Now()
		seq = f.d.Seq
	}
	c.state.mu.Unlock()
	if seq != 0 {
		// Recorded before the PUBREL goes out: once the client has a PUBREL it may forget the
		// identifier, and a restart must then resend the PUBREL, not the PUBLISH.
		if err := c.state.Queue.MarkSent([]queue.Sent{{Seq: seq, PacketID: p.PacketID, Released: true}}); err != nil {
			c.logger().Warn("cannot record a QoS 2 PUBREC in the store", "error", err)
		}
	}
	rc := packet.Success
	if !ok && c.version == packet.V5 {
		rc = packet.PacketIdentifierNotFound
	}
	c.send(&packet.Pubrel{PacketID: p.PacketID, ReasonCode: rc})
}

// ackOut ends an outgoing flow on PUBACK (QoS 1) or PUBCOMP (QoS 2).
func (c *Conn) ackOut(id uint16, comp bool) {
	var seq uint64
	c.state.mu.Lock()
	if f, ok := c.state.out[id]; ok && f.owner == c && (f.d.QoS == 1) != comp {
		c.state.removeInflightLocked(id)
		seq = f.d.Seq
	}
	c.state.mu.Unlock()
	// A stored delivery leaves the store only once the client has it [MQTT-4.3.2-3].
	if err := c.state.Queue.Ack(seq); err != nil {
		c.logger().Warn("cannot remove acknowledged message from the store", "error", err)
	}
	c.Wake()
}

// throttle applies max_message_rate by delaying the reader: back-pressure on this socket, never
// a drop.
func (c *Conn) throttle() {
	rate := c.opts.MaxMessageRate
	if rate <= 0 {
		return
	}
	now := time.Now()
	if c.rateLast.IsZero() {
		c.rateLast, c.rateTokens = now, float64(rate)
	}
	c.rateTokens = min(float64(rate), c.rateTokens+now.Sub(c.rateLast).Seconds()*float64(rate))
	c.rateLast = now
	if c.rateTokens < 1 {
		wait := time.Duration((1 - c.rateTokens) / float64(rate) * float64(time.Second))
		time.Sleep(wait)
		c.rateTokens = 1
		c.rateLast = time.Now()
	}
	c.rateTokens--
}
