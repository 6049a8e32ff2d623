package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nautilus-mq/nautilus/broker/cluster"
)

// Hub is an in-process network of cluster.Transports for running backend
// drivers for real (their goroutines, real time) without sockets: the
// integration tier between the deterministic simulation and real nodes.
// Delivery is synchronous and in order (Send calls the receiver's
// HandleMessage, which must not block, as the Transport contract says);
// partitions drop messages silently, as a cut network link would.
type Hub struct {
	mu       sync.Mutex
	nodes    map[string]*hubTransport
	groups   map[string]int
	detect   bool // failure detector on: Members lists one side of a partition
	watchers map[*hubWatch]struct{}
}

// ErrUnknownNode is returned by Send and Request to a node not on the hub.
var ErrUnknownNode = errors.New("sim: unknown node")

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{nodes: map[string]*hubTransport{}, watchers: map[*hubWatch]struct{}{}}
}

// Transport adds node name to the hub (a join, reported to watchers) and
// returns its transport. Adding a name again replaces its transport (a
// restarted process), without a membership event.
func (h *Hub) Transport(name string) cluster.Transport {
	h.mu.Lock()
	_, existed := h.nodes[name]
	t := &hubTransport{hub: h, name: name, handlers: map[cluster.Channel]cluster.Handler{}}
	h.nodes[name] = t
	h.mu.Unlock()
	if !existed {
		h.notify(cluster.MemberEvent{Node: name, Kind: "join"})
	}
	return t
}

// Remove takes node name off the hub (a leave).
func (h *Hub) Remove(name string) {
	h.mu.Lock()
	delete(h.nodes, name)
	h.mu.Unlock()
	h.notify(cluster.MemberEvent{Node: name, Kind: "leave"})
}

// Partition splits the hub's nodes into groups (nodes in none form one
// more group); Heal ends it.
func (h *Hub) Partition(groups ...[]string) {
	h.mu.Lock()
	h.groups = map[string]int{}
	for i, g := range groups {
		for _, n := range g {
			h.groups[n] = i + 1
		}
	}
	h.mu.Unlock()
	h.notifyDetected("fail")
}

// Heal ends a partition.
func (h *Hub) Heal() {
	h.mu.Lock()
	h.groups = nil
	h.mu.Unlock()
	h.notifyDetected("join")
}

// SetFailureDetection turns the hub's failure detector on or off. On, a
// transport's Members lists only the nodes on its side of a partition, and
// Partition and Heal tell watchers (kinds "fail" and "join"), the way serf
// reports a cut-off member failed and then back; off (the default), Members
// lists every node on the hub however the network is cut. See
// Sim.SetFailureDetection.
func (h *Hub) SetFailureDetection(on bool) {
	h.mu.Lock()
	h.detect = on
	h.mu.Unlock()
	h.notifyDetected("update")
}

// notifyDetected tells watchers, with the failure detector on, that every
// node's member list may have changed (one event per node: the drivers
// re-read Members on each).
func (h *Hub) notifyDetected(kind string) {
	h.mu.Lock()
	var names []string
	if h.detect {
		for n := range h.nodes {
			names = append(names, n)
		}
	}
	h.mu.Unlock()
	slices.Sort(names)
	for _, n := range names {
		h.notify(cluster.MemberEvent{Node: n, Kind: kind})
	}
}

// membersOf is the member list of node self: every node on the hub, or
// with the failure detector on those on self's side of the partition.
func (h *Hub) membersOf(self string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.nodes))
	for n := range h.nodes {
		if !h.detect || h.groups == nil || h.groups[n] == h.groups[self] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// route returns the transport of to if from can reach it.
func (h *Hub) route(from, to string) (*hubTransport, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.nodes[to]
	if t == nil {
		return nil, false, fmt.Errorf("%w %q", ErrUnknownNode, to)
	}
	cut := h.groups != nil && h.groups[from] != h.groups[to]
	return t, !cut, nil
}

// notify tells every watcher, never blocking: a watcher whose buffer is
// full misses the event, which is harmless for a reader that re-reads
// Members on every event.
func (h *Hub) notify(ev cluster.MemberEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		select {
		case w.ch <- ev:
		default:
		}
	}
}

type hubWatch struct{ ch chan cluster.MemberEvent }

type hubTransport struct {
	hub  *Hub
	name string

	mu       sync.RWMutex
	handlers map[cluster.Channel]cluster.Handler
}

func (t *hubTransport) Self() string { return t.name }

func (t *hubTransport) Members() []string { return t.hub.membersOf(t.name) }

func (t *hubTransport) handler(ch cluster.Channel) cluster.Handler {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.handlers[ch]
}

func (t *hubTransport) Send(node string, ch cluster.Channel, msg []byte) error {
	dst, ok, err := t.hub.route(t.name, node)
	if err != nil || !ok {
		return err
	}
	if h := dst.handler(ch); h != nil {
		h.HandleMessage(t.name, msg)
	}
	return nil
}

func (t *hubTransport) Request(ctx context.Context, node string, ch cluster.Channel, req []byte) ([]byte, error) {
	dst, ok, err := t.hub.route(t.name, node)
	if err != nil {
		return nil, err
	}
	if !ok {
		<-ctx.Done() // a cut link: no answer ever comes
		return nil, ctx.Err()
	}
	h := dst.handler(ch)
	if h == nil {
		return nil, fmt.Errorf("sim: %s has no handler on channel %d", node, ch)
	}
	return h.HandleRequest(ctx, t.name, req)
}

func (t *hubTransport) Handle(ch cluster.Channel, h cluster.Handler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handlers[ch] = h
}

func (t *hubTransport) Watch() (<-chan cluster.MemberEvent, func()) {
	w := &hubWatch{ch: make(chan cluster.MemberEvent, 64)}
	t.hub.mu.Lock()
	t.hub.watchers[w] = struct{}{}
	t.hub.mu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			t.hub.mu.Lock()
			delete(t.hub.watchers, w)
			t.hub.mu.Unlock()
		})
	}
}
