package metadatatest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// Cluster is a running multi-node cluster under test: a simulated one or
// real nodes. Node names must not start with "metadatatest-".
type Cluster interface {
	// Nodes returns the names of the nodes created so far, in creation
	// order (crashed and departed ones included).
	Nodes() []string
	// Store returns a node's Store. While the node is down its operations
	// fail.
	Store(node string) metadata.Store
	// Partition splits the network into groups (nodes in no group form one
	// more group); Heal ends it.
	Partition(groups ...[]string)
	Heal()
	// Settle lets the cluster work (simulated or real time passes) until
	// cond holds, and reports whether it did before the cluster's bound.
	// cond may call the stores; it is checked before any time passes.
	Settle(cond func() bool) bool
	// Crash stops a node, keeping only what it persisted; Restart starts it
	// again from that.
	Crash(node string) error
	Restart(node string) error
	// Join adds a node with empty storage to the cluster.
	Join(node string) error
	// Leave removes a node from the cluster for good.
	Leave(node string) error
}

// Faults is implemented by clusters over a simulated network, which the
// property test then makes lossy: messages are dropped and duplicated with
// these probabilities (delays, and so reordering, are the cluster's own).
type Faults interface {
	SetFaults(loss, dup float64)
}

// FailureDetector is implemented by clusters whose membership layer can be
// made to report unreachable members failed (a simulated cluster). In
// production serf does so by itself: cluster.Transport.Members drops a
// member that crashed, is paused (SIGSTOP) or is cut off by a partition,
// just as it drops one that left, and lists it again when it is back. On,
// a partition or a crash therefore also changes each node's member list;
// off, only messages are lost. The suite turns it on where it matters.
type FailureDetector interface {
	SetFailureDetection(on bool)
}

// Waiter is implemented by clusters that can let time pass without a
// condition (simulated time); the property test interleaves it with
// operations so that writes race with replication.
type Waiter interface {
	Wait(d time.Duration)
}

// reportErr logs the cluster's internal failure, when it can tell one
// (a simulator records the first error a core or engine returned).
func reportErr(t *testing.T, c Cluster) {
	t.Helper()
	if e, ok := c.(interface{ Err() error }); ok && e.Err() != nil {
		t.Errorf("cluster failure: %v", e.Err())
	}
}

// ClusterConfig is what RunCluster asks of a cluster factory.
type ClusterConfig struct {
	// Nodes is the number of nodes to start with, all members.
	Nodes int
	// Seed, for simulated clusters, seeds every random choice.
	Seed uint64
}

// ClusterOption adjusts RunCluster.
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	eventTimeout time.Duration
	seeds        int
	extraSeeds   []uint64
	ops          int
}

// WithClusterEventTimeout bounds the wait for an expected event (default
// 10s of real time).
func WithClusterEventTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.eventTimeout = d }
}

// WithSeeds sets how many seeds the property test runs (default 200); the
// property test with failure detection and PartitionedSetsAndDeletes run a
// quarter as many.
// The environment variable NAUTILUS_SIM_SEEDS overrides it, and
// NAUTILUS_SIM_SEED=<n> runs only seed n (to replay a failure).
func WithSeeds(n int) ClusterOption {
	return func(c *clusterConfig) { c.seeds = n }
}

// WithRegressionSeeds adds seeds that once failed: they always run, in
// each seeded test (the property tests and PartitionedSetsAndDeletes).
func WithRegressionSeeds(seeds ...uint64) ClusterOption {
	return func(c *clusterConfig) { c.extraSeeds = append(c.extraSeeds, seeds...) }
}

// WithOpsPerSeed sets how many operations each property-test seed makes
// (default 40).
func WithOpsPerSeed(n int) ClusterOption {
	return func(c *clusterConfig) { c.ops = n }
}

// RunCluster runs the multi-node contract checks as subtests, each on a
// fresh cluster from newCluster: semantics across nodes, siblings and LWW,
// deletes without resurrection, events, convergence after partitions,
// restart, join, leave, sets and deletes on both sides of a long partition,
// then the randomized property test against metadata.Memory as the model
// (again with the failure detector on, where the cluster has one).
// newCluster registers its own cleanup.
func RunCluster(t *testing.T, newCluster func(t *testing.T, cfg ClusterConfig) Cluster, opts ...ClusterOption) {
	cfg := clusterConfig{eventTimeout: 10 * time.Second, seeds: 200, ops: 40}
	for _, o := range opts {
		o(&cfg)
	}
	if v := os.Getenv("NAUTILUS_SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("NAUTILUS_SIM_SEEDS=%q: %v", v, err)
		}
		cfg.seeds = n
	}
	cs := &clusterSuite{newCluster: newCluster, cfg: cfg, su: &suite{cfg: config{eventTimeout: cfg.eventTimeout}}}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Replicates", cs.testReplicates},
		{"ConcurrentWritesSibling", cs.testSiblings},
		{"DeleteNoResurrection", cs.testDeleteNoResurrection},
		{"Events", cs.testEvents},
		{"ConvergeAfterPartitions", cs.testPartitions},
		{"Restart", cs.testRestart},
		{"JoinEmptyNode", cs.testJoin},
		{"Leave", cs.testLeave},
		{"PartitionedSetsAndDeletes", cs.testPartitionedSetsAndDeletes},
		{"Property", cs.testProperty},
		{"PropertyFailureDetection", cs.testPropertyFailureDetection},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type clusterSuite struct {
	newCluster func(t *testing.T, cfg ClusterConfig) Cluster
	cfg        clusterConfig
	su         *suite // for the event helpers
}

func (cs *clusterSuite) start(t *testing.T, n int, seed uint64) (Cluster, []string) {
	t.Helper()
	c := cs.newCluster(t, ClusterConfig{Nodes: n, Seed: seed})
	nodes := c.Nodes()
	if len(nodes) != n {
		t.Fatalf("cluster has %d nodes; want %d", len(nodes), n)
	}
	return c, nodes
}

// resolved reads a key without writing: the LWW winner of its siblings.
func resolved(s metadata.Store, fp metadata.FullPrefix, key string) (metadata.Value, bool, error) {
	sibs, _, err := s.GetRaw(bg, fp, []byte(key))
	if err != nil {
		return metadata.Value{}, false, err
	}
	w, ok := metadata.Resolve(sibs)
	return w, ok && !w.Tomb, nil
}

// agree reports whether every node in nodes resolves each key to want
// (nil: absent), reading without writing back.
func agree(c Cluster, nodes []string, fp metadata.FullPrefix, want map[string]*string) bool {
	for _, n := range nodes {
		for k, w := range want {
			v, live, err := resolved(c.Store(n), fp, k)
			if err != nil || live != (w != nil) || (live && string(v.Data) != *w) {
				return false
			}
		}
	}
	return true
}

// settle waits until agree holds, failing the test with what each node
// holds if it does not.
func settle(t *testing.T, c Cluster, nodes []string, fp metadata.FullPrefix, want map[string]*string) {
	t.Helper()
	if c.Settle(func() bool { return agree(c, nodes, fp, want) }) {
		return
	}
	reportErr(t, c)
	for _, n := range nodes {
		for k, w := range want {
			sibs, _, err := c.Store(n).GetRaw(bg, fp, []byte(k))
			exp := "absent"
			if w != nil {
				exp = fmt.Sprintf("%q", *w)
			}
			t.Errorf("%s %q: siblings %s (err %v); want %s", n, k, fmtValues(sibs), err, exp)
		}
	}
	t.FailNow()
}
