package plumtree

import (
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// Keyspace is the store keyspace holding the objects: store key
// metadata.EncodeKey(fp, key) → encoded DVVSet. Open the engine with it in
// store.Options.ExtraKeyspaces.
const Keyspace store.Keyspace = "plumtree"

// Config tunes a node. The zero value of a field means its default; the
// config key names (docs/replication.md) follow VerneMQ's where the feature
// matches. The core counts time in ticks of TickInterval: it never reads a
// clock, so the durations below are converted to tick counts (rounded up).
type Config struct {
	// TickInterval is how often the driver ticks the core (default 100ms).
	// Every periodic action below happens on a tick, so this is their
	// resolution.
	TickInterval time.Duration
	// LazyTick (plumtree.lazy_tick, default 10s, VerneMQ's minimum) is how
	// often outstanding i-have announcements are (re)sent to lazy peers.
	// VerneMQ stretches it by the measured mailbox latency; a Go core has no
	// mailbox to measure, so the interval is fixed.
	LazyTick time.Duration
	// ExchangeTick (plumtree.exchange_tick, default 10s) is how often the
	// node tries to start a Merkle-tree exchange with a random peer.
	ExchangeTick time.Duration
	// ExchangeTimeout (plumtree.exchange_timeout, default 60s) abandons an
	// exchange whose replies stopped coming (lost messages, a dead peer).
	ExchangeTimeout time.Duration
	// OutstandingLimit (plumtree.outstanding_limit, default 250 000) bounds
	// the announcements queued per lazy peer; beyond it updates are not
	// announced and anti-entropy repairs the peer later.
	OutstandingLimit int
	// DropIHaveThreshold (plumtree.drop_i_have_threshold, default 1 000 000)
	// is the inbound backlog above which the driver drops incoming i-have
	// messages (they are re-sent every lazy tick until acknowledged).
	DropIHaveThreshold int
	// RootTree and LeafTree (plumtree.root_tree_segments/_width,
	// plumtree.leaf_tree_segments/_width) shape the Merkle trees: the root
	// tree has one entry per full prefix, each leaf tree one per key of its
	// full prefix. All nodes of a cluster must use the same shapes.
	// Defaults: root 65 536 segments of width 256, leaf 1 048 576 of 1024.
	RootTree, LeafTree TreeShape
	// RepairBatch (plumtree.repair_batch, default 100) is how many objects
	// or keys one anti-entropy repair message carries.
	RepairBatch int
}

// DefaultConfig returns the defaults, filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

// SimConfig returns a configuration scaled for the simulator: every period
// is a few ticks and the trees are small, so that a seed's scenario
// converges in a few hundred ticks.
func SimConfig() Config {
	return Config{
		TickInterval:    100 * time.Millisecond,
		LazyTick:        200 * time.Millisecond,
		ExchangeTick:    300 * time.Millisecond,
		ExchangeTimeout: 1500 * time.Millisecond,
		RootTree:        TreeShape{Segments: 16, Width: 4},
		LeafTree:        TreeShape{Segments: 64, Width: 8},
	}.withDefaults()
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.TickInterval, 100*time.Millisecond)
	def(&c.LazyTick, 10*time.Second)
	def(&c.ExchangeTick, 10*time.Second)
	def(&c.ExchangeTimeout, 60*time.Second)
	if c.OutstandingLimit <= 0 {
		c.OutstandingLimit = 250_000
	}
	if c.DropIHaveThreshold <= 0 {
		c.DropIHaveThreshold = 1_000_000
	}
	if c.RootTree.Segments == 0 {
		c.RootTree = TreeShape{Segments: 65_536, Width: 256}
	}
	if c.LeafTree.Segments == 0 {
		c.LeafTree = TreeShape{Segments: 1_048_576, Width: 1024}
	}
	if c.RepairBatch <= 0 {
		c.RepairBatch = 100
	}
	return c
}

// Validate reports a configuration the node cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, s := range []struct {
		name  string
		shape TreeShape
	}{{"root", c.RootTree}, {"leaf", c.LeafTree}} {
		if s.shape.Width < 2 {
			return fmt.Errorf("plumtree: %s tree width %d: want at least 2", s.name, s.shape.Width)
		}
		if s.shape.Segments < s.shape.Width {
			return fmt.Errorf("plumtree: %s tree has %d segments, fewer than its width %d",
				s.name, s.shape.Segments, s.shape.Width)
		}
	}
	return nil
}

// ticks converts d into a tick count, at least 1.
func (c Config) ticks(d time.Duration) uint64 {
	n := (d + c.TickInterval - 1) / c.TickInterval
	return uint64(max(n, 1))
}
