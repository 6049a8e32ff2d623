package broker_test

import (
	"fmt"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestImmediateReconnectKeepsNewSubscriptions: a clean-session client disconnects, reconnects at
// once and subscribes again. The old session is still being torn down while the
// new one subscribes; the teardown must not remove the new session's subscriptions (it did:
// both are keyed by the client id).
func TestImmediateReconnectKeepsNewSubscriptions(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "bounce-pub", nil)
	for i := range 100 {
		c, _ := brokertest.Connect(t, n.Addr, packet.V311, "bouncer", nil)
		c.Subscribe(1, 1, "bounce")
		c.Send(&packet.Disconnect{}) // the broker tears the session down while the client is back
		again, _ := brokertest.Connect(t, n.Addr, packet.V311, "bouncer", nil)
		again.Subscribe(1, 1, "bounce")
		payload := fmt.Sprintf("m%d", i)
		pub.Publish(uint16(i+1), 1, false, "bounce", []byte(payload))
		if p, ok := again.Read().(*packet.Publish); !ok || string(p.Payload) != payload {
			t.Fatalf("round %d: got %+v; want %s", i, p, payload)
		}
		again.Conn.Close()
	}
}
