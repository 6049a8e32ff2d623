package broker_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Bad input from one client must end that client's connection the way the protocol says
// (closed for 3.1.x, DISCONNECT with the right reason code for 5.0), never panic the broker,
// and never disturb another session: after every case a witness pair of clients must still
// publish and receive.

func vbi(n int) []byte {
	var b []byte
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// frame builds a packet from its first byte and body parts, computing the remaining length.
func frame(first byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(append([]byte{first}, vbi(len(body))...), body...)
}

func mqttStr(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// v5props is an MQTT 5 property block for v5, nothing for 3.1.x.
func v5props(v packet.Version, p ...byte) []byte {
	if v != packet.V5 {
		return nil
	}
	return append(vbi(len(p)), p...)
}

// pubFrame is a PUBLISH with the given flags nibble, raw topic bytes and packet id (omitted
// for QoS 0 flags).
func pubFrame(v packet.Version, flags byte, topic []byte, id uint16, payload string, pr ...byte) []byte {
	parts := [][]byte{u16(uint16(len(topic))), topic}
	if flags>>1&3 != 0 {
		parts = append(parts, u16(id))
	}
	parts = append(parts, v5props(v, pr...), []byte(payload))
	return frame(0x30|flags, parts...)
}

type badInputHarness struct {
	t      *testing.T
	n      *brokertest.Node
	log    *brokertest.Log
	sub    *brokertest.Raw
	pub    *brokertest.Raw
	nextID uint16
}

// check proves the witness session still works and the broker logged no panic.
func (h *badInputHarness) check(t *testing.T, what string) {
	t.Helper()
	h.nextID++
	h.pub.Publish(h.nextID, 1, false, "witness", []byte(what))
	p := brokertest.ReadAs[*packet.Publish](t, h.sub)
	if string(p.Payload) != what {
		t.Fatalf("witness got %q, want %q", p.Payload, what)
	}
	h.sub.Send(&packet.Puback{PacketID: p.PacketID})
	if h.log.Contains("panicked") {
		t.Fatalf("broker logged a panic after %s:\n%s", what, h.log.String())
	}
}

// expectRefused asserts the connection ends as the protocol says for v: closed after at most
// a DISCONNECT with rc (5.0), closed with nothing sent (3.1.x).
func expectRefused(t *testing.T, c *brokertest.Raw, v packet.Version, rc packet.ReasonCode) {
	t.Helper()
	got := c.ExpectClosed()
	if v != packet.V5 {
		if len(got) != 0 {
			t.Fatalf("3.1.x connection got %v before the close; want a plain close", got)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("got %v; want one DISCONNECT %v", got, rc)
	}
	d, ok := got[0].(*packet.Disconnect)
	if !ok || d.ReasonCode != rc {
		t.Fatalf("got %+v; want DISCONNECT %v", got[0], rc)
	}
}

func TestBadInput(t *testing.T) {
	n, log := brokertest.StartLogged(t, func(c *config.Config) {
		c.Sessions.MaxMessageSize = 1024
		c.Listeners[0].ConnectTimeout = time.Second // a truncated CONNECT waits this long
	})
	h := &badInputHarness{t: t, n: n, log: log}
	h.sub, _ = brokertest.Connect(t, n.Addr, packet.V311, "witness-sub", nil)
	h.sub.Subscribe(1, 1, "witness")
	h.pub, _ = brokertest.Connect(t, n.Addr, packet.V311, "witness-pub", nil)
	h.check(t, "start")

	type refusal struct {
		name string
		send func(v packet.Version) []byte
		rc   packet.ReasonCode // DISCONNECT reason for 5.0
	}
	refusals := []refusal{
		{"reserved flag bits", func(packet.Version) []byte { return []byte{0x41, 0x02, 0x00, 0x01} }, packet.MalformedPacket},
		{"reserved flags on SUBSCRIBE", func(v packet.Version) []byte {
			return frame(0x80, u16(1), v5props(v), mqttStr("a"), []byte{0})
		}, packet.MalformedPacket},
		{"reserved flags on UNSUBSCRIBE", func(v packet.Version) []byte {
			return frame(0xa0, u16(1), v5props(v), mqttStr("a"))
		}, packet.MalformedPacket},
		{"PUBLISH QoS 3", func(v packet.Version) []byte { return pubFrame(v, 0x06, []byte("a"), 1, "x") }, packet.MalformedPacket},
		{"PUBLISH QoS 0 with DUP", func(v packet.Version) []byte { return pubFrame(v, 0x08, []byte("a"), 0, "x") }, packet.MalformedPacket},
		{"remaining length of 5 bytes", func(packet.Version) []byte { return []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f} }, packet.MalformedPacket},
		{"non-minimal remaining length", func(packet.Version) []byte { return []byte{0xc0, 0x80, 0x00} }, packet.MalformedPacket},
		{"remaining length beyond the body", func(packet.Version) []byte { return []byte{0xc0, 0x02, 0x00, 0x00} }, packet.MalformedPacket},
		{"invalid UTF-8 in topic", func(v packet.Version) []byte { return pubFrame(v, 0, []byte{'a', 0xc3, 0x28}, 0, "x") }, packet.MalformedPacket},
		{"U+0000 in topic", func(v packet.Version) []byte { return pubFrame(v, 0, []byte("a\x00b"), 0, "x") }, packet.MalformedPacket},
		{"UTF-16 surrogate in topic", func(v packet.Version) []byte { return pubFrame(v, 0, []byte{'a', 0xed, 0xa0, 0x80}, 0, "x") }, packet.MalformedPacket},
		{"wildcard in PUBLISH topic", func(v packet.Version) []byte { return pubFrame(v, 2, []byte("a/+"), 1, "x") }, packet.TopicNameInvalid},
		{"empty PUBLISH topic", func(v packet.Version) []byte { return pubFrame(v, 0, nil, 0, "x") }, packet.ProtocolError},
		{"PUBLISH QoS 1 with packet id 0", func(v packet.Version) []byte { return pubFrame(v, 2, []byte("a"), 0, "x") }, packet.ProtocolError},
		{"SUBSCRIBE with no filters", func(v packet.Version) []byte { return frame(0x82, u16(1), v5props(v)) }, packet.ProtocolError},
		{"SUBSCRIBE with packet id 0", func(v packet.Version) []byte { return frame(0x82, u16(0), v5props(v), mqttStr("a"), []byte{0}) }, packet.ProtocolError},
		{"UNSUBSCRIBE with no filters", func(v packet.Version) []byte { return frame(0xa2, u16(1), v5props(v)) }, packet.ProtocolError},
		{"second CONNECT", func(v packet.Version) []byte {
			name := "MQTT"
			if v == packet.V31 {
				name = "MQIsdp"
			}
			b, err := packet.Encode(nil, v, &packet.Connect{ProtocolName: name, ProtocolVersion: v, CleanStart: true, ClientID: "again"})
			if err != nil {
				panic(err)
			}
			return b
		}, packet.ProtocolError},
		{"CONNACK from a client", func(v packet.Version) []byte { return frame(0x20, []byte{0, 0}, v5props(v)) }, packet.ProtocolError},
		{"packet larger than max_message_size", func(v packet.Version) []byte {
			return pubFrame(v, 0, []byte("big"), 0, strings.Repeat("x", 2000))
		}, packet.PacketTooLarge},
		{"reserved packet type 0", func(packet.Version) []byte { return []byte{0x00, 0xde, 0xad, 0xbe, 0xef} }, packet.MalformedPacket},
		{"AUTH (type 15) outside MQTT 5 or without method", func(v packet.Version) []byte { return frame(0xf0, []byte{0x18}, v5props(v)) }, packet.ProtocolError},
	}
	for _, v := range []packet.Version{packet.V311, packet.V31, packet.V5} {
		for _, rc := range refusals {
			t.Run(v.String()+"/"+rc.name, func(t *testing.T) {
				c, _ := brokertest.Connect(t, n.Addr, v, "bad", nil)
				c.SendBytes(rc.send(v))
				expectRefused(t, c, v, rc.rc)
				h.check(t, v.String()+" "+rc.name)
			})
		}

		t.Run(v.String()+"/topic alias invalid", func(t *testing.T) {
			if v != packet.V5 {
				t.Skip("MQTT 5 only")
			}
			for _, alias := range []byte{0, 5} {
				c, _ := brokertest.Connect(t, n.Addr, v, "bad", nil)
				c.SendBytes(pubFrame(v, 0, []byte("a"), 0, "x", 0x23, 0, alias))
				// [MQTT-3.3.2-8] [MQTT-3.3.2-9]
				expectRefused(t, c, v, packet.TopicAliasInvalid)
				h.check(t, "topic alias "+string('0'+alias))
			}
		})

		t.Run(v.String()+"/SUBSCRIBE with a bad wildcard filter", func(t *testing.T) {
			c, _ := brokertest.Connect(t, n.Addr, v, "bad", nil)
			c.Send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "a/#/b", QoS: 1}, {Filter: "ok/+", QoS: 1}, {Filter: "a+", QoS: 0}}})
			ack := brokertest.ReadAs[*packet.Suback](t, c)
			fail := packet.ReasonCode(0x80) // [MQTT-3.9.3-2] 3.1.1 failure return code
			if v == packet.V5 {
				fail = packet.TopicFilterInvalid // 0x8F
			}
			raw, _ := packet.Encode(nil, v, ack)
			if !bytes.HasSuffix(raw, []byte{byte(fail), 1, byte(fail)}) {
				t.Fatalf("SUBACK % x; want return codes %02x 01 %02x", raw, byte(fail), byte(fail))
			}
			// The connection stays up and the good filter works.
			if p := selfPublish(t, c, 9, "ok/x", "fine"); string(p.Payload) != "fine" {
				t.Fatalf("got %q", p.Payload)
			}
			h.check(t, v.String()+" bad filter")
		})

		t.Run(v.String()+"/PUBREL for an unknown id", func(t *testing.T) {
			c, _ := brokertest.Connect(t, n.Addr, v, "bad", nil)
			c.Send(&packet.Pubrel{PacketID: 77})
			comp := brokertest.ReadAs[*packet.Pubcomp](t, c)
			want := packet.Success
			if v == packet.V5 {
				want = packet.PacketIdentifierNotFound // 0x92
			}
			if comp.PacketID != 77 || comp.ReasonCode != want {
				t.Fatalf("PUBCOMP %+v; want id 77 reason %v", comp, want)
			}
			c.Ping()
			h.check(t, v.String()+" unknown PUBREL")
		})

		t.Run(v.String()+"/truncated packet then close", func(t *testing.T) {
			c, _ := brokertest.Connect(t, n.Addr, v, "bad", func(cp *packet.Connect) {
				cp.Will = &packet.Will{Topic: "witness", Payload: []byte("truncated will"), QoS: 1}
			})
			full := pubFrame(v, 2, []byte("witness"), 5, "never routed")
			c.SendBytes(full[:len(full)-4])
			c.Conn.Close()
			// The connection ended abnormally: the will is published, the half packet is not.
			p := brokertest.ReadAs[*packet.Publish](t, h.sub)
			if string(p.Payload) != "truncated will" {
				t.Fatalf("witness got %q", p.Payload)
			}
			h.sub.Send(&packet.Puback{PacketID: p.PacketID})
			h.check(t, v.String()+" truncated")
		})
	}

	// Before CONNECT.
	before := []struct {
		name string
		send []byte
	}{
		{"first packet not CONNECT", []byte{0xc0, 0x00}},
		{"PUBLISH first", pubFrame(packet.V311, 0, []byte("witness"), 0, "sneaky")},
		{"garbage bytes", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"zero bytes", make([]byte, 64)},
		{"truncated CONNECT", []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q'}},
		{"CONNECT with a trailing byte", frame(0x10, mqttStr("MQTT"), []byte{4, 2, 0, 60}, mqttStr("x"), []byte{0xff})},
		// [MQTT-3.1.2-22] 3.1.1: a password needs a user name.
		{"CONNECT 3.1.1 password flag without user name flag", frame(0x10, mqttStr("MQTT"), []byte{4, 0x42, 0, 60}, mqttStr("pw"), mqttStr("secret"))},
		{"CONNECT 3.1 password flag without user name flag", frame(0x10, mqttStr("MQIsdp"), []byte{3, 0x42, 0, 60}, mqttStr("pw"), mqttStr("secret"))},
		{"CONNECT reserved flag", frame(0x10, mqttStr("MQTT"), []byte{4, 0x03, 0, 60}, mqttStr("x"))},
		{"CONNECT will QoS 3", frame(0x10, mqttStr("MQTT"), []byte{4, 0x1e, 0, 60}, mqttStr("x"), mqttStr("w"), mqttStr("p"))},
		{"CONNECT larger than max_message_size", frame(0x10, mqttStr("MQTT"), []byte{4, 2, 0, 60}, mqttStr(strings.Repeat("x", 2000)))},
	}
	for _, b := range before {
		t.Run(b.name, func(t *testing.T) {
			c := brokertest.Dial(t, n.Addr, packet.V311)
			c.SendBytes(b.send)
			for _, p := range c.ExpectClosed() {
				if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode == packet.Success {
					t.Fatalf("got %+v before the close", p)
				}
			}
			h.check(t, b.name)
		})
	}
	// Nothing above may have left a session or connection behind.
	brokertest.Eventually(t, 5*time.Second, "only the witnesses connected", func() bool { return n.Counter("socket_open") == 2 })
}

// TestMalformedMQTT5ConnectGetsReason: a CONNECT that announces MQTT 5 and is malformed after
// its version is answered with CONNACK carrying the reason before the close.
func TestMalformedMQTT5ConnectGetsReason(t *testing.T) {
	n := brokertest.Start(t, nil)
	c := brokertest.Dial(t, n.Addr, packet.V5)
	good, err := packet.Encode(nil, packet.V5, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, ClientID: "x", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[9] |= 0x01 // the reserved connect flag [MQTT-3.1.2-3]
	c.SendBytes(bad)
	got := c.ExpectClosed()
	if len(got) != 1 {
		t.Fatalf("got %v; want one CONNACK then the close", got)
	}
	if ack, ok := got[0].(*packet.Connack); !ok || ack.ReasonCode != packet.MalformedPacket {
		t.Fatalf("got %+v; want CONNACK 0x81", got[0])
	}
}

// TestClientPublishWithSubscriptionIdentifier: a client may not send a Subscription
// Identifier in PUBLISH [MQTT-3.3.4-6]; the broker answers DISCONNECT 0x82.
func TestClientPublishWithSubscriptionIdentifier(t *testing.T) {
	n := brokertest.Start(t, nil)
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "subid-pub", nil)
	p := &packet.Publish{Topic: "a", QoS: 1, PacketID: 1, Payload: []byte("x")}
	p.Properties.SubscriptionIDs = []uint32{5}
	c.Send(p)
	got := c.ExpectClosed()
	if len(got) != 1 {
		t.Fatalf("got %v; want one DISCONNECT", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("got %+v; want DISCONNECT 0x82", got[0])
	}
}

// TestOversizeConnectBeforeAuthentication: before a client is authenticated, max_connect_size
// bounds its CONNECT (an MQTT 5 client hears 0x95, a 3.1.1 client is closed on); once
// connected, the same client may send what max_message_size allows; a well-behaved client
// connects while the oversize ones are refused.
func TestOversizeConnectBeforeAuthentication(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) {
		c.Sessions.MaxConnectSize = 1024
		c.Sessions.MaxMessageSize = 64 << 10
	})
	big := strings.Repeat("p", 2000)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := brokertest.Dial(t, n.Addr, v)
		b, err := packet.Encode(nil, v, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, ClientID: "big", CleanStart: true,
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte(big)})
		if err != nil {
			t.Fatal(err)
		}
		c.SendBytes(b)
		got := c.ExpectClosed()
		switch v {
		case packet.V5:
			if len(got) != 1 {
				t.Fatalf("MQTT 5: got %v; want CONNACK 0x95 then the close", got)
			}
			if ack, ok := got[0].(*packet.Connack); !ok || ack.ReasonCode != packet.PacketTooLarge {
				t.Fatalf("MQTT 5: got %+v; want CONNACK 0x95", got[0])
			}
		default:
			if len(got) != 0 {
				t.Fatalf("MQTT 3.1.1: got %v; want a close without an answer", got)
			}
		}
	}
	// Connected, a 2,000-byte publish is well within max_message_size.
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "small-connect", nil)
	c.Subscribe(1, 1, "big/#")
	c.Publish(2, 1, false, "big/x", []byte(big))
	if p := brokertest.ReadAs[*packet.Publish](t, c); len(p.Payload) != len(big) {
		t.Fatalf("got %d bytes, want %d", len(p.Payload), len(big))
	}
}
