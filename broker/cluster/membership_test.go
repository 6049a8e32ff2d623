package cluster

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMembershipJoinLeaveFail(t *testing.T) {
	nodes := startCluster(t, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	if !slices.Equal(b.Members(), []string{"a", "b", "c"}) {
		t.Fatalf("members %v", b.Members())
	}
	// Peers learn the link address from serf tags.
	if m := a.serf.Members(); len(m) != 3 {
		t.Fatalf("serf members %v", m)
	}
	for _, m := range a.serf.Members() {
		if m.Tags[tagLink] == "" {
			t.Fatalf("member %s has no link tag", m.Name)
		}
	}

	evA, stopA := a.Watch()
	defer stopA()
	evB, stopB := b.Watch()
	defer stopB()

	// Graceful leave: the others see "leave".
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	watchUntil(t, evA, "c", "leave")
	watchUntil(t, evB, "c", "leave")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := a.Members(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after leave: %v", got)
	}
	if err := a.Send("c", ChanRouting, []byte("x")); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("send to a departed node: %v", err)
	}

	// Abrupt close: a sees "fail".
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	watchUntil(t, evA, "b", "fail")
	if got := a.Members(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after fail: %v", got)
	}
	// A request to a node known dead fails without waiting.
	if _, err := a.Request(context.Background(), "b", ChanMetaRPC, nil); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("request to a dead node: %v", err)
	}
}

func TestWatchStopClosesChannel(t *testing.T) {
	a := startNode(t, "a", nil)
	ch, stop := a.Watch()
	stop()
	for range ch {
	}
}

func TestSeedsJoinInBackground(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", func(o *Options) { o.Seeds = []string{a.GossipAddr()} })
	waitFor(t, "b joined a via seeds", func() bool { return slices.Equal(b.Members(), []string{"a", "b"}) })
}

// A DNS seed name is resolved at each attempt; its records name gossip hosts, this node's own
// address left out.
func TestSeedsDNS(t *testing.T) {
	a := startNode(t, "a", nil)
	_, port, _ := net.SplitHostPort(a.GossipAddr())
	b := startNode(t, "b", func(o *Options) { o.SeedsDNS = net.JoinHostPort("localhost", port) })
	waitFor(t, "b joined a via the DNS seed", func() bool { return slices.Equal(b.Members(), []string{"a", "b"}) })

	// a's own name resolves to itself only: no seed yet, and the reason says so.
	a.opts.SeedsDNS = net.JoinHostPort("localhost", port)
	if seeds, err := a.seeds(context.Background()); err == nil || !strings.Contains(err.Error(), "names no other node") {
		t.Fatalf("seeds of a node whose DNS name resolves to itself: %v, %v", seeds, err)
	}
	a.opts.SeedsDNS = "no-such-host.invalid:1"
	if _, err := a.seeds(context.Background()); err == nil || !strings.Contains(err.Error(), "cluster.seeds_dns") {
		t.Fatalf("an unresolvable seed name: %v", err)
	}
	if _, err := (Options{Name: "x", LinkAddr: "127.0.0.1:1", SeedsDNS: "nameonly"}).withDefaults(); err == nil {
		t.Fatal("a DNS seed without a port was accepted")
	}
}

// With a gossip key, nodes holding it form a cluster; a node with another key, or none, cannot
// join them.
func TestGossipKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	withKey := func(k []byte) func(*Options) { return func(o *Options) { o.GossipKey = k } }
	a := startNode(t, "a", withKey(key))
	b := startNode(t, "b", withKey(key))
	if err := b.Join(a.GossipAddr()); err != nil {
		t.Fatalf("join with the same key: %v", err)
	}
	waitFor(t, "a and b see each other", func() bool { return slices.Equal(a.Members(), []string{"a", "b"}) })
	for name, k := range map[string][]byte{"c-other-key": []byte("fedcba9876543210fedcba9876543210"), "d-no-key": nil} {
		n := startNode(t, name, withKey(k))
		if err := n.Join(a.GossipAddr()); err == nil {
			t.Errorf("%s joined a cluster whose gossip key it does not have", name)
		}
	}
	if m := a.Members(); !slices.Equal(m, []string{"a", "b"}) {
		t.Fatalf("members after the refused joins: %v", m)
	}
	if _, err := (Options{Name: "x", LinkAddr: "127.0.0.1:1", GossipKey: []byte("short")}).withDefaults(); err == nil {
		t.Fatal("a 5-byte gossip key was accepted")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Name: "x", LinkAddr: "10.0.0.1:44053"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.GossipAddr != "10.0.0.1:44054" {
		t.Fatalf("gossip address derived as %q, want the link port + 1", o.GossipAddr)
	}
	for _, bad := range []Options{{LinkAddr: ":1"}, {Name: "x"}, {Name: "x", LinkAddr: "nohost"}, {Name: "x", LinkAddr: ":65535"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestFailedMemberReapedAfterAutoClean: a member that fails and does not come back within
// AutoClean is forgotten, and its peers hear "reap" (the end of the netsplit it caused).
func TestFailedMemberReapedAfterAutoClean(t *testing.T) {
	a := startNode(t, "a", func(o *Options) { o.AutoClean = 2 * time.Second })
	b := startNode(t, "b", nil)
	if err := b.Join(a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a sees b", func() bool { return slices.Equal(a.Members(), []string{"a", "b"}) })
	ev, stop := a.Watch()
	defer stop()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	watchUntil(t, ev, "b", "fail")
	start := time.Now()
	watchUntil(t, ev, "b", "reap")
	if since := time.Since(start); since < time.Second {
		t.Fatalf("reaped %v after the failure; AutoClean is 2s", since)
	}
	if slices.ContainsFunc(a.MemberList(), func(m MemberInfo) bool { return m.Node == "b" }) {
		t.Fatal("a still lists b after the reap")
	}
}
