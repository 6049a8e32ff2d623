package registry

import (
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// heldRelay holds metadata replication to one node until release is called.
type heldRelay struct {
	node string
	gate chan struct{}
	once sync.Once
}

func newHeldRelay(t *testing.T, node string) *heldRelay {
	h := &heldRelay{node: node, gate: make(chan struct{})}
	t.Cleanup(h.release)
	return h
}

func (h *heldRelay) before(dst string) {
	if dst == h.node {
		<-h.gate
	}
}

func (h *heldRelay) release() { h.once.Do(func() { close(h.gate) }) }

// With subscribe_waits_for_cluster, Subscribe returns only once the other node routes the new
// subscription, so a publish there right after it reaches the subscriber; replication to n2 is
// held back for a while to make the wait visible.
func TestSubscribeWaitsForCluster(t *testing.T) {
	net := cluster.NewLocalNetwork()
	held := newHeldRelay(t, "n2")
	nodes := startNodesRelay(t, net, PreferLocal, 0, held.before, "n1", "n2")
	n1, n2 := nodes["n1"], nodes["n2"]
	n1.reg.opts.SubscribeWaitsForCluster = true
	q := n1.queues.add("sub", true)

	const hold = 300 * time.Millisecond
	time.AfterFunc(hold, held.release)
	start := time.Now()
	if _, err := n1.reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "w/+", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < hold-50*time.Millisecond {
		t.Fatalf("Subscribe returned after %v, before n2 could hold the route (%v)", took, hold)
	}
	if n := n2.reg.Subscriptions(); n != 1 {
		t.Fatalf("n2 routes %d subscriptions right after Subscribe returned, want 1", n)
	}
	pub(n2.reg, "w/x", 1, "right-after")
	if ds := waitDeliveries(t, q, 1); string(ds[0].Msg.Payload) != "right-after" {
		t.Fatalf("delivered %q", ds[0].Msg.Payload)
	}

	// A change of QoS is a new route too: the wait covers it.
	if _, err := n1.reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "w/+", QoS: 2}}); err != nil {
		t.Fatal(err)
	}
	pub(n2.reg, "w/x", 2, "upgraded")
	if ds := waitDeliveries(t, q, 1); ds[0].QoS != 2 {
		t.Fatalf("delivery after the QoS change has QoS %d, want 2", ds[0].QoS)
	}
}

// A peer that does not apply the route in time delays SUBACK by the timeout only; a failed
// peer is not waited for at all.
func TestSubscribeWaitTimeout(t *testing.T) {
	net := cluster.NewLocalNetwork()
	held := newHeldRelay(t, "n2") // released only at the end of the test
	nodes := startNodesRelay(t, net, PreferLocal, 0, held.before, "n1", "n2")
	n1 := nodes["n1"]
	n1.reg.opts.SubscribeWaitsForCluster = true
	n1.reg.opts.SubscribeWaitTimeout = 200 * time.Millisecond

	start := time.Now()
	if _, err := n1.reg.Subscribe(queue.SubscriberID{ClientID: "a"}, []session.Subscription{{Filter: "t/1", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 3*time.Second {
		t.Fatalf("Subscribe with a stuck peer took %v, want about the 200ms timeout", took)
	}

	net.Fail("n2")
	waitFor(t, "n1 sees n2 fail", func() bool { return len(n1.reg.Unreachable()) == 1 })
	start = time.Now()
	if _, err := n1.reg.Subscribe(queue.SubscriberID{ClientID: "b"}, []session.Subscription{{Filter: "t/2", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("Subscribe waited %v for a failed peer", took)
	}
}
