package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/nautilus-mq/nautilus/broker/admin"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/listener"
	"github.com/nautilus-mq/nautilus/broker/metrics"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// fakeNode is an admin.Node around a real cluster.Node, without a broker or a backend.
type fakeNode struct {
	reg  *metrics.Registry
	cn   *cluster.Node
	join func(addr string) error
}

func (f *fakeNode) Metrics() *metrics.Registry      { return f.reg }
func (f *fakeNode) ClusterNode() *cluster.Node      { return f.cn }
func (f *fakeNode) MetadataBackend() string         { return "fake" }
func (f *fakeNode) Listeners() []*listener.Listener { return nil }
func (f *fakeNode) Session(string, string) (bool, bool, session.ConnInfo) {
	return false, false, session.ConnInfo{}
}
func (f *fakeNode) LeaveCluster(context.Context, bool) (session.HandoffResult, error) {
	return session.HandoffResult{}, f.cn.Leave() // no sessions to hand off
}
func (f *fakeNode) JoinCluster(addr string) error {
	if f.join != nil {
		return f.join(addr)
	}
	return f.cn.Join(addr)
}

// fastSerf detects failures on loopback in well under a second.
func fastSerf() *serf.Config {
	c := serf.DefaultConfig()
	ml := memberlist.DefaultLocalConfig()
	ml.ProbeInterval = 100 * time.Millisecond
	ml.ProbeTimeout = 50 * time.Millisecond
	ml.GossipInterval = 20 * time.Millisecond
	ml.SuspicionMult = 2
	ml.SuspicionMaxTimeoutMult = 2
	c.MemberlistConfig = ml
	c.LeavePropagateDelay = 100 * time.Millisecond
	c.BroadcastTimeout = time.Second
	return c
}

// startFake runs a cluster node named name and an admin API for it.
func startFake(t *testing.T, name string, timeout time.Duration) (*fakeNode, *admin.Client) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cn, err := cluster.New(cluster.Options{Name: name, LinkAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0", Serf: fastSerf(), Logger: log,
		Secret: []byte("nautilus-test-cluster-secret")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cn.Close() })
	f := &fakeNode{reg: metrics.NewRegistry(), cn: cn}
	cfg := config.Default()
	cfg.Node.Nodename = name
	cfg.Admin.APIKey = testKey
	cfg.Admin.RequestTimeout = timeout
	cfg.Listeners = []config.Listener{config.NewListener(config.ListenerHTTP, "default", "127.0.0.1:0")}
	s, err := admin.Start(context.Background(), admin.Options{Node: f, Config: cfg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return f, &admin.Client{URL: "http://" + s.Addrs()[0].String(), Key: testKey}
}

func statusOf(t *testing.T, c *admin.Client, node string) string {
	t.Helper()
	info, err := c.Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range info.Members {
		if m.Node == node {
			return m.Status
		}
	}
	return ""
}

// TestClusterJoinLeaveRemove drives membership through the API: join, show, a refused removal
// of a live node, removal of a crashed one, and a node leaving by itself.
func TestClusterJoinLeaveRemove(t *testing.T) {
	ctx := context.Background()
	a, ca := startFake(t, "a", 5*time.Second)
	b, cb := startFake(t, "b", 5*time.Second)
	c, _ := startFake(t, "c", 5*time.Second)

	info, err := cb.Join(ctx, a.cn.GossipAddr())
	if err != nil {
		t.Fatal(err)
	}
	if !info.Clustered || info.Node != "b" || info.Backend != "fake" || len(info.Members) != 2 || info.Gossip != b.cn.GossipAddr() {
		t.Fatalf("after join: %+v", info)
	}
	if err := c.cn.Join(a.cn.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 5*time.Second, "a sees b and c alive", func() bool {
		return statusOf(t, ca, "b") == "alive" && statusOf(t, ca, "c") == "alive"
	})

	var ae *admin.APIError
	if _, err := ca.Leave(ctx, "c", false); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("removing a live node: %v", err)
	}
	if _, err := ca.Leave(ctx, "nobody", false); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("removing an unknown node: %v", err)
	}
	if _, err := ca.Join(ctx, "127.0.0.1:1"); !errors.As(err, &ae) || ae.Status != http.StatusBadGateway {
		t.Fatalf("joining nobody: %v", err)
	}

	_ = c.cn.Close() // c crashes
	brokertest.Eventually(t, 5*time.Second, "a sees c failed", func() bool { return statusOf(t, ca, "c") == "failed" })
	res, err := ca.Leave(ctx, "c", true)
	if err != nil || res.Action != "removed" || res.Node != "c" {
		t.Fatalf("removing the failed node: %+v %v", res, err)
	}
	brokertest.Eventually(t, 5*time.Second, "a and b forget c", func() bool {
		return statusOf(t, ca, "c") == "" && statusOf(t, cb, "c") == ""
	})

	res, err = cb.Leave(ctx, "", false)
	if err != nil || res.Action != "left" || res.Node != "b" || res.Note == "" {
		t.Fatalf("b leaving: %+v %v", res, err)
	}
	// The operator stops the node that left; the others see it leave, not fail (until then
	// gossip may show it "leaving").
	_ = b.cn.Close()
	brokertest.Eventually(t, 10*time.Second, "a sees b leave", func() bool {
		st := statusOf(t, ca, "b")
		return (st == "left" || st == "") && len(a.cn.Members()) == 1
	})
}

// TestRequestTimeout: a request that outlasts admin.request_timeout gets 503 with a JSON error.
func TestRequestTimeout(t *testing.T) {
	f, c := startFake(t, "slow", time.Second)
	release := make(chan struct{})
	defer close(release)
	f.join = func(string) error { <-release; return nil }
	start := time.Now()
	_, err := c.Join(context.Background(), "127.0.0.1:7946")
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Message != "the request did not finish within admin.request_timeout (1s)" {
		t.Fatalf("slow join: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout answer took %v", d)
	}
}
