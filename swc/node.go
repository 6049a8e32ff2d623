package swc

import (
	"errors"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/driver"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// Membership changes cluster membership for Node's Join and Leave (serf,
// in production). Optional: without it they fail.
type Membership = driver.Membership

// Options configure Open.
type Options = driver.NodeOptions[Config]

// Node runs a Core for real: the shared driver (broker/metadata/driver)
// over an SWC core, with its batcher on. Writes (Put, Delete, PutRaw) are
// queued; the batcher takes up to BatchSize of them, applies them all and
// commits them in one atomic batch with one broadcast per group, so
// concurrent writers share one commit (§3.3). Reads run directly. The
// inbound messages taken in one lock hold share one commit too.
//
// Node implements metadata.Store and metadata.Cluster.
type Node struct {
	*driver.Driver[*Core]
}

var (
	_ metadata.Store   = (*Node)(nil)
	_ metadata.Cluster = (*Node)(nil)
)

// ErrFailed wraps the error that stopped a node: an engine commit failed,
// so its memory and its disk may disagree. Reopen it from the engine.
var ErrFailed = errors.New("swc: node stopped after a storage failure")

// ErrNonemptyJoin is returned by Join on a node that holds data, unless
// Config.AllowNonemptyJoin (vmq_swc.prevent_nonempty_join).
var ErrNonemptyJoin = errors.New("swc: node holds data; refusing to join another cluster (prevent_nonempty_join)")

// Open restores the node's state from the engine and starts it.
func Open(o Options) (*Node, error) {
	cfg := o.Config.withDefaults()
	d, err := driver.Open(o, driver.Backend[*Core]{
		Name: "swc",
		Restore: func(self string, env sim.Env, r store.Reader) (*Core, error) {
			return Restore(self, cfg, env, r)
		},
		TickInterval: cfg.TickInterval,
		BatchSize:    cfg.BatchSize,
		StepBatch:    true,
		JoinCheck:    preventNonemptyJoin(cfg),
		Failed:       ErrFailed,
	})
	if err != nil {
		return nil, err
	}
	return &Node{d}, nil
}

// preventNonemptyJoin makes a node with local history refuse to join
// unless AllowNonemptyJoin: merging two clusters' histories is not what an
// operator adding a node means.
func preventNonemptyJoin(cfg Config) func(*Core) error {
	if cfg.AllowNonemptyJoin {
		return nil
	}
	return func(c *Core) error {
		if c.HasHistory() {
			return ErrNonemptyJoin
		}
		return nil
	}
}

// NodeStats are the driver's counters plus the core's.
type NodeStats struct {
	Stats
	// Backlog is the number of inbound messages queued; SendFailures how
	// many sends the transport refused; StepErrors how many malformed
	// messages arrived; Commits how many batches were committed.
	Backlog                           int64
	SendFailures, StepErrors, Commits uint64
	// QueuedEvents is the subscribers' backlog.
	QueuedEvents int
}

// Stats returns the node's counters.
func (n *Node) Stats() NodeStats {
	var s Stats
	n.Inspect(func(c *Core) { s = c.Stats() })
	dc := n.Counters()
	return NodeStats{
		Stats:        s,
		Backlog:      dc.Backlog,
		SendFailures: dc.SendFailures,
		StepErrors:   dc.StepErrors,
		Commits:      dc.Commits,
		QueuedEvents: dc.QueuedEvents,
	}
}
