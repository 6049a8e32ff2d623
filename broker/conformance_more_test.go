package broker_test

import (
	"bufio"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// More tests for server-side normative statements that docs/conformance.md listed as
// "honoured (code, untested)". Like conformance_test.go, each drives the real broker over a
// socket and names the statements it drives in its comment.

// badUTF8 is a string field (two-byte length, then the bytes) holding ill-formed UTF-8: the
// lead byte 0xC3 followed by 0x28, which is no continuation byte.
var badUTF8 = []byte{0x00, 0x02, 0xc3, 0x28}

// expectConnectRefused asserts the answer to a malformed CONNECT: MQTT 5 gets one CONNACK
// Malformed Packet, 3.1.1 gets nothing, and the connection is closed.
func expectConnectRefused(t *testing.T, c *brokertest.Raw, v packet.Version) {
	t.Helper()
	got := c.ExpectClosed()
	if v != packet.V5 {
		if len(got) != 0 {
			t.Fatalf("3.1.1: got %v before the close; want a plain close", got)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("got %v; want one CONNACK then the close", got)
	}
	if ack, ok := got[0].(*packet.Connack); !ok || ack.ReasonCode != packet.MalformedPacket || ack.SessionPresent {
		t.Fatalf("got %+v; want CONNACK Malformed Packet, session present 0", got[0])
	}
}

// TestConformanceConnectPayload: the CONNECT payload is read in the order Client Identifier,
// Will Properties, Will Topic, Will Payload, User Name, Password [MQTT-3.1.3-1]: a CONNECT
// with all of them is accepted or refused on its password and publishes its will with the
// topic and payload given. A CONNECT without a Client Identifier, or with one that is not
// UTF-8, is malformed [MQTT-3.1.3-3] [MQTT-3.1.3-4]; with the Will Flag the will fields must
// all be there [MQTT-3.1.2-9]; Will Topic and User Name must be UTF-8 [MQTT-3.1.3-11]
// [MQTT-3.1.3-12]. A malformed CONNECT is closed, after a CONNACK 0x81 for MQTT 5 only.
func TestConformanceConnectPayload(t *testing.T) {
	n, _ := startHooks(t, nil) // refuses password "bad" with 0x86
	w, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-payload-witness", nil)
	w.Subscribe(1, 0, "conf/payload/#")

	for _, v := range []packet.Version{packet.V311, packet.V5} {
		will := func(pw string) func(*packet.Connect) {
			return func(cp *packet.Connect) {
				cp.Will = &packet.Will{Topic: "conf/payload/" + v.String(), Payload: []byte("will of " + v.String())}
				cp.UsernameFlag, cp.Username = true, "user"
				cp.PasswordFlag, cp.Password = true, []byte(pw)
			}
		}
		_, ack := brokertest.Connect(t, n.Addr, v, "conf-payload", will("bad"))
		if ack.ReasonCode != packet.BadUserNameOrPassword {
			t.Fatalf("%v: CONNACK %v for password \"bad\"; want Bad User Name or Password (the password was not read as the fifth field)", v, ack.ReasonCode)
		}
		c, ack := brokertest.Connect(t, n.Addr, v, "conf-payload", will("good"))
		if ack.ReasonCode != packet.Success {
			t.Fatalf("%v: CONNACK %v; want Success", v, ack.ReasonCode)
		}
		c.Conn.Close() // not a DISCONNECT: the will is published
		m := brokertest.ReadAs[*packet.Publish](t, w)
		if m.Topic != "conf/payload/"+v.String() || string(m.Payload) != "will of "+v.String() {
			t.Fatalf("%v: will %q on %q", v, m.Payload, m.Topic)
		}
	}

	cases := []struct {
		name    string
		flags   byte
		payload func(willProps []byte) []byte
	}{
		{"no client identifier", 0x02, func([]byte) []byte { return nil }},
		{"client identifier not UTF-8", 0x02, func([]byte) []byte { return badUTF8 }},
		{"will flag, nothing after the client identifier", 0x06, func([]byte) []byte { return mqttStr("c") }},
		{"will flag, no will payload", 0x06, func(wp []byte) []byte {
			return append(append(mqttStr("c"), wp...), mqttStr("conf/payload/x")...)
		}},
		{"will topic not UTF-8", 0x06, func(wp []byte) []byte {
			return append(append(append(mqttStr("c"), wp...), badUTF8...), mqttStr("p")...)
		}},
		{"user name not UTF-8", 0x82, func([]byte) []byte { return append(mqttStr("c"), badUTF8...) }},
	}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, tc := range cases {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				vh := []byte{byte(v), tc.flags, 0, 60}
				var wp []byte
				if v == packet.V5 {
					vh = append(vh, 0) // no CONNECT properties
					wp = []byte{0}     // no will properties
				}
				c := brokertest.Dial(t, n.Addr, v)
				c.SendBytes(frame(0x10, mqttStr("MQTT"), vh, tc.payload(wp)))
				expectConnectRefused(t, c, v)
			})
		}
	}
	w.NoPacket(300 * time.Millisecond) // no refused CONNECT left a will behind
}

// TestConformanceMalformedStrings: strings in PUBLISH properties, user property pairs and
// topic filters must be valid, or the packet is malformed (MQTT 5: DISCONNECT 0x81; 3.1.1: a
// plain close): Response Topic and Content Type are UTF-8 [MQTT-3.3.2-13] [MQTT-3.3.2-19],
// a Response Topic has no wildcard (a Protocol Error, DISCONNECT 0x82) [MQTT-3.3.2-14], both
// strings of a User Property are UTF-8 [MQTT-1.5.7-1], and SUBSCRIBE and UNSUBSCRIBE filters
// are UTF-8 [MQTT-3.8.3-1] [MQTT-3.10.3-1]. Reserved subscription option bits are malformed
// [MQTT-3.8.3-5]; in 3.1.1 so are the upper six bits of the requested QoS byte and QoS 3
// ([MQTT-3.8.3-4] of 3.1.1).
func TestConformanceMalformedStrings(t *testing.T) {
	n := brokertest.Start(t, nil)
	w, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-strings-witness", nil)
	w.Subscribe(1, 0, "conf/strings/#")
	topic := []byte("conf/strings/x")
	prop := func(id byte, parts ...[]byte) []byte {
		b := []byte{id}
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	type tc struct {
		name string
		v    packet.Version
		send []byte
		rc   packet.ReasonCode
	}
	v5, v3 := packet.V5, packet.V311
	cases := []tc{
		{"Response Topic not UTF-8", v5, pubFrame(packet.V5, 0, topic, 0, "x", prop(0x08, badUTF8)...), packet.MalformedPacket},
		{"Response Topic with a wildcard", v5, pubFrame(packet.V5, 0, topic, 0, "x", prop(0x08, mqttStr("reply/#"))...), packet.ProtocolError},
		{"Content Type not UTF-8", v5, pubFrame(packet.V5, 0, topic, 0, "x", prop(0x03, badUTF8)...), packet.MalformedPacket},
		{"User Property name not UTF-8", v5, pubFrame(packet.V5, 0, topic, 0, "x", prop(0x26, badUTF8, mqttStr("v"))...), packet.MalformedPacket},
		{"User Property value not UTF-8", v5, pubFrame(packet.V5, 0, topic, 0, "x", prop(0x26, mqttStr("k"), badUTF8)...), packet.MalformedPacket},
		{"subscription options reserved bit 6", v5, frame(0x82, u16(1), []byte{0}, mqttStr("conf/strings/a"), []byte{0x41}), packet.MalformedPacket},
		{"subscription options reserved bit 7", v5, frame(0x82, u16(1), []byte{0}, mqttStr("conf/strings/a"), []byte{0x80}), packet.MalformedPacket},
		{"requested QoS byte with reserved bits", v3, frame(0x82, u16(1), mqttStr("conf/strings/a"), []byte{0x04}), 0},
		{"requested QoS 3", v3, frame(0x82, u16(1), mqttStr("conf/strings/a"), []byte{0x03}), 0},
	}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		cases = append(cases,
			tc{"SUBSCRIBE filter not UTF-8", v, frame(0x82, u16(1), v5props(v), badUTF8, []byte{0}), packet.MalformedPacket},
			tc{"UNSUBSCRIBE filter not UTF-8", v, frame(0xa2, u16(1), v5props(v), badUTF8), packet.MalformedPacket},
		)
	}
	for _, c := range cases {
		t.Run(c.v.String()+"/"+c.name, func(t *testing.T) {
			raw, _ := brokertest.Connect(t, n.Addr, c.v, "conf-strings", nil)
			raw.SendBytes(c.send)
			expectRefused(t, raw, c.v, c.rc)
		})
	}
	// The refused PUBLISH packets were not routed.
	w.NoPacket(300 * time.Millisecond)
}

// The reason codes MQTT 5.0 allows in each packet below (§3.2.2.2, §3.4.2.1, §3.5.2.1,
// §3.6.2.1, §3.7.2.1, §3.14.2.1, §3.15.2.1), written out here rather than taken from the codec.
var specReasonCodes = map[packet.Type][]byte{
	packet.CONNACK: {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
		0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F},
	packet.PUBACK:  {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
	packet.PUBREC:  {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
	packet.PUBREL:  {0x00, 0x92},
	packet.PUBCOMP: {0x00, 0x92},
	packet.DISCONNECT: {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
		0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0,
		0xA1, 0xA2},
	packet.AUTH: {0x00, 0x18, 0x19},
}

// expectCode fails the test unless rc is want and MQTT 5.0 allows it in a packet of type pt.
func expectCode(t *testing.T, what string, pt packet.Type, rc, want packet.ReasonCode) {
	t.Helper()
	if !slices.Contains(specReasonCodes[pt], byte(rc)) {
		t.Fatalf("%s: reason code 0x%02X is not one of the %v reason codes", what, byte(rc), pt)
	}
	if rc != want {
		t.Fatalf("%s: reason code 0x%02X; want 0x%02X", what, byte(rc), byte(want))
	}
}

// TestConformanceReasonCodeTables: the reason code of every CONNACK [MQTT-3.2.2-8], PUBACK,
// PUBREC, PUBREL, PUBCOMP [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1],
// DISCONNECT and AUTH [MQTT-3.14.2-1] [MQTT-3.15.2-1] the broker sends, in each situation
// below, is the expected one and belongs to that packet's table.
func TestConformanceReasonCodeTables(t *testing.T) {
	n, _ := startHooks(t, func(c *config.Config) {
		c.Sessions.MaxClientIDSize = 30
		c.Sessions.MaxMessageSize = 1024
	})
	closed := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false })
	auth := brokertest.Start(t, nil, challengeAuth{})

	t.Run("CONNACK", func(t *testing.T) {
		_, ack := brokertest.Connect(t, n.Addr, packet.V5, "conf-codes", nil)
		expectCode(t, "accepted", packet.CONNACK, ack.ReasonCode, packet.Success)
		_, ack = brokertest.Connect(t, n.Addr, packet.V5, "conf-codes-with-a-much-too-long-identifier", nil)
		expectCode(t, "client id too long", packet.CONNACK, ack.ReasonCode, packet.ClientIdentifierNotValid)
		_, ack = brokertest.Connect(t, n.Addr, packet.V5, "conf-codes", withUser("u", func(cp *packet.Connect) {
			cp.PasswordFlag, cp.Password = true, []byte("bad")
		}))
		expectCode(t, "wrong password", packet.CONNACK, ack.ReasonCode, packet.BadUserNameOrPassword)
		_, ack = brokertest.Connect(t, closed.Addr, packet.V5, "conf-codes", nil)
		expectCode(t, "anonymous refused", packet.CONNACK, ack.ReasonCode, packet.NotAuthorized)
		_, ack = brokertest.Connect(t, n.Addr, packet.V5, "conf-codes", func(cp *packet.Connect) {
			cp.Properties.AuthMethod = "NO-SUCH-METHOD"
			cp.Properties.SetPresent(packet.PropAuthMethod)
		})
		expectCode(t, "unknown authentication method", packet.CONNACK, ack.ReasonCode, packet.BadAuthenticationMethod)
		for _, tc := range []struct {
			name string
			vh   []byte // variable header after the protocol name
			want packet.ReasonCode
		}{
			{"reserved connect flag", []byte{5, 0x03, 0, 60, 0}, packet.MalformedPacket},
			{"Receive Maximum 0", []byte{5, 0x02, 0, 60, 3, 0x21, 0, 0}, packet.ProtocolError},
		} {
			c := brokertest.Dial(t, n.Addr, packet.V5)
			c.SendBytes(frame(0x10, mqttStr("MQTT"), tc.vh, mqttStr("c")))
			got := c.ExpectClosed()
			var ack *packet.Connack
			if len(got) == 1 {
				ack, _ = got[0].(*packet.Connack)
			}
			if ack == nil {
				t.Fatalf("%s: got %v; want one CONNACK then the close", tc.name, got)
			}
			expectCode(t, tc.name, packet.CONNACK, ack.ReasonCode, tc.want)
		}
	})

	t.Run("PUBACK PUBREC PUBREL PUBCOMP", func(t *testing.T) {
		sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-codes-sub", nil)
		sub.Subscribe(1, 2, "conf/codes/sub")
		c, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-codes-pub", nil)
		for qos := byte(1); qos <= 2; qos++ {
			pt := packet.PUBACK
			if qos == 2 {
				pt = packet.PUBREC
			}
			for i, tc := range []struct {
				topic string
				want  packet.ReasonCode
			}{{"conf/codes/sub", packet.Success}, {"conf/codes/nobody", packet.NoMatchingSubscribers}, {"deny/codes", packet.NotAuthorized}} {
				id := uint16(10*qos) + uint16(i)
				c.Send(&packet.Publish{Topic: tc.topic, QoS: qos, PacketID: id, Payload: []byte("x")})
				var rc packet.ReasonCode
				if qos == 1 {
					rc = brokertest.ReadAs[*packet.Puback](t, c).ReasonCode
				} else {
					rc = brokertest.ReadAs[*packet.Pubrec](t, c).ReasonCode
					if !rc.Failure() {
						c.Send(&packet.Pubrel{PacketID: id})
						expectCode(t, "PUBCOMP "+tc.topic, packet.PUBCOMP, brokertest.ReadAs[*packet.Pubcomp](t, c).ReasonCode, packet.Success)
					}
				}
				expectCode(t, pt.String()+" "+tc.topic, pt, rc, tc.want)
			}
		}
		for qos := byte(1); qos <= 2; qos++ { // the two deliveries to the subscriber
			m := brokertest.ReadAs[*packet.Publish](t, sub)
			if m.QoS == 1 {
				sub.Send(&packet.Puback{PacketID: m.PacketID})
				continue
			}
			sub.Send(&packet.Pubrec{PacketID: m.PacketID})
			expectCode(t, "PUBREL", packet.PUBREL, brokertest.ReadAs[*packet.Pubrel](t, sub).ReasonCode, packet.Success)
			sub.Send(&packet.Pubcomp{PacketID: m.PacketID})
		}
		c.Send(&packet.Pubrec{PacketID: 99})
		expectCode(t, "PUBREL for an unknown PUBREC", packet.PUBREL, brokertest.ReadAs[*packet.Pubrel](t, c).ReasonCode, packet.PacketIdentifierNotFound)
		c.Send(&packet.Pubrel{PacketID: 98})
		expectCode(t, "PUBCOMP for an unknown PUBREL", packet.PUBCOMP, brokertest.ReadAs[*packet.Pubcomp](t, c).ReasonCode, packet.PacketIdentifierNotFound)
	})

	t.Run("DISCONNECT", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			send []byte
			want packet.ReasonCode
		}{
			{"malformed", []byte{0xc1, 0x00}, packet.MalformedPacket},
			{"protocol error", frame(0x20, []byte{0, 0}, []byte{0}), packet.ProtocolError},
			{"topic name invalid", pubFrame(packet.V5, 2, []byte("a/+"), 1, "x"), packet.TopicNameInvalid},
			{"topic alias invalid", pubFrame(packet.V5, 0, []byte("a"), 0, "x", 0x23, 0, 9), packet.TopicAliasInvalid},
			{"packet too large", pubFrame(packet.V5, 0, []byte("a"), 0, string(make([]byte, 2000))), packet.PacketTooLarge},
		} {
			c, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-codes-disconnect", nil)
			c.SendBytes(tc.send)
			expectCode(t, tc.name, packet.DISCONNECT, c.ExpectDisconnect(), tc.want)
		}
		old, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-codes-takeover", nil)
		brokertest.Connect(t, n.Addr, packet.V5, "conf-codes-takeover", nil)
		expectCode(t, "taken over", packet.DISCONNECT, old.ExpectDisconnect(), packet.SessionTakenOver)
	})

	t.Run("AUTH", func(t *testing.T) {
		c := connectChallenged(t, auth.Addr, "conf-codes-auth") // its first AUTH is checked there
		c.Send(challengeAuthPacket(packet.ReAuthenticate, "hello"))
		a := brokertest.ReadAs[*packet.Auth](t, c)
		expectCode(t, "re-authentication challenge", packet.AUTH, a.ReasonCode, packet.ContinueAuthentication)
		c.Send(challengeAuthPacket(packet.ContinueAuthentication, "response"))
		a = brokertest.ReadAs[*packet.Auth](t, c)
		expectCode(t, "re-authentication done", packet.AUTH, a.ReasonCode, packet.Success)
		c.Ping()
	})
}

// TestConformanceServerPacketIdentifiers: every QoS 1 and QoS 2 PUBLISH the broker sends
// carries a non-zero packet identifier that no unacknowledged flow of the client uses, the
// PUBREL stage of a QoS 2 flow included [MQTT-2.2.1-4].
func TestConformanceServerPacketIdentifiers(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-ids-sub", nil)
	sub.Subscribe(1, 2, "conf/ids")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-ids-pub", nil)
	inUse := map[uint16]byte{} // identifier -> QoS of its unacknowledged flow
	take := func(k int) []*packet.Publish {
		t.Helper()
		var got []*packet.Publish
		for range k {
			m := brokertest.ReadAs[*packet.Publish](t, sub)
			if m.PacketID == 0 {
				t.Fatalf("QoS %d PUBLISH with packet identifier 0", m.QoS)
			}
			if q, ok := inUse[m.PacketID]; ok {
				t.Fatalf("packet identifier %d reused while its QoS %d flow is unacknowledged", m.PacketID, q)
			}
			inUse[m.PacketID] = m.QoS
			got = append(got, m)
		}
		return got
	}
	for i := range 10 {
		pub.Publish(uint16(i+1), byte(1+i%2), false, "conf/ids", []byte("x"))
	}
	first := take(10)
	// Finish one QoS 1 flow and move one QoS 2 flow to its PUBREL stage: only the first
	// identifier is free again.
	for _, m := range first {
		if m.QoS == 1 {
			sub.Send(&packet.Puback{PacketID: m.PacketID})
			delete(inUse, m.PacketID)
			break
		}
	}
	for _, m := range first {
		if m.QoS == 2 {
			sub.Send(&packet.Pubrec{PacketID: m.PacketID})
			brokertest.ReadAs[*packet.Pubrel](t, sub)
			break
		}
	}
	for i := range 4 {
		pub.Publish(uint16(i+1), byte(1+i%2), false, "conf/ids", []byte("y"))
	}
	take(4)
}

// TestConformanceRetainZeroLeavesRetained: a PUBLISH with RETAIN 0 is not stored as the
// retained message and does not remove or replace the one there is [MQTT-3.3.1-8].
func TestConformanceRetainZeroLeavesRetained(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-retain0-pub", nil)
	pub.Publish(1, 1, true, "conf/retain0/kept", []byte("retained"))
	pub.Publish(2, 1, false, "conf/retain0/kept", []byte("not retained"))
	pub.Publish(3, 1, false, "conf/retain0/none", []byte("not retained"))
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-retain0-sub", nil)
	sub.Subscribe(1, 0, "conf/retain0/#")
	m := brokertest.ReadAs[*packet.Publish](t, sub)
	if m.Topic != "conf/retain0/kept" || string(m.Payload) != "retained" || !m.Retain {
		t.Fatalf("got %q on %q (retain %v); want the retained message", m.Payload, m.Topic, m.Retain)
	}
	sub.NoPacket(300 * time.Millisecond)
}

// TestConformanceTopicAliasesPerConnection: Topic Alias mappings end with the network
// connection, in both directions, although the session goes on [MQTT-3.3.2-7]. The alias a
// client set on its previous connection is unknown (DISCONNECT 0x82), and the first message
// the broker sends on a new connection carries the topic name again.
func TestConformanceTopicAliasesPerConnection(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) {
		c.MQTT5.TopicAliasMaxClient = 5
		c.MQTT5.TopicAliasMaxBroker = 5
	})
	withAliases := func(cp *packet.Connect) {
		persistent(cp)
		cp.Properties.TopicAliasMaximum = 5
		cp.Properties.SetPresent(packet.PropTopicAliasMaximum)
	}

	t.Run("client to broker", func(t *testing.T) {
		c, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-alias-in", withAliases)
		c.SendBytes(pubFrame(packet.V5, 2, []byte("conf/alias/in"), 1, "x", 0x23, 0, 1))
		if a := brokertest.ReadAs[*packet.Puback](t, c); a.ReasonCode.Failure() {
			t.Fatalf("PUBACK %v", a.ReasonCode)
		}
		c.SendBytes(pubFrame(packet.V5, 2, nil, 2, "x", 0x23, 0, 1)) // the alias works here
		if a := brokertest.ReadAs[*packet.Puback](t, c); a.PacketID != 2 || a.ReasonCode.Failure() {
			t.Fatalf("PUBACK %+v", a)
		}
		c.Conn.Close()
		c, ack := brokertest.Connect(t, n.Addr, packet.V5, "conf-alias-in", withAliases)
		if !ack.SessionPresent {
			t.Fatal("session not present")
		}
		c.SendBytes(pubFrame(packet.V5, 2, nil, 3, "x", 0x23, 0, 1))
		if rc := c.ExpectDisconnect(); rc != packet.ProtocolError {
			t.Fatalf("alias of the previous connection: DISCONNECT %v; want Protocol Error", rc)
		}
	})

	t.Run("broker to client", func(t *testing.T) {
		sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-alias-out", withAliases)
		sub.Subscribe(1, 0, "conf/alias/out")
		pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-alias-src", nil)
		pub.Publish(1, 1, false, "conf/alias/out", []byte("1"))
		pub.Publish(2, 1, false, "conf/alias/out", []byte("2"))
		m1 := brokertest.ReadAs[*packet.Publish](t, sub)
		m2 := brokertest.ReadAs[*packet.Publish](t, sub)
		if m1.Topic != "conf/alias/out" || !m1.Properties.Has(packet.PropTopicAlias) ||
			m2.Topic != "" || m2.Properties.TopicAlias != m1.Properties.TopicAlias {
			t.Fatalf("first connection: %q alias %d, then %q alias %d; want the alias set, then used",
				m1.Topic, m1.Properties.TopicAlias, m2.Topic, m2.Properties.TopicAlias)
		}
		sub.Conn.Close()
		sub, ack := brokertest.Connect(t, n.Addr, packet.V5, "conf-alias-out", withAliases)
		if !ack.SessionPresent {
			t.Fatal("session not present")
		}
		pub.Publish(3, 1, false, "conf/alias/out", []byte("3"))
		m3 := brokertest.ReadAs[*packet.Publish](t, sub)
		if m3.Topic != "conf/alias/out" || string(m3.Payload) != "3" {
			t.Fatalf("first message on the new connection: %q on topic %q (alias %d); want the topic name",
				m3.Payload, m3.Topic, m3.Properties.TopicAlias)
		}
	})
}

// TestConformanceSubscriptionIdentifierPerCopy: when one client's subscriptions give it
// separate copies of a message (a non-shared and a shared subscription), each copy carries
// the Subscription Identifier of its own subscription, and only that one [MQTT-3.3.4-5]; a
// copy for a subscription without an identifier carries none.
func TestConformanceSubscriptionIdentifierPerCopy(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-subid", nil)
	for i, f := range []struct {
		filter string
		id     uint32
	}{{"conf/subid", 1}, {"$share/g1/conf/subid", 2}, {"$share/g2/conf/subid", 0}} {
		s := &packet.Subscribe{PacketID: uint16(i + 1), Subscriptions: []packet.Subscription{{Filter: f.filter}}}
		if f.id != 0 {
			s.Properties.SubscriptionIDs = []uint32{f.id}
		}
		sub.Send(s)
		if ack := brokertest.ReadAs[*packet.Suback](t, sub); ack.PacketID != uint16(i+1) || ack.ReasonCodes[0] != packet.GrantedQoS0 {
			t.Fatalf("SUBACK %+v", ack)
		}
	}
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-subid-pub", nil)
	pub.Publish(1, 0, false, "conf/subid", []byte("x"))
	var got [][]uint32
	for range 3 {
		m := brokertest.ReadAs[*packet.Publish](t, sub)
		got = append(got, slices.Clone(m.Properties.SubscriptionIDs))
	}
	slices.SortFunc(got, func(a, b []uint32) int { return slices.Compare(a, b) })
	if len(got[0]) != 0 || !slices.Equal(got[1], []uint32{1}) || !slices.Equal(got[2], []uint32{2}) {
		t.Fatalf("the three copies carry subscription identifiers %v; want [] [1] [2]", got)
	}
	sub.NoPacket(300 * time.Millisecond)
}

// TestConformanceFullWindowDelaysOnlyPublish: with the client's Receive Maximum used up
// (quota 0), the broker holds back the next QoS 1 PUBLISH but still processes and answers
// everything else: PINGREQ, SUBSCRIBE, UNSUBSCRIBE and the client's own QoS 1 and QoS 2
// PUBLISH [MQTT-3.3.4-10] [MQTT-4.9.0-3]. The held message follows the PUBACK.
func TestConformanceFullWindowDelaysOnlyPublish(t *testing.T) {
	n := brokertest.Start(t, nil)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-window-sub", func(cp *packet.Connect) {
		cp.Properties.ReceiveMaximum = 1
		cp.Properties.SetPresent(packet.PropReceiveMaximum)
	})
	sub.Subscribe(1, 1, "conf/window")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-window-pub", nil)
	pub.Publish(1, 1, false, "conf/window", []byte("first"))
	pub.Publish(2, 1, false, "conf/window", []byte("second"))
	m := brokertest.ReadAs[*packet.Publish](t, sub)
	if string(m.Payload) != "first" {
		t.Fatalf("got %q; want first", m.Payload)
	}
	// Quota 0 from here on. Each answer must be the next packet: the held PUBLISH may not
	// come in between.
	sub.Ping()
	sub.Subscribe(2, 1, "conf/window/other")
	sub.Send(&packet.Unsubscribe{PacketID: 3, Filters: []string{"conf/window/other"}})
	if a := brokertest.ReadAs[*packet.Unsuback](t, sub); a.PacketID != 3 {
		t.Fatalf("UNSUBACK %+v", a)
	}
	sub.Publish(4, 1, false, "conf/window/nobody", []byte("x"))
	sub.Publish(5, 2, false, "conf/window/nobody", []byte("x"))
	sub.NoPacket(300 * time.Millisecond)
	sub.Send(&packet.Puback{PacketID: m.PacketID})
	if m := brokertest.ReadAs[*packet.Publish](t, sub); string(m.Payload) != "second" {
		t.Fatalf("got %q; want second", m.Payload)
	}
}

// TestConformancePacketIdentifierReuse: once the broker has sent PUBACK, a PUBREC with a
// failure code, or PUBCOMP for an identifier, a PUBLISH with that identifier is a new
// message, routed again, whatever its DUP flag [MQTT-4.3.2-5] [MQTT-4.3.3-9]
// [MQTT-4.3.3-12].
func TestConformancePacketIdentifierReuse(t *testing.T) {
	n, _ := startHooks(t, nil) // refuses PUBLISH to deny/... with 0x87
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-reuse-sub", nil)
	sub.Subscribe(1, 0, "conf/reuse")
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "conf-reuse-pub", nil)
	expect := func(payload string) {
		t.Helper()
		if m := brokertest.ReadAs[*packet.Publish](t, sub); string(m.Payload) != payload {
			t.Fatalf("subscriber got %q; want %q", m.Payload, payload)
		}
	}

	// QoS 1: the same identifier after PUBACK, the second time with DUP set.
	c.Publish(5, 1, false, "conf/reuse", []byte("qos1 first"))
	expect("qos1 first")
	c.SendBytes(pubFrame(packet.V5, 0x08|0x02, []byte("conf/reuse"), 5, "qos1 again"))
	if a := brokertest.ReadAs[*packet.Puback](t, c); a.PacketID != 5 || a.ReasonCode != packet.Success {
		t.Fatalf("PUBACK %+v", a)
	}
	expect("qos1 again")

	// QoS 2: the same identifier after PUBCOMP.
	c.Publish(6, 2, false, "conf/reuse", []byte("qos2 first"))
	expect("qos2 first")
	c.Publish(6, 2, false, "conf/reuse", []byte("qos2 again"))
	expect("qos2 again")

	// QoS 2: the same identifier after a failing PUBREC, with no PUBREL in between.
	c.Send(&packet.Publish{Topic: "deny/reuse", QoS: 2, PacketID: 7, Payload: []byte("refused")})
	if r := brokertest.ReadAs[*packet.Pubrec](t, c); r.PacketID != 7 || r.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBREC %+v; want id 7, Not authorized", r)
	}
	c.Publish(7, 2, false, "conf/reuse", []byte("after the refusal"))
	expect("after the refusal")
	sub.NoPacket(300 * time.Millisecond)
}

// TestConformanceWebSocketFraming: over WebSocket, MQTT packets need not line up with
// WebSocket messages [MQTT-6.0.0-2]: a CONNECT split over three binary messages, and
// PINGREQ, SUBSCRIBE and the first half of a PUBLISH in one message, are read as the
// packets they are.
func TestConformanceWebSocketFraming(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) {
		l := config.NewListener(config.ListenerWS, "default", "127.0.0.1:0")
		l.ConnectTimeout = 5 * time.Second
		c.Listeners = append(c.Listeners, l)
	})
	ws, _ := dialWS(t, addrOf(t, n, "listener.ws.default"), nil)
	enc := func(p packet.Packet) []byte {
		b, err := packet.Encode(nil, packet.V5, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send := func(b []byte) {
		if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	r := packet.NewReader(bufio.NewReader(&wsStream{ws: ws}), 0)
	read := func() packet.Packet {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := r.ReadPacket(packet.V5)
		if err != nil {
			t.Fatalf("read over WebSocket: %v", err)
		}
		return p
	}

	connect := enc(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "conf-ws"})
	send(connect[:1])
	send(connect[1:5])
	send(connect[5:])
	if ack, ok := read().(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("got %+v; want CONNACK Success", ack)
	}
	publish := enc(&packet.Publish{Topic: "conf/ws", Payload: []byte("across two messages")})
	one := append(enc(&packet.Pingreq{}), enc(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "conf/ws"}}})...)
	send(append(one, publish[:6]...))
	if _, ok := read().(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
	if ack, ok := read().(*packet.Suback); !ok || ack.PacketID != 1 || ack.ReasonCodes[0] != packet.GrantedQoS0 {
		t.Fatalf("got %+v; want SUBACK 1", ack)
	}
	send(publish[6:])
	if m, ok := read().(*packet.Publish); !ok || m.Topic != "conf/ws" || string(m.Payload) != "across two messages" {
		t.Fatalf("got %+v; want the PUBLISH back", m)
	}
}
