package plumtree_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
)

// socketCluster runs Plumtree nodes over real cluster.Nodes: serf gossip and TCP peer links on
// loopback, RocksDB engines. A partition is a filter in front of each node's transport that
// drops traffic to and from the other side, the way a cut link does while serf still gossips.
type socketCluster struct {
	t    *testing.T
	dirs map[string]string
	// addrs keeps each node's link and gossip addresses across restarts, as a node's config
	// does: a node coming back on new addresses would be a name conflict to serf.
	addrs map[string][2]string

	mu    sync.Mutex
	order []string
	cut   map[[2]string]bool
	nodes map[string]*socketNode
}

type socketNode struct {
	cl   *cluster.Node
	eng  *store.DB
	meta *plumtree.Node
}

func fastSerf() *serf.Config {
	c := serf.DefaultConfig()
	ml := memberlist.DefaultLocalConfig()
	ml.ProbeInterval = 100 * time.Millisecond
	ml.ProbeTimeout = 50 * time.Millisecond
	ml.GossipInterval = 20 * time.Millisecond
	ml.SuspicionMult = 2
	ml.DeadNodeReclaimTime = time.Millisecond
	c.MemberlistConfig = ml
	c.LeavePropagateDelay = 100 * time.Millisecond
	c.ReapInterval = time.Second
	return c
}

// freeAddr returns a loopback address with a port free for TCP and UDP at the time of asking.
func freeAddr(t *testing.T) string {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if u, err := net.ListenPacket("udp", addr); err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

// testLog discards logs unless NAUTILUS_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("NAUTILUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newSocketCluster(t *testing.T, n int) *socketCluster {
	c := &socketCluster{t: t, dirs: map[string]string{}, addrs: map[string][2]string{}, cut: map[[2]string]bool{}, nodes: map[string]*socketNode{}}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		c.order = append(c.order, name)
		c.dirs[name] = t.TempDir()
		c.addrs[name] = [2]string{freeAddr(t), freeAddr(t)}
		if err := c.start(name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.close)
	return c
}

func (c *socketCluster) start(name string) error {
	c.mu.Lock()
	addrs := c.addrs[name]
	c.mu.Unlock()
	cl, err := cluster.New(cluster.Options{Name: name, LinkAddr: addrs[0], GossipAddr: addrs[1], Serf: fastSerf(),
		Logger: testLog(), BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := cl.Start(context.Background()); err != nil {
		return err
	}
	c.mu.Lock()
	var seeds []string
	for other, o := range c.nodes {
		if other != name {
			seeds = append(seeds, o.cl.GossipAddr())
		}
	}
	c.mu.Unlock()
	if len(seeds) > 0 {
		if err := cl.Join(seeds...); err != nil {
			cl.Close()
			return err
		}
	}
	eng, err := store.Open(store.Options{Dir: c.dirs[name], Sync: store.SyncOff, ExtraKeyspaces: []store.Keyspace{plumtree.Keyspace}})
	if err != nil {
		cl.Close()
		return err
	}
	meta, err := plumtree.Open(plumtree.Options{Config: fastConfig(), Transport: &cutTransport{Transport: cl, c: c}, Engine: eng, Logger: testLog()})
	if err != nil {
		eng.Close()
		cl.Close()
		return err
	}
	c.mu.Lock()
	c.nodes[name] = &socketNode{cl: cl, eng: eng, meta: meta}
	c.mu.Unlock()
	return nil
}

func (c *socketCluster) stop(name string) error {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%s is down", name)
	}
	n.meta.Close()
	n.cl.Close()
	return n.eng.Close()
}

func (c *socketCluster) close() {
	for _, name := range c.Nodes() {
		_ = c.stop(name)
	}
}

func (c *socketCluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

func (c *socketCluster) Store(name string) metadata.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[name]; n != nil {
		return n.meta
	}
	return downStore{}
}

func (c *socketCluster) Partition(groups ...[]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	group := map[string]int{}
	for i, g := range groups {
		for _, n := range g {
			group[n] = i + 1
		}
	}
	clear(c.cut)
	for _, a := range c.order {
		for _, b := range c.order {
			if group[a] != group[b] {
				c.cut[[2]string{a, b}] = true
			}
		}
	}
}

func (c *socketCluster) Heal() {
	c.mu.Lock()
	clear(c.cut)
	c.mu.Unlock()
}

func (c *socketCluster) isCut(a, b string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[[2]string{a, b}]
}

func (c *socketCluster) Settle(cond func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func (c *socketCluster) Crash(name string) error   { return c.stop(name) }
func (c *socketCluster) Restart(name string) error { return c.start(name) }

func (c *socketCluster) Join(name string) error {
	c.mu.Lock()
	c.order = append(c.order, name)
	c.dirs[name] = c.t.TempDir()
	c.addrs[name] = [2]string{freeAddr(c.t), freeAddr(c.t)}
	c.mu.Unlock()
	return c.start(name)
}

func (c *socketCluster) Leave(name string) error {
	c.mu.Lock()
	n := c.nodes[name]
	c.mu.Unlock()
	if n != nil {
		n.cl.Leave()
	}
	return c.stop(name)
}

// cutTransport drops what a partition would: sends to, and messages from, the other side.
type cutTransport struct {
	cluster.Transport
	c *socketCluster
}

func (t *cutTransport) Send(node string, ch cluster.Channel, msg []byte) error {
	if t.c.isCut(t.Self(), node) {
		return nil // lost on the wire
	}
	return t.Transport.Send(node, ch, msg)
}

func (t *cutTransport) Request(ctx context.Context, node string, ch cluster.Channel, req []byte) ([]byte, error) {
	if t.c.isCut(t.Self(), node) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return t.Transport.Request(ctx, node, ch, req)
}

func (t *cutTransport) Handle(ch cluster.Channel, h cluster.Handler) {
	t.Transport.Handle(ch, cutHandler{h: h, self: t.Self(), c: t.c})
}

type cutHandler struct {
	h    cluster.Handler
	self string
	c    *socketCluster
}

func (h cutHandler) HandleMessage(from string, msg []byte) {
	if !h.c.isCut(from, h.self) {
		h.h.HandleMessage(from, msg)
	}
}

func (h cutHandler) HandleRequest(ctx context.Context, from string, req []byte) ([]byte, error) {
	if h.c.isCut(from, h.self) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.h.HandleRequest(ctx, from, req)
}

// TestSocketClusterContract runs the unchanged multi-node contract over real sockets and
// RocksDB: serf membership, TCP peer links, persisted restarts.
func TestSocketClusterContract(t *testing.T) {
	if testing.Short() {
		t.Skip("real-network cluster test")
	}
	metadatatest.RunCluster(t, func(t *testing.T, cfg metadatatest.ClusterConfig) metadatatest.Cluster {
		return newSocketCluster(t, cfg.Nodes)
	}, metadatatest.WithSeeds(2))
}
