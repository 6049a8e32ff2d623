package broker_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/store"
)

// syncGate holds every sync of the store, once armed, until it is opened, as a slow disk would.
type syncGate struct {
	armed atomic.Bool
	open  chan struct{}
}

func (g *syncGate) MaybeError(op store.Op) error {
	if op == store.OpSync && g.armed.Load() {
		<-g.open
	}
	return nil
}

// TestPubackWaitsForTheSyncAndKeepsOrder: with store.sync = batch, a publisher that pipelines
// QoS 1 and QoS 2 messages for a persistent subscriber gets no acknowledgement while the sync
// that makes them durable has not happened, and then every acknowledgement, in the order of the
// PUBLISHes [MQTT-4.6.0-2] [MQTT-4.6.0-3], the refused and the unmatched ones included. The
// reader goes on reading meanwhile: a PINGREQ behind the PUBLISHes is answered at once.
func TestPubackWaitsForTheSyncAndKeepsOrder(t *testing.T) {
	gate := &syncGate{open: make(chan struct{})}
	n, _ := brokertest.StartWith(t, func(c *config.Config) { c.Store.Sync = "batch" }, broker.Options{StoreFaults: gate})
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "keeper", func(c *packet.Connect) {
		c.CleanStart = false
		c.Properties.SessionExpiry = 3600
		c.Properties.SetPresent(packet.PropSessionExpiry)
	})
	sub.Subscribe(1, 2, "acks/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub", nil)
	gate.armed.Store(true)
	const N = 20
	for i := range N {
		topic := "acks/x"
		if i == 7 {
			topic = "nobody/listens" // acknowledged at once, but not before those ahead of it
		}
		pub.Send(&packet.Publish{Topic: topic, QoS: byte(1 + i%2), PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	pub.Send(&packet.Pingreq{})
	if p, err := pub.ReadErr(2 * time.Second); err != nil {
		t.Fatalf("no PINGRESP while the sync is held: %v", err)
	} else if _, ok := p.(*packet.Pingresp); !ok {
		t.Fatalf("got %+v before the sync; want only the PINGRESP", p)
	}
	pub.NoPacket(300 * time.Millisecond)
	close(gate.open)
	for i := range N {
		p := pub.Read()
		var id uint16
		var rc packet.ReasonCode
		switch a := p.(type) {
		case *packet.Puback:
			id, rc = a.PacketID, a.ReasonCode
		case *packet.Pubrec:
			id, rc = a.PacketID, a.ReasonCode
		default:
			t.Fatalf("acknowledgement %d: got %+v", i, p)
		}
		want := packet.Success
		if i == 7 {
			want = packet.NoMatchingSubscribers
		}
		if id != uint16(i+1) || rc != want {
			t.Fatalf("acknowledgement %d: packet id %d code %v; want id %d code %v", i, id, rc, i+1, want)
		}
	}
}
