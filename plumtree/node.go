package plumtree

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
// over a Plumtree core. Each write runs and commits under the driver's
// lock on its caller's goroutine, and each inbound message is committed on
// its own: Plumtree keeps the unbatched behaviour it was measured with.
// Inbound i-haves are shed under overload (DropIHaveThreshold).
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
var ErrFailed = errors.New("plumtree: node stopped after a storage failure")

// Open restores the node's state from the engine and starts it.
func Open(o Options) (*Node, error) {
	cfg := o.Config.withDefaults()
	d, err := driver.Open(o, driver.Backend[*Core]{
		Name: "plumtree",
		Restore: func(self string, env sim.Env, r store.Reader) (*Core, error) {
			return Restore(self, cfg, env, r)
		},
		TickInterval: cfg.TickInterval,
		Shed:         shedIHaves(cfg),
		Failed:       ErrFailed,
	})
	if err != nil {
		return nil, err
	}
	return &Node{d}, nil
}

// shedIHaves is the overload guard (plumtree.drop_i_have_threshold):
// i-haves are re-sent every lazy tick until acknowledged, so they are the
// safe ones to shed.
func shedIHaves(cfg Config) func(msg []byte, backlog int64) bool {
	return func(msg []byte, backlog int64) bool {
		return IsIHave(msg) && backlog > int64(cfg.DropIHaveThreshold)
	}
}

// NodeStats are the driver's counters plus the core's.
type NodeStats struct {
	Stats
	// Backlog is the number of inbound messages queued; DroppedIHaves how
	// many i-haves the overload guard shed; SendFailures how many sends the
	// transport refused; StepErrors how many malformed messages arrived.
	Backlog                                 int64
	DroppedIHaves, SendFailures, StepErrors uint64
	// QueuedEvents is the subscribers' backlog.
	QueuedEvents int
}

// Stats returns the node's counters.
func (n *Node) Stats() NodeStats {
	var s Stats
	n.Inspect(func(c *Core) { s = c.Stats() })
	dc := n.Counters()
	return NodeStats{
		Stats:         s,
		Backlog:       dc.Backlog,
		DroppedIHaves: dc.Shed,
		SendFailures:  dc.SendFailures,
		StepErrors:    dc.StepErrors,
		QueuedEvents:  dc.QueuedEvents,
	}
}
