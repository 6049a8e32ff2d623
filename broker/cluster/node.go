package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/nautilus-mq/nautilus/broker/logging/ratelog"
)

// Node is a cluster member over real sockets: serf gossip for membership and one TCP (or TLS)
// link per peer for traffic. It implements Transport. Its methods are safe for concurrent use.
//
// Lifecycle: New, then Handle for every channel, then Start; Join (or Options.Seeds) to find
// the cluster; Leave to go gracefully (peers see "leave") and Close to stop. Close without
// Leave is what a crash looks like to peers: they see "fail".
type Node struct {
	opts     Options
	name     string
	log      *slog.Logger
	protoMin int // the protocol range offered in handshakes; tests narrow it
	protoMax int

	handlers [256]atomic.Pointer[handlerBox]

	ctx    context.Context // canceled by Close; bounds dials and request handlers
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	serfEvents chan serf.Event
	serf       *serf.Serf   // set by Start
	ln         net.Listener // set by Start
	linkAddr   string       // advertised link address; set by Start
	watchers   watchers

	mu      sync.Mutex
	peers   map[string]*peer // guarded by mu
	started bool             // guarded by mu
	closed  atomic.Bool

	nextID            atomic.Uint64
	handshakeFailures atomic.Uint64

	// keys and the TLS configurations below are set when links are authenticated by the
	// cluster secret (Options.Secret without Options.TLS).
	keys                 *clusterKeys
	secretServer, secret *tls.Config
	// refused logs what strangers on the cluster ports cause (failed link handshakes, gossip
	// that does not decrypt) once a minute per cause, as a scan repeats it at will.
	refused *ratelog.Group
}

// refusedLogInterval is how often refused link handshakes and undecryptable gossip are logged.
const refusedLogInterval = time.Minute

type handlerBox struct{ h Handler }

var _ Transport = (*Node)(nil)

// New checks opts and returns a node that is not yet listening.
func New(opts Options) (*Node, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(o.Secret) == 0 && (o.TLS == nil || len(o.GossipKey) == 0) {
		return nil, ErrNoSecret
	}
	lg := o.Logger.With("node", o.Name)
	n := &Node{
		opts: o, name: o.Name, log: lg,
		refused:  ratelog.New(lg, slog.LevelWarn, refusedLogInterval, "cluster: refused strangers on the cluster ports"),
		protoMin: ProtocolVersionMin, protoMax: ProtocolVersionMax,
		done:       make(chan struct{}),
		serfEvents: make(chan serf.Event, serfEventBuffer),
		peers:      map[string]*peer{},
	}
	if len(o.Secret) > 0 {
		keys, err := keysFor(o.Secret)
		if err != nil {
			return nil, err
		}
		if len(n.opts.GossipKey) == 0 {
			n.opts.GossipKey = keys.gossip
		}
		if o.TLS == nil {
			cert, err := keys.linkCert(o.Name)
			if err != nil {
				return nil, err
			}
			n.keys = keys
			n.secretServer, n.secret = keys.secretTLS(cert)
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Start listens for peer links, starts gossip, and (when Options.Seeds is set) keeps trying to
// join the seeds in the background until one answers, ctx ends, or the node closes.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.started || n.closed.Load() {
		n.mu.Unlock()
		return errors.New("cluster: Start called twice or after Close")
	}
	n.started = true
	n.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.opts.LinkAddr)
	if err != nil {
		return fmt.Errorf("cluster: listen for peer links on %s: %w", n.opts.LinkAddr, err)
	}
	n.ln = ln
	if n.linkAddr, err = n.advertiseLinkAddr(ln.Addr()); err != nil {
		_ = ln.Close()
		return err
	}
	if err := n.startSerf(); err != nil {
		_ = ln.Close()
		return err
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.acceptLoop() }()
	if len(n.opts.Seeds) > 0 || n.opts.SeedsDNS != "" {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.joinSeeds(ctx) }()
	}
	n.log.Info("cluster: node started", "link", n.linkAddr, "gossip", n.GossipAddr())
	return nil
}

// acceptLoop accepts peer links, backing off on temporary errors (too many open files) as
// net/http does rather than spinning or dying.
func (n *Node) acceptLoop() {
	var delay time.Duration
	for {
		conn, err := n.ln.Accept()
		if err != nil {
			if n.isClosed() {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			n.log.Error("cluster: accept peer link", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-n.done:
				return
			}
		}
		delay = 0
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.serveConn(conn) }()
	}
}

func (n *Node) joinSeeds(ctx context.Context) {
	backoff := n.opts.BackoffMin
	for {
		seeds, err := n.seeds(ctx)
		if err == nil {
			if _, err = n.serf.Join(seeds, true); err == nil {
				return
			}
		}
		n.log.Warn("cluster: cannot join seeds yet; retrying", "seeds", seeds, "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		case <-n.done:
			return
		}
		backoff = min(backoff*2, n.opts.BackoffMax)
	}
}

// seeds is Options.Seeds and the addresses SeedsDNS names now, without this node's own.
func (n *Node) seeds(ctx context.Context) ([]string, error) {
	seeds := slices.Clone(n.opts.Seeds)
	if n.opts.SeedsDNS != "" {
		host, port, _ := net.SplitHostPort(n.opts.SeedsDNS) // checked by withDefaults
		lctx, cancel := context.WithTimeout(ctx, n.opts.DialTimeout)
		ips, err := net.DefaultResolver.LookupHost(lctx, host)
		cancel()
		if err != nil && len(seeds) == 0 {
			return nil, fmt.Errorf("cluster.seeds_dns %s: %w", n.opts.SeedsDNS, err)
		}
		self := n.GossipAddr()
		for _, ip := range ips {
			if a := net.JoinHostPort(ip, port); a != self && a != n.opts.AdvertiseGossipAddr {
				seeds = append(seeds, a)
			}
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("cluster.seeds_dns %s names no other node yet", n.opts.SeedsDNS)
	}
	return seeds, nil
}

// Join contacts the nodes at addrs (gossip addresses, host:port) and merges their cluster
// into ours. It succeeds when at least one answers.
func (n *Node) Join(addrs ...string) error {
	if n.serf == nil {
		return errors.New("cluster: Join before Start")
	}
	if _, err := n.serf.Join(addrs, true); err != nil {
		return fmt.Errorf("cluster: join %v: %w", addrs, err)
	}
	return nil
}

// Leave tells the cluster this node is going, waits for the news to spread (serf's
// LeavePropagateDelay and BroadcastTimeout bound it), and drops every peer. Close afterwards.
func (n *Node) Leave() error {
	if n.serf == nil {
		return errors.New("cluster: Leave before Start")
	}
	if err := n.serf.Leave(); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	for _, p := range n.peerList() {
		p.down(fmt.Errorf("%w: this node left the cluster", ErrUnknownNode))
	}
	return nil
}

// Close stops gossip and every link at once, without telling peers (they detect a failure),
// and waits for the node's goroutines. Requests in progress fail with ErrClosed. Watch
// channels close.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(n.done)
	n.cancel()
	var errs []error
	if n.serf != nil {
		if err := n.serf.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: serf shutdown: %w", err))
		}
	}
	if n.ln != nil {
		_ = n.ln.Close()
	}
	for _, p := range n.peerList() {
		p.down(ErrClosed)
	}
	n.watchers.closeAll()
	n.wg.Wait()
	return errors.Join(errs...)
}

func (n *Node) isClosed() bool { return n.closed.Load() }

// LinkAddr is the advertised peer-link address (valid after Start).
func (n *Node) LinkAddr() string { return n.linkAddr }

// GossipAddr is the address other nodes Join (valid after Start): the advertised gossip
// address, with the port actually bound when the configured one was 0.
func (n *Node) GossipAddr() string {
	if n.serf == nil {
		return n.opts.GossipAddr
	}
	ln := n.serf.Memberlist().LocalNode()
	return net.JoinHostPort(ln.Addr.String(), fmt.Sprint(ln.Port))
}

// peerFor returns the entry for name, creating it.
func (n *Node) peerFor(name string) *peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[name]
	if p == nil {
		p = newPeer(n, name)
		n.peers[name] = p
	}
	return p
}

func (n *Node) livePeer(name string) (*peer, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	if name == n.name {
		return nil, fmt.Errorf("%w (%s)", ErrSelf, name)
	}
	n.mu.Lock()
	p := n.peers[name]
	n.mu.Unlock()
	if p == nil || !p.isAlive() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	return p, nil
}

func (n *Node) peerList() []*peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		ps = append(ps, p)
	}
	return ps
}

func (n *Node) handler(ch Channel) Handler {
	if b := n.handlers[ch].Load(); b != nil {
		return b.h
	}
	return nil
}

// Self is this node's name.
func (n *Node) Self() string { return n.name }

// Members is this node and every peer serf reports live, sorted. It follows the events Watch
// delivers, so a node listed here is one Send accepts.
func (n *Node) Members() []string {
	out := []string{n.name}
	for _, p := range n.peerList() {
		if p.isAlive() {
			out = append(out, p.name)
		}
	}
	slices.Sort(out)
	return out
}

// Handle installs h for ch. Frames on a channel without a handler are counted and dropped;
// requests on it fail with ErrNoHandler.
func (n *Node) Handle(ch Channel, h Handler) { n.handlers[ch].Store(&handlerBox{h: h}) }

// Watch returns member events ("join", "update", "leave", "fail") about other nodes from now
// on. Events queue per subscriber without bound (see watcher), so the channel never makes the
// membership layer wait. The stop function ends the subscription and closes the channel.
func (n *Node) Watch() (<-chan MemberEvent, func()) { return n.watchers.add() }

// Send queues msg for node on ch and returns at once. msg is copied. It fails with
// ErrUnknownNode for a node that is not a live member and with ErrBufferFull (counted as a
// drop) when the peer's outgoing buffer is full. A nil error means queued, not delivered:
// messages queued while the link is down go out when it is back, unless the peer is declared
// failed first.
func (n *Node) Send(node string, ch Channel, msg []byte) error {
	p, err := n.livePeer(node)
	if err != nil {
		return err
	}
	if !p.q.push(&frame{Type: frameMessage, Chan: ch, Payload: msg}, false) {
		p.stats.drops.Add(1)
		return fmt.Errorf("%w: %s (%d bytes queued)", ErrBufferFull, node, p.q.queued())
	}
	return nil
}

// Request sends req to node on ch and waits for the answer until ctx ends, or for
// Options.RequestTimeout when ctx has no deadline; the peer's handler gets the same deadline.
// It fails at once when the node is not live, when no link to it could be made the last few
// attempts (ErrNoLink), when the buffer is full, and when the link the request went out on
// breaks or the node is declared failed while it waits.
func (n *Node) Request(ctx context.Context, node string, ch Channel, req []byte) ([]byte, error) {
	p, err := n.livePeer(node)
	if err != nil {
		return nil, err
	}
	if err := p.unlinkable(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.opts.RequestTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	timeoutMS := max(time.Until(deadline).Milliseconds(), 1)
	id := n.nextID.Add(1)
	res := make(chan outcome, 1)
	p.addPending(id, res)
	if !p.q.push(&frame{Type: frameRequest, Chan: ch, ID: id, TimeoutMS: uint64(timeoutMS), Payload: req}, false) {
		p.removePending(id)
		p.stats.drops.Add(1)
		return nil, fmt.Errorf("%w: %s (%d bytes queued)", ErrBufferFull, node, p.q.queued())
	}
	select {
	case o := <-res:
		if o.err != nil {
			return nil, fmt.Errorf("cluster: request to %s on channel %d: %w", node, ch, o.err)
		}
		return o.resp, nil
	case <-ctx.Done():
		p.removePending(id)
		return nil, fmt.Errorf("cluster: request to %s on channel %d: %w", node, ch, ctx.Err())
	}
}
