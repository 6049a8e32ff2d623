package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/fault"
)

// nthWrite fails the nth store write (0-based) counted from when it is armed, once.
type nthWrite struct {
	armed atomic.Bool
	seen  atomic.Int32
	n     int32
}

func (f *nthWrite) MaybeError(op store.Op) error {
	if op != store.OpWrite || !f.armed.Load() {
		return nil
	}
	if f.seen.Add(1)-1 == f.n {
		return fault.ErrInjected
	}
	return nil
}

// TestQoS2ResendAfterPartialStoreIsDeliveredOnce is issue 15's QoS 2 finding made
// deterministic: the store fails while a QoS 2 message for two persistent subscribers is
// stored, as a crash would. The MQTT 3.1.1 publisher, which has no negative acknowledgement,
// is disconnected and resends with DUP, as the specification requires. Each subscriber must
// get the message exactly once. (The writes of one publish normally go to the engine in one
// batch, so here neither queue has it; when a batch boundary falls between the queues, the
// receipts make the resend skip those that have it: store/msgstore
// TestReceiptsAcrossWindows.)
func TestQoS2ResendAfterPartialStoreIsDeliveredOnce(t *testing.T) {
	faults := &nthWrite{n: 0}
	n, _ := brokertest.StartWith(t, nil, broker.Options{StoreFaults: faults})
	for _, id := range []string{"sub-a", "sub-b"} {
		sub, _ := brokertest.Connect(t, n.Addr, packet.V311, id, func(c *packet.Connect) { c.CleanStart = false })
		sub.Subscribe(1, 2, "q2/#")
		sub.Send(&packet.Disconnect{})
		sub.ExpectClosed()
	}
	persistent := func(c *packet.Connect) { c.CleanStart = false }
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "pub", persistent)
	faults.armed.Store(true)
	pub.Send(&packet.Publish{Topic: "q2/x", QoS: 2, PacketID: 7, Payload: []byte("once")})
	if got := pub.ExpectClosed(); len(got) != 0 {
		t.Fatalf("publisher got %v; want the connection closed without PUBREC", got)
	}
	pub, ack := brokertest.Connect(t, n.Addr, packet.V311, "pub", persistent)
	if !ack.SessionPresent {
		t.Fatal("publisher's session not present")
	}
	pub.Send(&packet.Publish{Topic: "q2/x", QoS: 2, PacketID: 7, Dup: true, Payload: []byte("once")})
	if r, ok := pub.Read().(*packet.Pubrec); !ok || r.PacketID != 7 {
		t.Fatalf("resend answered %+v; want PUBREC 7", r)
	}
	pub.Send(&packet.Pubrel{PacketID: 7})
	if c, ok := pub.Read().(*packet.Pubcomp); !ok || c.PacketID != 7 {
		t.Fatalf("PUBREL answered %+v; want PUBCOMP 7", c)
	}
	for _, id := range []string{"sub-a", "sub-b"} {
		sub, _ := brokertest.Connect(t, n.Addr, packet.V311, id, func(c *packet.Connect) { c.CleanStart = false })
		got := 0
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			p, err := sub.ReadErr(300 * time.Millisecond)
			if err != nil {
				break
			}
			switch p := p.(type) {
			case *packet.Publish:
				got++
				sub.Send(&packet.Pubrec{PacketID: p.PacketID})
			case *packet.Pubrel:
				sub.Send(&packet.Pubcomp{PacketID: p.PacketID})
			}
		}
		if got != 1 {
			t.Fatalf("%s received the message %d times; want exactly once", id, got)
		}
	}
}

// TestRestartResendsQoS2AsTheSamePackets: a persistent subscriber received two QoS 2
// messages and answered PUBREC for the first only; the broker restarts. MQTT says the server
// resends the PUBREL of the first and the PUBLISH of the second with DUP [MQTT-4.4.0-1], and
// both with their packet identifiers: a client that already released the first, or holds the
// second's identifier, would take a new PUBLISH or a new identifier for a new message and
// deliver it twice.
func TestRestartResendsQoS2AsTheSamePackets(t *testing.T) {
	dir := t.TempDir()
	mutate := func(c *config.Config) { c.Node.PlatformDataDir = dir }
	n := brokertest.Start(t, mutate)
	persistent := func(c *packet.Connect) { c.CleanStart = false }
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "q2sub", persistent)
	sub.Subscribe(1, 2, "q2/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "q2pub", nil)
	for i, payload := range []string{"first", "second"} {
		pub.Send(&packet.Publish{Topic: "q2/x", QoS: 2, PacketID: uint16(i + 1), Payload: []byte(payload)})
		pub.Read() // PUBREC
		pub.Send(&packet.Pubrel{PacketID: uint16(i + 1)})
		pub.Read() // PUBCOMP
	}
	ids := map[string]uint16{}
	for range 2 {
		p, ok := sub.Read().(*packet.Publish)
		if !ok {
			t.Fatalf("subscriber got %+v; want PUBLISH", p)
		}
		ids[string(p.Payload)] = p.PacketID
	}
	sub.Send(&packet.Pubrec{PacketID: ids["first"]})
	if r, ok := sub.Read().(*packet.Pubrel); !ok || r.PacketID != ids["first"] {
		t.Fatalf("PUBREC answered %+v; want PUBREL %d", r, ids["first"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	sub.ExpectClosed()

	n = brokertest.Start(t, mutate)
	back, ack := brokertest.Connect(t, n.Addr, packet.V311, "q2sub", persistent)
	if !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	if r, ok := back.Read().(*packet.Pubrel); !ok || r.PacketID != ids["first"] {
		t.Fatalf("first packet after restart = %+v; want PUBREL %d", r, ids["first"])
	}
	p, ok := back.Read().(*packet.Publish)
	if !ok || string(p.Payload) != "second" || !p.Dup || p.PacketID != ids["second"] {
		t.Fatalf("second packet after restart = %+v; want PUBLISH \"second\" DUP id %d", p, ids["second"])
	}
	back.Send(&packet.Pubcomp{PacketID: ids["first"]})
	back.Send(&packet.Pubrec{PacketID: ids["second"]})
	if r, ok := back.Read().(*packet.Pubrel); !ok || r.PacketID != ids["second"] {
		t.Fatalf("PUBREC answered %+v; want PUBREL", r)
	}
	back.Send(&packet.Pubcomp{PacketID: ids["second"]})
	back.NoPacket(300 * time.Millisecond)
}
