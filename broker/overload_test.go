package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestOverloadShedsNewConnections fills the node-wide queue past overload.max_queued_messages
// with an offline persistent session: new clients are refused with Server busy while existing
// ones keep working, and admission resumes once the backlog is gone.
func TestOverloadShedsNewConnections(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Overload.MaxQueuedMessages = 5 })
	// A persistent subscriber goes offline, so QoS 1 messages queue up for it.
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "offline-sub", func(c *packet.Connect) { c.CleanStart = false })
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "load", QoS: 1}}})
	sub.Read()
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed()

	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "pub", nil)
	for i := range 10 {
		pub.Send(&packet.Publish{Topic: "load", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		pub.Read()
	}
	_, ack := brokertest.Connect(t, n.Addr, packet.V5, "newcomer", nil)
	if ack.ReasonCode != packet.ServerBusy {
		t.Fatalf("CONNACK while overloaded = %v; want server busy", ack.ReasonCode)
	}
	_, ack3 := brokertest.Connect(t, n.Addr, packet.V311, "newcomer3", nil)
	if ack3.ReasonCode == packet.Success {
		t.Fatal("MQTT 3.1.1 client admitted while overloaded")
	}
	// The connected publisher is not harmed.
	pub.Send(&packet.Pingreq{})
	if _, ok := pub.Read().(*packet.Pingresp); !ok {
		t.Fatal("existing connection stopped working while shedding")
	}
	// Draining the backlog ends the overload.
	back, _ := brokertest.Connect(t, n.Addr, packet.V311, "offline-sub", func(c *packet.Connect) { c.CleanStart = false })
	for i := 0; i < 10; {
		p := back.Read()
		if pp, ok := p.(*packet.Publish); ok {
			back.Send(&packet.Puback{PacketID: pp.PacketID})
			i++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		_, ack := brokertest.Connect(t, n.Addr, packet.V5, fmt.Sprintf("later-%d", i), nil)
		if ack.ReasonCode == packet.Success {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the backlog drained: %v", ack.ReasonCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
