package cluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// testSerfConfig is memberlist's local profile with probe and gossip intervals short enough
// that a failure is detected in well under a second on loopback.
func testSerfConfig() *serf.Config {
	c := serf.DefaultConfig()
	ml := memberlist.DefaultLocalConfig()
	ml.ProbeInterval = 100 * time.Millisecond
	ml.ProbeTimeout = 50 * time.Millisecond
	ml.GossipInterval = 20 * time.Millisecond
	ml.PushPullInterval = time.Second
	ml.SuspicionMult = 2
	ml.SuspicionMaxTimeoutMult = 2
	ml.TCPTimeout = time.Second
	ml.DeadNodeReclaimTime = time.Millisecond // a restarted node may reuse its name at once
	c.MemberlistConfig = ml
	c.LeavePropagateDelay = 100 * time.Millisecond
	c.BroadcastTimeout = time.Second
	c.ReapInterval = time.Second
	return c
}

// testLogger discards logs unless NAUTILUS_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("NAUTILUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testSecret is the cluster secret of test nodes.
const testSecret = "nautilus-test-cluster-secret"

func testOptions(t testing.TB, name string) Options {
	return Options{
		Name: name, LinkAddr: "127.0.0.1:0", Serf: testSerfConfig(), Logger: testLogger(t),
		Secret:     []byte(testSecret),
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		PingInterval: 200 * time.Millisecond, IdleTimeout: 2 * time.Second,
	}
}

// startNode builds and starts a node; edit adjusts its options; the node closes at cleanup.
func startNode(t testing.TB, name string, edit func(*Options)) *Node {
	t.Helper()
	o := testOptions(t, name)
	if edit != nil {
		edit(&o)
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// cluster starts nodes with the given names, joins them to the first, and waits until every
// node sees all of them.
func startCluster(t testing.TB, names ...string) []*Node {
	t.Helper()
	nodes := make([]*Node, len(names))
	for i, name := range names {
		nodes[i] = startNode(t, name, nil)
	}
	for _, n := range nodes[1:] {
		if err := n.Join(nodes[0].GossipAddr()); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Sorted(slices.Values(names))
	for _, n := range nodes {
		waitFor(t, n.Name()+" sees all members", func() bool { return slices.Equal(n.Members(), want) })
	}
	return nodes
}

// Name is a test shorthand for Self.
func (n *Node) Name() string { return n.Self() }

// waitFor polls cond until it holds or 10 s pass; polling, not sleeping a fixed time, keeps
// the tests fast on an idle machine and tolerant on a loaded one.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLinked waits until a has a link up to b.
func waitLinked(t testing.TB, a, b *Node) {
	t.Helper()
	waitFor(t, a.Self()+" linked to "+b.Self(), func() bool {
		s, _ := a.Peer(b.Self())
		return s.Up
	})
}

// recorder is a Handler that records messages and answers requests with answer.
type recorder struct {
	mu     sync.Mutex
	msgs   []string
	froms  []string
	answer func(ctx context.Context, from string, req []byte) ([]byte, error)
}

func (r *recorder) HandleMessage(from string, msg []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(msg))
	r.froms = append(r.froms, from)
	r.mu.Unlock()
}

func (r *recorder) HandleRequest(ctx context.Context, from string, req []byte) ([]byte, error) {
	if r.answer != nil {
		return r.answer(ctx, from, req)
	}
	return append([]byte("echo:"), req...), nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// watchUntil reads events from ch until one matches node and kind.
func watchUntil(t testing.TB, ch <-chan MemberEvent, node, kind string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed before %s %s", node, kind)
			}
			if e.Node == node && e.Kind == kind {
				return
			}
		case <-timeout:
			t.Fatalf("no %q event for %s", kind, node)
		}
	}
}
