// Package replication is the replication half of nautilus-bench: it runs the Plumtree and SWC
// metadata backends side by side on identical work, in the deterministic simulator
// (broker/metadata/sim) and as real nodes over loopback with RocksDB, and reports tables, JSON
// lines, plots and a section of docs/benchmarks.md. Scenarios follow
// shared/design/replication.md §4.
package replication

import (
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/swc"
)

// Backend names, in table order. Ratios are SWC / Plumtree.
const (
	Plumtree = "plumtree"
	SWC      = "swc"
)

// BackendStats are the counters both backends have.
type BackendStats struct {
	// Objects are stored keys, tombstones included; Tombstones read as deleted; DKM is SWC's
	// dot-key map size (0 for Plumtree).
	Objects, Tombstones, DKM int
	// Exchanges completed (anti-entropy rounds: a Plumtree tree exchange, or one SWC group's pull).
	Exchanges uint64
}

// Backend is what a scenario needs of a metadata backend.
type Backend struct {
	Name      string
	Keyspaces []store.Keyspace
	// SimFactory builds cores with the backend's simulator settings.
	SimFactory func() sim.Factory
	// CoreStats reads a simulated core's counters.
	CoreStats func(sim.Core) BackendStats
	// Open starts a real node on a transport and an engine opened with Keyspaces; AEPeriod is
	// the anti-entropy period both backends get in real runs.
	Open func(tr cluster.Transport, eng store.Engine, aePeriod time.Duration) (RealNode, error)
	// DefaultAERate is how many anti-entropy rounds a node starts per second at VerneMQ's
	// default cadence (Plumtree: one exchange per 10 s; SWC: each of 10 groups every 5–7.5 s).
	DefaultAERate float64
}

// RealNode is a running backend node.
type RealNode interface {
	metadata.Store
	Close() error
	BackendStats() BackendStats
}

// Backends returns Plumtree and SWC, in that order.
func Backends() []Backend {
	return []Backend{
		{
			Name: Plumtree, Keyspaces: []store.Keyspace{plumtree.Keyspace},
			SimFactory: func() sim.Factory { return plumtree.Factory(plumtree.SimConfig()) },
			CoreStats: func(c sim.Core) BackendStats {
				s := c.(*plumtree.Core).Stats()
				return BackendStats{Objects: s.Objects, Tombstones: s.Tombstones, Exchanges: s.ExchangesCompleted}
			},
			Open: func(tr cluster.Transport, eng store.Engine, ae time.Duration) (RealNode, error) {
				n, err := plumtree.Open(plumtree.Options{Config: PlumtreeRealConfig(ae), Transport: tr, Engine: eng, Logger: quietLog()})
				if err != nil {
					return nil, err
				}
				return plumtreeNode{n}, nil
			},
			DefaultAERate: 1.0 / 10,
		},
		{
			Name: SWC, Keyspaces: swc.Keyspaces,
			SimFactory: func() sim.Factory { return swc.Factory(swc.SimConfig()) },
			CoreStats: func(c sim.Core) BackendStats {
				s := c.(*swc.Core).Stats()
				return BackendStats{Objects: s.Objects, Tombstones: s.Tombstones, DKM: s.DKM, Exchanges: s.ExchangesCompleted}
			},
			Open: func(tr cluster.Transport, eng store.Engine, ae time.Duration) (RealNode, error) {
				n, err := swc.Open(swc.Options{Config: SWCRealConfig(ae), Transport: tr, Engine: eng, Logger: quietLog()})
				if err != nil {
					return nil, err
				}
				return swcNode{n}, nil
			},
			DefaultAERate: 10 / 6.25,
		},
	}
}

// BackendByName returns the named backend.
func BackendByName(name string) (Backend, error) {
	for _, b := range Backends() {
		if b.Name == name {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("unknown backend %q (want %s or %s)", name, Plumtree, SWC)
}

// PlumtreeRealConfig is VerneMQ's defaults (tree shapes, limits) with the periods scaled
// down so that a quick run converges in seconds: a 10 ms tick, lazy pushes every 100 ms and a
// tree exchange every aePeriod.
func PlumtreeRealConfig(ae time.Duration) plumtree.Config {
	return plumtree.Config{TickInterval: 10 * time.Millisecond, LazyTick: 100 * time.Millisecond,
		ExchangeTick: ae, ExchangeTimeout: 10 * ae}
}

// SWCRealConfig is VerneMQ's defaults (10 groups, batch sizes) with the periods scaled the
// same way: each group pulls every aePeriod plus up to half of it, GC runs every aePeriod.
func SWCRealConfig(ae time.Duration) swc.Config {
	return swc.Config{TickInterval: 10 * time.Millisecond, SyncInterval: ae, SyncLeeway: ae / 2,
		CallTimeout: 5 * time.Second, SyncTimeout: 30 * time.Second, GCInterval: ae}
}

type plumtreeNode struct{ *plumtree.Node }

func (n plumtreeNode) BackendStats() BackendStats {
	s := n.Stats()
	return BackendStats{Objects: s.Objects, Tombstones: s.Tombstones, Exchanges: s.ExchangesCompleted}
}

type swcNode struct{ *swc.Node }

func (n swcNode) BackendStats() BackendStats {
	s := n.Stats()
	return BackendStats{Objects: s.Objects, Tombstones: s.Tombstones, DKM: s.DKM, Exchanges: s.ExchangesCompleted}
}
