package session

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

func (c *Conn) handleSubscribe(ctx context.Context, p *packet.Subscribe) error {
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	var subID uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	subs := make([]Subscription, 0, len(p.Subscriptions))
	idx := make([]int, 0, len(p.Subscriptions)) // position in codes of each accepted sub
	for i, s := range p.Subscriptions {
		filter := strings.Clone(s.Filter)
		_, inner, shared, err := topic.ParseShared(filter)
		if err == nil {
			err = topic.ValidateFilter(inner, c.opts.TopicMaxDepth)
		}
		if err != nil {
			codes[i] = packet.TopicFilterInvalid
			if c.version != packet.V5 {
				codes[i] = packet.UnspecifiedError
			}
			continue
		}
		if shared && s.NoLocal {
			// [MQTT-3.8.3-4] no local on a shared subscription is a protocol error.
			return c.protocolError(packet.ProtocolError, "no local set on a shared subscription")
		}
		qos := s.QoS
		codes[i] = packet.ReasonCode(qos)
		subs = append(subs, Subscription{Filter: filter, QoS: qos, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubID: subID})
		idx = append(idx, i)
	}
	if len(subs) > 0 && c.env.Hooks.HasAuthOnSubscribe() {
		subs, idx = c.authorizeSubscribe(ctx, subs, idx, codes)
	}
	var isNew []bool
	if len(subs) > 0 {
		var pend queue.Pending
		var err error
		isNew, err = c.env.Router.SubscribeNoWait(c.state.ID, subs, &pend)
		if err == nil {
			err = c.waitDurable(&pend)
		}
		if err != nil {
			c.logger().Warn("subscribe failed", "error", err)
			for _, i := range idx {
				codes[i] = packet.UnspecifiedError
			}
			subs = nil
		}
	}
	c.state.mu.Lock()
	for _, s := range subs {
		c.state.subs[s.Filter] = s
	}
	c.state.mu.Unlock()
	// The retained messages are read before the SUBACK goes out: read after, a retained
	// message published once the client saw its SUBACK arrived twice, live (RETAIN 0) and
	// from the scan (RETAIN 1).
	var retained []queue.Delivery
	for i, s := range subs {
		retained = c.retainedFor(retained, s, isNew[i])
	}
	c.send(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
	for _, d := range retained {
		if c.own != nil {
			c.own.Enqueue(d) // for the subscribing connection, not the session's others
			continue
		}
		c.state.Queue.Enqueue(d)
	}
	if len(subs) > 0 {
		ts := make([]hooks.Topic, len(subs))
		for i, s := range subs {
			ts[i] = hooks.Topic{Filter: s.Filter, QoS: s.QoS}
		}
		c.env.Hooks.Subscribed(ctx, c.client, ts)
	}
	return nil
}

// authorizeSubscribe asks auth_on_subscribe; its answer may downgrade or refuse single filters.
func (c *Conn) authorizeSubscribe(ctx context.Context, subs []Subscription, idx []int, codes []packet.ReasonCode) ([]Subscription, []int) {
	ts := make([]hooks.Topic, len(subs))
	for i, s := range subs {
		ts[i] = hooks.Topic{Filter: s.Filter, QoS: s.QoS}
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res := c.env.Hooks.AuthOnSubscribe(hctx, &hooks.Subscribe{Client: c.client, Topics: ts})
	refuse := packet.NotAuthorized
	if c.version != packet.V5 {
		refuse = packet.UnspecifiedError
	}
	if res.Verdict != hooks.Allow {
		for _, i := range idx {
			codes[i] = refuse
		}
		return nil, nil
	}
	if res.Topics == nil {
		return subs, idx
	}
	var keptSubs []Subscription
	var keptIdx []int
	for j, s := range subs {
		if j >= len(res.Topics) {
			break
		}
		t := res.Topics[j]
		if t.QoS > 2 {
			codes[idx[j]] = refuse
			continue
		}
		s.Filter, s.QoS = t.Filter, t.QoS
		codes[idx[j]] = packet.ReasonCode(t.QoS)
		keptSubs = append(keptSubs, s)
		keptIdx = append(keptIdx, idx[j])
	}
	return keptSubs, keptIdx
}

// retainedFor appends the retained messages matching a new subscription, per its retain
// handling [MQTT-3.3.1-9..-11]. Shared subscriptions get none (§3.8.4, §4.8.2; no numbered
// statement): retained messages are sent to the subscriber, not the group.
func (c *Conn) retainedFor(dst []queue.Delivery, s Subscription, isNew bool) []queue.Delivery {
	if s.RetainHandling == 2 || (s.RetainHandling == 1 && !isNew) {
		return dst
	}
	_, filter, shared, _ := topic.ParseShared(s.Filter)
	if shared {
		return dst
	}
	now := c.env.Now()
	c.env.Router.Retained(c.state.ID.Mountpoint, filter, func(m *message.Message) {
		if m.Expired(now) {
			return
		}
		d := queue.Delivery{Msg: m, QoS: min(m.QoS, s.QoS), Retain: true}
		if s.SubID != 0 {
			d.SubIDs = []uint32{s.SubID}
		}
		dst = append(dst, d)
	})
	return dst
}

func (c *Conn) handleUnsubscribe(ctx context.Context, p *packet.Unsubscribe) error {
	filters := make([]string, len(p.Filters))
	for i, f := range p.Filters {
		filters[i] = strings.Clone(f)
	}
	var pend queue.Pending
	found, err := c.env.Router.UnsubscribeNoWait(c.state.ID, filters, &pend)
	if err == nil {
		err = c.waitDurable(&pend)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		c.logger().Warn("unsubscribe failed", "error", err)
	}
	if err == nil {
		// A refused unsubscribe (netsplit policy, store failure) leaves the subscriber record
		// as it was, so the session's own view keeps the filters too.
		c.state.mu.Lock()
		for _, f := range filters {
			delete(c.state.subs, f)
		}
		c.state.mu.Unlock()
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.V5 {
		ack.ReasonCodes = make([]packet.ReasonCode, len(filters))
		for i := range filters {
			if err != nil {
				ack.ReasonCodes[i] = packet.UnspecifiedError
			} else if i < len(found) && !found[i] {
				ack.ReasonCodes[i] = packet.NoSubscriptionExisted
			}
		}
	}
	c.send(ack)
	c.env.Hooks.Unsubscribed(ctx, c.client, filters)
	return nil
}

// waitDurable waits for a subscription change to be durable before it is acknowledged, for a
// session that outlives its connection. A session that ends with its connection would lose its
// subscriptions in a crash anyway, so its SUBACK does not wait for a sync (the change is in
// the routing table already, and on its way to the other nodes).
func (c *Conn) waitDurable(pend *queue.Pending) error {
	c.state.mu.Lock()
	persistent := c.state.persistentLocked()
	c.state.mu.Unlock()
	if !persistent {
		return nil
	}
	return pend.Wait()
}
