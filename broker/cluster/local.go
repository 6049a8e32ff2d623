package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// LocalNetwork connects Transports inside one process, for unit tests of the packages above
// (router, replication drivers) that need a cluster but not sockets. It keeps the contracts of
// Node: per-sender order on each link, HandleMessage on one goroutine per receiver, requests
// in their own goroutines with the caller's deadline, Watch events in order, Send never
// blocking. Membership changes only when the test says so (Join, Leave, Fail); Cut silently
// loses traffic between two nodes in both directions, as a partition does before failure
// detection notices, and Heal restores it.
type LocalNetwork struct {
	mu    sync.Mutex
	nodes map[string]*LocalTransport // live members; guarded by mu
	cut   map[[2]string]bool         // sorted pairs; guarded by mu
}

// NewLocalNetwork returns an empty network.
func NewLocalNetwork() *LocalNetwork {
	return &LocalNetwork{nodes: map[string]*LocalTransport{}, cut: map[[2]string]bool{}}
}

// LocalTransport is one node of a LocalNetwork.
type LocalTransport struct {
	net      *LocalNetwork
	name     string
	handlers [256]Handler // guarded by mu
	watchers watchers

	mu      sync.Mutex
	inbox   []localMsg              // guarded by mu
	pending map[uint64]localPending // guarded by mu
	nextID  uint64                  // guarded by mu
	wake    chan struct{}           // 1-buffered
	done    chan struct{}
	closed  bool // guarded by mu
}

type localPending struct {
	to string
	ch chan<- outcome
}

type localMsg struct {
	from    string
	ch      Channel
	payload []byte
	id      uint64 // a request when non-zero
	ctx     context.Context
}

var _ Transport = (*LocalTransport)(nil)

// Join adds a node named name and tells the others ("join"). A name that failed or left may
// join again; it comes back as a new node with no handlers.
func (ln *LocalNetwork) Join(name string) *LocalTransport {
	t := &LocalTransport{
		net: ln, name: name, pending: map[uint64]localPending{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	ln.mu.Lock()
	if ln.nodes[name] != nil {
		ln.mu.Unlock()
		panic("cluster: LocalNetwork.Join: " + name + " is already a member")
	}
	others := ln.membersLocked()
	ln.nodes[name] = t
	ln.mu.Unlock()
	go t.deliverLoop()
	for _, o := range others {
		o.watchers.publish(MemberEvent{Node: name, Kind: "join"})
	}
	return t
}

// Leave removes name gracefully: the others see "leave".
func (ln *LocalNetwork) Leave(name string) { ln.remove(name, "leave") }

// Fail removes name as a crash would: the others see "fail".
func (ln *LocalNetwork) Fail(name string) { ln.remove(name, "fail") }

// Reap tells every member that name, failed earlier, was forgotten (cluster.autoclean).
func (ln *LocalNetwork) Reap(name string) {
	ln.mu.Lock()
	others := ln.membersLocked()
	ln.mu.Unlock()
	for _, o := range others {
		o.watchers.publish(MemberEvent{Node: name, Kind: "reap"})
	}
}

func (ln *LocalNetwork) remove(name, kind string) {
	ln.mu.Lock()
	t := ln.nodes[name]
	delete(ln.nodes, name)
	others := ln.membersLocked()
	ln.mu.Unlock()
	if t == nil {
		return
	}
	t.stop()
	for _, o := range others {
		// A request waiting on the gone node fails at once, as on a real link.
		o.failPendingFrom(name, fmt.Errorf("%w: %s %sed", ErrUnknownNode, name, kind))
		o.watchers.publish(MemberEvent{Node: name, Kind: kind})
	}
}

// Cut loses every message between a and b from now on, both ways; messages already delivered
// to a node's inbox still arrive.
func (ln *LocalNetwork) Cut(a, b string) { ln.setCut(a, b, true) }

// Heal undoes Cut.
func (ln *LocalNetwork) Heal(a, b string) { ln.setCut(a, b, false) }

func (ln *LocalNetwork) setCut(a, b string, cut bool) {
	k := pairKey(a, b)
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if cut {
		ln.cut[k] = true
	} else {
		delete(ln.cut, k)
	}
}

func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (ln *LocalNetwork) membersLocked() []*LocalTransport {
	out := make([]*LocalTransport, 0, len(ln.nodes))
	for _, t := range ln.nodes {
		out = append(out, t)
	}
	return out
}

// route returns the destination if it is a live member, and whether the link is cut.
func (ln *LocalNetwork) route(from, to string) (*LocalTransport, bool, error) {
	if from == to {
		return nil, false, fmt.Errorf("%w (%s)", ErrSelf, to)
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.nodes[from] == nil {
		return nil, false, ErrClosed
	}
	t := ln.nodes[to]
	if t == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrUnknownNode, to)
	}
	return t, ln.cut[pairKey(from, to)], nil
}

// Self is the node's name.
func (t *LocalTransport) Self() string { return t.name }

// Members lists the network's live members, sorted.
func (t *LocalTransport) Members() []string {
	t.net.mu.Lock()
	out := make([]string, 0, len(t.net.nodes))
	for name := range t.net.nodes {
		out = append(out, name)
	}
	t.net.mu.Unlock()
	slices.Sort(out)
	return out
}

// Handle installs h for ch.
func (t *LocalTransport) Handle(ch Channel, h Handler) {
	t.mu.Lock()
	t.handlers[ch] = h
	t.mu.Unlock()
}

// Watch returns member events about other nodes from now on.
func (t *LocalTransport) Watch() (<-chan MemberEvent, func()) { return t.watchers.add() }

// Send copies msg into node's inbox, or loses it if the link is cut.
func (t *LocalTransport) Send(node string, ch Channel, msg []byte) error {
	dst, cut, err := t.net.route(t.name, node)
	if err != nil || cut {
		return err
	}
	dst.enqueue(localMsg{from: t.name, ch: ch, payload: append([]byte(nil), msg...)})
	return nil
}

// Request delivers req to node and waits for the answer until ctx ends. Across a cut it is
// lost and waits for ctx; it fails at once when node fails or leaves.
func (t *LocalTransport) Request(ctx context.Context, node string, ch Channel, req []byte) ([]byte, error) {
	dst, cut, err := t.net.route(t.name, node)
	if err != nil {
		return nil, err
	}
	res := make(chan outcome, 1)
	t.mu.Lock()
	t.nextID++
	id := t.nextID
	t.pending[id] = localPending{to: node, ch: res}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.pending, id)
		t.mu.Unlock()
	}()
	if !cut {
		dst.enqueue(localMsg{from: t.name, ch: ch, payload: append([]byte(nil), req...), id: id, ctx: ctx})
	}
	select {
	case o := <-res:
		if o.err != nil {
			return nil, fmt.Errorf("cluster: request to %s on channel %d: %w", node, ch, o.err)
		}
		return o.resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("cluster: request to %s on channel %d: %w", node, ch, ctx.Err())
	}
}

func (t *LocalTransport) enqueue(m localMsg) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.inbox = append(t.inbox, m)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// deliverLoop is the node's "link reader": messages in arrival order, requests handed to
// goroutines.
func (t *LocalTransport) deliverLoop() {
	for {
		t.mu.Lock()
		batch := t.inbox
		t.inbox = nil
		t.mu.Unlock()
		for _, m := range batch {
			t.mu.Lock()
			h := t.handlers[m.ch]
			t.mu.Unlock()
			if m.id == 0 {
				if h != nil {
					h.HandleMessage(m.from, m.payload)
				}
				continue
			}
			go t.serve(h, m)
		}
		select {
		case <-t.wake:
		case <-t.done:
			return
		}
	}
}

func (t *LocalTransport) serve(h Handler, m localMsg) {
	var o outcome
	if h == nil {
		o.err = fmt.Errorf("%w %d on %s", ErrNoHandler, m.ch, t.name)
	} else {
		// The handler gets the requester's deadline, not its cancellation by others' hands.
		ctx, cancel := context.WithCancel(context.WithoutCancel(m.ctx))
		if d, ok := m.ctx.Deadline(); ok {
			cancel()
			ctx, cancel = context.WithDeadline(context.WithoutCancel(m.ctx), d)
		}
		resp, err := h.HandleRequest(ctx, m.from, m.payload)
		cancel()
		if err != nil {
			o.err = &RemoteError{Node: t.name, Msg: err.Error()}
		} else {
			o.resp = append([]byte(nil), resp...)
		}
	}
	src, cut, err := t.net.route(t.name, m.from)
	if err != nil || cut {
		return
	}
	src.mu.Lock()
	p, ok := src.pending[m.id]
	delete(src.pending, m.id)
	src.mu.Unlock()
	if ok {
		p.ch <- o
	}
}

func (t *LocalTransport) failPendingFrom(node string, err error) {
	t.mu.Lock()
	var chans []chan<- outcome
	for id, p := range t.pending {
		if p.to == node {
			chans = append(chans, p.ch)
			delete(t.pending, id)
		}
	}
	t.mu.Unlock()
	for _, ch := range chans {
		ch <- outcome{err: err}
	}
}

func (t *LocalTransport) stop() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	pending := t.pending
	t.pending = map[uint64]localPending{}
	t.mu.Unlock()
	close(t.done)
	for _, p := range pending {
		p.ch <- outcome{err: ErrClosed}
	}
	t.watchers.closeAll()
}
