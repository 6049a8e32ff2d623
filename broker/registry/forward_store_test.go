package registry

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// flakyBacking is a queue store that refuses writes while failing is set, as a full disk does.
type flakyBacking struct {
	failing atomic.Bool
	mu      sync.Mutex
	ds      []queue.Delivery
}

func (b *flakyBacking) Append(d queue.Delivery) (uint64, queue.Durable, error) {
	if b.failing.Load() {
		return 0, nil, errors.New("injected: no space left on device")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	d.Seq = uint64(len(b.ds) + 1)
	b.ds = append(b.ds, d)
	return d.Seq, nil, nil
}

func (b *flakyBacking) Page(after, _ uint64, n int, _ bool, _ time.Time) ([]queue.Delivery, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []queue.Delivery
	for _, d := range b.ds {
		if d.Seq > after && len(out) < n {
			out = append(out, d)
		}
	}
	return out, 0, nil
}

func (b *flakyBacking) payloads() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, d := range b.ds {
		out = append(out, string(d.Msg.Payload))
	}
	return out
}

func (b *flakyBacking) Remove(...uint64) error                  { return nil }
func (b *flakyBacking) MarkSent(...queue.Sent) error            { return nil }
func (b *flakyBacking) Received(*message.Receipt) (bool, error) { return false, nil }
func (b *flakyBacking) Len() int                                { b.mu.Lock(); defer b.mu.Unlock(); return len(b.ds) }
func (b *flakyBacking) Clear() error                            { return nil }

// TestForwardAcksOnlyStored: a node acknowledges a forwarded QoS 1 message only once its
// persistent subscriber's store has it. While the store refuses writes the sender keeps the
// messages (nothing is acknowledged, nothing is lost), and once the store works again they
// arrive, once each and in order. Before, the receiver acknowledged them anyway and they were
// gone.
func TestForwardAcksOnlyStored(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	q := nodes["n2"].queues.add("sub", false)
	store := &flakyBacking{}
	q.SetBacking(store)
	nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 1 })

	store.failing.Store(true)
	for i := range 10 {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	time.Sleep(500 * time.Millisecond)
	if held := nodes["n1"].reg.ForwardStats().Held; held != 10 {
		t.Fatalf("sender holds %d messages while the receiver's store fails; want all 10", held)
	}
	store.failing.Store(false)
	waitFor(t, "the held messages stored", func() bool { return store.Len() == 10 })
	waitFor(t, "acks", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 })
	time.Sleep(100 * time.Millisecond)
	checkSeq(t, store.payloads(), 10, "m")
}

// TestMessagesFollowAMovedSession: a session moved from n2 to n3, but n1's table still names
// n2 (replication is slower than the move). What n1 forwards to n2 and what n2's own
// publishers route there is forwarded on to n3, in order, once; before, n2 found no session
// and the messages were lost.
func TestMessagesFollowAMovedSession(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2", "n3")
	id := queue.SubscriberID{ClientID: "sub"}
	nodes["n2"].queues.add("sub", true)
	nodes["n2"].reg.Subscribe(id, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 1 })

	// The move: n3 holds the session now, n2 forgets it and remembers where it went; the
	// subscriber table is left naming n2 everywhere.
	q3 := nodes["n3"].queues.add("sub", true)
	n2q := nodes["n2"].queues
	n2q.mu.Lock()
	delete(n2q.q, id)
	n2q.moved = map[queue.SubscriberID]string{id: "n3"}
	n2q.mu.Unlock()

	for i := range 20 {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	checkSeq(t, takeAll(t, q3, 20), 20, "m")
	for i := range 5 {
		pub(nodes["n2"].reg, "t", 1, fmt.Sprintf("l%d", i))
	}
	checkSeq(t, takeAll(t, q3, 5), 5, "l")
	waitFor(t, "acks", func() bool {
		return nodes["n1"].reg.ForwardStats().Held == 0 && nodes["n2"].reg.ForwardStats().Held == 0
	})
	if d := nodes["n2"].drops.Load(); d != 0 {
		t.Fatalf("n2 reported %d drops; want none", d)
	}
}
