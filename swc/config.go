package swc

import (
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// The store keyspaces of the backend (VerneMQ's three column families, in
// the node's one database): open the engine with Keyspaces in
// store.Options.ExtraKeyspaces. Every group shares them; keys carry the
// group where they need it.
const (
	// ObjectKeyspace: metadata.EncodeKey(fp, key) → stripped object (DCC).
	ObjectKeyspace store.Keyspace = "swc_obj"
	// DKMKeyspace: group ‖ replica id ‖ big-endian counter → object key.
	DKMKeyspace store.Keyspace = "swc_dkm"
	// MetaKeyspace: the actor id, the group count, the members' actors, and
	// per group the node clock and the watermark.
	MetaKeyspace store.Keyspace = "swc_meta"
)

// Keyspaces lists the keyspaces the engine must be opened with.
var Keyspaces = []store.Keyspace{ObjectKeyspace, DKMKeyspace, MetaKeyspace}

// Config tunes a node. The zero value of a field means its default; the
// config keys in parentheses (documented in docs/replication.md) follow
// VerneMQ's vmq_swc schema. The core counts time in ticks of TickInterval:
// it never reads a clock, so durations become tick counts (rounded up).
type Config struct {
	// TickInterval is how often the driver ticks the core (default 100ms).
	TickInterval time.Duration
	// Groups (swc_groups, default 10, 1..100) is how many independent
	// replicas the keyspace is split into by key hash. Every node of a
	// cluster must use the same count; a node refuses to restart with
	// another one than its data was written with.
	Groups int
	// SyncInterval (vmq_swc.sync_interval, default 5s) and SyncLeeway
	// (default 2.5s): each group pulls from a random peer every
	// SyncInterval plus a uniform random part of SyncLeeway.
	SyncInterval, SyncLeeway time.Duration
	// CallTimeout (vmq_swc.fast_call_timeout, default 5s) bounds the wait
	// for each anti-entropy reply; SyncTimeout (vmq_swc.sync_timeout,
	// default 60s) bounds a whole exchange. A slow or dead peer only stalls
	// the exchange of the group that picked it.
	CallTimeout, SyncTimeout time.Duration
	// ExchangeBatchSize (vmq_swc.exchange_batch_size, default 100) is how
	// many missing dots one anti-entropy reply serves.
	ExchangeBatchSize int
	// BatchSize (vmq_swc.batch_size, default 1000) is how many queued
	// writes the driver applies in one atomic commit, and how many objects
	// one broadcast message carries at most.
	BatchSize int
	// GCInterval (vmq_swc.gc_interval, default 15s) is how often each group
	// collects stable deletes; it also runs after every exchange.
	GCInterval time.Duration
	// DisablePeriodicGC (vmq_swc.periodic_gc = off) leaves collection to
	// the end of exchanges only.
	DisablePeriodicGC bool
	// DisableBroadcast (vmq_swc.enable_broadcast = off) leaves replication
	// to anti-entropy alone.
	DisableBroadcast bool
	// AllowNonemptyJoin (vmq_swc.prevent_nonempty_join = off) lets a node
	// that holds data join another cluster.
	AllowNonemptyJoin bool
	// InitSync (vmq_swc.init_sync = on) makes a group that holds nothing
	// (a new or wiped node) stream its first exchange's objects from the
	// peer in key order before the ordinary pull (initsync.go).
	InitSync bool
}

// DefaultConfig returns the defaults, filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

// SimConfig returns a configuration scaled for the simulator (100ms ticks):
// exchanges every few ticks, so a seed's scenario settles in seconds of
// virtual time.
func SimConfig() Config {
	return Config{
		TickInterval: 100 * time.Millisecond,
		SyncInterval: 300 * time.Millisecond,
		SyncLeeway:   200 * time.Millisecond,
		CallTimeout:  1 * time.Second,
		SyncTimeout:  5 * time.Second,
		GCInterval:   1 * time.Second,
	}.withDefaults()
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.TickInterval, 100*time.Millisecond)
	def(&c.SyncInterval, 5*time.Second)
	if c.SyncLeeway < 0 {
		c.SyncLeeway = 0
	} else if c.SyncLeeway == 0 {
		c.SyncLeeway = c.SyncInterval / 2
	}
	def(&c.CallTimeout, 5*time.Second)
	def(&c.SyncTimeout, 60*time.Second)
	def(&c.GCInterval, 15*time.Second)
	if c.Groups <= 0 {
		c.Groups = 10
	}
	if c.ExchangeBatchSize <= 0 {
		c.ExchangeBatchSize = 100
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	return c
}

// Validate reports a configuration the node cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Groups > 100 {
		return fmt.Errorf("swc: swc_groups = %d: want 1..100", c.Groups)
	}
	return nil
}

// ticks converts d into a tick count, at least 1.
func (c Config) ticks(d time.Duration) uint64 {
	n := (d + c.TickInterval - 1) / c.TickInterval
	return uint64(max(n, 1))
}
