// Package driver runs a replication backend's deterministic core for real:
// over a cluster.Transport, a store.Engine, goroutines and the wall clock.
// It is the half of a backend that is not protocol (after etcd's raft, the
// core is the state machine, this is the node around it), shared so that
// every backend carries out a sim.Ready the same way: commit the writes to
// the engine, then send, then publish events.
//
// A backend's Node embeds a Driver over its own core type and adds its
// hooks (Backend.Shed, Backend.JoinCheck, batching) and its statistics;
// the Driver implements metadata.Store and metadata.Cluster.
package driver

import (
	"context"
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

// Membership changes cluster membership for Join and Leave (serf, in
// production). Optional: without it they fail.
type Membership interface {
	Join(seed string) error
	Leave(node string) error
}

// NodeOptions are what a backend's Open takes from its caller: the
// backend's Config and the node's surroundings. Each backend aliases it
// with its own Config type (plumtree.Options, swc.Options).
type NodeOptions[Cfg any] struct {
	Config    Cfg
	Transport cluster.Transport
	// Engine holds the backend's state in its keyspaces; it must have been
	// opened with them. The node does not close it.
	Engine     store.Engine
	Membership Membership
	Logger     *slog.Logger
	// Clock returns unix microseconds; nil means the wall clock.
	Clock func() int64
}

// Backend is what a backend tells Open about itself: how to build its core
// and which of the driver's options and hooks it uses.
type Backend[C sim.Core] struct {
	// Name is the backend's name: the prefix of errors and the log
	// component.
	Name string
	// Restore builds the core of node self from the engine.
	Restore func(self string, env sim.Env, r store.Reader) (C, error)
	// TickInterval is how often the core is ticked.
	TickInterval time.Duration
	// BatchSize > 0 turns the batcher on: writes (Put, Delete, PutRaw) are
	// queued, and up to BatchSize of them are applied and committed
	// together, so that concurrent writers share one commit. With 0 each
	// write runs and commits under the lock on its caller's goroutine.
	BatchSize int
	// StepBatch commits all the inbound messages taken in one lock hold
	// together, instead of one commit per message.
	StepBatch bool
	// Shed, if set, is asked of each inbound message with the number of
	// messages already queued; true drops it (an overload guard for
	// messages the protocol re-sends).
	Shed func(msg []byte, backlog int64) bool
	// JoinCheck, if set, runs on the core before Join; an error refuses the
	// join.
	JoinCheck func(core C) error
	// Failed is the backend's sentinel for a node stopped by a storage
	// failure; the driver's sticky error wraps it.
	Failed error
}

// Driver runs a core. It owns these goroutines: one steps the core with
// inbound messages, one ticks it and applies membership changes, with
// batching one applies queued writes; the Feed forwards events; the
// Transport's reader only queues messages.
//
// One mutex guards the core. Every call (API or goroutine) takes it, runs
// the core, then applies the Ready's writes to the engine while still
// holding it and queues the rest for the dispatcher (pipeline.go), which
// waits for the sync, then sends and publishes events, in commit order. A
// write returns once it is durable locally (PutAsync earlier); concurrent
// writers share one sync.
type Driver[C sim.Core] struct {
	*sim.LocalStore

	name      string
	tr        cluster.Transport
	eng       store.Engine
	mem       Membership
	log       *slog.Logger
	feed      metadata.Feed
	stepBatch bool
	shed      func(msg []byte, backlog int64) bool
	joinCheck func(C) error
	errFailed error

	mu     sync.Mutex
	core   C
	failed error // sticky: a commit failed, memory and disk may differ
	closed bool

	inMu    sync.Mutex
	inbox   []inbound
	wake    chan struct{}
	backlog atomic.Int64

	batchSize int
	writes    chan *writeOp // nil without batching

	shedCount, sendFailures, stepErrors, commits atomic.Uint64

	// The pipeline (pipeline.go): flushes waiting for their sync, in commit order.
	pipeMu       sync.Mutex
	pipe         []*flush
	pipeWake     chan struct{}
	pipeStop     chan struct{}
	dispatchDone sync.WaitGroup

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
	_ metadata.Store   = (*Driver[sim.Core])(nil)
	_ metadata.Cluster = (*Driver[sim.Core])(nil)
)

// Open restores the core from the engine and starts the driver.
func Open[C sim.Core, Cfg any](o NodeOptions[Cfg], b Backend[C]) (*Driver[C], error) {
	if o.Transport == nil || o.Engine == nil {
		return nil, fmt.Errorf("%s: Open needs a transport and an engine", b.Name)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = func() int64 { return time.Now().UnixMicro() }
	}
	self := o.Transport.Self()
	seed := uint64(time.Now().UnixNano())
	env := sim.Env{Clock: o.Clock, Rand: rand.New(rand.NewPCG(seed, seed>>32))}
	core, err := b.Restore(self, env, o.Engine)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", b.Name, self, err)
	}
	d := newDriver(o.Transport, o.Engine, o.Membership, b)
	d.log = o.Logger.With("component", b.Name, "node", self)
	d.core = core
	events, unwatch := o.Transport.Watch()
	d.unwatch = unwatch
	d.dispatchDone.Add(1)
	go d.dispatchLoop()
	d.mu.Lock()
	core.SetMembers(o.Transport.Members())
	f, err := d.flushLocked()
	d.mu.Unlock()
	if err == nil {
		err = f.SyncWait()
	}
	if err != nil {
		unwatch()
		close(d.pipeStop)
		d.dispatchDone.Wait()
		return nil, err
	}
	o.Transport.Handle(cluster.ChanMetadata, handler[C]{d})
	d.done.Add(2)
	go d.stepLoop()
	go d.tickLoop(events, b.TickInterval)
	if d.writes != nil {
		d.done.Add(1)
		go d.batchLoop()
	}
	return d, nil
}

// newDriver builds a driver that is not started: no core, no goroutines.
func newDriver[C sim.Core](tr cluster.Transport, eng store.Engine, mem Membership, b Backend[C]) *Driver[C] {
	d := &Driver[C]{
		name:      b.Name,
		tr:        tr,
		eng:       eng,
		mem:       mem,
		stepBatch: b.StepBatch,
		shed:      b.Shed,
		joinCheck: b.JoinCheck,
		errFailed: b.Failed,
		batchSize: b.BatchSize,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		pipeWake:  make(chan struct{}, 1),
		pipeStop:  make(chan struct{}),
	}
	if b.BatchSize > 0 {
		d.writes = make(chan *writeOp, b.BatchSize)
	}
	d.LocalStore = sim.NewLocalStore(d.run, d.feed.Subscribe)
	return d
}

// Close stops the driver's goroutines and subscriptions. The engine stays
// open (the caller owns it). Close is idempotent.
func (d *Driver[C]) Close() error {
	d.closeOne.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.stop)
		d.unwatch()
		d.done.Wait()
		close(d.pipeStop) // after every goroutine that queues flushes
		d.dispatchDone.Wait()
		d.feed.Close()
	})
	return nil
}

// handler receives the metadata channel. HandleMessage runs on the link's
// reader and only queues.
type handler[C sim.Core] struct{ d *Driver[C] }

func (h handler[C]) HandleMessage(from string, msg []byte) {
	d := h.d
	select {
	case <-d.stop:
		return // closed: nobody would drain the queue
	default:
	}
	if d.shed != nil && d.shed(msg, d.backlog.Load()) {
		d.shedCount.Add(1)
		return
	}
	cp := append([]byte(nil), msg...) // the transport reuses msg
	d.inMu.Lock()
	d.inbox = append(d.inbox, inbound{from, cp})
	d.inMu.Unlock()
	d.backlog.Add(1)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (h handler[C]) HandleRequest(context.Context, string, []byte) ([]byte, error) {
	return nil, fmt.Errorf("%s: no requests on the metadata channel", h.d.name)
}

// stepLoop feeds queued messages to the core, a batch per lock hold.
func (d *Driver[C]) stepLoop() {
	defer d.done.Done()
	var batch []inbound
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		d.inMu.Lock()
		batch, d.inbox = d.inbox, batch[:0]
		d.inMu.Unlock()
		if d.stepBatch {
			d.withCore(func(c C) {
				for _, m := range batch {
					d.step(c, m)
				}
			})
		} else {
			d.mu.Lock()
			for _, m := range batch {
				if d.closed || d.failed != nil {
					break
				}
				d.step(d.core, m)
				if _, err := d.flushLocked(); err != nil {
					break
				}
			}
			d.mu.Unlock()
		}
		d.backlog.Add(-int64(len(batch)))
		clear(batch)
	}
}

func (d *Driver[C]) step(c C, m inbound) {
	if err := c.Step(m.from, m.msg); err != nil {
		d.stepErrors.Add(1)
		d.log.Warn("dropped a malformed message", "from", m.from, "err", err)
	}
}

// tickLoop ticks the core and applies membership changes.
func (d *Driver[C]) tickLoop(events <-chan cluster.MemberEvent, interval time.Duration) {
	defer d.done.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-ticker.C:
			d.withCore(func(c C) { c.Tick() })
		case e := <-events:
			// Re-read the whole list: events may have been coalesced.
			members := d.tr.Members()
			d.withCore(func(c C) {
				c.SetMembers(members)
				// Members drops a member that failed as well as one that left; only
				// the event tells them apart, and a backend may need to know
				// (sim.Leaver).
				if l, ok := any(c).(sim.Leaver); ok && e.Kind == "leave" {
					l.MemberLeft(e.Node)
				}
			})
		}
	}
}

func (d *Driver[C]) withCore(fn func(C)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.failed != nil {
		return
	}
	fn(d.core)
	_, _ = d.flushLocked() // logged inside; API callers see d.failed
}

// flushLocked queues the core's Ready for the dispatcher (pipeline.go), which applies its
// writes to the engine (with those of the flushes queued with it, in one batch), syncs before
// sending, then sends and publishes. The core's memory already holds the writes, and cores read
// the engine only when they are restored, so reads see them at once.
func (d *Driver[C]) flushLocked() (*flush, error) {
	rd := d.core.Ready()
	if rd.Empty() {
		return doneFlush, nil
	}
	f := &flush{writes: rd.Persist, sends: rd.Send, events: rd.Events, done: make(chan struct{})}
	d.enqueue(f)
	return f, nil
}

func (d *Driver[C]) usableLocked() error {
	switch {
	case d.closed:
		return metadata.ErrClosed
	case d.failed != nil:
		return d.failed
	}
	return nil
}

// run is the LocalStore's way to the core: writes go through the batcher
// when there is one, everything else runs here.
func (d *Driver[C]) run(ctx context.Context, op string, fp metadata.FullPrefix, write bool, fn func(sim.LocalAPI) error) error {
	if write && d.writes != nil {
		return d.write(ctx, op, fp, fn)
	}
	return d.do(ctx, op, fp, write, fn)
}

// do runs one call on the core and carries out its Ready (a read may write
// siblings back); a write returns once it is durable.
func (d *Driver[C]) do(ctx context.Context, op string, fp metadata.FullPrefix, write bool, fn func(sim.LocalAPI) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	d.mu.Lock()
	if err := d.usableLocked(); err != nil {
		d.mu.Unlock()
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	err := fn(d.core)
	f, ferr := d.flushLocked()
	d.mu.Unlock()
	if ferr == nil && write {
		// Outside the lock: other callers apply meanwhile and share the sync. A read does not
		// wait: what its Ready carries (write-backs, other calls' messages) is no part of its
		// answer, and a Get must not take as long as a sync.
		ferr = f.SyncWait()
	}
	if ferr != nil {
		return fmt.Errorf("%s %s: %w", op, fp, ferr)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	return nil
}

// Counters are the driver's own statistics.
type Counters struct {
	// Backlog is the number of inbound messages queued; Shed how many
	// Backend.Shed dropped; SendFailures how many sends the transport
	// refused; StepErrors how many malformed messages arrived; Commits how
	// many non-empty batches were committed.
	Backlog                                 int64
	Shed, SendFailures, StepErrors, Commits uint64
	// QueuedEvents is the subscribers' backlog.
	QueuedEvents int
}

// Counters returns the driver's counters.
func (d *Driver[C]) Counters() Counters {
	return Counters{
		Backlog:      d.backlog.Load(),
		Shed:         d.shedCount.Load(),
		SendFailures: d.sendFailures.Load(),
		StepErrors:   d.stepErrors.Load(),
		Commits:      d.commits.Load(),
		QueuedEvents: d.feed.Queued(),
	}
}

// Inspect runs fn on the core under the lock, also after Close or a
// failure, for reading it (statistics). fn must not change the core: its
// Ready is not carried out.
func (d *Driver[C]) Inspect(fn func(C)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.core)
}

// Join implements metadata.Cluster through the Membership, after
// Backend.JoinCheck.
func (d *Driver[C]) Join(seed string) error {
	if d.joinCheck != nil {
		d.mu.Lock()
		err := d.joinCheck(d.core)
		d.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%s: join %q: %w", d.name, seed, err)
		}
	}
	if d.mem == nil {
		return fmt.Errorf("%s: join %q: no membership layer configured", d.name, seed)
	}
	return d.mem.Join(seed)
}

// Leave implements metadata.Cluster through the Membership.
func (d *Driver[C]) Leave(node string) error {
	if d.mem == nil {
		return fmt.Errorf("%s: leave %q: no membership layer configured", d.name, node)
	}
	return d.mem.Leave(node)
}

// Members implements metadata.Cluster: the transport's live members.
func (d *Driver[C]) Members() []string { return d.tr.Members() }
