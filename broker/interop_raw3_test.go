package broker_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// MQTT 3.1 / 3.1.1 flows that need exact control of the client side (not acknowledging,
// going silent, reconnecting mid-flow), driven with the raw codec client.

var rawVersions = []packet.Version{packet.V311, packet.V31}

// selfPublish publishes at QoS 1 on a topic c subscribes to and returns the delivery; the
// broker may send the delivery and the PUBACK in either order.
func selfPublish(t *testing.T, c *brokertest.Raw, id uint16, topic, payload string) *packet.Publish {
	t.Helper()
	c.Send(&packet.Publish{PacketID: id, QoS: 1, Topic: topic, Payload: []byte(payload)})
	var got *packet.Publish
	acked := false
	for !acked || got == nil {
		switch p := c.Read().(type) {
		case *packet.Puback:
			if p.PacketID != id || acked {
				t.Fatalf("unexpected PUBACK %+v", p)
			}
			acked = true
		case *packet.Publish:
			if got != nil {
				t.Fatalf("second delivery %+v", p)
			}
			got = p
		default:
			t.Fatalf("unexpected %T", p)
		}
	}
	if got.QoS > 0 {
		c.Send(&packet.Puback{PacketID: got.PacketID})
	}
	return got
}

func TestRawMaxInflightMessages(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.MaxInflightMessages = 3 })
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := brokertest.Connect(t, n.Addr, v, "slow", nil)
			sub.Subscribe(1, 1, "inflight")
			pub, _ := brokertest.Connect(t, n.Addr, v, "fast", nil)
			for i := range 10 {
				pub.Publish(uint16(i+1), 1, false, "inflight", []byte{byte('0' + i)})
			}
			var got []*packet.Publish
			for range 3 {
				got = append(got, brokertest.ReadAs[*packet.Publish](t, sub))
			}
			// A client that acknowledges nothing has at most max_inflight_messages unacked.
			sub.NoPacket(300 * time.Millisecond)
			sub.Send(&packet.Puback{PacketID: got[0].PacketID})
			p := brokertest.ReadAs[*packet.Publish](t, sub)
			if string(p.Payload) != "3" {
				t.Fatalf("after one PUBACK got %q, want the 4th message", p.Payload)
			}
			sub.NoPacket(200 * time.Millisecond)
		})
	}
}

func TestRawRetryIntervalResendsWithDup(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.RetryInterval = 500 * time.Millisecond })
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := brokertest.Connect(t, n.Addr, v, "ignorer", nil)
			sub.Subscribe(1, 2, "retry/+")
			pub, _ := brokertest.Connect(t, n.Addr, v, "retry-pub", nil)
			pub.Publish(1, 1, false, "retry/1", []byte("q1"))
			pub.Publish(2, 2, false, "retry/2", []byte("q2"))
			first1 := brokertest.ReadAs[*packet.Publish](t, sub)
			first2 := brokertest.ReadAs[*packet.Publish](t, sub)
			if first1.Dup || first2.Dup {
				t.Fatal("first delivery has DUP set")
			}
			start := time.Now()
			// Ignored: both are sent again with DUP=1 and the same packet ids [MQTT-3.3.1-1].
			again1 := brokertest.ReadAs[*packet.Publish](t, sub)
			again2 := brokertest.ReadAs[*packet.Publish](t, sub)
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("resent after %v with retry_interval 500ms", el)
			}
			for i, pair := range [][2]*packet.Publish{{first1, again1}, {first2, again2}} {
				if !pair[1].Dup || pair[1].PacketID != pair[0].PacketID || !bytes.Equal(pair[1].Payload, pair[0].Payload) || pair[1].QoS != pair[0].QoS {
					t.Fatalf("resend %d: %+v, first %+v", i, pair[1], pair[0])
				}
			}
			// QoS 2: PUBREC received, so the retry is a PUBREL, not the PUBLISH.
			sub.Send(&packet.Puback{PacketID: again1.PacketID})
			sub.Send(&packet.Pubrec{PacketID: again2.PacketID})
			if rel := brokertest.ReadAs[*packet.Pubrel](t, sub); rel.PacketID != again2.PacketID {
				t.Fatalf("PUBREL for %d", rel.PacketID)
			}
			if rel := brokertest.ReadAs[*packet.Pubrel](t, sub); rel.PacketID != again2.PacketID {
				t.Fatalf("retried PUBREL for %d", rel.PacketID)
			}
			sub.Send(&packet.Pubcomp{PacketID: again2.PacketID})
			sub.NoPacket(800 * time.Millisecond) // everything acknowledged: no more retries
		})
	}
}

func TestRawRedeliveryOnReconnect(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			persistent := func(c *packet.Connect) { c.CleanStart = false }
			sub, _ := brokertest.Connect(t, n.Addr, v, "redeliver", persistent)
			sub.Subscribe(1, 2, "rd/#")
			pub, _ := brokertest.Connect(t, n.Addr, v, "rd-pub", nil)
			pub.Publish(1, 1, false, "rd/a", []byte("one"))
			pub.Publish(2, 2, false, "rd/b", []byte("two"))
			pub.Publish(3, 2, false, "rd/c", []byte("three"))
			p1 := brokertest.ReadAs[*packet.Publish](t, sub)
			p2 := brokertest.ReadAs[*packet.Publish](t, sub)
			p3 := brokertest.ReadAs[*packet.Publish](t, sub)
			// Acknowledge only the first half of the QoS 2 flow of "three".
			sub.Send(&packet.Pubrec{PacketID: p3.PacketID})
			brokertest.ReadAs[*packet.Pubrel](t, sub)
			sub.Conn.Close()
			waitSockets(t, n, 1)

			sub, ack := brokertest.Connect(t, n.Addr, v, "redeliver", persistent)
			if want := v == packet.V311; ack.SessionPresent != want {
				t.Fatalf("session present %v", ack.SessionPresent)
			}
			// [MQTT-4.4.0-1] unacknowledged PUBLISH resent with DUP, PUBREL resent, in order.
			r1 := brokertest.ReadAs[*packet.Publish](t, sub)
			r2 := brokertest.ReadAs[*packet.Publish](t, sub)
			rel := brokertest.ReadAs[*packet.Pubrel](t, sub)
			if !r1.Dup || r1.PacketID != p1.PacketID || string(r1.Payload) != "one" || r1.QoS != 1 {
				t.Fatalf("resent 1: %+v", r1)
			}
			if !r2.Dup || r2.PacketID != p2.PacketID || string(r2.Payload) != "two" || r2.QoS != 2 {
				t.Fatalf("resent 2: %+v", r2)
			}
			if rel.PacketID != p3.PacketID {
				t.Fatalf("PUBREL for %d, want %d", rel.PacketID, p3.PacketID)
			}
			sub.Send(&packet.Puback{PacketID: r1.PacketID})
			sub.Send(&packet.Pubrec{PacketID: r2.PacketID})
			brokertest.ReadAs[*packet.Pubrel](t, sub)
			sub.Send(&packet.Pubcomp{PacketID: r2.PacketID})
			sub.Send(&packet.Pubcomp{PacketID: rel.PacketID})
			sub.Ping()
			// A clean reconnect discards the session.
			sub.Send(&packet.Disconnect{})
			sub.ExpectClosed()
			_, ack = brokertest.Connect(t, n.Addr, v, "redeliver", nil)
			if ack.SessionPresent {
				t.Fatal("session present after clean session 1")
			}
		})
	}
}

func TestRawQoS2InboundExactlyOnce(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := brokertest.Connect(t, n.Addr, v, "once-sub", nil)
			sub.Subscribe(1, 0, "once")
			pub, _ := brokertest.Connect(t, n.Addr, v, "once-pub", nil)
			pub.Send(&packet.Publish{PacketID: 7, QoS: 2, Topic: "once", Payload: []byte("x")})
			brokertest.ReadAs[*packet.Pubrec](t, pub)
			// The sender did not see PUBREC and resends with DUP: not routed twice [MQTT-4.3.3-2].
			pub.Send(&packet.Publish{PacketID: 7, QoS: 2, Dup: true, Topic: "once", Payload: []byte("x")})
			brokertest.ReadAs[*packet.Pubrec](t, pub)
			pub.Send(&packet.Pubrel{PacketID: 7})
			brokertest.ReadAs[*packet.Pubcomp](t, pub)
			brokertest.ReadAs[*packet.Publish](t, sub)
			sub.NoPacket(200 * time.Millisecond)
		})
	}
}

func TestRawKeepAliveTimeoutPublishesWill(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			watch, _ := brokertest.Connect(t, n.Addr, v, "ka-watch"+v.String(), nil)
			watch.Subscribe(1, 1, "ka/will/"+v.String())
			silent, _ := brokertest.Connect(t, n.Addr, v, "ka-silent"+v.String(), func(c *packet.Connect) {
				c.KeepAlive = 1
				c.Will = &packet.Will{Topic: "ka/will/" + v.String(), Payload: []byte("timed out"), QoS: 1}
			})
			start := time.Now()
			silent.ExpectClosedWithin(4 * time.Second)
			// [MQTT-3.1.2-24] disconnected after one and a half times the keep alive.
			if el := time.Since(start); el < time.Second || el > 3*time.Second {
				t.Fatalf("closed after %v with keep alive 1 s; want about 1.5 s", el)
			}
			p := brokertest.ReadAs[*packet.Publish](t, watch)
			if string(p.Payload) != "timed out" {
				t.Fatalf("will %q", p.Payload)
			}
			// A client that pings in time is kept.
			alive, _ := brokertest.Connect(t, n.Addr, v, "ka-alive"+v.String(), func(c *packet.Connect) { c.KeepAlive = 1 })
			for range 3 {
				time.Sleep(700 * time.Millisecond) // the client's own pacing, below the keep alive
				alive.Ping()
			}
		})
	}
}

func TestRawConnectTimeout(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Listeners[0].ConnectTimeout = 300 * time.Millisecond })
	c := brokertest.Dial(t, n.Addr, packet.V311)
	start := time.Now()
	c.ExpectClosedWithin(3 * time.Second)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the connect timeout", el)
	}
	// Half a CONNECT is no better than none.
	c = brokertest.Dial(t, n.Addr, packet.V311)
	c.SendBytes([]byte{0x10, 0x20, 0x00, 0x04, 'M'})
	c.ExpectClosedWithin(3 * time.Second)
}

func TestRawListenerMaxConnections(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Listeners[0].MaxConnections = 2 })
	a, _ := brokertest.Connect(t, n.Addr, packet.V311, "a", nil)
	brokertest.Connect(t, n.Addr, packet.V311, "b", nil)
	third := brokertest.Dial(t, n.Addr, packet.V311)
	if got := third.ExpectClosedWithin(3 * time.Second); len(got) != 0 {
		t.Fatalf("refused connection got %v", got)
	}
	a.Ping()
	// A slot frees when a client leaves.
	a.Send(&packet.Disconnect{})
	a.ExpectClosed()
	waitSockets(t, n, 1)
	c, _ := brokertest.Connect(t, n.Addr, packet.V311, "c", nil)
	c.Ping()
}

func TestRawClientIDRules(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.MaxClientIDSize = 23 })
	// [MQTT-3.1.3-6] [MQTT-3.1.3-7] empty id with clean session 1: an id is assigned.
	c, ack := brokertest.Connect(t, n.Addr, packet.V311, "", nil)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("empty id, clean: %v", ack.ReasonCode)
	}
	c.Subscribe(1, 1, "anon")
	if p := selfPublish(t, c, 1, "anon", "self"); string(p.Payload) != "self" {
		t.Fatalf("got %q", p.Payload)
	}
	// Two anonymous clients get different ids: the second does not take the first over.
	d, _ := brokertest.Connect(t, n.Addr, packet.V311, "", nil)
	d.Ping()
	c.Ping()

	refused := func(v packet.Version, id string, clean bool, want packet.ReasonCode) {
		t.Helper()
		r, ack := brokertest.Connect(t, n.Addr, v, id, func(cp *packet.Connect) { cp.CleanStart = clean })
		if ack.ReasonCode != want || ack.SessionPresent {
			t.Fatalf("%v id %q clean %v: %v present=%v, want %v", v, id, clean, ack.ReasonCode, ack.SessionPresent, want)
		}
		r.ExpectClosed() // [MQTT-3.2.2-5]
	}
	// [MQTT-3.1.3-8] empty id with clean session 0: 0x02.
	refused(packet.V311, "", false, packet.ClientIdentifierNotValid)
	// Longer than max_client_id_size: 0x02.
	refused(packet.V311, strings.Repeat("x", 24), true, packet.ClientIdentifierNotValid)
	refused(packet.V31, strings.Repeat("x", 24), true, packet.ClientIdentifierNotValid)
	// MQTT 3.1 requires 1 to 23 characters.
	refused(packet.V31, "", true, packet.ClientIdentifierNotValid)
	brokertest.Connect(t, n.Addr, packet.V311, strings.Repeat("x", 23), nil)
}

// connectBytes is an encoded 3.1.1 CONNECT with the protocol level byte replaced.
func connectBytes(t *testing.T, level byte) []byte {
	t.Helper()
	b, err := packet.Encode(nil, packet.V311, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, ClientID: "lvl"})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("MQTT")) + 4
	b[i] = level
	return b
}

func TestRawUnsupportedProtocolLevel(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, level := range []byte{1, 2, 6, 0x83 + 3} {
		c := brokertest.Dial(t, n.Addr, packet.V311)
		c.SendBytes(connectBytes(t, level))
		// [MQTT-3.1.2-2] CONNACK 0x01, then the connection is closed.
		got := c.ExpectClosed()
		if len(got) != 1 {
			t.Fatalf("level %d: got %v", level, got)
		}
		if ack, ok := got[0].(*packet.Connack); !ok || ack.ReasonCode != packet.UnsupportedProtocolVersion {
			t.Fatalf("level %d: got %+v", level, got[0])
		}
	}
}

func TestRawAllowedProtocolVersions(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Listeners[0].AllowedProtocolVersions = config.ProtocolVersions{4} })
	ok, _ := brokertest.Connect(t, n.Addr, packet.V311, "ok", nil)
	ok.Ping()
	for _, v := range []packet.Version{packet.V31, packet.V5} {
		c, ack := brokertest.Connect(t, n.Addr, v, "no-"+v.String(), nil)
		if ack.ReasonCode != packet.UnsupportedProtocolVersion {
			t.Fatalf("%v on a 3.1.1-only listener: %v", v, ack.ReasonCode)
		}
		c.ExpectClosed()
	}
}

func TestRawAnonymousRefusedWithoutAuthPlugin(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false })
	for _, v := range rawVersions {
		c, ack := brokertest.Connect(t, n.Addr, v, "anon", nil)
		// 3.1.1 return code 0x05 Not authorized.
		if ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("%v: %v", v, ack.ReasonCode)
		}
		c.ExpectClosed()
	}
	// The encoded byte is 0x05 for 3.1.1.
	nc, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, _ := packet.Encode(nil, packet.V311, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, ClientID: "anon"})
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := nc.Read(buf); err != nil || !bytes.Equal(buf, []byte{0x20, 0x02, 0x00, 0x05}) {
		t.Fatalf("CONNACK bytes % x (%v), want 20 02 00 05", buf, err)
	}
}

func TestRawUnsubscribe(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			c, _ := brokertest.Connect(t, n.Addr, v, "unsub", nil)
			c.Subscribe(1, 1, "u/a", "u/b")
			c.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"u/a", "never/subscribed"}})
			if ack := brokertest.ReadAs[*packet.Unsuback](t, c); ack.PacketID != 2 {
				t.Fatalf("UNSUBACK for %d", ack.PacketID)
			}
			pub, _ := brokertest.Connect(t, n.Addr, v, "unsub-pub", nil)
			pub.Publish(1, 1, false, "u/a", []byte("gone"))
			pub.Publish(2, 1, false, "u/b", []byte("kept"))
			if p := brokertest.ReadAs[*packet.Publish](t, c); string(p.Payload) != "kept" {
				t.Fatalf("after UNSUBSCRIBE u/a got %q on %s", p.Payload, p.Topic)
			}
		})
	}
}

func TestRawTakeoverKeepsInflight(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range rawVersions {
		t.Run(v.String(), func(t *testing.T) {
			persistent := func(c *packet.Connect) { c.CleanStart = false }
			old, _ := brokertest.Connect(t, n.Addr, v, "tk"+v.String(), persistent)
			old.Subscribe(1, 1, "tk")
			pub, _ := brokertest.Connect(t, n.Addr, v, "tk-pub", nil)
			pub.Publish(1, 1, false, "tk", []byte("unacked"))
			first := brokertest.ReadAs[*packet.Publish](t, old)
			// The takeover closes the old connection [MQTT-3.1.4-2]; the unacknowledged message
			// goes to the new one with DUP set.
			cur, ack := brokertest.Connect(t, n.Addr, v, "tk"+v.String(), persistent)
			if want := v == packet.V311; ack.SessionPresent != want {
				t.Fatalf("session present %v", ack.SessionPresent)
			}
			old.ExpectClosed()
			p := brokertest.ReadAs[*packet.Publish](t, cur)
			if !p.Dup || p.PacketID != first.PacketID || string(p.Payload) != "unacked" {
				t.Fatalf("after takeover: %+v", p)
			}
			cur.Send(&packet.Puback{PacketID: p.PacketID})
			pub.Publish(2, 1, false, "tk", []byte("next"))
			if p := brokertest.ReadAs[*packet.Publish](t, cur); string(p.Payload) != "next" || p.Dup {
				t.Fatalf("next: %+v", p)
			}
		})
	}
}
