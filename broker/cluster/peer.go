package cluster

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// peer is everything this node keeps about one other node: its outgoing buffer, its current
// link (if any), the requests waiting for its answers, and counters. A peer entry is created on
// the first sign of the node (a serf event or an accepted link) and kept across leaves and
// rejoins so counters survive; only the live flag follows membership.
type peer struct {
	n    *Node
	name string
	q    *outQueue

	stats peerCounters

	mu      sync.Mutex
	alive   bool                      // serf says live; guarded by mu
	addr    string                    // link address from the member's tags; guarded by mu
	link    *link                     // current link or nil; guarded by mu
	pending map[uint64]chan<- outcome // requests waiting for an answer; guarded by mu
	dialing bool                      // a dial loop runs; guarded by mu
	failed  int                       // dial attempts failed in a row; guarded by mu
	lastErr error                     // the last of them; guarded by mu
	// unlinked is when the peer was last alive without a link (serf saw it, or its link
	// closed); zero while a link is up. Guarded by mu.
	unlinked time.Time
	kick     chan struct{} // 1-buffered: retry dialling now (address changed, rejoin)
}

// outcome is a request's answer or failure.
type outcome struct {
	resp []byte
	err  error
}

type peerCounters struct {
	messagesOut, bytesOut atomic.Uint64
	messagesIn, bytesIn   atomic.Uint64
	drops                 atomic.Uint64 // Send/Request refused: buffer full
	unhandled             atomic.Uint64 // frames for a channel with no handler, or unknown types
	linksUp               atomic.Uint64 // links established (the first one and reconnects)
	dialFailures          atomic.Uint64
}

func newPeer(n *Node, name string) *peer {
	return &peer{
		n: n, name: name, q: newOutQueue(n.opts.OutgoingBufferSize),
		pending: map[uint64]chan<- outcome{}, kick: make(chan struct{}, 1),
	}
}

// unlinkableAfter is how many dial attempts in a row must fail before requests to a live
// peer fail at once: one failure is a restart or a flap, and worth waiting for.
const unlinkableAfter = 3

// unlinkable returns why requests to p should not wait for a link, or nil: the dialling side
// counts its failed attempts; the other side (which only accepts) gives up once the peer has
// been without a link for longer than a handshake may take.
func (p *peer) unlinkable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.link != nil:
		return nil
	case p.failed >= unlinkableAfter:
		return fmt.Errorf("%w %s: %d attempts failed, the last with: %v", ErrNoLink, p.name, p.failed, p.lastErr)
	case !p.unlinked.IsZero() && time.Since(p.unlinked) > p.n.opts.HandshakeTimeout:
		return fmt.Errorf("%w %s: none for %v", ErrNoLink, p.name, time.Since(p.unlinked).Round(time.Second))
	}
	return nil
}

func (p *peer) isAlive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alive
}

// up records that serf sees the peer live at addr, and starts dialling it if this node is the
// one that dials (the smaller name). It never blocks: it runs on the serf event goroutine.
func (p *peer) up(addr string) {
	p.mu.Lock()
	changed := p.addr != addr || !p.alive
	if !p.alive && p.link == nil {
		p.unlinked = time.Now()
	}
	p.alive, p.addr = true, addr
	startDial := p.n.name < p.name && !p.dialing
	if startDial {
		p.dialing = true
	}
	p.mu.Unlock()
	if startDial {
		p.n.wg.Add(1)
		go func() { defer p.n.wg.Done(); p.dialLoop() }()
	} else if changed {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// down records that the peer left or failed: its buffer is dropped, its link closed and every
// request waiting on it fails at once with cause.
func (p *peer) down(cause error) {
	p.mu.Lock()
	p.alive = false
	l := p.link
	p.mu.Unlock()
	p.q.reset()
	p.failPending(cause)
	if l != nil {
		l.close(cause)
	}
	select {
	case p.kick <- struct{}{}: // wake the dial loop so it sees !alive and exits
	default:
	}
}

// attach makes l the peer's link and starts it. A link it replaces (the peer restarted and
// dialled again before this side noticed the old connection die) is closed, and requests that
// went out on it fail.
func (p *peer) attach(l *link) {
	if p.n.isClosed() {
		l.close(ErrClosed)
		return
	}
	p.mu.Lock()
	old := p.link
	p.link, p.unlinked = l, time.Time{}
	p.mu.Unlock()
	if old != nil {
		p.failPending(fmt.Errorf("%w: %s: replaced by a new connection", ErrLinkDown, p.name))
		old.close(errReplaced)
	}
	p.stats.linksUp.Add(1)
	p.n.log.Info("cluster: peer link up", "peer", p.name, "remote", l.raw.RemoteAddr().String(), "protocol", l.version)
	l.run()
}

var errReplaced = fmt.Errorf("replaced by a new connection")

// linkDown is called once by a closing link.
func (p *peer) linkDown(l *link, cause error) {
	p.mu.Lock()
	current := p.link == l
	if current {
		p.link, p.unlinked = nil, time.Now()
	}
	p.mu.Unlock()
	if !current {
		return
	}
	p.failPending(fmt.Errorf("%w: %s: %v", ErrLinkDown, p.name, cause))
	if p.n.isClosed() {
		return
	}
	p.n.log.Warn("cluster: peer link down", "peer", p.name, "err", cause)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *peer) currentLink() *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.link
}

func (p *peer) addPending(id uint64, ch chan<- outcome) {
	p.mu.Lock()
	p.pending[id] = ch
	p.mu.Unlock()
}

func (p *peer) removePending(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// resolve delivers the answer to request id; an answer nobody waits for any more (the
// requester gave up) is dropped.
func (p *peer) resolve(id uint64, resp []byte, err error) {
	p.mu.Lock()
	ch := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if ch != nil {
		ch <- outcome{resp: resp, err: err} // buffered 1, written once
	}
}

func (p *peer) failPending(err error) {
	p.mu.Lock()
	pending := p.pending
	p.pending = map[uint64]chan<- outcome{}
	p.mu.Unlock()
	for _, ch := range pending {
		ch <- outcome{err: err}
	}
}

// dialLoop keeps one link to the peer while it is alive, reconnecting with exponential backoff
// and full jitter. Only the node with the smaller name dials, so two nodes never race to build
// two links; the other side waits to be dialled.
func (p *peer) dialLoop() {
	n := p.n
	backoff := n.opts.BackoffMin
	failures := 0
	for {
		p.mu.Lock()
		alive, addr, l := p.alive, p.addr, p.link
		if !alive || n.isClosed() {
			p.dialing = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if l != nil {
			select {
			case <-l.done:
			case <-p.kick:
			case <-n.done:
			}
			continue
		}
		err := n.dialPeer(p, addr)
		p.mu.Lock()
		if err == nil {
			p.failed, p.lastErr = 0, nil
		} else {
			p.failed, p.lastErr = p.failed+1, err
		}
		giveUp := p.failed == unlinkableAfter
		p.mu.Unlock()
		if giveUp {
			// Requests already waiting for this link stop waiting too, as new ones will.
			p.failPending(p.unlinkable())
		}
		if err == nil {
			backoff, failures = n.opts.BackoffMin, 0
			continue
		}
		p.stats.dialFailures.Add(1)
		failures++
		// The first failure is worth a warning; a peer that stays unreachable would otherwise
		// fill the log at the backoff rate until serf declares it failed.
		if failures == 1 {
			n.log.Warn("cluster: cannot link to peer; retrying with backoff", "peer", p.name, "addr", addr, "err", err)
		} else {
			n.log.Debug("cluster: cannot link to peer", "peer", p.name, "addr", addr, "attempt", failures, "err", err)
		}
		wait := rand.N(backoff) + backoff/2
		backoff = min(backoff*2, n.opts.BackoffMax)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.kick:
			backoff = n.opts.BackoffMin
		case <-n.done:
		}
		t.Stop()
	}
}
