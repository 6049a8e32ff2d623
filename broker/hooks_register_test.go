package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// registerModifiers allows every client and returns, for the usernames it knows, the
// auth_on_register modifiers under test.
type registerModifiers map[string]hooks.RegisterResult

func (m registerModifiers) AuthOnRegister(_ context.Context, r *hooks.Register) hooks.RegisterResult {
	res := m[r.Username]
	res.Verdict = hooks.Allow
	return res
}

func intp(v int) *int { return &v }

func startRegisterModifiers(t *testing.T, mods registerModifiers, mutate func(*config.Config)) *brokertest.Node {
	return brokertest.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false // auth_on_register runs only without allow_anonymous
		if mutate != nil {
			mutate(c)
		}
	}, mods)
}

func withUser(u string, more ...func(*packet.Connect)) func(*packet.Connect) {
	return func(c *packet.Connect) {
		c.UsernameFlag, c.Username = true, u
		for _, f := range more {
			f(c)
		}
	}
}

// TestAuthOnRegisterMaxInflight: the MaxInflight modifier is that client's
// max_inflight_messages: 2 unacknowledged QoS 1 messages at a time, where the node allows 20.
// Another client on the same listener keeps the node's value.
func TestAuthOnRegisterMaxInflight(t *testing.T) {
	n := startRegisterModifiers(t, registerModifiers{"narrow": {MaxInflight: intp(2)}}, func(c *config.Config) {
		c.Sessions.MaxInflightMessages = 20
	})
	narrow, _ := brokertest.Connect(t, n.Addr, packet.V311, "narrow", withUser("narrow"))
	narrow.Subscribe(1, 1, "w")
	wide, _ := brokertest.Connect(t, n.Addr, packet.V311, "wide", withUser("wide"))
	wide.Subscribe(1, 1, "w")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "pub", withUser("pub"))
	for i := range 5 {
		pub.Publish(uint16(i+1), 1, false, "w", []byte{byte(i)})
	}

	var ids []uint16
	for range 2 {
		ids = append(ids, brokertest.ReadAs[*packet.Publish](t, narrow).PacketID)
	}
	narrow.NoPacket(300 * time.Millisecond) // a third would exceed the modified window
	narrow.Send(&packet.Puback{PacketID: ids[0]})
	if p := brokertest.ReadAs[*packet.Publish](t, narrow); p.Payload[0] != 2 {
		t.Fatalf("after one PUBACK got message %d; want 2", p.Payload[0])
	}
	narrow.NoPacket(200 * time.Millisecond)

	for i := range 5 { // the node's window of 20: all five without any acknowledgement
		if p := brokertest.ReadAs[*packet.Publish](t, wide); p.Payload[0] != byte(i) {
			t.Fatalf("wide got message %d, want %d", p.Payload[0], i)
		}
	}
}

// TestAuthOnRegisterMaxMessageSize: the MaxMessageSize modifier is that client's
// max_message_size: announced as Maximum Packet Size in its CONNACK, and a larger packet from it
// gets DISCONNECT 0x95. The node's limit (the default, 1 MB) still holds for other clients.
func TestAuthOnRegisterMaxMessageSize(t *testing.T) {
	n := startRegisterModifiers(t, registerModifiers{"small": {MaxMessageSize: intp(200)}}, nil)
	small, ack := brokertest.Connect(t, n.Addr, packet.V5, "small", withUser("small"))
	if !ack.Properties.Has(packet.PropMaximumPacketSize) || ack.Properties.MaximumPacketSize != 200 {
		t.Fatalf("CONNACK Maximum Packet Size %d (present %v); want 200", ack.Properties.MaximumPacketSize, ack.Properties.Has(packet.PropMaximumPacketSize))
	}
	other, ack := brokertest.Connect(t, n.Addr, packet.V5, "other", withUser("other"))
	if ack.Properties.MaximumPacketSize != 1<<20 {
		t.Fatalf("a client without the modifier was announced Maximum Packet Size %d; want the node's 1 MB", ack.Properties.MaximumPacketSize)
	}
	big := []byte(strings.Repeat("b", 500))
	other.Publish(1, 1, false, "size/x", big)
	small.Publish(1, 1, false, "size/x", []byte(strings.Repeat("s", 100)))

	small.Send(&packet.Publish{PacketID: 2, QoS: 1, Topic: "size/x", Payload: big})
	if rc := small.ExpectDisconnect(); rc != packet.PacketTooLarge {
		t.Fatalf("DISCONNECT 0x%02X; want 0x95 packet too large", byte(rc))
	}
	other.Publish(2, 1, false, "size/x", big) // unaffected
}

// TestAuthOnRegisterMaxMessageSize311: MQTT 3.1.1 has no Maximum Packet Size to announce; a
// packet beyond the modified limit closes the connection.
func TestAuthOnRegisterMaxMessageSize311(t *testing.T) {
	n := startRegisterModifiers(t, registerModifiers{"small": {MaxMessageSize: intp(200)}}, nil)
	small, _ := brokertest.Connect(t, n.Addr, packet.V311, "small", withUser("small"))
	small.Publish(1, 1, false, "size/x", []byte(strings.Repeat("s", 100)))
	small.Send(&packet.Publish{PacketID: 2, QoS: 1, Topic: "size/x", Payload: []byte(strings.Repeat("b", 500))})
	if got := small.ExpectClosed(); len(got) != 0 {
		t.Fatalf("got %v before the close; want nothing", got)
	}
}

func boolp(v bool) *bool { return &v }

// TestAuthOnRegisterUpgradeQoS: the UpgradeQoS modifier is that session's
// upgrade_outgoing_qos, either way: "up" receives a QoS 0 publish at its subscription's QoS 1
// on a node that does not upgrade; on a node that does, "keep" receives it at QoS 0 while a
// client without the modifier is upgraded.
func TestAuthOnRegisterUpgradeQoS(t *testing.T) {
	mods := registerModifiers{"up": {UpgradeQoS: boolp(true)}, "keep": {UpgradeQoS: boolp(false)}}
	for _, nodeUpgrades := range []bool{false, true} {
		n := startRegisterModifiers(t, mods, func(c *config.Config) { c.Sessions.UpgradeOutgoingQoS = nodeUpgrades })
		want := map[string]byte{"up": 1, "keep": 0, "plain": 0}
		if nodeUpgrades {
			want["plain"] = 1
		}
		subs := map[string]*brokertest.Raw{}
		for user := range want {
			c, _ := brokertest.Connect(t, n.Addr, packet.V5, "sub-"+user, withUser(user))
			c.Subscribe(1, 1, "uq/#")
			subs[user] = c
		}
		pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub", withUser("pub"))
		pub.Publish(0, 0, false, "uq/x", []byte("m"))
		for user, c := range subs {
			if p := brokertest.ReadAs[*packet.Publish](t, c); p.QoS != want[user] {
				t.Fatalf("node upgrades %v, %s: delivered at QoS %d; want %d", nodeUpgrades, user, p.QoS, want[user])
			}
		}
	}
}

// publishSpy records the shared subscription policy each routed message carried.
type publishSpy struct {
	mu       sync.Mutex
	policies map[string]string // topic -> policy
}

func (s *publishSpy) OnPublish(_ context.Context, _ hooks.Client, m *message.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[m.Topic] = m.SharedPolicy
}

// TestAuthOnRegisterSharedSubPolicy: the SharedSubPolicy modifier travels with every message
// that client publishes, its will included, to the router's choice among a shared group's
// members (which TestSharedPolicyOfPublisher in broker/registry drives across two nodes).
func TestAuthOnRegisterSharedSubPolicy(t *testing.T) {
	spy := &publishSpy{policies: map[string]string{}}
	local := "local_only"
	n := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false },
		registerModifiers{"pinned": {SharedSubPolicy: &local}}, spy)
	pinned, _ := brokertest.Connect(t, n.Addr, packet.V311, "pinned", withUser("pinned", func(cp *packet.Connect) {
		cp.Will = &packet.Will{Topic: "sp/will", Payload: []byte("gone"), QoS: 1}
	}))
	pinned.Publish(1, 1, false, "sp/pinned", []byte("m"))
	other, _ := brokertest.Connect(t, n.Addr, packet.V311, "other", withUser("other"))
	other.Publish(1, 1, false, "sp/other", []byte("m"))
	pinned.Conn.Close() // no DISCONNECT: the will is published
	brokertest.Eventually(t, 5*time.Second, "the will", func() bool {
		spy.mu.Lock()
		defer spy.mu.Unlock()
		_, ok := spy.policies["sp/will"]
		return ok
	})
	spy.mu.Lock()
	defer spy.mu.Unlock()
	want := map[string]string{"sp/pinned": "local_only", "sp/will": "local_only", "sp/other": ""}
	for topic, p := range want {
		if spy.policies[topic] != p {
			t.Fatalf("%s carried policy %q; want %q (all: %v)", topic, spy.policies[topic], p, spy.policies)
		}
	}
}

func strp(v string) *string { return &v }

// TestAuthOnRegisterSessionModifiers: MaxMessageRate, RetryInterval, QueueType and
// QueueDeliverMode are that client's max_message_rate, retry_interval, queue_type and
// queue_deliver_mode; an unknown queue type refuses the client (0x83).
func TestAuthOnRegisterSessionModifiers(t *testing.T) {
	retry := 300 * time.Millisecond
	mods := registerModifiers{
		"slow":   {MaxMessageRate: intp(20)},
		"retry":  {RetryInterval: &retry},
		"lifo":   {QueueType: strp("lifo")},
		"bal":    {QueueDeliverMode: strp("balance")},
		"broken": {QueueType: strp("stack")},
	}
	n := startRegisterModifiers(t, mods, func(c *config.Config) {
		c.Sessions.RetryInterval = time.Minute
		c.Sessions.AllowMultipleSessions = true // fanout, unless the modifier says balance
	})

	// max_message_rate 20: 40 publishes written at once take about a second to be read.
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "m-sub", withUser("plain"))
	sub.Subscribe(1, 1, "m/#")
	slow, _ := brokertest.Connect(t, n.Addr, packet.V311, "m-slow", withUser("slow"))
	var burst []byte
	for i := range 40 {
		burst, _ = packet.Encode(burst, packet.V311, &packet.Publish{Topic: "m/rate", Payload: fmt.Appendf(nil, "%d", i)})
	}
	start := time.Now()
	slow.SendBytes(burst)
	for range 40 {
		brokertest.ReadAs[*packet.Publish](t, sub) // QoS 0
	}
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Fatalf("40 publishes at a modified max_message_rate of 20 were read in %v; want about 1 s", el)
	}

	// retry_interval 300 ms for "retry"; the node's minute for "plain".
	r, _ := brokertest.Connect(t, n.Addr, packet.V311, "m-retry", withUser("retry"))
	r.Subscribe(1, 1, "m/retry")
	sub.Subscribe(2, 1, "m/retry")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "m-pub", withUser("plain"))
	pub.Publish(1, 1, false, "m/retry", []byte("r"))
	first := brokertest.ReadAs[*packet.Publish](t, r)
	brokertest.ReadAs[*packet.Publish](t, sub) // not acknowledged either
	if again := brokertest.ReadAs[*packet.Publish](t, r); !again.Dup || again.PacketID != first.PacketID {
		t.Fatalf("retry: %+v; want the message again with DUP", again)
	}
	sub.NoPacket(500 * time.Millisecond)

	// queue_type lifo: offline messages come back newest first.
	offline := func(cp *packet.Connect) { cp.CleanStart = false }
	l, _ := brokertest.Connect(t, n.Addr, packet.V311, "m-lifo", withUser("lifo", offline))
	l.Subscribe(1, 1, "m/lifo")
	l.Send(&packet.Disconnect{})
	l.ExpectClosed()
	for i := range 3 {
		pub.Publish(uint16(i+2), 1, false, "m/lifo", fmt.Appendf(nil, "%d", i))
	}
	l, _ = brokertest.Connect(t, n.Addr, packet.V311, "m-lifo", withUser("lifo", offline))
	for _, want := range []string{"2", "1", "0"} {
		if p := brokertest.ReadAs[*packet.Publish](t, l); string(p.Payload) != want {
			t.Fatalf("lifo queue delivered %q; want %q", p.Payload, want)
		}
	}

	// queue_deliver_mode balance on a node that fans out: two connections, one message each.
	window1 := func(cp *packet.Connect) {
		cp.Properties.ReceiveMaximum = 1
		cp.Properties.SetPresent(packet.PropReceiveMaximum)
	}
	bs := connectShared(t, n.Addr, packet.V5, "m-bal", 2, withUser("bal", window1))
	bs[0].Subscribe(1, 1, "m/bal")
	pub.Publish(10, 1, false, "m/bal", []byte("a"))
	pub.Publish(11, 1, false, "m/bal", []byte("b"))
	got := string(readPublish(t, bs[0]).Payload) + string(readPublish(t, bs[1]).Payload)
	if got != "ab" && got != "ba" {
		t.Fatalf("balanced connections got %q; want one message each", got)
	}

	if _, ack := brokertest.Connect(t, n.Addr, packet.V5, "m-broken", withUser("broken")); ack.ReasonCode != packet.ImplementationSpecificError {
		t.Fatalf("unknown queue type: CONNACK %v; want 0x83", ack.ReasonCode)
	}
}

// denyWith refuses every publish with a fixed reason code.
type denyWith packet.ReasonCode

func (d denyWith) AuthOnPublish(context.Context, *hooks.Publish) hooks.PublishResult {
	return hooks.PublishResult{Verdict: hooks.Deny, Reason: packet.ReasonCode(d)}
}

// TestAuthOnPublishReasonNotForPuback: a plugin that refuses a publish with a reason code
// PUBACK and PUBREC cannot carry (0x8A Banned) still gets the client its acknowledgement, as
// Not authorized, instead of none.
func TestAuthOnPublishReasonNotForPuback(t *testing.T) {
	n := brokertest.Start(t, nil, denyWith(packet.Banned))
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "denied", nil)
	c.Send(&packet.Publish{Topic: "d/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := brokertest.ReadAs[*packet.Puback](t, c); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK %v; want Not authorized", a.ReasonCode)
	}
	c.Send(&packet.Publish{Topic: "d/x", QoS: 2, PacketID: 2, Payload: []byte("x")})
	if r := brokertest.ReadAs[*packet.Pubrec](t, c); r.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBREC %v; want Not authorized", r.ReasonCode)
	}
}
