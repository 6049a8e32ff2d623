package broker_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

func TestMQTT5TopicAliasClientToBroker(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.MQTT5.TopicAliasMaxClient = 5 })
	s := brokertest.ConnectPaho5(t, n.Addr, "alias-sub", nil)
	s.Sub(t, 0, sub("alias/#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "alias-pub", nil)
	if m := pub.Connack.Properties.TopicAliasMaximum; m == nil || *m != 5 {
		t.Fatalf("CONNACK topic alias maximum %v; want 5", m)
	}
	pub.Pub(t, &paho.Publish{Topic: "alias/one", QoS: 1, Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: brokertest.U16(3)}})
	pub.Pub(t, &paho.Publish{QoS: 1, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: brokertest.U16(3)}})
	// Re-mapping an alias to another topic [MQTT-3.3.2-12].
	pub.Pub(t, &paho.Publish{Topic: "alias/two", QoS: 1, Payload: []byte("3"), Properties: &paho.PublishProperties{TopicAlias: brokertest.U16(3)}})
	pub.Pub(t, &paho.Publish{QoS: 0, Payload: []byte("4"), Properties: &paho.PublishProperties{TopicAlias: brokertest.U16(3)}})
	for _, want := range []struct{ topic, payload string }{{"alias/one", "1"}, {"alias/one", "2"}, {"alias/two", "3"}, {"alias/two", "4"}} {
		m := s.Next(t, waitFor)
		if m.Topic != want.topic || string(m.Payload) != want.payload {
			t.Fatalf("got %q on %q; want %q on %q", m.Payload, m.Topic, want.payload, want.topic)
		}
		if m.Properties != nil && m.Properties.TopicAlias != nil {
			t.Fatalf("alias %d forwarded to a subscriber that announced none", *m.Properties.TopicAlias)
		}
	}

	// Above the maximum: DISCONNECT 0x94 (paho checks the maximum itself, so raw).
	raw, _ := brokertest.Connect(t, n.Addr, packet.V5, "alias-raw", nil)
	p := &packet.Publish{Topic: "alias/x", Payload: []byte("x")}
	p.Properties.TopicAlias = 6
	p.Properties.SetPresent(packet.PropTopicAlias)
	raw.Send(p)
	if rc := raw.ExpectDisconnect(); rc != packet.TopicAliasInvalid {
		t.Fatalf("alias above maximum: DISCONNECT 0x%02X; want 0x94 [MQTT-3.3.2-9]", byte(rc))
	}
	// An alias never set: protocol error [MQTT-3.3.4]... the broker must not guess the topic.
	raw2, _ := brokertest.Connect(t, n.Addr, packet.V5, "alias-raw2", nil)
	p2 := &packet.Publish{Payload: []byte("x")}
	p2.Properties.TopicAlias = 2
	p2.Properties.SetPresent(packet.PropTopicAlias)
	raw2.Send(p2)
	if rc := raw2.ExpectDisconnect(); rc != packet.ProtocolError {
		t.Fatalf("unknown alias: DISCONNECT 0x%02X; want 0x82", byte(rc))
	}
	s.NoMessage(t, 100*time.Millisecond)
}

func TestMQTT5TopicAliasNoneAllowed(t *testing.T) {
	n := brokertest.Start(t, nil) // topic_alias_max_client = 0
	raw, _ := brokertest.Connect(t, n.Addr, packet.V5, "no-alias", nil)
	p := &packet.Publish{Topic: "a", Payload: []byte("x")}
	p.Properties.TopicAlias = 1
	p.Properties.SetPresent(packet.PropTopicAlias)
	raw.Send(p)
	if rc := raw.ExpectDisconnect(); rc != packet.TopicAliasInvalid {
		t.Fatalf("DISCONNECT 0x%02X; want 0x94", byte(rc))
	}
}

func TestMQTT5TopicAliasBrokerToClient(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.MQTT5.TopicAliasMaxBroker = 2 })
	s := brokertest.ConnectPaho5(t, n.Addr, "alias-in", func(cp *paho.Connect) {
		cp.Properties = props(func(p *paho.ConnectProperties) { p.TopicAliasMaximum = brokertest.U16(10) })
	})
	s.Sub(t, 0, sub("ta/#", 1))
	none := brokertest.ConnectPaho5(t, n.Addr, "alias-none", nil)
	none.Sub(t, 0, sub("ta/#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "alias-src", nil)
	for i, topic := range []string{"ta/a", "ta/a", "ta/b", "ta/c", "ta/c", "ta/b"} {
		pub.Pub(t, &paho.Publish{Topic: topic, QoS: byte(i % 2), Payload: []byte(topic)})
	}
	aliases := map[uint16]string{}
	for i, want := range []string{"ta/a", "ta/a", "ta/b", "ta/c", "ta/c", "ta/b"} {
		m := s.Next(t, waitFor)
		var alias uint16
		if m.Properties != nil && m.Properties.TopicAlias != nil {
			alias = *m.Properties.TopicAlias
			if alias == 0 || alias > 2 {
				t.Fatalf("alias %d outside 1..min(client 10, topic_alias_max_broker 2)", alias)
			}
		}
		topic := m.Topic
		switch {
		case topic != "" && alias != 0:
			aliases[alias] = topic
		case topic == "" && alias != 0:
			topic = aliases[alias]
		case topic == "":
			t.Fatal("PUBLISH with neither topic nor alias")
		}
		if topic != want || string(m.Payload) != want {
			t.Fatalf("delivery %d: %q on %q; want %q", i, m.Payload, topic, want)
		}
		if i == 1 && (m.Topic != "" || alias == 0) {
			t.Fatalf("second delivery on ta/a: topic %q alias %d; want an empty topic and the alias", m.Topic, alias)
		}
	}
	// A client that announced no Topic Alias Maximum never gets one [MQTT-3.1.2-27].
	for range 6 {
		m := none.Next(t, waitFor)
		if m.Topic == "" || (m.Properties != nil && m.Properties.TopicAlias != nil) {
			t.Fatalf("alias sent to a client without Topic Alias Maximum: %+v", m)
		}
	}
}

func TestMQTT5SubscriptionIdentifiers(t *testing.T) {
	n := brokertest.Start(t, nil)
	s := brokertest.ConnectPaho5(t, n.Addr, "subid", nil)
	s.Sub(t, 7, sub("sid/one", 1))
	s.Sub(t, 0, sub("sid/plain", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "subid-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "sid/one", QoS: 1, Payload: []byte("x")})
	m := s.Next(t, waitFor)
	if m.Properties == nil || m.Properties.SubscriptionIdentifier == nil || *m.Properties.SubscriptionIdentifier != 7 {
		t.Fatalf("subscription identifier %v; want 7", m.Properties.SubscriptionIdentifier)
	}
	pub.Pub(t, &paho.Publish{Topic: "sid/plain", QoS: 1, Payload: []byte("y")})
	if m := s.Next(t, waitFor); m.Properties != nil && m.Properties.SubscriptionIdentifier != nil {
		t.Fatalf("identifier %d on a subscription made without one", *m.Properties.SubscriptionIdentifier)
	}
}

// paho.golang keeps one Subscription Identifier per PUBLISH, so several are read raw.
func TestMQTT5OverlappingSubscriptionsOneCopy(t *testing.T) {
	n := brokertest.Start(t, nil)
	raw, _ := brokertest.Connect(t, n.Addr, packet.V5, "overlap", nil)
	for i, s := range []struct {
		filter string
		qos    byte
		id     uint32
	}{{"ov/#", 0, 1}, {"ov/+/x", 2, 2}, {"ov/a/x", 1, 3}, {"+/a/#", 1, 0}} {
		sp := &packet.Subscribe{PacketID: uint16(i + 1), Subscriptions: []packet.Subscription{{Filter: s.filter, QoS: s.qos}}}
		if s.id != 0 {
			sp.Properties.SubscriptionIDs = []uint32{s.id}
			sp.Properties.SetPresent(packet.PropSubscriptionID)
		}
		raw.Send(sp)
		brokertest.ReadAs[*packet.Suback](t, raw)
	}
	pub := brokertest.ConnectPaho5(t, n.Addr, "overlap-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "ov/a/x", QoS: 2, Payload: []byte("once")})
	p := brokertest.ReadAs[*packet.Publish](t, raw)
	if p.QoS != 2 {
		t.Fatalf("delivered at QoS %d; want the highest granted, 2 [MQTT-3.3.4-2]", p.QoS)
	}
	ids := slices.Clone(p.Properties.SubscriptionIDs)
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{1, 2, 3}) {
		t.Fatalf("subscription identifiers %v; want 1, 2, 3 [MQTT-3.3.4-3]", ids)
	}
	raw.Send(&packet.Pubrec{PacketID: p.PacketID})
	brokertest.ReadAs[*packet.Pubrel](t, raw)
	raw.Send(&packet.Pubcomp{PacketID: p.PacketID})
	raw.NoPacket(300 * time.Millisecond)
}

func TestMQTT5NoLocal(t *testing.T) {
	n := brokertest.Start(t, nil)
	c := brokertest.ConnectPaho5(t, n.Addr, "nolocal", nil)
	c.Sub(t, 0, paho.SubscribeOptions{Topic: "nl/#", QoS: 1, NoLocal: true})
	c.Pub(t, &paho.Publish{Topic: "nl/self", QoS: 1, Payload: []byte("mine")})
	other := brokertest.ConnectPaho5(t, n.Addr, "nolocal-other", nil)
	other.Pub(t, &paho.Publish{Topic: "nl/other", QoS: 1, Payload: []byte("theirs")})
	m := c.Next(t, waitFor)
	if string(m.Payload) != "theirs" {
		t.Fatalf("no local subscriber got its own message %q [MQTT-3.8.3-3]", m.Payload)
	}
	c.NoMessage(t, 200*time.Millisecond)

	// Without no local the publisher gets its own message.
	l := brokertest.ConnectPaho5(t, n.Addr, "local", nil)
	l.Sub(t, 0, sub("lo/#", 1))
	l.Pub(t, &paho.Publish{Topic: "lo/self", QoS: 1, Payload: []byte("echo")})
	if m := l.Next(t, waitFor); string(m.Payload) != "echo" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestMQTT5RetainAsPublished(t *testing.T) {
	n := brokertest.Start(t, nil)
	rap := brokertest.ConnectPaho5(t, n.Addr, "rap", nil)
	rap.Sub(t, 0, paho.SubscribeOptions{Topic: "rap/#", QoS: 1, RetainAsPublished: true})
	plain := brokertest.ConnectPaho5(t, n.Addr, "no-rap", nil)
	plain.Sub(t, 0, sub("rap/#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "rap-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "rap/r", QoS: 1, Retain: true, Payload: []byte("r")})
	pub.Pub(t, &paho.Publish{Topic: "rap/n", QoS: 1, Payload: []byte("n")})
	if m := rap.Next(t, waitFor); !m.Retain {
		t.Fatal("retain as published: retained message forwarded without RETAIN [MQTT-3.3.1-13]")
	}
	if m := rap.Next(t, waitFor); m.Retain {
		t.Fatal("retain as published: non-retained message forwarded with RETAIN")
	}
	if m := plain.Next(t, waitFor); m.Retain {
		t.Fatal("without retain as published a live message must have RETAIN 0 [MQTT-3.3.1-12]")
	}
	plain.Next(t, waitFor)
}

func TestMQTT5RetainHandling(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub := brokertest.ConnectPaho5(t, n.Addr, "rh-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Retain: true, Payload: []byte("kept")})

	for _, tc := range []struct {
		rh           byte
		first, again bool
	}{{0, true, true}, {1, true, false}, {2, false, false}} {
		t.Run(fmt.Sprint("rh", tc.rh), func(t *testing.T) {
			c := brokertest.ConnectPaho5(t, n.Addr, fmt.Sprint("rh-", tc.rh), nil)
			so := paho.SubscribeOptions{Topic: "rh/#", QoS: 1, RetainHandling: tc.rh}
			for i, want := range []bool{tc.first, tc.again} {
				c.Sub(t, 0, so)
				if want {
					m := c.Next(t, waitFor)
					if string(m.Payload) != "kept" || !m.Retain {
						t.Fatalf("subscribe %d: got %q retain=%v", i, m.Payload, m.Retain)
					}
				} else {
					c.NoMessage(t, 200*time.Millisecond)
				}
			}
		})
	}
}

func TestMQTT5MessageExpiryOffline(t *testing.T) {
	t.Parallel()
	n := brokertest.Start(t, nil)
	s := brokertest.ConnectPaho5(t, n.Addr, "exp", withExpiry(60))
	s.Sub(t, 0, sub("exp/#", 1))
	s.Disconnect(&paho.Disconnect{})
	waitSockets(t, n, 0)
	pub := brokertest.ConnectPaho5(t, n.Addr, "exp-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "exp/short", QoS: 1, Payload: []byte("short"), Properties: &paho.PublishProperties{MessageExpiry: brokertest.U32(1)}})
	pub.Pub(t, &paho.Publish{Topic: "exp/long", QoS: 1, Payload: []byte("long"), Properties: &paho.PublishProperties{MessageExpiry: brokertest.U32(10)}})
	pub.Pub(t, &paho.Publish{Topic: "exp/none", QoS: 1, Payload: []byte("none")})
	dropsBefore := n.Counter("queue_message_expired")
	time.Sleep(2100 * time.Millisecond)

	back := brokertest.ConnectPaho5(t, n.Addr, "exp", resume(60))
	m := back.Next(t, waitFor)
	if string(m.Payload) != "long" {
		t.Fatalf("first delivery %q; the expired message must not be delivered [MQTT-3.3.2-5]", m.Payload)
	}
	if m.Properties == nil || m.Properties.MessageExpiry == nil {
		t.Fatal("message expiry interval not forwarded")
	}
	if e := *m.Properties.MessageExpiry; e > 8 || e < 6 {
		t.Fatalf("forwarded message expiry %d after ~2 s offline; want the remaining 7..8 [MQTT-3.3.2-6]", e)
	}
	m = back.Next(t, waitFor)
	if string(m.Payload) != "none" || (m.Properties != nil && m.Properties.MessageExpiry != nil) {
		t.Fatalf("got %q with expiry %v", m.Payload, m.Properties.MessageExpiry)
	}
	back.NoMessage(t, 100*time.Millisecond)
	if d := n.Counter("queue_message_expired") - dropsBefore; d != 1 {
		t.Fatalf("queue_message_expired grew by %d; want 1", d)
	}
}

func TestMQTT5RetainedMessageExpiry(t *testing.T) {
	t.Parallel()
	n := brokertest.Start(t, nil)
	pub := brokertest.ConnectPaho5(t, n.Addr, "rexp-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "rexp/short", QoS: 1, Retain: true, Payload: []byte("short"), Properties: &paho.PublishProperties{MessageExpiry: brokertest.U32(1)}})
	pub.Pub(t, &paho.Publish{Topic: "rexp/long", QoS: 1, Retain: true, Payload: []byte("long"), Properties: &paho.PublishProperties{MessageExpiry: brokertest.U32(30)}})
	time.Sleep(1500 * time.Millisecond)
	s := brokertest.ConnectPaho5(t, n.Addr, "rexp-sub", nil)
	s.Sub(t, 0, sub("rexp/#", 1))
	m := s.Next(t, waitFor)
	if string(m.Payload) != "long" || !m.Retain {
		t.Fatalf("got %q retain=%v; the expired retained message must not be sent", m.Payload, m.Retain)
	}
	if m.Properties == nil || m.Properties.MessageExpiry == nil || *m.Properties.MessageExpiry > 29 {
		t.Fatalf("retained message expiry %v; want the remaining interval (< 30)", m.Properties.MessageExpiry)
	}
	s.NoMessage(t, 200*time.Millisecond)
}

func TestMQTT5PropertiesPassThrough(t *testing.T) {
	n := brokertest.Start(t, nil)
	s := brokertest.ConnectPaho5(t, n.Addr, "props-sub", nil)
	s.Sub(t, 0, sub("req/#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "props-pub", nil)
	user := paho.UserProperties{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}, {Key: "z", Value: "3"}, {Key: "m", Value: ""}}
	for _, qos := range []byte{0, 1, 2} {
		pub.Pub(t, &paho.Publish{Topic: "req/x", QoS: qos, Payload: []byte("{}"), Properties: &paho.PublishProperties{
			ResponseTopic:   "resp/x",
			CorrelationData: []byte{0, 1, 2, 0xFF},
			PayloadFormat:   brokertest.Byte(1),
			ContentType:     "application/json",
			User:            user,
		}})
		m := s.Next(t, waitFor)
		p := m.Properties
		if p == nil {
			t.Fatalf("QoS %d: no properties delivered", qos)
		}
		if p.ResponseTopic != "resp/x" || !bytes.Equal(p.CorrelationData, []byte{0, 1, 2, 0xFF}) {
			t.Fatalf("QoS %d: response topic %q correlation %x", qos, p.ResponseTopic, p.CorrelationData)
		}
		if p.PayloadFormat == nil || *p.PayloadFormat != 1 || p.ContentType != "application/json" {
			t.Fatalf("QoS %d: payload format %v content type %q", qos, p.PayloadFormat, p.ContentType)
		}
		if !slices.Equal(p.User, user) {
			t.Fatalf("QoS %d: user properties %v; want %v in order [MQTT-3.3.2-17/18]", qos, p.User, user)
		}
	}
	// Request/response round trip: the responder answers on the response topic with the
	// correlation data.
	resp := brokertest.ConnectPaho5(t, n.Addr, "requester", nil)
	resp.Sub(t, 0, sub("resp/+", 1))
	pub.Pub(t, &paho.Publish{Topic: "req/y", QoS: 1, Payload: []byte("ping"), Properties: &paho.PublishProperties{ResponseTopic: "resp/y", CorrelationData: []byte("c-1")}})
	req := s.Next(t, waitFor)
	s.Pub(t, &paho.Publish{Topic: req.Properties.ResponseTopic, QoS: 1, Payload: []byte("pong"), Properties: &paho.PublishProperties{CorrelationData: req.Properties.CorrelationData}})
	ans := resp.Next(t, waitFor)
	if ans.Topic != "resp/y" || string(ans.Properties.CorrelationData) != "c-1" || string(ans.Payload) != "pong" {
		t.Fatalf("response %q on %q correlation %q", ans.Payload, ans.Topic, ans.Properties.CorrelationData)
	}
}

func TestMQTT5ReceiveMaximumToClient(t *testing.T) {
	n := brokertest.Start(t, nil)
	raw, _ := brokertest.Connect(t, n.Addr, packet.V5, "rm", func(c *packet.Connect) {
		c.Properties.ReceiveMaximum = 2
		c.Properties.SetPresent(packet.PropReceiveMaximum)
	})
	raw.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "rm/#", QoS: 1}}})
	brokertest.ReadAs[*packet.Suback](t, raw)
	pub := brokertest.ConnectPaho5(t, n.Addr, "rm-pub", nil)
	for i := range 5 {
		pub.Pub(t, &paho.Publish{Topic: "rm/x", QoS: 1, Payload: []byte{byte('0' + i)}})
	}
	var got []*packet.Publish
	for range 2 {
		got = append(got, brokertest.ReadAs[*packet.Publish](t, raw))
	}
	raw.NoPacket(300 * time.Millisecond) // [MQTT-3.3.4-9] no more than Receive Maximum unacknowledged
	raw.Send(&packet.Puback{PacketID: got[0].PacketID})
	got = append(got, brokertest.ReadAs[*packet.Publish](t, raw))
	raw.NoPacket(200 * time.Millisecond)
	for _, p := range got[1:] {
		raw.Send(&packet.Puback{PacketID: p.PacketID})
	}
	got = append(got, brokertest.ReadAs[*packet.Publish](t, raw), brokertest.ReadAs[*packet.Publish](t, raw))
	for i, p := range got {
		if want := byte('0' + i); len(p.Payload) != 1 || p.Payload[0] != want {
			t.Fatalf("delivery %d: %q, want %q (in order)", i, p.Payload, want)
		}
	}
}

func TestMQTT5MaximumPacketSizeToClient(t *testing.T) {
	n := brokertest.Start(t, nil)
	s := brokertest.ConnectPaho5(t, n.Addr, "mps", func(cp *paho.Connect) {
		cp.Properties = props(func(p *paho.ConnectProperties) { p.MaximumPacketSize = brokertest.U32(200) })
	})
	s.Sub(t, 0, sub("mps/#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "mps-pub", nil)
	before := n.Counter("mqtt_publish_too_large")
	pub.Pub(t, &paho.Publish{Topic: "mps/big", QoS: 1, Payload: bytes.Repeat([]byte("x"), 300)})
	pub.Pub(t, &paho.Publish{Topic: "mps/big0", QoS: 0, Payload: bytes.Repeat([]byte("y"), 300)})
	pub.Pub(t, &paho.Publish{Topic: "mps/small", QoS: 1, Payload: []byte("fits")})
	m := s.Next(t, waitFor)
	if m.Topic != "mps/small" {
		t.Fatalf("got %d bytes on %q; a packet over the client's maximum must not be sent [MQTT-3.1.2-24]", len(m.Payload), m.Topic)
	}
	if d := n.Counter("mqtt_publish_too_large") - before; d != 2 {
		t.Fatalf("mqtt_publish_too_large grew by %d; want 2", d)
	}
	// The dropped QoS 1 message does not hold a slot of the receive window.
	for i := range 30 {
		pub.Pub(t, &paho.Publish{Topic: "mps/more", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		s.Next(t, waitFor)
	}
}

func TestMQTT5PubackNoMatchingSubscribers(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub := brokertest.ConnectPaho5(t, n.Addr, "nomatch", nil)
	if r := pub.Pub(t, &paho.Publish{Topic: "nobody/here", QoS: 1, Payload: []byte("x")}); r.ReasonCode != byte(packet.NoMatchingSubscribers) {
		t.Fatalf("PUBACK 0x%02X; want 0x10", r.ReasonCode)
	}
	// paho.golang reports PUBCOMP's reason for QoS 2, so PUBREC is read raw.
	raw, _ := brokertest.Connect(t, n.Addr, packet.V5, "nomatch-raw", nil)
	raw.Send(&packet.Publish{Topic: "nobody/here", QoS: 2, PacketID: 9, Payload: []byte("x")})
	if rec := brokertest.ReadAs[*packet.Pubrec](t, raw); rec.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("PUBREC 0x%02X; want 0x10", byte(rec.ReasonCode))
	}
	raw.Send(&packet.Pubrel{PacketID: 9})
	brokertest.ReadAs[*packet.Pubcomp](t, raw)
	s := brokertest.ConnectPaho5(t, n.Addr, "somebody", nil)
	s.Sub(t, 0, sub("nobody/#", 0))
	if r := pub.Pub(t, &paho.Publish{Topic: "nobody/here", QoS: 1, Payload: []byte("x")}); r.ReasonCode != 0 {
		t.Fatalf("PUBACK 0x%02X with a subscriber", r.ReasonCode)
	}
}

func TestMQTT5SharedSubscriptions(t *testing.T) {
	n := brokertest.Start(t, nil)
	var members []*brokertest.Paho5
	for i := range 3 {
		m := brokertest.ConnectPaho5(t, n.Addr, fmt.Sprint("share-", i), nil)
		if rc := m.Sub(t, 0, sub("$share/g/sh/#", 1)); rc[0] != 1 {
			t.Fatalf("SUBACK %v", rc)
		}
		members = append(members, m)
	}
	plain := brokertest.ConnectPaho5(t, n.Addr, "share-plain", nil)
	plain.Sub(t, 0, sub("sh/#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "share-pub", nil)
	const total = 30
	for i := range total {
		pub.Pub(t, &paho.Publish{Topic: "sh/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	seen := map[string]int{}
	for range total {
		plain.Next(t, waitFor)
	}
	deadline := time.After(waitFor)
	for got := 0; got < total; {
		select {
		case m := <-members[0].Msgs:
			seen[string(m.Payload)]++
			got++
		case m := <-members[1].Msgs:
			seen[string(m.Payload)]++
			got++
		case m := <-members[2].Msgs:
			seen[string(m.Payload)]++
			got++
		case <-deadline:
			t.Fatalf("group received %d of %d messages", got, total)
		}
	}
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("message %s delivered %d times to the group", k, v)
		}
	}
	for _, m := range members {
		m.NoMessage(t, 50*time.Millisecond)
	}

	// No local on a shared subscription is a protocol error [MQTT-3.8.3-4].
	bad := brokertest.ConnectPaho5(t, n.Addr, "share-nolocal", nil)
	// Subscribe waits for a SUBACK that never comes; the DISCONNECT is what matters.
	go bad.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/g/sh/#", QoS: 1, NoLocal: true}}})
	if d := bad.ServerDisconnect(t, waitFor); d.ReasonCode != byte(packet.ProtocolError) {
		t.Fatalf("DISCONNECT 0x%02X; want 0x82", d.ReasonCode)
	}
}
