package swc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// Membership changes cluster membership for Node's Join and Leave (serf,
// in production). Optional: without it they fail.
type Membership interface {
	Join(seed string) error
	Leave(node string) error
}

// Options configure Open.
type Options struct {
	Config    Config
	Transport cluster.Transport
	// Engine holds the backend's state in Keyspaces; it must have been
	// opened with them. The node does not close it.
	Engine     store.Engine
	Membership Membership
	Logger     *slog.Logger
	// Clock returns unix microseconds; nil means the wall clock.
	Clock func() int64
}

// Node runs a Core for real: it is the driver. Its goroutines: one steps
// the core with inbound messages, one ticks it and applies membership
// changes, one is the batcher that applies queued writes; the Feed forwards
// events.
//
// One mutex guards the core; every call takes it, runs the core and carries
// out the Ready while holding it (commit, then send, then publish), so
// events are in commit order and a write returns once it is durable
// locally. Writes (Put, Delete, PutRaw) go through the batcher, which takes
// up to BatchSize queued writes, applies them all and commits them in one
// atomic batch with one broadcast per group: concurrent writers share one
// commit (§3.3). Reads run directly.
//
// Node implements metadata.Store and metadata.Cluster.
type Node struct {
	cfg  Config
	tr   cluster.Transport
	eng  store.Engine
	mem  Membership
	log  *slog.Logger
	feed metadata.Feed

	mu     sync.Mutex
	core   *Core
	failed error // sticky: a commit failed, memory and disk may differ
	closed bool

	inMu    sync.Mutex
	inbox   []inbound
	wake    chan struct{}
	backlog atomic.Int64

	writes chan *writeOp

	sendFailures, stepErrors, commits atomic.Uint64

	stop     chan struct{}
	done     sync.WaitGroup
	unwatch  func()
	closeOne sync.Once
}

type inbound struct {
	from string
	msg  []byte
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
	if o.Transport == nil || o.Engine == nil {
		return nil, errors.New("swc: Open needs a transport and an engine")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = func() int64 { return time.Now().UnixMicro() }
	}
	cfg := o.Config.withDefaults()
	self := o.Transport.Self()
	seed := uint64(time.Now().UnixNano())
	env := sim.Env{Clock: o.Clock, Rand: rand.New(rand.NewPCG(seed, seed>>32))}
	core, err := Restore(self, cfg, env, o.Engine)
	if err != nil {
		return nil, fmt.Errorf("swc: open %s: %w", self, err)
	}
	n := &Node{
		cfg:    cfg,
		tr:     o.Transport,
		eng:    o.Engine,
		mem:    o.Membership,
		log:    o.Logger.With("component", "swc", "node", self),
		core:   core,
		wake:   make(chan struct{}, 1),
		writes: make(chan *writeOp, cfg.BatchSize),
		stop:   make(chan struct{}),
	}
	events, unwatch := o.Transport.Watch()
	n.unwatch = unwatch
	n.mu.Lock()
	core.SetMembers(o.Transport.Members())
	err = n.flushLocked()
	n.mu.Unlock()
	if err != nil {
		unwatch()
		return nil, err
	}
	o.Transport.Handle(cluster.ChanMetadata, handler{n})
	n.done.Add(3)
	go n.stepLoop()
	go n.tickLoop(events)
	go n.batchLoop()
	return n, nil
}

// Close stops the node's goroutines and subscriptions. The engine stays
// open (the caller owns it). Close is idempotent.
func (n *Node) Close() error {
	n.closeOne.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stop)
		n.unwatch()
		n.done.Wait()
		n.feed.Close()
	})
	return nil
}

// handler receives the metadata channel. HandleMessage runs on the link's
// reader and only queues.
type handler struct{ n *Node }

func (h handler) HandleMessage(from string, msg []byte) {
	n := h.n
	select {
	case <-n.stop:
		return
	default:
	}
	cp := append([]byte(nil), msg...) // the transport reuses msg
	n.inMu.Lock()
	n.inbox = append(n.inbox, inbound{from, cp})
	n.inMu.Unlock()
	n.backlog.Add(1)
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (h handler) HandleRequest(context.Context, string, []byte) ([]byte, error) {
	return nil, errors.New("swc: no requests on the metadata channel")
}

// stepLoop feeds queued messages to the core, a batch per lock hold and
// one commit for all of them.
func (n *Node) stepLoop() {
	defer n.done.Done()
	var batch []inbound
	for {
		select {
		case <-n.stop:
			return
		case <-n.wake:
		}
		n.inMu.Lock()
		batch, n.inbox = n.inbox, batch[:0]
		n.inMu.Unlock()
		n.withCore(func(c *Core) {
			for _, m := range batch {
				if err := c.Step(m.from, m.msg); err != nil {
					n.stepErrors.Add(1)
					n.log.Warn("dropped a malformed message", "from", m.from, "err", err)
				}
			}
		})
		n.backlog.Add(-int64(len(batch)))
		clear(batch)
	}
}

// tickLoop ticks the core and applies membership changes.
func (n *Node) tickLoop(events <-chan cluster.MemberEvent) {
	defer n.done.Done()
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-ticker.C:
			n.withCore(func(c *Core) { c.Tick() })
		case <-events:
			members := n.tr.Members() // events may have been coalesced
			n.withCore(func(c *Core) { c.SetMembers(members) })
		}
	}
}

func (n *Node) withCore(fn func(*Core)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.failed != nil {
		return
	}
	fn(n.core)
	_ = n.flushLocked() // logged inside; API callers see n.failed
}

// flushLocked carries out the core's Ready: persist, then send, then
// publish. A failed commit stops the node: the core's memory is ahead of
// the disk, and sending what was not persisted could spread a write (or a
// dot) that a restart would lose and reuse.
func (n *Node) flushLocked() error {
	rd := n.core.Ready()
	if err := sim.Commit(n.eng, rd.Persist); err != nil {
		n.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		n.log.Error("storage commit failed; node stopped", "err", err)
		return n.failed
	}
	if len(rd.Persist) > 0 {
		n.commits.Add(1)
	}
	for _, env := range rd.Send {
		if err := n.tr.Send(env.To, cluster.ChanMetadata, env.Data); err != nil {
			n.sendFailures.Add(1) // lost like a dropped packet: anti-entropy repairs
		}
	}
	for _, ev := range rd.Events {
		n.feed.Publish(ev)
	}
	return nil
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
	n.mu.Lock()
	s := n.core.Stats()
	n.mu.Unlock()
	return NodeStats{
		Stats:        s,
		Backlog:      n.backlog.Load(),
		SendFailures: n.sendFailures.Load(),
		StepErrors:   n.stepErrors.Load(),
		Commits:      n.commits.Load(),
		QueuedEvents: n.feed.Queued(),
	}
}

// Join implements metadata.Cluster through the Membership. A node with
// local history refuses unless AllowNonemptyJoin: merging two clusters'
// histories is not what an operator adding a node means.
func (n *Node) Join(seed string) error {
	n.mu.Lock()
	history := n.core.HasHistory()
	n.mu.Unlock()
	if history && !n.cfg.AllowNonemptyJoin {
		return fmt.Errorf("swc: join %q: %w", seed, ErrNonemptyJoin)
	}
	if n.mem == nil {
		return fmt.Errorf("swc: join %q: no membership layer configured", seed)
	}
	return n.mem.Join(seed)
}

// Leave implements metadata.Cluster through the Membership.
func (n *Node) Leave(node string) error {
	if n.mem == nil {
		return fmt.Errorf("swc: leave %q: no membership layer configured", node)
	}
	return n.mem.Leave(node)
}

// Members implements metadata.Cluster: the transport's live members.
func (n *Node) Members() []string { return n.tr.Members() }
