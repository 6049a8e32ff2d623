package swc_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/swc"
)

// fastConfig makes the real-time driver tests converge in tens of
// milliseconds.
func fastConfig() swc.Config {
	return swc.Config{
		TickInterval: 5 * time.Millisecond,
		SyncInterval: 15 * time.Millisecond,
		SyncLeeway:   10 * time.Millisecond,
		CallTimeout:  200 * time.Millisecond,
		SyncTimeout:  time.Second,
		GCInterval:   30 * time.Millisecond,
		Groups:       4,
	}
}

// driverCluster runs real Nodes (goroutines, wall clock) over a sim.Hub.
type driverCluster struct {
	t   testing.TB
	hub *sim.Hub
	cfg swc.Config

	mu       sync.Mutex
	order    []string
	storages map[string]*store.MemStorage
	engines  map[string]store.Engine
	nodes    map[string]*swc.Node
}

func newDriverCluster(t testing.TB, n int) *driverCluster {
	c := &driverCluster{t: t, hub: sim.NewHub(), cfg: fastConfig(), storages: map[string]*store.MemStorage{},
		engines: map[string]store.Engine{}, nodes: map[string]*swc.Node{}}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		c.order = append(c.order, name)
		c.storages[name] = store.NewMemStorage()
	}
	for _, name := range c.order {
		if err := c.start(name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.close)
	return c
}

func (c *driverCluster) start(name string) error {
	eng, err := store.OpenMemory(c.storages[name], store.Options{ExtraKeyspaces: swc.Keyspaces})
	if err != nil {
		return err
	}
	n, err := swc.Open(swc.Options{Config: c.cfg, Transport: c.hub.Transport(name), Engine: eng})
	if err != nil {
		eng.Close()
		return err
	}
	c.mu.Lock()
	c.engines[name], c.nodes[name] = eng, n
	c.mu.Unlock()
	return nil
}

func (c *driverCluster) stop(name string) error {
	c.mu.Lock()
	n, eng := c.nodes[name], c.engines[name]
	delete(c.nodes, name)
	delete(c.engines, name)
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%s is down", name)
	}
	n.Close()
	return eng.Close()
}

func (c *driverCluster) close() {
	for _, name := range slices.Clone(c.order) {
		_ = c.stop(name)
	}
}

func (c *driverCluster) node(name string) *swc.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

func (c *driverCluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// Store returns a view that finds the node's current incarnation.
func (c *driverCluster) Store(name string) metadata.Store {
	if n := c.node(name); n != nil {
		return n
	}
	return downStore{}
}

func (c *driverCluster) Partition(groups ...[]string) { c.hub.Partition(groups...) }
func (c *driverCluster) Heal()                        { c.hub.Heal() }
func (c *driverCluster) SetFailureDetection(on bool)  { c.hub.SetFailureDetection(on) }

func (c *driverCluster) Settle(cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func (c *driverCluster) Crash(name string) error   { return c.stop(name) }
func (c *driverCluster) Restart(name string) error { return c.start(name) }

func (c *driverCluster) Join(name string) error {
	c.mu.Lock()
	c.order = append(c.order, name)
	c.storages[name] = store.NewMemStorage()
	c.mu.Unlock()
	return c.start(name)
}

func (c *driverCluster) Leave(name string) error {
	c.hub.Remove(name)
	return c.stop(name)
}

// Wipe stops a node, throws its storage away and starts it again under the
// same name: a node that lost its disk.
func (c *driverCluster) Wipe(name string) error {
	if err := c.stop(name); err != nil {
		return err
	}
	c.mu.Lock()
	c.storages[name] = store.NewMemStorage()
	c.mu.Unlock()
	return c.start(name)
}

// downStore stands for a crashed node: every call fails.
type downStore struct{}

func (downStore) Put(context.Context, metadata.FullPrefix, []byte, []byte) error { return sim.ErrDown }
func (downStore) Delete(context.Context, metadata.FullPrefix, []byte) error      { return sim.ErrDown }
func (downStore) Get(context.Context, metadata.FullPrefix, []byte) ([]byte, bool, error) {
	return nil, false, sim.ErrDown
}
func (downStore) Fold(context.Context, metadata.FullPrefix, func(k, v []byte) error) error {
	return sim.ErrDown
}
func (downStore) Subscribe(metadata.FullPrefix, bool) (<-chan metadata.Event, func()) {
	ch := make(chan metadata.Event)
	close(ch)
	return ch, func() {}
}
func (downStore) GetRaw(context.Context, metadata.FullPrefix, []byte) ([]metadata.Value, metadata.Context, error) {
	return nil, nil, sim.ErrDown
}
func (downStore) PutRaw(context.Context, metadata.FullPrefix, []byte, metadata.Value, metadata.Context) error {
	return sim.ErrDown
}

func TestDriverSingleNodeContract(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		return newDriverCluster(t, 1).Store("n1")
	})
}

// TestDriverClusterContract runs the multi-node contract over real nodes:
// goroutines, wall-clock ticks, the in-process hub. The property test runs
// only a few seeds here: real time makes them slow and not reproducible;
// the simulator runs thousands.
func TestDriverClusterContract(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time cluster test")
	}
	metadatatest.RunCluster(t, func(t *testing.T, cfg metadatatest.ClusterConfig) metadatatest.Cluster {
		return newDriverCluster(t, cfg.Nodes)
	}, metadatatest.WithSeeds(3))
}

// TestDriverWipedNodeRejoins: a node that lost its disk comes back under
// the same name and a new replica id; it must not re-import keys deleted
// while it was away, and collection must complete (its old id departs).
func TestDriverWipedNodeRejoins(t *testing.T) {
	c := newDriverCluster(t, 3)
	fp := metadata.FullPrefix{Prefix: "vmq", Sub: "subscriber"}
	for i := range 20 {
		if err := c.Store(fmt.Sprintf("n%d", i%3+1)).Put(bg, fp, fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	count := func(n string) int {
		k := 0
		if err := c.Store(n).Fold(bg, fp, func(_, _ []byte) error { k++; return nil }); err != nil {
			return -1
		}
		return k
	}
	if !c.Settle(func() bool { return count("n3") == 20 }) {
		t.Fatal("no replication")
	}
	c.Partition([]string{"n3"})
	for i := range 10 {
		if err := c.Store("n1").Delete(bg, fp, fmt.Appendf(nil, "k%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Wipe("n3"); err != nil {
		t.Fatal(err)
	}
	c.Heal()
	ok := c.Settle(func() bool {
		for _, n := range c.Nodes() {
			st := c.node(n).Stats()
			if count(n) != 10 || st.Tombstones != 0 || st.DKM != 10 {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, n := range c.Nodes() {
			t.Logf("%s: %d keys, %+v", n, count(n), c.node(n).Stats())
		}
		t.Fatal("wiped node did not rejoin cleanly")
	}
}

// TestDriverPreventNonemptyJoin: a node with data refuses to join.
func TestDriverPreventNonemptyJoin(t *testing.T) {
	c := newDriverCluster(t, 1)
	n := c.node("n1")
	if err := n.Put(bg, metadata.FullPrefix{Prefix: "a", Sub: "b"}, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := n.Join("seed"); !errors.Is(err, swc.ErrNonemptyJoin) {
		t.Fatalf("Join of a node with data = %v; want ErrNonemptyJoin", err)
	}
}
