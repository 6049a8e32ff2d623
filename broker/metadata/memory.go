package metadata

import (
	"fmt"
	"sync"
	"time"
)

// Memory is the single-node, in-memory Store. It backs a broker that runs
// without a cluster, and it is the reference model the replication backends
// are tested against: it implements the contract in the simplest way that
// keeps every observable rule (LWW over siblings, tombstones, write-back,
// causal contexts, events), so a backend node with no peers must behave
// exactly like it.
//
// Siblings arise only through PutRaw (a value forged as if written
// concurrently elsewhere). The causal model is a dotted version vector with
// a single actor: every stored version gets a dot from a store-wide
// sequence, and a Context is the highest dot the reader saw for the key.
// Tombstones are kept until PurgeTombstones removes them.
//
// All methods are safe for concurrent use. Writes are serialized by one
// mutex; events are published under it, so they are in commit order store
// wide.
type Memory struct {
	node  string
	clock func() int64
	feed  Feed

	mu     sync.RWMutex
	tables map[FullPrefix]*table
	seq    uint64 // last dot handed out
	closed bool
}

var (
	_ Store   = (*Memory)(nil)
	_ Cluster = (*Memory)(nil)
)

// NewMemory returns an empty store for node. clock returns the time in unix
// microseconds and is used to stamp writes; nil means the wall clock. Tests
// inject a fake clock to make timestamps, and so LWW outcomes, reproducible.
func NewMemory(node string, clock func() int64) *Memory {
	if clock == nil {
		clock = func() int64 { return time.Now().UnixMicro() }
	}
	return &Memory{node: node, clock: clock, tables: make(map[FullPrefix]*table)}
}

// Node returns the node name that local writes are stamped with.
func (m *Memory) Node() string { return m.node }

// Subscribe implements Store.
func (m *Memory) Subscribe(fp FullPrefix, skipLocal bool) (<-chan Event, func()) {
	return m.feed.Subscribe(fp, skipLocal)
}

// QueuedEvents returns the number of events waiting in subscription queues.
func (m *Memory) QueuedEvents() int { return m.feed.Queued() }

// Close cancels all subscriptions and makes every later call fail with
// ErrClosed. It is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.feed.Close()
	return nil
}

// Join implements Cluster: a memory store has no peers to join.
func (m *Memory) Join(seed string) error {
	return fmt.Errorf("join %q: %w", seed, ErrSingleNode)
}

// Leave implements Cluster: the only member cannot leave.
func (m *Memory) Leave(node string) error {
	if node != m.node {
		return fmt.Errorf("leave %q: %w", node, ErrUnknownMember)
	}
	return fmt.Errorf("leave %q: %w", node, ErrSingleNode)
}

// Members implements Cluster: the node itself.
func (m *Memory) Members() []string { return []string{m.node} }
