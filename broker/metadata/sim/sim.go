// Package sim is the deterministic simulator for metadata replication
// backends, and the contract (Core, Ready) a backend's state machine
// implements so that it can be simulated.
//
// A Sim runs N in-process nodes on virtual time. Each node is a Core plus
// its store.Engine (the in-memory engine); the simulator owns everything
// else: the network (delay, reordering by random delay, loss, duplication,
// partitions), the clocks (virtual time plus a per-node skew), the
// randomness (one seeded stream per node incarnation) and the ticks. A
// crash drops the core and keeps the engine's storage, so a restart
// rebuilds the node from exactly what it persisted. The same seed and the
// same sequence of calls give the same run, message for message.
//
// Each node is also exposed as a metadata.Store (Sim.Store) so that the
// backend-independent contract suites in metadatatest run over it.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
)

// Config describes a simulation.
type Config struct {
	// Seed drives every random choice: the network's and the nodes'.
	Seed uint64
	// Keyspaces are opened in every node's engine (the backend's own).
	Keyspaces []store.Keyspace
	// Tick is the virtual time between two ticks of every node (default
	// 100ms). It must match the backend's idea of a tick.
	Tick time.Duration
	// MinDelay and MaxDelay bound a message's transit time; each message
	// draws its own, which reorders them (default 1ms..20ms).
	MinDelay, MaxDelay time.Duration
	// Loss and Dup are the probabilities that a message is dropped or
	// delivered twice.
	Loss, Dup float64
	// MaxSkew bounds each node's clock offset, drawn at creation (LWW
	// timestamps then disagree across nodes as real clocks do).
	MaxSkew time.Duration
}

// epoch is virtual time zero in unix microseconds (2023-11-14), so that
// timestamps look like real ones.
const epoch int64 = 1_700_000_000_000_000

// Sim is a simulated cluster. Its methods are safe for concurrent use (the
// Store views lock it), but runs are only reproducible when one goroutine
// drives it.
type Sim struct {
	mu      sync.Mutex
	cfg     Config
	factory Factory
	rng     *rand.Rand
	now     time.Duration
	tickAt  time.Duration
	seq     uint64
	queue   inflightHeap
	nodes   []*Node
	byName  map[string]*Node
	members []string
	groups  map[string]int // partition: node → group; nil when healed
	detect  bool           // failure detector on: member lists as each node reaches them
	dropped uint64         // messages lost to faults, partitions or down nodes
	err     error          // first failure inside the simulation
}

// Node is one simulated node.
type Node struct {
	sim     *Sim
	name    string
	index   int
	storage *store.MemStorage
	eng     store.Engine // nil while down
	core    Core         // nil while down
	skew    time.Duration
	boots   uint64
	removed bool
	view    []string // the member list its core was last given
	feed    metadata.Feed
	stats   NodeStats
}

// NodeStats counts a node's traffic, for comparing backends.
type NodeStats struct {
	MsgsSent, BytesSent         uint64
	MsgsReceived, BytesReceived uint64
}

// New creates a simulation with nodes named names, all members of one
// cluster, all up.
func New(cfg Config, factory Factory, names ...string) (*Sim, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.MaxDelay <= 0 {
		cfg.MinDelay, cfg.MaxDelay = time.Millisecond, 20*time.Millisecond
	}
	cfg.MinDelay = min(cfg.MinDelay, cfg.MaxDelay)
	s := &Sim{
		cfg:     cfg,
		factory: factory,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		tickAt:  cfg.Tick,
		byName:  map[string]*Node{},
	}
	for _, name := range names {
		if _, err := s.addNode(name); err != nil {
			return nil, err
		}
	}
	s.members = slices.Clone(names)
	slices.Sort(s.members)
	s.announceMembers()
	return s, s.err
}

// ErrDown is returned by the Store view of a node that is crashed or gone.
var ErrDown = errors.New("sim: node is down")

func (s *Sim) addNode(name string) (*Node, error) {
	if _, dup := s.byName[name]; dup {
		return nil, fmt.Errorf("sim: node %q exists", name)
	}
	n := &Node{sim: s, name: name, index: len(s.nodes), storage: store.NewMemStorage()}
	if s.cfg.MaxSkew > 0 {
		n.skew = time.Duration(s.rng.Int64N(int64(2*s.cfg.MaxSkew))) - s.cfg.MaxSkew
	}
	if err := s.boot(n); err != nil {
		return nil, err
	}
	s.nodes = append(s.nodes, n)
	s.byName[name] = n
	return n, nil
}

// boot opens n's engine and builds its core from it.
func (s *Sim) boot(n *Node) error {
	eng, err := store.OpenMemory(n.storage, store.Options{Sync: store.SyncOff, ExtraKeyspaces: s.cfg.Keyspaces})
	if err != nil {
		return fmt.Errorf("sim: open %s: %w", n.name, err)
	}
	n.boots++
	env := Env{
		Clock: func() int64 { return epoch + int64((s.now+n.skew)/time.Microsecond) },
		Rand:  rand.New(rand.NewPCG(s.cfg.Seed^uint64(n.index+1)<<32, n.boots)),
	}
	core, err := s.factory(n.name, eng, env)
	if err != nil {
		eng.Close()
		return fmt.Errorf("sim: start %s: %w", n.name, err)
	}
	n.eng, n.core = eng, core
	return nil
}

// Close stops every node and cancels every subscription.
func (s *Sim) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		s.down(n)
		n.feed.Close()
	}
}

// Err returns the first failure inside the simulation (a core rejecting a
// message, an engine commit failing), or nil.
func (s *Sim) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// Now returns the virtual time elapsed.
func (s *Sim) Now() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Names returns the names of the nodes ever added, in creation order.
func (s *Sim) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = n.name
	}
	return out
}

// Nodes is Names (the metadatatest.Cluster method).
func (s *Sim) Nodes() []string { return s.Names() }

// Members returns the current members, sorted.
func (s *Sim) Members() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.members)
}

// Node returns the named node, or nil.
func (s *Sim) Node(name string) *Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[name]
}

// WithCore runs fn on the named node's core under the simulation lock, or
// returns ErrDown. Outputs fn causes are processed as for any other call.
func (s *Sim) WithCore(name string, fn func(Core)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	if n == nil || n.core == nil {
		return fmt.Errorf("%s: %w", name, ErrDown)
	}
	fn(n.core)
	s.process(n)
	return s.err
}

// Stats returns the named node's traffic counters.
func (s *Sim) Stats(name string) NodeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.byName[name]; n != nil {
		return n.stats
	}
	return NodeStats{}
}

// Dropped returns how many messages faults, partitions and down nodes
// have eaten.
func (s *Sim) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}
