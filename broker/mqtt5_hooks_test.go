package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// testPlugin implements the auth hooks with fixed rules and records every notification.
type testPlugin struct {
	mu     sync.Mutex
	events []string
}

func (p *testPlugin) record(format string, args ...any) {
	p.mu.Lock()
	p.events = append(p.events, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func (p *testPlugin) has(e string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.events, e)
}

func (p *testPlugin) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func (p *testPlugin) wait(t *testing.T, e string) {
	t.Helper()
	brokertest.Eventually(t, waitFor, "hook event "+e, func() bool { return p.has(e) })
}

func (p *testPlugin) AuthOnRegister(_ context.Context, r *hooks.Register) hooks.RegisterResult {
	switch {
	case string(r.Password) == "bad":
		return hooks.RegisterResult{Verdict: hooks.Deny, Reason: packet.BadUserNameOrPassword}
	case r.Username == "tenant":
		mp, id := "t1", "renamed-"+r.ClientID
		return hooks.RegisterResult{Verdict: hooks.Allow, Mountpoint: &mp, ClientID: &id}
	}
	return hooks.RegisterResult{Verdict: hooks.Allow}
}

func (p *testPlugin) AuthOnPublish(_ context.Context, m *hooks.Publish) hooks.PublishResult {
	switch {
	case strings.HasPrefix(m.Topic, "deny/"):
		return hooks.PublishResult{Verdict: hooks.Deny, ReasonString: "denied by test plugin"}
	case m.Topic == "rewrite/in":
		to := "rewrite/out"
		return hooks.PublishResult{Verdict: hooks.Allow, Topic: &to, Payload: bytes.ToUpper(m.Payload)}
	}
	return hooks.PublishResult{Verdict: hooks.Allow}
}

func (p *testPlugin) AuthOnSubscribe(_ context.Context, s *hooks.Subscribe) hooks.SubscribeResult {
	out := slices.Clone(s.Topics)
	for i := range out {
		switch out[i].Filter {
		case "secret/#":
			out[i].QoS = 0x80
		case "down/#":
			out[i].QoS = 0
		}
	}
	return hooks.SubscribeResult{Verdict: hooks.Allow, Topics: out}
}

func (p *testPlugin) OnDeliver(_ context.Context, d *hooks.Deliver) hooks.DeliverResult {
	if d.Topic == "deliver/mod" {
		return hooks.DeliverResult{Verdict: hooks.Allow, Payload: []byte("modified for " + d.ClientID)}
	}
	return hooks.DeliverResult{Verdict: hooks.Next}
}

func (p *testPlugin) OnRegister(_ context.Context, c hooks.Client) {
	p.record("register %s/%s", c.Mountpoint, c.ClientID)
}
func (p *testPlugin) OnPublish(_ context.Context, c hooks.Client, m *message.Message) {
	p.record("publish %s %s %s", c.ClientID, m.Topic, m.Payload)
}
func (p *testPlugin) OnSubscribe(_ context.Context, c hooks.Client, ts []hooks.Topic) {
	for _, t := range ts {
		p.record("subscribe %s %s %d", c.ClientID, t.Filter, t.QoS)
	}
}
func (p *testPlugin) OnUnsubscribe(_ context.Context, c hooks.Client, fs []string) {
	p.record("unsubscribe %s %s", c.ClientID, strings.Join(fs, ","))
}
func (p *testPlugin) OnClientOffline(_ context.Context, c hooks.Client) {
	p.record("offline %s", c.ClientID)
}
func (p *testPlugin) OnClientGone(_ context.Context, c hooks.Client) { p.record("gone %s", c.ClientID) }
func (p *testPlugin) OnMessageDrop(_ context.Context, _, clientID string, m *message.Message, reason string) {
	p.record("drop %s %s %s", clientID, m.Topic, reason)
}

func startHooks(t *testing.T, mutate func(*config.Config)) (*brokertest.Node, *testPlugin) {
	plug := &testPlugin{}
	n := brokertest.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false // auth_on_register runs only without allow_anonymous
		if mutate != nil {
			mutate(c)
		}
	}, plug)
	return n, plug
}

func TestMQTT5HookAuthOnRegister(t *testing.T) {
	n, plug := startHooks(t, nil)
	_, ack, err := brokertest.DialPaho5(t, n.Addr, &paho.Connect{ClientID: "bad", CleanStart: true,
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("bad")}, nil)
	if err == nil || ack == nil || ack.ReasonCode != byte(packet.BadUserNameOrPassword) {
		t.Fatalf("bad password: CONNACK %+v err %v; want 0x86", ack, err)
	}

	// Mountpoint and client id modifiers: the session lives under t1/renamed-dev.
	tenant := brokertest.ConnectPaho5(t, n.Addr, "dev", func(cp *paho.Connect) {
		cp.UsernameFlag, cp.Username = true, "tenant"
	})
	plug.wait(t, "register t1/renamed-dev")
	tenant.Sub(t, 0, sub("iso/#", 1))
	outsider := brokertest.ConnectPaho5(t, n.Addr, "outsider", nil)
	outsider.Pub(t, &paho.Publish{Topic: "iso/x", QoS: 1, Payload: []byte("other tenant")})
	peer := brokertest.ConnectPaho5(t, n.Addr, "peer", func(cp *paho.Connect) { cp.UsernameFlag, cp.Username = true, "tenant" })
	peer.Pub(t, &paho.Publish{Topic: "iso/x", QoS: 1, Payload: []byte("same tenant")})
	if m := tenant.Next(t, waitFor); string(m.Payload) != "same tenant" {
		t.Fatalf("mountpoint t1 received %q", m.Payload)
	}
	tenant.NoMessage(t, 100*time.Millisecond)
	// The renamed id is the session's id: a client renamed to it takes it over.
	brokertest.ConnectPaho5(t, n.Addr, "dev", func(cp *paho.Connect) { cp.UsernameFlag, cp.Username = true, "tenant" })
	if d := tenant.ServerDisconnect(t, waitFor); d.ReasonCode != byte(packet.SessionTakenOver) {
		t.Fatalf("DISCONNECT 0x%02X", d.ReasonCode)
	}
}

func TestMQTT5HookAuthOnPublish(t *testing.T) {
	n, plug := startHooks(t, nil)
	s := brokertest.ConnectPaho5(t, n.Addr, "watch", nil)
	s.Sub(t, 0, sub("#", 1))
	pub := brokertest.ConnectPaho5(t, n.Addr, "hpub", nil)
	r := pub.Pub(t, &paho.Publish{Topic: "deny/x", QoS: 1, Payload: []byte("no")})
	if r.ReasonCode != byte(packet.NotAuthorized) {
		t.Fatalf("denied publish: PUBACK 0x%02X; want 0x87", r.ReasonCode)
	}
	if r.Properties == nil || r.Properties.ReasonString != "denied by test plugin" {
		t.Fatalf("reason string %+v; want the plugin's, problem information was requested", r.Properties)
	}
	pub.Pub(t, &paho.Publish{Topic: "rewrite/in", QoS: 1, Payload: []byte("shout")})
	if m := s.Next(t, waitFor); m.Topic != "rewrite/out" || string(m.Payload) != "SHOUT" {
		t.Fatalf("modified publish arrived as %q on %q", m.Payload, m.Topic)
	}
	plug.wait(t, "publish hpub rewrite/out SHOUT")
	if plug.count("publish hpub deny/") != 0 {
		t.Fatal("on_publish called for a refused message")
	}

	// Request Problem Information 0: no reason string on PUBACK [MQTT-3.1.2-29].
	quiet := brokertest.ConnectPaho5(t, n.Addr, "quiet", func(cp *paho.Connect) {
		cp.Properties = &paho.ConnectProperties{RequestProblemInfo: false}
	})
	r = quiet.Pub(t, &paho.Publish{Topic: "deny/y", QoS: 1, Payload: []byte("no")})
	if r.ReasonCode != byte(packet.NotAuthorized) || (r.Properties != nil && r.Properties.ReasonString != "") {
		t.Fatalf("PUBACK 0x%02X reason %q; want 0x87 without a reason string", r.ReasonCode, r.Properties.ReasonString)
	}
	s.NoMessage(t, 100*time.Millisecond)
}

func TestMQTT5HookAuthOnSubscribe(t *testing.T) {
	n, plug := startHooks(t, nil)
	c := brokertest.ConnectPaho5(t, n.Addr, "hsub", nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, _ := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{sub("open/#", 1), sub("secret/#", 1), sub("down/#", 2)}})
	if ack == nil || !bytes.Equal(ack.Reasons, []byte{1, 0x87, 0}) {
		t.Fatalf("SUBACK %+v; want [1 0x87 0]", ack)
	}
	plug.wait(t, "subscribe hsub down/# 0")
	if plug.has("subscribe hsub secret/# 1") {
		t.Fatal("on_subscribe told of a refused filter")
	}
	pub := brokertest.ConnectPaho5(t, n.Addr, "hsub-pub", nil)
	for _, topic := range []string{"secret/x", "down/x", "open/x"} {
		pub.Pub(t, &paho.Publish{Topic: topic, QoS: 2, Payload: []byte(topic)})
	}
	if m := c.Next(t, waitFor); m.Topic != "down/x" || m.QoS != 0 {
		t.Fatalf("got %q at QoS %d; want down/x downgraded to 0", m.Topic, m.QoS)
	}
	if m := c.Next(t, waitFor); m.Topic != "open/x" || m.QoS != 1 {
		t.Fatalf("got %q at QoS %d; want open/x at 1", m.Topic, m.QoS)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitFor)
	defer cancel2()
	if _, err := c.Unsubscribe(ctx2, &paho.Unsubscribe{Topics: []string{"open/#"}}); err != nil {
		t.Fatal(err)
	}
	plug.wait(t, "unsubscribe hsub open/#")
}

func TestMQTT5HookOnDeliver(t *testing.T) {
	n, _ := startHooks(t, nil)
	a := brokertest.ConnectPaho5(t, n.Addr, "da", nil)
	a.Sub(t, 0, sub("deliver/#", 1))
	b := brokertest.ConnectPaho5(t, n.Addr, "db", nil)
	b.Sub(t, 0, sub("deliver/#", 1))
	a.Pub(t, &paho.Publish{Topic: "deliver/mod", QoS: 1, Payload: []byte("original")})
	a.Pub(t, &paho.Publish{Topic: "deliver/plain", QoS: 1, Payload: []byte("original")})
	for _, c := range []*brokertest.Paho5{a, b} {
		if m := c.Next(t, waitFor); string(m.Payload) != "modified for "+c.ClientID() {
			t.Fatalf("%s got %q; want the per-subscriber payload from on_deliver", c.ClientID(), m.Payload)
		}
		if m := c.Next(t, waitFor); string(m.Payload) != "original" {
			t.Fatalf("%s got %q for a message on_deliver passed", c.ClientID(), m.Payload)
		}
	}
}

func TestMQTT5HookNotifications(t *testing.T) {
	n, plug := startHooks(t, func(c *config.Config) { c.Sessions.MaxOfflineMessages = 1 })
	c := brokertest.ConnectPaho5(t, n.Addr, "life", withExpiry(60))
	plug.wait(t, "register /life")
	c.Sub(t, 0, sub("life/#", 1))
	plug.wait(t, "subscribe life life/# 1")
	c.Disconnect(&paho.Disconnect{})
	plug.wait(t, "offline life")
	if plug.has("gone life") {
		t.Fatal("on_client_gone for a session that lives on")
	}
	pub := brokertest.ConnectPaho5(t, n.Addr, "life-pub", nil)
	for i := range 3 {
		pub.Pub(t, &paho.Publish{Topic: "life/q", QoS: 1, Payload: []byte{byte('0' + i)}})
	}
	plug.wait(t, "publish life-pub life/q 2")
	brokertest.Eventually(t, waitFor, "two queue_full drops", func() bool { return plug.count("drop life life/q queue_full") == 2 })

	short := brokertest.ConnectPaho5(t, n.Addr, "brief", nil)
	short.Disconnect(&paho.Disconnect{})
	plug.wait(t, "offline brief")
	plug.wait(t, "gone brief")
}
