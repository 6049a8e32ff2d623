package broker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestMaxMessageRateThrottlesWithoutDropping: with max_message_rate = 20, a client that writes
// 60 QoS 0 PUBLISHes at once has them read at about 20 a second (a burst of 20, then one every
// 50 ms: about 2 s in all), and every one of them reaches the subscriber, in order.
func TestMaxMessageRateThrottlesWithoutDropping(t *testing.T) {
	const rate, total = 20, 60
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.MaxMessageRate = rate })
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "rate-sub", nil)
	sub.Subscribe(1, 0, "rate/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "rate-pub", nil)

	// All 60 in one write: the client sends as fast as it can, the broker decides the pace.
	var burst []byte
	for i := range total {
		b, err := packet.Encode(nil, packet.V311, &packet.Publish{Topic: "rate/x", Payload: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		burst = append(burst, b...)
	}
	start := time.Now()
	pub.SendBytes(burst)
	for i := range total {
		p := brokertest.ReadAs[*packet.Publish](t, sub)
		if got := string(p.Payload); got != fmt.Sprint(i) {
			t.Fatalf("message %d arrived as %q: lost or reordered", i, got)
		}
	}
	elapsed := time.Since(start)
	// (total-rate)/rate = 2 s in theory; the bound is generous, and there is no upper bound.
	if elapsed < 1500*time.Millisecond {
		t.Fatalf("%d messages at max_message_rate = %d arrived in %v; want about 2 s", total, rate, elapsed)
	}
	if d := n.Counter("queue_message_drop"); d != 0 {
		t.Fatalf("queue_message_drop = %d; throttling must not drop", d)
	}
	t.Logf("%d messages in %v", total, elapsed)
}

// dropRecorder records on_message_drop calls.
type dropRecorder struct {
	mu    sync.Mutex
	drops []string
}

func (r *dropRecorder) OnMessageDrop(_ context.Context, _, clientID string, m *message.Message, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drops = append(r.drops, clientID+" "+reason)
}

func (r *dropRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.drops)
}

// TestSlowConsumerDoesNotBlockPublisher: a subscriber that stops reading its socket fills the
// socket buffers and then its online queue (max_online_messages = 10). The publisher's QoS 1
// PUBACKs keep coming promptly all the while; the messages beyond the bound are dropped,
// counted as queue_message_drop_full and reported to on_message_drop as queue_full.
func TestSlowConsumerDoesNotBlockPublisher(t *testing.T) {
	rec := &dropRecorder{}
	n := brokertest.Start(t, func(c *config.Config) {
		c.Sessions.MaxOnlineMessages = 10
		c.Sessions.QueueType = config.QueueFIFO
	}, rec)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "stalled", nil)
	sub.Subscribe(1, 0, "flood/#")
	// From here on the subscriber's socket is not read until the end.
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "flooder", nil)

	payload := []byte(strings.Repeat("x", 64<<10))
	const total = 400 // 25 MiB: far more than loopback socket buffers hold
	var slowest time.Duration
	sent := 0
	for i := range total {
		sent++
		t0 := time.Now()
		pub.Publish(uint16(i%65535+1), 1, false, "flood/x", payload)
		slowest = max(slowest, time.Since(t0))
		if n.Counter("queue_message_drop_full") >= 20 && i >= 100 {
			break // the queue has been full for a while: enough to show it
		}
	}
	if slowest > 2*time.Second {
		t.Fatalf("a PUBACK took %v while the subscriber was stalled; the publisher was held up", slowest)
	}
	full := n.Counter("queue_message_drop_full")
	if full <= 0 {
		t.Fatalf("queue_message_drop_full = %d after %d messages to a stalled subscriber", full, total)
	}
	if all := n.Counter("queue_message_drop"); all < full {
		t.Fatalf("queue_message_drop = %d < queue_message_drop_full = %d", all, full)
	}
	drops := rec.seen()
	if len(drops) == 0 {
		t.Fatal("on_message_drop was not called")
	}
	for _, d := range drops {
		if d != "stalled queue_full" {
			t.Fatalf("on_message_drop reported %q; want stalled queue_full", d)
		}
	}
	if exists, online, _ := n.Session("", "stalled"); !exists || !online {
		t.Fatal("the stalled subscriber was disconnected; it should only lose messages")
	}
	// Reading again, the subscriber gets everything that was not dropped: each message was
	// either delivered or counted.
	got := 0
	for {
		p, err := sub.ReadErr(time.Second)
		if err != nil {
			break
		}
		if _, ok := p.(*packet.Publish); ok {
			got++
		}
	}
	if int64(got)+full != int64(sent) {
		t.Fatalf("received %d + dropped %d != published %d", got, full, sent)
	}
	t.Logf("slowest PUBACK %v; %d published, %d received after the stall, %d dropped as queue_full", slowest, sent, got, full)
}
