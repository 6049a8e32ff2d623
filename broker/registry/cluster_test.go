package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// testQueues is a node's set of subscriber queues.
type testQueues struct {
	mu     sync.Mutex
	q      map[queue.SubscriberID]*queue.Queue
	online map[queue.SubscriberID]bool
	moved  map[queue.SubscriberID]string // sessions that moved to another node
}

func newTestQueues() *testQueues {
	return &testQueues{q: map[queue.SubscriberID]*queue.Queue{}, online: map[queue.SubscriberID]bool{}}
}

func (t *testQueues) add(client string, online bool) *queue.Queue {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := queue.SubscriberID{ClientID: client}
	q := queue.New(queue.Policy{MaxOnline: -1, MaxOffline: -1}, nil)
	q.SetOnline(online)
	t.q[id], t.online[id] = q, online
	return q
}

func (t *testQueues) Queue(id queue.SubscriberID) *queue.Queue {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.q[id]
}

func (t *testQueues) MovedTo(id queue.SubscriberID) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	node, ok := t.moved[id]
	return node, ok
}

func (t *testQueues) Online(id queue.SubscriberID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.online[id]
}

// relay copies every metadata write of one in-memory store to the others, as a replication
// backend would (without its guarantees, which these tests do not need). before, when not nil,
// is called ahead of each copy to dst, so a test can hold replication to one node back.
// Each destination has its own copier, in write order, so that holding one back does not hold
// the others.
func relay(t testing.TB, stores map[string]*metadata.Memory, before func(dst string)) {
	type write struct {
		key []byte
		val metadata.Value
	}
	for name, src := range stores {
		for _, fp := range []metadata.FullPrefix{metadata.Subscribers, metadata.Retained} {
			ev, cancel := src.Subscribe(fp, false)
			t.Cleanup(cancel)
			copiers := map[string]chan write{}
			for other, dst := range stores {
				if other == name {
					continue
				}
				ch := make(chan write, 1<<12)
				copiers[other] = ch
				go func() {
					for w := range ch {
						if before != nil {
							before(other)
						}
						dst.PutRaw(context.Background(), fp, w.key, w.val, nil)
					}
				}()
			}
			go func() {
				defer func() {
					for _, ch := range copiers {
						close(ch)
					}
				}()
				for e := range ev {
					if !e.Local {
						continue
					}
					sibs, _, err := src.GetRaw(context.Background(), fp, e.Key)
					if err != nil || len(sibs) == 0 {
						continue
					}
					v, _ := metadata.Resolve(sibs)
					for _, ch := range copiers {
						ch <- write{e.Key, v}
					}
				}
			}()
		}
	}
}

type testNode struct {
	name   string
	tr     *cluster.LocalTransport
	meta   *metadata.Memory
	queues *testQueues
	reg    *Registry
	drops  atomic.Int64
}

func startNodes(t testing.TB, net *cluster.LocalNetwork, policy SharedPolicy, hold int, names ...string) map[string]*testNode {
	t.Helper()
	return startNodesRelay(t, net, policy, hold, nil, names...)
}

// startNodesRelay is startNodes with a hook on metadata replication (see relay).
func startNodesRelay(t testing.TB, net *cluster.LocalNetwork, policy SharedPolicy, hold int, before func(dst string), names ...string) map[string]*testNode {
	t.Helper()
	nodes := map[string]*testNode{}
	stores := map[string]*metadata.Memory{}
	for _, name := range names {
		n := &testNode{name: name, tr: net.Join(name), meta: metadata.NewMemory(name, nil), queues: newTestQueues()}
		stores[name] = n.meta
		nodes[name] = n
	}
	relay(t, stores, before)
	for _, n := range nodes {
		n.reg = startRegistry(t, n, policy, hold)
	}
	return nodes
}

func startRegistry(t testing.TB, n *testNode, policy SharedPolicy, hold int, edit ...func(*Options)) *Registry {
	t.Helper()
	o := Options{Node: n.name, SharedPolicy: policy, Transport: n.tr, HoldBytes: hold,
		AllowPublish: true, AllowSubscribe: true, AllowUnsubscribe: true,
		OnDrop: func(*message.Message, string, string) { n.drops.Add(1) }}
	for _, e := range edit {
		e(&o)
	}
	r, err := New(context.Background(), o, n.meta, n.queues, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pub(r *Registry, topic string, qos byte, payload string) {
	r.Publish(&message.Message{ID: message.NextID(), Topic: topic, QoS: qos, Payload: []byte(payload), From: "publisher"})
}

// takeAll drains q until it holds want deliveries (or times out) and returns the payloads.
func takeAll(t *testing.T, q *queue.Queue, want int) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		for _, d := range q.Take(nil, 1000, time.Now()) {
			got = append(got, string(d.Msg.Payload))
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // anything more would be a duplicate
	for _, d := range q.Take(nil, 1000, time.Now()) {
		got = append(got, string(d.Msg.Payload))
	}
	return got
}

func checkSeq(t *testing.T, got []string, n int, prefix string) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d messages, want %d: %v", len(got), n, got)
	}
	for i, p := range got {
		if want := fmt.Sprintf("%s%d", prefix, i); p != want {
			t.Fatalf("message %d = %q, want %q (order)", i, p, want)
		}
	}
}

// A publish on n1 reaches a subscriber on n2 once, in order, with the receiving node's merge
// rules (highest QoS of overlapping subscriptions, every subscription id, no-local).
func TestForwardAcrossNodes(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2", "n3")
	q := nodes["n2"].queues.add("sub", true)
	id := queue.SubscriberID{ClientID: "sub"}
	if _, err := nodes["n2"].reg.Subscribe(id, []session.Subscription{{Filter: "a/#", QoS: 1, SubID: 7}, {Filter: "a/+", QoS: 2, SubID: 9}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n1 learns the subscriptions", func() bool { return nodes["n1"].reg.Subscriptions() == 2 })
	for i := range 500 {
		pub(nodes["n1"].reg, "a/b", 2, fmt.Sprintf("m%d", i))
	}
	got := takeAll(t, q, 500)
	checkSeq(t, got, 500, "m")
	pub(nodes["n1"].reg, "a/b", 2, "last")
	ds := waitDeliveries(t, q, 1)
	if ds[0].QoS != 2 || len(ds[0].SubIDs) != 2 {
		t.Fatalf("merged delivery: QoS %d, sub ids %v; want 2 and both ids", ds[0].QoS, ds[0].SubIDs)
	}
	// n3 holds no subscriber: nothing is forwarded there.
	if s := nodes["n1"].reg.ForwardStats(); s.Forwarded != 501 {
		t.Fatalf("forwarded %d items, want 501 (one per message, to n2 only)", s.Forwarded)
	}
	// No-local is applied on the receiving node.
	if _, err := nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "publisher"}, []session.Subscription{{Filter: "a/#", QoS: 1, NoLocal: true}}); err != nil {
		t.Fatal(err)
	}
	pq := nodes["n2"].queues.add("publisher", true)
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 3 })
	pub(nodes["n1"].reg, "a/b", 1, "x")
	waitDeliveries(t, q, 1)
	if pq.Len() != 0 {
		t.Fatal("no-local subscription received its own client's message")
	}
	waitFor(t, "acks", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 })
}

func waitDeliveries(t *testing.T, q *queue.Queue, n int) []queue.Delivery {
	t.Helper()
	var ds []queue.Delivery
	waitFor(t, "deliveries", func() bool {
		ds = q.Take(ds, n-len(ds), time.Now())
		return len(ds) >= n
	})
	return ds
}

// While a peer is gone, QoS 1/2 messages for its subscribers are held (QoS 0 is dropped and
// counted) and delivered in order when it comes back; past the bound they are dropped and
// reported.
func TestForwardHoldsWhilePeerDown(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	id := queue.SubscriberID{ClientID: "sub"}
	q := nodes["n2"].queues.add("sub", false)
	nodes["n2"].reg.Subscribe(id, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 1 })

	net.Fail("n2")
	waitFor(t, "n1 sees n2 fail", func() bool { return len(nodes["n1"].reg.Unreachable()) == 1 })
	for i := range 100 {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
		pub(nodes["n1"].reg, "t", 0, "qos0")
	}
	if d := nodes["n1"].drops.Load(); d != 100 {
		t.Fatalf("%d drops reported, want 100 (the QoS 0 messages)", d)
	}
	// n2 comes back (a restart: a new transport and registry over the same queues).
	n2 := nodes["n2"]
	n2.tr = net.Join("n2")
	n2.reg.Close()
	n2.reg = startRegistry(t, n2, PreferLocal, 0)
	checkSeq(t, takeAll(t, q, 100), 100, "m")
	waitFor(t, "acks", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 })
}

func TestForwardHoldBound(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 2000, "n1", "n2")
	nodes["n2"].queues.add("sub", false)
	nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 1 })
	net.Fail("n2")
	for i := range 100 {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	s := nodes["n1"].reg.ForwardStats()
	if s.Held == 0 || s.Held >= 100 || int64(s.Dropped) != 100-s.Held || nodes["n1"].drops.Load() != int64(s.Dropped) {
		t.Fatalf("held %d, dropped %d, reported %d: want a bounded hold and every other message reported", s.Held, s.Dropped, nodes["n1"].drops.Load())
	}
}

// A lost frame (a cut link) is sent again after the missing ack and arrives once, in order.
func TestForwardResendsAfterLoss(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	q := nodes["n2"].queues.add("sub", true)
	nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 1 })
	pub(nodes["n1"].reg, "t", 1, "m0")
	waitDeliveries(t, q, 1)
	net.Cut("n1", "n2")
	for i := 1; i < 20; i++ {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	time.Sleep(100 * time.Millisecond)
	net.Heal("n1", "n2")
	for i := 20; i < 30; i++ {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	got := takeAll(t, q, 29)
	want := make([]string, 29)
	for i := range want {
		want[i] = fmt.Sprintf("m%d", i+1)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Shared subscription groups span nodes: each message goes to one member anywhere.
// sharedPair starts n1 and n2 with policy, each with one online member of the group g on
// filter s: a on n1, b on n2.
func sharedPair(t *testing.T, policy SharedPolicy) (nodes map[string]*testNode, qa, qb *queue.Queue) {
	t.Helper()
	nodes = startNodes(t, cluster.NewLocalNetwork(), policy, 0, "n1", "n2")
	qa = nodes["n1"].queues.add("a", true)
	qb = nodes["n2"].queues.add("b", true)
	nodes["n1"].reg.Subscribe(queue.SubscriberID{ClientID: "a"}, []session.Subscription{{Filter: "$share/g/s", QoS: 1}})
	nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "b"}, []session.Subscription{{Filter: "$share/g/s", QoS: 1}})
	waitFor(t, "both learn", func() bool {
		return nodes["n1"].reg.Subscriptions() == 2 && nodes["n2"].reg.Subscriptions() == 2
	})
	return nodes, qa, qb
}

func TestSharedAcrossNodes(t *testing.T) {
	for _, policy := range []SharedPolicy{Random, PreferOnlineBeforeLocal, PreferLocal, LocalOnly} {
		t.Run(string(policy), func(t *testing.T) {
			nodes, qa, qb := sharedPair(t, policy)
			const n = 200
			for i := range n {
				pub(nodes["n1"].reg, "s", 1, fmt.Sprint(i))
			}
			time.Sleep(100 * time.Millisecond)
			waitFor(t, "acks", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 })
			a, b := qa.Len(), qb.Len()
			if a+b != n {
				t.Fatalf("a got %d, b got %d: want %d in total", a, b, n)
			}
			switch policy {
			case PreferLocal, LocalOnly:
				if b != 0 {
					t.Fatalf("%s: remote member got %d with a local member online", policy, b)
				}
			default:
				if a == 0 || b == 0 {
					t.Fatalf("%s: a got %d, b got %d; want both", policy, a, b)
				}
			}
			// With the local member offline, prefer_local goes remote; local_only stays local.
			nodes["n1"].queues.mu.Lock()
			nodes["n1"].queues.online[queue.SubscriberID{ClientID: "a"}] = false
			nodes["n1"].queues.mu.Unlock()
			before := qb.Len()
			pub(nodes["n1"].reg, "s", 1, "x")
			time.Sleep(50 * time.Millisecond)
			wantRemote := policy != LocalOnly
			if got := qb.Len() > before; got != wantRemote {
				t.Fatalf("%s with local member offline: remote got it = %v", policy, got)
			}
		})
	}
}

// While a peer is unreachable the allow_*_during_netsplit settings decide; after it is back
// everything is accepted again.
func TestNetsplitPolicies(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	n1 := nodes["n1"]
	lenient := startRegistry(t, &testNode{name: "n1", tr: n1.tr, meta: n1.meta, queues: n1.queues}, PreferLocal, 0)
	n1.reg.opts.AllowPublish, n1.reg.opts.AllowSubscribe, n1.reg.opts.AllowUnsubscribe = false, false, false
	id := queue.SubscriberID{ClientID: "c"}
	net.Fail("n2")
	waitFor(t, "n1 sees n2 fail", func() bool { return len(n1.reg.Unreachable()) == 1 })
	if _, err := n1.reg.Publish(&message.Message{Topic: "t", QoS: 1}); err != ErrNetsplit {
		t.Fatalf("publish during netsplit: %v, want ErrNetsplit", err)
	}
	if _, err := n1.reg.Subscribe(id, []session.Subscription{{Filter: "t"}}); err != ErrNetsplit {
		t.Fatalf("subscribe during netsplit: %v", err)
	}
	if _, err := n1.reg.Unsubscribe(id, []string{"t"}); err != ErrNetsplit {
		t.Fatalf("unsubscribe during netsplit: %v", err)
	}
	waitFor(t, "the lenient registry sees n2 fail", func() bool { return len(lenient.Unreachable()) == 1 })
	if _, err := lenient.Subscribe(id, []session.Subscription{{Filter: "t"}}); err != nil {
		t.Fatalf("subscribe with allow_subscribe_during_netsplit: %v", err)
	}
	if _, err := lenient.Publish(&message.Message{Topic: "t", QoS: 1}); err != nil {
		t.Fatalf("publish with allow_publish_during_netsplit: %v", err)
	}
	net.Join("n2")
	waitFor(t, "n2 back", func() bool { return len(n1.reg.Unreachable()) == 0 })
	if _, err := n1.reg.Publish(&message.Message{Topic: "t", QoS: 1}); err != nil {
		t.Fatalf("publish after heal: %v", err)
	}
	// A member that fails and is forgotten (cluster.autoclean) ends the netsplit too.
	net.Fail("n2")
	waitFor(t, "n1 sees n2 fail again", func() bool { return len(n1.reg.Unreachable()) == 1 })
	net.Reap("n2")
	waitFor(t, "n2 reaped", func() bool { return len(n1.reg.Unreachable()) == 0 })
	if _, err := n1.reg.Publish(&message.Message{Topic: "t", QoS: 1}); err != nil {
		t.Fatalf("publish after n2 was reaped: %v", err)
	}
}

// TestSharedPolicyOfPublisher: a message carrying its publisher's shared subscription policy
// (auth_on_register's SharedSubPolicy) is placed by that policy, not the node's; an unknown
// name leaves the node's.
func TestSharedPolicyOfPublisher(t *testing.T) {
	nodes, qa, qb := sharedPair(t, Random)
	publish := func(policy string, n int) (a, b int) {
		a0, b0 := qa.Len(), qb.Len()
		for i := range n {
			nodes["n1"].reg.Publish(&message.Message{ID: message.NextID(), Topic: "s", QoS: 1, Payload: fmt.Appendf(nil, "%d", i), SharedPolicy: policy})
		}
		waitFor(t, "acks", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 && qa.Len()+qb.Len()-a0-b0 == n })
		return qa.Len() - a0, qb.Len() - b0
	}
	if a, b := publish("local_only", 100); a != 100 || b != 0 {
		t.Fatalf("publisher's local_only: a %d, b %d; want all local", a, b)
	}
	for _, p := range []string{"", "bogus"} {
		if a, b := publish(p, 200); a == 0 || b == 0 {
			t.Fatalf("policy %q (node's random): a %d, b %d; want both", p, a, b)
		}
	}
}

// TestUpgradeQoSPerSession: a session's own upgrade choice (queue.SetUpgradeQoS) overrides
// upgrade_outgoing_qos either way, for local and forwarded deliveries, plain and shared.
func TestUpgradeQoSPerSession(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	yes, no := true, false
	qUp := nodes["n1"].queues.add("up", true)
	qUp.SetUpgradeQoS(&yes)
	qDefault := nodes["n1"].queues.add("default", true)
	qRemote := nodes["n2"].queues.add("remote", true)
	qRemote.SetUpgradeQoS(&yes)
	qOff := nodes["n2"].queues.add("off", true)
	qOff.SetUpgradeQoS(&no)
	for _, c := range []struct {
		n, id, filter string
	}{{"n1", "up", "u"}, {"n1", "default", "u"}, {"n2", "remote", "u"}, {"n2", "remote", "$share/g/r"}, {"n2", "off", "o"}} {
		nodes[c.n].reg.Subscribe(queue.SubscriberID{ClientID: c.id}, []session.Subscription{{Filter: c.filter, QoS: 2}})
	}
	waitFor(t, "all learn", func() bool { return nodes["n1"].reg.Subscriptions() == 5 && nodes["n2"].reg.Subscriptions() == 5 })
	pub(nodes["n1"].reg, "u", 0, "u")
	pub(nodes["n1"].reg, "r", 1, "r")
	for _, c := range []struct {
		q    *queue.Queue
		n    int
		want byte
	}{{qUp, 1, 2}, {qDefault, 1, 0}, {qRemote, 2, 2}} {
		for _, d := range waitDeliveries(t, c.q, c.n) {
			if d.QoS != c.want {
				t.Fatalf("%s: QoS %d; want %d", d.Msg.Payload, d.QoS, c.want)
			}
		}
	}
	// A session that turned upgrading off keeps the published QoS on a node that upgrades.
	up := startRegistry(t, nodes["n2"], PreferLocal, 0, func(o *Options) { o.UpgradeQoS = true })
	up.Publish(&message.Message{ID: message.NextID(), Topic: "o", QoS: 1, Payload: []byte("o")})
	if ds := waitDeliveries(t, qOff, 1); ds[0].QoS != 1 {
		t.Fatalf("off: QoS %d; want 1", ds[0].QoS)
	}
}

// Items sent into a link that died with the receiver's process are unacknowledged: when the
// receiver comes back and newer items reach it first, it still takes the older ones when they
// are sent again, in order, instead of counting them as delivered.
func TestForwardReceiverRestartMidStream(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	q := nodes["n2"].queues.add("sub", false)
	nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return nodes["n1"].reg.Subscriptions() == 1 })
	pub(nodes["n1"].reg, "t", 1, "m0")
	checkSeq(t, takeAll(t, q, 1), 1, "m")
	waitFor(t, "m0 acknowledged", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 })

	net.Cut("n1", "n2") // m1 and m2 are sent, and lost with the dying process
	pub(nodes["n1"].reg, "t", 1, "m1")
	pub(nodes["n1"].reg, "t", 1, "m2")
	waitFor(t, "m1 and m2 sent", func() bool { return nodes["n1"].reg.ForwardStats().Forwarded == 3 })
	n2 := nodes["n2"]
	n2.reg.Close()
	net.Fail("n2")
	net.Heal("n1", "n2")
	n2.tr = net.Join("n2")
	n2.reg = startRegistry(t, n2, PreferLocal, 0)
	for i := 3; i < 10; i++ {
		pub(nodes["n1"].reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	got := takeAll(t, q, 9)
	want := make([]string, 9)
	for i := range want {
		want[i] = fmt.Sprintf("m%d", i+1)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	waitFor(t, "acks", func() bool { return nodes["n1"].reg.ForwardStats().Held == 0 })
}
