package broker_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestIdleConnectionKeepsOneGoroutine: a connection with nothing to send keeps only its reader,
// both after CONNECT and after it has received messages: its writer goroutine exits when idle
// and starts again for the next delivery. Two goroutines per idle connection were most of its
// memory (see docs/benchmarks.md).
func TestIdleConnectionKeepsOneGoroutine(t *testing.T) {
	n := brokertest.Start(t, nil)
	const conns = 100
	settle := func(limit int) int {
		deadline := time.Now().Add(3 * time.Second)
		for {
			g := runtime.NumGoroutine()
			if g <= limit || time.Now().After(deadline) {
				return g
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	g0 := runtime.NumGoroutine()
	limit := g0 + conns*3/2 // two goroutines per connection would be g0 + 200
	var cs []*brokertest.Raw
	for i := range conns {
		c, _ := brokertest.Connect(t, n.Addr, packet.V311, fmt.Sprintf("idle-%d", i), nil)
		c.Subscribe(1, 1, fmt.Sprintf("idle/%d", i))
		cs = append(cs, c)
	}
	if g := settle(limit); g > limit {
		t.Fatalf("%d goroutines for %d idle connections (%d before); want at most about one each", g-g0, conns, g0)
	}
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "idle-pub", nil)
	for round := range 3 {
		for i := range conns {
			pub.Publish(uint16(i+1), 1, false, fmt.Sprintf("idle/%d", i), []byte("x"))
		}
		for i, c := range cs {
			p := brokertest.ReadAs[*packet.Publish](t, c)
			if p.Topic != fmt.Sprintf("idle/%d", i) {
				t.Fatalf("round %d: connection %d got %q", round, i, p.Topic)
			}
			c.Send(&packet.Puback{PacketID: p.PacketID})
		}
		if g := settle(limit + 1); g > limit+1 {
			t.Fatalf("round %d: %d goroutines for %d connections idle again; want about one each", round, g-g0, conns+1)
		}
	}
}
