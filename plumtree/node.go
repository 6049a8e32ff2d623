package plumtree

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
	// Engine holds the objects in Keyspace; it must have been opened with
	// that keyspace. The node does not close it.
	Engine     store.Engine
	Membership Membership
	Logger     *slog.Logger
	// Clock returns unix microseconds; nil means the wall clock.
	Clock func() int64
}

// Node runs a Core for real: it is the driver. It owns three goroutines:
// one steps the core with inbound messages, ticks and membership changes;
// the Feed forwards events; the Transport's reader only queues messages.
//
// One mutex guards the core. Every call (API or goroutine) takes it, runs
// the core, then carries out the Ready while still holding it: commit the
// writes to the engine, then send, then publish events. Holding the lock
// through the commit puts events in commit order and means a Put returns
// only once its write is durable locally; the price is that commits are
// not grouped across concurrent writers.
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

	droppedIHaves, sendFailures, stepErrors atomic.Uint64

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
var ErrFailed = errors.New("plumtree: node stopped after a storage failure")

// Open restores the node's state from the engine and starts it.
func Open(o Options) (*Node, error) {
	if o.Transport == nil || o.Engine == nil {
		return nil, errors.New("plumtree: Open needs a transport and an engine")
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
		return nil, fmt.Errorf("plumtree: open %s: %w", self, err)
	}
	n := &Node{
		cfg:  cfg,
		tr:   o.Transport,
		eng:  o.Engine,
		mem:  o.Membership,
		log:  o.Logger.With("component", "plumtree", "node", self),
		core: core,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
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
	n.done.Add(2)
	go n.stepLoop()
	go n.tickLoop(events)
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
		return // closed: nobody would drain the queue
	default:
	}
	// Overload guard (plumtree.drop_i_have_threshold): i-haves are re-sent
	// every lazy tick until acknowledged, so they are the safe ones to shed.
	if IsIHave(msg) && n.backlog.Load() > int64(n.cfg.DropIHaveThreshold) {
		n.droppedIHaves.Add(1)
		return
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
	return nil, errors.New("plumtree: no requests on the metadata channel")
}

// stepLoop feeds queued messages to the core, a batch per lock hold.
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
		n.mu.Lock()
		for _, m := range batch {
			if n.closed || n.failed != nil {
				break
			}
			if err := n.core.Step(m.from, m.msg); err != nil {
				n.stepErrors.Add(1)
				n.log.Warn("dropped a malformed message", "from", m.from, "err", err)
			}
			if err := n.flushLocked(); err != nil {
				break
			}
		}
		n.mu.Unlock()
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
			// Re-read the whole list: events may have been coalesced.
			members := n.tr.Members()
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
// the disk, and sending what was not persisted could spread a write a
// restart would lose.
func (n *Node) flushLocked() error {
	rd := n.core.Ready()
	if err := sim.Commit(n.eng, rd.Persist); err != nil {
		n.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		n.log.Error("storage commit failed; node stopped", "err", err)
		return n.failed
	}
	for _, env := range rd.Send {
		if err := n.tr.Send(env.To, cluster.ChanMetadata, env.Data); err != nil {
			// Lost like a dropped packet: lazy pushes and anti-entropy
			// repair the peer later.
			n.sendFailures.Add(1)
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
	n.mu.Lock()
	s := n.core.Stats()
	n.mu.Unlock()
	return NodeStats{
		Stats:         s,
		Backlog:       n.backlog.Load(),
		DroppedIHaves: n.droppedIHaves.Load(),
		SendFailures:  n.sendFailures.Load(),
		StepErrors:    n.stepErrors.Load(),
		QueuedEvents:  n.feed.Queued(),
	}
}

// Join implements metadata.Cluster through the Membership.
func (n *Node) Join(seed string) error {
	if n.mem == nil {
		return fmt.Errorf("plumtree: join %q: no membership layer configured", seed)
	}
	return n.mem.Join(seed)
}

// Leave implements metadata.Cluster through the Membership.
func (n *Node) Leave(node string) error {
	if n.mem == nil {
		return fmt.Errorf("plumtree: leave %q: no membership layer configured", node)
	}
	return n.mem.Leave(node)
}

// Members implements metadata.Cluster: the transport's live members.
func (n *Node) Members() []string { return n.tr.Members() }
