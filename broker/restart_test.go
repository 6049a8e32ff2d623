package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestRestartKeepsSessionsInProcess restarts a broker on the same data directory: a persistent
// MQTT 5 session's subscription, offline messages (with their properties), QoS 2 receive state
// and expiry come back.
func TestRestartKeepsSessionsInProcess(t *testing.T) {
	dir := t.TempDir()
	mutate := func(c *config.Config) { c.Node.PlatformDataDir = dir }
	n := brokertest.Start(t, mutate)

	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "durable", func(c *packet.Connect) {
		c.CleanStart = false
		c.Properties.SessionExpiry = 3600
		c.Properties.SetPresent(packet.PropSessionExpiry)
	})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r/#", QoS: 2}}})
	sub.Read()
	// A QoS 2 message received from the subscriber itself and not yet released.
	sub.Send(&packet.Publish{Topic: "elsewhere", QoS: 2, PacketID: 7, Payload: []byte("once")})
	if _, ok := sub.Read().(*packet.Pubrec); !ok {
		t.Fatal("no PUBREC")
	}
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed()

	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub", nil)
	for i := range 5 {
		p := &packet.Publish{Topic: "r/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprintf("m%d", i))}
		p.Properties.ContentType = "text/plain"
		p.Properties.SetPresent(packet.PropContentType)
		pub.Send(p)
		pub.Read()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	n = brokertest.Start(t, mutate)
	back, ack := brokertest.Connect(t, n.Addr, packet.V5, "durable", func(c *packet.Connect) {
		c.CleanStart = false
		c.Properties.SessionExpiry = 3600
		c.Properties.SetPresent(packet.PropSessionExpiry)
	})
	if !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	for i := range 5 {
		p, ok := back.Read().(*packet.Publish)
		if !ok {
			t.Fatalf("expected PUBLISH %d", i)
		}
		if string(p.Payload) != fmt.Sprintf("m%d", i) || p.Properties.ContentType != "text/plain" {
			t.Fatalf("delivery %d: %q content type %q", i, p.Payload, p.Properties.ContentType)
		}
		back.Send(&packet.Puback{PacketID: p.PacketID})
	}
	// The QoS 2 receive state survived: a resend of id 7 is acknowledged, not routed again, and
	// PUBREL completes it.
	back.Send(&packet.Pubrel{PacketID: 7})
	if c, ok := back.Read().(*packet.Pubcomp); !ok || c.ReasonCode != packet.Success {
		t.Fatalf("PUBREL after restart: %+v", c)
	}
}

// TestRestartFinishesSentExpiredQoS2: a QoS 2 message sent to a persistent subscriber and not
// yet acknowledged is sent again with DUP after a broker restart, even though its expiry has
// passed meanwhile: once the PUBLISH went out, expiry no longer applies [MQTT-4.3.3-7].
func TestRestartFinishesSentExpiredQoS2(t *testing.T) {
	dir := t.TempDir()
	mutate := func(c *config.Config) { c.Node.PlatformDataDir = dir }
	n := brokertest.Start(t, mutate)
	durable := func(c *packet.Connect) {
		c.CleanStart = false
		c.Properties.SessionExpiry = 3600
		c.Properties.SetPresent(packet.PropSessionExpiry)
	}
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "durable2", durable)
	sub.Subscribe(1, 2, "q2/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub2", nil)
	publishExpiring(t, pub, "q2/x", "once")
	if got, ok := sub.Read().(*packet.Publish); !ok || string(got.Payload) != "once" {
		t.Fatalf("first delivery: %+v", got)
	}
	sub.Conn.Close() // no PUBREC: the exchange is left open
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the message's expiry passes while the broker is down

	n = brokertest.Start(t, mutate)
	back, ack := brokertest.Connect(t, n.Addr, packet.V5, "durable2", durable)
	if !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	got, ok := back.Read().(*packet.Publish)
	if !ok || string(got.Payload) != "once" || !got.Dup || got.QoS != 2 {
		t.Fatalf("after restart: %+v; want the QoS 2 message again with DUP", got)
	}
	back.Send(&packet.Pubrec{PacketID: got.PacketID})
	if rel, ok := back.Read().(*packet.Pubrel); !ok || rel.PacketID != got.PacketID {
		t.Fatalf("after PUBREC: %+v; want PUBREL", rel)
	}
}
