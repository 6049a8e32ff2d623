package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

type offlineRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *offlineRecorder) OnOfflineMessage(_ context.Context, c hooks.Client, m *message.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, c.ClientID+" "+m.Topic+" "+string(m.Payload))
}

func (r *offlineRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestOnOfflineMessageHook: a message queued for an offline persistent session is reported to
// on_offline_message; one delivered to an online session is not.
func TestOnOfflineMessageHook(t *testing.T) {
	rec := &offlineRecorder{}
	n := brokertest.Start(t, nil, rec)
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "sleeper", func(c *packet.Connect) { c.CleanStart = false })
	sub.Subscribe(1, 1, "news/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V311, "pub", nil)
	pub.Publish(1, 1, false, "news/online", []byte("a"))
	sub.Read()
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed()
	for _, online, _ := n.Session("", "sleeper"); online; _, online, _ = n.Session("", "sleeper") {
		time.Sleep(5 * time.Millisecond) // the socket closes a moment before the session detaches
	}
	pub.Publish(2, 1, false, "news/offline", []byte("b"))
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.seen()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := rec.seen(); len(got) != 1 || got[0] != "sleeper news/offline b" {
		t.Fatalf("on_offline_message calls: %q; want the offline message only", got)
	}
}
