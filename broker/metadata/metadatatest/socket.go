package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
)

// OpenBackend starts a backend's node on a transport and an engine (opened with the
// backend's keyspaces); close stops it (the engine stays open).
type OpenBackend func(t cluster.Transport, e store.Engine) (s metadata.Store, close func(), err error)

// SocketCluster runs a backend's nodes over real cluster.Nodes: serf gossip and TCP peer links
// on loopback, RocksDB engines. A partition is a filter in front of each node's transport that
// drops traffic to and from the other side, the way a cut link does while serf still gossips.
// It implements Cluster, so RunCluster runs unchanged over real sockets.
type SocketCluster struct {
	t         *testing.T
	dirs      map[string]string
	keyspaces []store.Keyspace
	open      OpenBackend
	started   map[string]bool
	// addrs keeps each node's link and gossip addresses across restarts, as a node's config
	// does: a node coming back on new addresses would be a name conflict to serf.
	addrs map[string][2]string

	mu    sync.Mutex
	order []string
	cut   map[[2]string]bool
	nodes map[string]*socketNode
}

type socketNode struct {
	cl    *cluster.Node
	eng   *store.DB
	meta  metadata.Store
	close func()
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

// socketLog discards logs unless NAUTILUS_TEST_LOG is set.
func socketLog() *slog.Logger {
	if os.Getenv("NAUTILUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// NewSocketCluster starts n nodes of a backend; keyspaces are the backend's store keyspaces.
// The nodes stop when the test ends.
func NewSocketCluster(t *testing.T, n int, keyspaces []store.Keyspace, open OpenBackend) *SocketCluster {
	c := &SocketCluster{t: t, keyspaces: keyspaces, open: open, started: map[string]bool{}, dirs: map[string]string{}, addrs: map[string][2]string{}, cut: map[[2]string]bool{}, nodes: map[string]*socketNode{}}
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

func (c *SocketCluster) start(name string) error {
	cl, err := c.startTransport(name)
	if err != nil {
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
	eng, err := store.Open(store.Options{Dir: c.dirs[name], Sync: store.SyncOff, ExtraKeyspaces: c.keyspaces})
	if err != nil {
		cl.Close()
		return err
	}
	meta, closeMeta, err := c.open(&cutTransport{Transport: cl, c: c}, eng)
	if err != nil {
		eng.Close()
		cl.Close()
		return err
	}
	c.mu.Lock()
	c.nodes[name] = &socketNode{cl: cl, eng: eng, meta: meta, close: closeMeta}
	c.mu.Unlock()
	return nil
}

func (c *SocketCluster) stop(name string) error {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%s is down", name)
	}
	n.close()
	n.cl.Close()
	return n.eng.Close()
}

func (c *SocketCluster) close() {
	for _, name := range c.Nodes() {
		_ = c.stop(name)
	}
}

func (c *SocketCluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

func (c *SocketCluster) Store(name string) metadata.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[name]; n != nil {
		return n.meta
	}
	return socketDown{}
}

// Node returns a running node's store, or nil when it is down (for backend statistics).
func (c *SocketCluster) Node(name string) metadata.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[name]; n != nil {
		return n.meta
	}
	return nil
}

// Dir is a node's data directory.
func (c *SocketCluster) Dir(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirs[name]
}

// socketDown stands for a node that is down: every call fails.
type socketDown struct{}

var errDown = errors.New("metadatatest: node is down")

func (socketDown) Put(context.Context, metadata.FullPrefix, []byte, []byte) error { return errDown }
func (socketDown) Delete(context.Context, metadata.FullPrefix, []byte) error      { return errDown }
func (socketDown) Get(context.Context, metadata.FullPrefix, []byte) ([]byte, bool, error) {
	return nil, false, errDown
}
func (socketDown) Fold(context.Context, metadata.FullPrefix, func(k, v []byte) error) error {
	return errDown
}
func (socketDown) Subscribe(metadata.FullPrefix, bool) (<-chan metadata.Event, func()) {
	ch := make(chan metadata.Event)
	close(ch)
	return ch, func() {}
}
func (socketDown) GetRaw(context.Context, metadata.FullPrefix, []byte) ([]metadata.Value, metadata.Context, error) {
	return nil, nil, errDown
}
func (socketDown) PutRaw(context.Context, metadata.FullPrefix, []byte, metadata.Value, metadata.Context) error {
	return errDown
}

func (c *SocketCluster) Partition(groups ...[]string) {
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

func (c *SocketCluster) Heal() {
	c.mu.Lock()
	clear(c.cut)
	c.mu.Unlock()
}

func (c *SocketCluster) isCut(a, b string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[[2]string{a, b}]
}

func (c *SocketCluster) Settle(cond func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func (c *SocketCluster) Crash(name string) error   { return c.stop(name) }
func (c *SocketCluster) Restart(name string) error { return c.start(name) }

func (c *SocketCluster) Join(name string) error {
	c.mu.Lock()
	c.order = append(c.order, name)
	c.dirs[name] = c.t.TempDir()
	c.addrs[name] = [2]string{freeAddr(c.t), freeAddr(c.t)}
	c.mu.Unlock()
	return c.start(name)
}

func (c *SocketCluster) Leave(name string) error {
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
	c *SocketCluster
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
	c    *SocketCluster
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

// startTransport starts name's cluster node on its addresses. Free ports are picked before
// they are bound, so another process may take one in between: a node's first start then moves
// to new addresses; a restart must keep its own, as a configured node would.
func (c *SocketCluster) startTransport(name string) (*cluster.Node, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		addrs := c.addrs[name]
		_, started := c.started[name]
		c.mu.Unlock()
		cl, err := cluster.New(cluster.Options{Name: name, LinkAddr: addrs[0], GossipAddr: addrs[1], Serf: fastSerf(), Secret: []byte("nautilus-test-cluster-secret"),
			Logger: socketLog(), BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		err = cl.Start(context.Background())
		if err == nil {
			c.mu.Lock()
			c.started[name] = true
			c.mu.Unlock()
			return cl, nil
		}
		cl.Close()
		if started || attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		c.mu.Lock()
		c.addrs[name] = [2]string{freeAddr(c.t), freeAddr(c.t)}
		c.mu.Unlock()
	}
}
