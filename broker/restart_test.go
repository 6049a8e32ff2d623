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
