package broker_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Tests for server-side normative statements of MQTT 5.0 (and 3.1.1 where it differs) that
// docs/conformance.md lists and no other test drove. Each drives the real broker with the raw
// client of brokertest; the statement is named in the test's comment.

// persistent edits a CONNECT to resume (or create) a session that outlives the connection.
func persistent(cp *packet.Connect) {
	cp.CleanStart = false
	if cp.ProtocolVersion == packet.V5 {
		cp.Properties.SessionExpiry = 60
		cp.Properties.SetPresent(packet.PropSessionExpiry)
	}
}

// readWithin returns the next packet within d, or nil when none came (the connection stays
// open); it fails the test when the connection ends.
func readWithin(t *testing.T, c *brokertest.Raw, d time.Duration) packet.Packet {
	t.Helper()
	p, err := c.ReadErr(d)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		t.Fatalf("connection ended: %v", err)
	}
	return p
}

// TestConformanceConnectActions: an accepted CONNECT gets CONNACK 0x00 first and only once
// [MQTT-3.1.4-5] [MQTT-3.2.0-1] [MQTT-3.2.0-2]; a 23-character alphanumeric client id is
// allowed [MQTT-3.1.3-5]; without an Authentication Method the CONNACK carries none
// [MQTT-4.12.0-6]; without Request Response Information there is no Response Information
// [MQTT-3.1.2-28]; clean start gives Session Present 0 [MQTT-3.2.2-2].
func TestConformanceConnectActions(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c, ack := brokertest.Connect(t, n.Addr, v, "abcdefghijklmnopqrstuvW", nil)
		if ack.ReasonCode != packet.Success || ack.SessionPresent {
			t.Fatalf("%v: CONNACK %+v; want 0x00, session present 0", v, ack)
		}
		if ack.Properties.Has(packet.PropAuthMethod) || ack.Properties.Has(packet.PropAuthData) {
			t.Fatalf("%v: CONNACK carries authentication properties without a method in CONNECT", v)
		}
		if ack.Properties.Has(packet.PropResponseInfo) {
			t.Fatalf("%v: CONNACK carries Response Information that was not requested", v)
		}
		// The next packet after CONNACK answers the PINGREQ: no second CONNACK.
		c.Ping()
	}
}

// TestConformanceRefusedConnectProcessesNothing: after a refused CONNECT nothing the client
// sent behind it is processed [MQTT-3.1.4-6]; the refusal is a CONNACK 0x85 (5.0) or 0x02
// (3.1.1) and a close [MQTT-3.1.3-8] [MQTT-3.2.2-6] [MQTT-3.2.2-7].
func TestConformanceRefusedConnectProcessesNothing(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.MaxClientIDSize = 30 })
	w, _ := brokertest.Connect(t, n.Addr, packet.V311, "refused-witness", nil)
	w.Subscribe(1, 0, "conf/refused")
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := brokertest.Dial(t, n.Addr, v)
		cp, err := packet.Encode(nil, v, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, CleanStart: true, KeepAlive: 60, ClientID: strings.Repeat("x", 40)})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := packet.Encode(nil, v, &packet.Publish{Topic: "conf/refused", Payload: []byte("must not be routed")})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := packet.Encode(nil, v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}}})
		if err != nil {
			t.Fatal(err)
		}
		c.SendBytes(append(append(cp, pub...), sub...)) // one write: the broker has it all at once
		got := c.ExpectClosed()
		if len(got) != 1 {
			t.Fatalf("%v: got %v; want one CONNACK then the close", v, got)
		}
		ack, ok := got[0].(*packet.Connack)
		if !ok || ack.ReasonCode != packet.ClientIdentifierNotValid || ack.SessionPresent {
			t.Fatalf("%v: got %+v; want CONNACK Client Identifier not valid, session present 0", v, got[0])
		}
	}
	w.NoPacket(300 * time.Millisecond)
}

// TestConformanceConnectFlags: CONNECT packets whose flags and payload disagree are refused
// with a close (3.1.1: no CONNACK [MQTT-3.1.4-1] 3.1.1; 5.0: at most CONNACK 0x81
// [MQTT-3.1.4-1]): Will QoS or Will Retain without the Will Flag [MQTT-3.1.2-11]
// [MQTT-3.1.2-13], a user name or password flagged but absent [MQTT-3.1.2-17]
// [MQTT-3.1.2-19], and a protocol name other than "MQTT" [MQTT-3.1.2-1].
func TestConformanceConnectFlags(t *testing.T) {
	n := brokertest.Start(t, nil)
	cases := []struct {
		name  string
		pname string
		flags byte
	}{
		{"will QoS without will flag", "MQTT", 0x02 | 0x08},
		{"will retain without will flag", "MQTT", 0x02 | 0x20},
		{"user name flag without user name", "MQTT", 0x02 | 0x80},
		{"password flag without password", "MQTT", 0x02 | 0xC0},
		{"protocol name not MQTT", "MQTX", 0x02},
	}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, tc := range cases {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				vh := []byte{byte(v), tc.flags, 0, 60}
				if v == packet.V5 {
					vh = append(vh, 0) // no properties
				}
				payload := mqttStr("flags")
				if tc.flags == 0x02|0xC0 {
					payload = append(payload, mqttStr("user")...) // the password is missing
				}
				c := brokertest.Dial(t, n.Addr, v)
				c.SendBytes(frame(0x10, mqttStr(tc.pname), vh, payload))
				got := c.ExpectClosed()
				for _, p := range got {
					ack, ok := p.(*packet.Connack)
					if !ok || !ack.ReasonCode.Failure() && ack.ReasonCode != 0x01 {
						t.Fatalf("got %+v before the close; want nothing or a refusing CONNACK", p)
					}
					if v != packet.V5 && tc.pname == "MQTT" {
						t.Fatalf("3.1.1 malformed CONNECT answered with %+v; 3.1.1 closes without CONNACK", p)
					}
				}
			})
		}
	}
}

// TestConformanceReservedFlagsDisconnectAuth: DISCONNECT and AUTH with reserved fixed header
// bits set are malformed: DISCONNECT 0x81 and a close [MQTT-3.14.1-1] [MQTT-3.15.1-1].
func TestConformanceReservedFlagsDisconnectAuth(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, b := range [][]byte{{0xe1, 0x00}, {0xf2, 0x00}} {
		c, _ := brokertest.Connect(t, n.Addr, packet.V5, "flags", nil)
		c.SendBytes(b)
		if rc := c.ExpectDisconnect(); rc != packet.MalformedPacket {
			t.Fatalf("% x: DISCONNECT %v; want Malformed Packet", b, rc)
		}
	}
}

// TestConformanceServerDisconnect: the DISCONNECT a taken-over connection gets is 0x8E
// [MQTT-3.1.4-3] and carries no Session Expiry Interval [MQTT-3.14.2-2].
func TestConformanceServerDisconnect(t *testing.T) {
	n := brokertest.Start(t, nil)
	old, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-takeover", persistent)
	brokertest.Connect(t, n.Addr, packet.V5, "conf-takeover", persistent)
	got := old.ExpectClosed()
	if len(got) != 1 {
		t.Fatalf("got %v; want one DISCONNECT", got)
	}
	d, ok := got[0].(*packet.Disconnect)
	if !ok || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("got %+v; want DISCONNECT Session taken over", got[0])
	}
	if d.Properties.Has(packet.PropSessionExpiry) {
		t.Fatal("server DISCONNECT carries a Session Expiry Interval")
	}
}

// TestConformanceQoS2ReceiverIgnoresExpiry: once it sent PUBREC the broker completes the
// flow even though the message has expired meanwhile [MQTT-4.3.3-13] [MQTT-4.3.3-11].
func TestConformanceQoS2ReceiverIgnoresExpiry(t *testing.T) {
	n := brokertest.Start(t, nil)
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-expiring-pub", nil)
	p := &packet.Publish{Topic: "conf/expiring", QoS: 2, PacketID: 7, Payload: []byte("x")}
	p.Properties.MessageExpiry = 1
	p.Properties.SetPresent(packet.PropMessageExpiry)
	c.Send(p)
	if rec := brokertest.ReadAs[*packet.Pubrec](t, c); rec.PacketID != 7 {
		t.Fatalf("PUBREC %+v", rec)
	}
	time.Sleep(1500 * time.Millisecond)
	c.Send(&packet.Pubrel{PacketID: 7})
	if comp := brokertest.ReadAs[*packet.Pubcomp](t, c); comp.PacketID != 7 || comp.ReasonCode != packet.Success {
		t.Fatalf("PUBCOMP %+v; want id 7, success", comp)
	}
}

// publishExpiring publishes payload at QoS 2 with a Message Expiry Interval of 1 s and
// completes the exchange as the sender.
func publishExpiring(t *testing.T, pub *brokertest.Raw, topic, payload string) {
	t.Helper()
	p := &packet.Publish{Topic: topic, QoS: 2, PacketID: 1, Payload: []byte(payload)}
	p.Properties.MessageExpiry = 1
	p.Properties.SetPresent(packet.PropMessageExpiry)
	pub.Send(p)
	brokertest.ReadAs[*packet.Pubrec](t, pub)
	pub.Send(&packet.Pubrel{PacketID: 1})
	brokertest.ReadAs[*packet.Pubcomp](t, pub)
}

// TestConformanceQoS2SenderIgnoresExpiry: a QoS 2 PUBLISH the broker has sent is not expired
// afterwards: on reconnect it is sent again, with DUP and its packet identifier, although its
// Message Expiry Interval has passed [MQTT-4.3.3-7] [MQTT-4.4.0-1] [MQTT-3.3.1-1]. After
// PUBREC the broker resends PUBREL, not the PUBLISH [MQTT-4.3.3-4] [MQTT-4.3.3-6].
func TestConformanceQoS2SenderIgnoresExpiry(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-expiring-sub", persistent)
	sub.Subscribe(1, 2, "conf/expiring")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-expiring-pub", nil)
	publishExpiring(t, pub, "conf/expiring", "late")

	first := brokertest.ReadAs[*packet.Publish](t, sub)
	if first.Dup || first.QoS != 2 {
		t.Fatalf("first delivery %+v; want QoS 2, DUP 0", first)
	}
	sub.Conn.Close()
	time.Sleep(1500 * time.Millisecond) // the message expires
	sub, ack := brokertest.Connect(t, n.Addr, packet.V5, "conf-expiring-sub", persistent)
	if !ack.SessionPresent {
		t.Fatal("session not present on reconnect")
	}
	again := brokertest.ReadAs[*packet.Publish](t, sub)
	if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "late" {
		t.Fatalf("resent %+v; want the same message with DUP and packet id %d", again, first.PacketID)
	}
	sub.Send(&packet.Pubrec{PacketID: again.PacketID})
	if rel := brokertest.ReadAs[*packet.Pubrel](t, sub); rel.PacketID != again.PacketID {
		t.Fatalf("PUBREL %+v", rel)
	}
	sub.Conn.Close()
	sub, _ = brokertest.Connect(t, n.Addr, packet.V5, "conf-expiring-sub", persistent)
	if rel := brokertest.ReadAs[*packet.Pubrel](t, sub); rel.PacketID != again.PacketID {
		t.Fatalf("after PUBREC the broker resent %+v; want PUBREL %d", rel, again.PacketID)
	}
	sub.Send(&packet.Pubcomp{PacketID: again.PacketID})
	sub.NoPacket(300 * time.Millisecond)
}

// TestConformanceNegativeAckEndsFlow: a PUBACK or PUBREC with a reason code of 0x80 or more
// acknowledges the message: no PUBREL follows the PUBREC, and nothing is resent on reconnect
// [MQTT-4.4.0-2] [MQTT-4.3.3-4].
func TestConformanceNegativeAckEndsFlow(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-nack-sub", persistent)
	sub.Subscribe(1, 2, "conf/nack/+")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-nack-pub", nil)
	pub.Publish(1, 1, false, "conf/nack/1", []byte("one"))
	pub.Publish(2, 2, false, "conf/nack/2", []byte("two"))
	for i := 0; i < 2; i++ {
		m := brokertest.ReadAs[*packet.Publish](t, sub)
		if m.QoS == 1 {
			sub.Send(&packet.Puback{PacketID: m.PacketID, ReasonCode: packet.UnspecifiedError})
		} else {
			sub.Send(&packet.Pubrec{PacketID: m.PacketID, ReasonCode: packet.UnspecifiedError})
		}
	}
	sub.NoPacket(300 * time.Millisecond) // no PUBREL after the failing PUBREC
	sub.Conn.Close()
	sub, _ = brokertest.Connect(t, n.Addr, packet.V5, "conf-nack-sub", persistent)
	sub.NoPacket(500 * time.Millisecond) // and nothing resent
}

// TestConformanceResubscribe: a SUBSCRIBE repeating a filter replaces the subscription
// [MQTT-3.8.4-3], sends the retained messages again under Retain Handling 0, and loses no
// message [MQTT-3.8.4-4].
func TestConformanceResubscribe(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-resub-pub", nil)
	pub.Publish(1, 1, true, "conf/resub", []byte("retained"))
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-resub-sub", nil)
	sub.Subscribe(1, 1, "conf/resub")
	if m := brokertest.ReadAs[*packet.Publish](t, sub); string(m.Payload) != "retained" || !m.Retain {
		t.Fatalf("got %+v; want the retained message", m)
	}
	// A message published just before the subscription is replaced, and one just after.
	pub.Publish(2, 1, false, "conf/resub", []byte("before"))
	sub.Send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "conf/resub", QoS: 1}}})
	pub.Publish(3, 1, false, "conf/resub", []byte("after"))
	got := map[string]int{}
	acked := false
	for i := 0; i < 4; i++ {
		switch m := sub.Read().(type) {
		case *packet.Suback:
			if m.PacketID != 2 || len(m.ReasonCodes) != 1 || m.ReasonCodes[0] != packet.GrantedQoS1 {
				t.Fatalf("SUBACK %+v", m)
			}
			acked = true
		case *packet.Publish:
			got[string(m.Payload)]++
			if string(m.Payload) == "retained" && !m.Retain {
				t.Fatal("retained message re-sent without RETAIN")
			}
			sub.Send(&packet.Puback{PacketID: m.PacketID})
		default:
			t.Fatalf("got %T", m)
		}
	}
	if !acked || got["retained"] != 1 || got["before"] != 1 || got["after"] != 1 {
		t.Fatalf("after the second SUBSCRIBE got %v; want retained, before and after once each", got)
	}
	sub.NoPacket(300 * time.Millisecond)
}

// TestConformanceUnsubscribeCompletesDelivery: after UNSUBSCRIBE the broker finishes a QoS 2
// delivery it had started [MQTT-3.10.4-3] and queues no new matches [MQTT-3.10.4-2].
func TestConformanceUnsubscribeCompletesDelivery(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-unsub-sub", nil)
	sub.Subscribe(1, 2, "conf/unsub")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-unsub-pub", nil)
	pub.Publish(1, 2, false, "conf/unsub", []byte("started"))
	m := brokertest.ReadAs[*packet.Publish](t, sub)
	sub.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"conf/unsub"}})
	if ack := brokertest.ReadAs[*packet.Unsuback](t, sub); ack.PacketID != 2 {
		t.Fatalf("UNSUBACK %+v", ack)
	}
	sub.Send(&packet.Pubrec{PacketID: m.PacketID})
	if rel := brokertest.ReadAs[*packet.Pubrel](t, sub); rel.PacketID != m.PacketID || rel.ReasonCode != packet.Success {
		t.Fatalf("PUBREL %+v; want id %d, success", rel, m.PacketID)
	}
	sub.Send(&packet.Pubcomp{PacketID: m.PacketID})
	pub.Publish(2, 2, false, "conf/unsub", []byte("after"))
	sub.NoPacket(300 * time.Millisecond)
}

// TestConformanceGrantedQoS: the delivered QoS is the lower of the published and the granted
// one [MQTT-3.8.4-8], for a shared subscription's member too [MQTT-4.8.2-3].
func TestConformanceGrantedQoS(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-qos-sub", nil)
	sub.Subscribe(1, 1, "conf/qos")
	sub.Subscribe(2, 0, "$share/g/conf/qos0")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-qos-pub", nil)
	for _, tc := range []struct {
		topic    string
		pub, got byte
	}{{"conf/qos", 2, 1}, {"conf/qos", 0, 0}, {"conf/qos0", 1, 0}} {
		pub.Publish(uint16(tc.pub)+1, tc.pub, false, tc.topic, []byte("x"))
		m := brokertest.ReadAs[*packet.Publish](t, sub)
		if m.QoS != tc.got {
			t.Fatalf("published at QoS %d on %s: delivered at %d, want %d", tc.pub, tc.topic, m.QoS, tc.got)
		}
		if m.QoS == 1 {
			sub.Send(&packet.Puback{PacketID: m.PacketID})
		}
	}
}

// sharedPair connects two members of one shared subscription at QoS 2.
func sharedPair(t *testing.T, n *brokertest.Node, group string, edit func(*packet.Connect)) [2]*brokertest.Raw {
	var ms [2]*brokertest.Raw
	for i := range ms {
		ms[i], _ = brokertest.Connect(t, n.Addr, packet.V5, group+"-member-"+string(rune('a'+i)), edit)
		ms[i].Subscribe(1, 2, "$share/"+group+"/conf/shared")
	}
	return ms
}

// receiver finds which member got the one message: it returns that member's index and the
// PUBLISH.
func receiver(t *testing.T, ms [2]*brokertest.Raw) (int, *packet.Publish) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range ms {
			if p := readWithin(t, m, 100*time.Millisecond); p != nil {
				pub, ok := p.(*packet.Publish)
				if !ok {
					t.Fatalf("member %d got %T", i, p)
				}
				return i, pub
			}
		}
	}
	t.Fatal("no member received the message")
	return 0, nil
}

// TestConformanceSharedQoS2 checks the QoS 2 rules of shared subscriptions: a delivery
// interrupted by a broken connection is completed with the same member when it reconnects
// [MQTT-4.8.2-4], and never given to another member, neither while the member is away nor
// when its session ends [MQTT-4.8.2-5].
func TestConformanceSharedQoS2(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-shared-pub", nil)

	t.Run("reconnect", func(t *testing.T) {
		ms := sharedPair(t, n, "keep", persistent)
		pub.Publish(1, 2, false, "conf/shared", []byte("kept"))
		i, first := receiver(t, ms)
		ms[i].Conn.Close()
		ms[1-i].NoPacket(500 * time.Millisecond)
		back, ack := brokertest.Connect(t, n.Addr, packet.V5, "keep-member-"+string(rune('a'+i)), persistent)
		if !ack.SessionPresent {
			t.Fatal("member's session not present")
		}
		again := brokertest.ReadAs[*packet.Publish](t, back)
		if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "kept" {
			t.Fatalf("resent %+v; want DUP and packet id %d", again, first.PacketID)
		}
		back.Send(&packet.Pubrec{PacketID: again.PacketID})
		brokertest.ReadAs[*packet.Pubrel](t, back)
		back.Send(&packet.Pubcomp{PacketID: again.PacketID})
	})

	t.Run("session ends", func(t *testing.T) {
		ms := sharedPair(t, n, "end", nil) // clean start, session expiry 0
		pub.Publish(2, 2, false, "conf/shared", []byte("lost"))
		i, _ := receiver(t, ms)
		ms[i].Conn.Close()
		ms[1-i].NoPacket(500 * time.Millisecond)
	})
}

// TestConformanceSharedNegativeAck: a member's PUBACK or PUBREC of 0x80 or more discards the
// message; no other member gets it [MQTT-4.8.2-6].
func TestConformanceSharedNegativeAck(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-snack-pub", nil)
	ms := sharedPair(t, n, "nack", nil)
	for qos := byte(1); qos <= 2; qos++ {
		pub.Publish(uint16(qos), qos, false, "conf/shared", []byte("refused"))
		i, m := receiver(t, ms)
		if qos == 1 {
			ms[i].Send(&packet.Puback{PacketID: m.PacketID, ReasonCode: packet.UnspecifiedError})
		} else {
			ms[i].Send(&packet.Pubrec{PacketID: m.PacketID, ReasonCode: packet.UnspecifiedError})
		}
		ms[1-i].NoPacket(300 * time.Millisecond)
		ms[i].NoPacket(300 * time.Millisecond)
	}
}

// TestConformanceReauthFailure: a failed re-authentication closes the connection, after a
// DISCONNECT with the reason [MQTT-4.12.1-2]; the AUTH packets and the CONNACK of the
// exchange carry the CONNECT's method [MQTT-4.12.0-5], the server's AUTH has 0x18
// [MQTT-4.12.0-2].
func TestConformanceReauthFailure(t *testing.T) {
	n := brokertest.Start(t, nil, challengeAuth{})
	c := connectChallenged(t, n.Addr, "conf-reauth")
	c.Send(challengeAuthPacket(packet.ReAuthenticate, "wrong"))
	if rc := c.ExpectDisconnect(); !rc.Failure() {
		t.Fatalf("DISCONNECT %v after a failed re-authentication; want a failure code", rc)
	}
}

// TestConformanceReasonStringFitsMaximumPacketSize: the Reason String of a PUBACK or PUBREC is
// left out when it would make the packet larger than the client's Maximum Packet Size; the
// acknowledgement still goes out [MQTT-3.4.2-2] [MQTT-3.5.2-2].
func TestConformanceReasonStringFitsMaximumPacketSize(t *testing.T) {
	n, _ := startHooks(t, nil)
	for _, max := range []uint32{0, 16} {
		c, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-small", func(cp *packet.Connect) {
			if max > 0 {
				cp.Properties.MaximumPacketSize = max
				cp.Properties.SetPresent(packet.PropMaximumPacketSize)
			}
		})
		c.Send(&packet.Publish{Topic: "deny/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
		a := brokertest.ReadAs[*packet.Puback](t, c)
		c.Send(&packet.Publish{Topic: "deny/x", QoS: 2, PacketID: 2, Payload: []byte("x")})
		r := brokertest.ReadAs[*packet.Pubrec](t, c)
		if a.ReasonCode != packet.NotAuthorized || r.ReasonCode != packet.NotAuthorized {
			t.Fatalf("PUBACK %v, PUBREC %v; want Not authorized", a.ReasonCode, r.ReasonCode)
		}
		for _, pr := range []*packet.Properties{&a.Properties, &r.Properties} {
			if got := pr.Has(packet.PropReasonString); got != (max == 0) {
				t.Fatalf("maximum packet size %d: reason string present %v", max, got)
			}
		}
	}
}

// TestConformanceConnackDisconnectFitMaximumPacketSize: a refusing CONNACK and a
// server-sent DISCONNECT leave out their Reason String when it would exceed the client's
// Maximum Packet Size, and are still sent [MQTT-3.2.2-19] [MQTT-3.14.2-3].
func TestConformanceConnackDisconnectFitMaximumPacketSize(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false })
	m := brokertest.Start(t, nil)
	for _, max := range []uint32{0, 16} {
		limit := func(cp *packet.Connect) {
			if max > 0 {
				cp.Properties.MaximumPacketSize = max
				cp.Properties.SetPresent(packet.PropMaximumPacketSize)
			}
		}
		_, ack := brokertest.Connect(t, n.Addr, packet.V5, "conf-small-connack", limit)
		if ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("CONNACK %v; want Not authorized", ack.ReasonCode)
		}
		if got := ack.Properties.Has(packet.PropReasonString); got != (max == 0) {
			t.Fatalf("maximum packet size %d: CONNACK reason string present %v", max, got)
		}

		// A second CONNECT is refused by the reader; a CONNACK from a client by the handler.
		for _, bad := range []packet.Packet{
			&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, ClientID: "again"},
			&packet.Connack{},
		} {
			c, _ := brokertest.Connect(t, m.Addr, packet.V5, "conf-small-disconnect", limit)
			c.Send(bad)
			got := c.ExpectClosed()
			if len(got) != 1 {
				t.Fatalf("maximum packet size %d, %T: got %v before the close; want one DISCONNECT", max, bad, got)
			}
			d, ok := got[0].(*packet.Disconnect)
			if !ok || !d.ReasonCode.Failure() {
				t.Fatalf("maximum packet size %d, %T: got %v; want a failing DISCONNECT", max, bad, got[0])
			}
			if has := d.Properties.Has(packet.PropReasonString); has != (max == 0) {
				t.Fatalf("maximum packet size %d, %T: DISCONNECT reason string present %v (%q)", max, bad, has, d.Properties.ReasonString)
			}
		}
	}
}
