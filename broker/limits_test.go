package broker_test

import (
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestReceiveMaxClientCapsTheWindow: receive_max_client lowers the Receive Maximum a client
// announces, so a client asking for 10 unacknowledged messages gets 2 at a time.
func TestReceiveMaxClientCapsTheWindow(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) {
		c.MQTT5.ReceiveMaxClient = 2
		c.Sessions.MaxInflightMessages = 0
	})
	sub, _ := brokertest.Connect(t, n.Addr, packet.V5, "windowed", func(c *packet.Connect) {
		c.Properties.ReceiveMaximum = 10
		c.Properties.SetPresent(packet.PropReceiveMaximum)
	})
	sub.Subscribe(1, 1, "w")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub", nil)
	for i := range 5 {
		pub.Publish(uint16(i+1), 1, false, "w", []byte{byte(i)})
	}
	var ids []uint16
	for range 2 {
		p, ok := sub.Read().(*packet.Publish)
		if !ok {
			t.Fatal("expected PUBLISH")
		}
		ids = append(ids, p.PacketID)
	}
	if p, err := sub.ReadErr(300 * time.Millisecond); err == nil {
		t.Fatalf("a third unacknowledged message arrived: %+v", p)
	}
	sub.Send(&packet.Puback{PacketID: ids[0]})
	if _, ok := sub.Read().(*packet.Publish); !ok {
		t.Fatal("no message after an acknowledgement freed the window")
	}
}
