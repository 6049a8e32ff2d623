package cluster

import "slices"

// PeerStats are one peer's counters, for metrics. Counters only grow over the node's life,
// across the peer's leaves and rejoins.
type PeerStats struct {
	Node  string
	Alive bool // serf reports the peer live
	Up    bool // a link is established

	MessagesOut uint64 // frames written (messages, requests, responses, pings)
	BytesOut    uint64 // bytes written, framing included
	MessagesIn  uint64 // frames read
	BytesIn     uint64
	Drops       uint64 // Send/Request refused because the outgoing buffer was full
	Unhandled   uint64 // frames dropped: no handler for the channel, or an unknown type
	QueuedBytes int    // bytes waiting in the outgoing buffer now

	LinksUp      uint64 // links established, reconnects included
	DialFailures uint64
}

// Stats are a node's counters.
type Stats struct {
	Peers []PeerStats // sorted by node name
	// HandshakeFailures counts links refused in either direction: TLS, protocol version,
	// naming rule, or garbage on the port.
	HandshakeFailures uint64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{HandshakeFailures: n.handshakeFailures.Load()}
	for _, p := range n.peerList() {
		s.Peers = append(s.Peers, p.snapshot())
	}
	slices.SortFunc(s.Peers, func(a, b PeerStats) int {
		if a.Node < b.Node {
			return -1
		}
		if a.Node > b.Node {
			return 1
		}
		return 0
	})
	return s
}

// Peer returns one peer's counters, and false for a node this one never heard of.
func (n *Node) Peer(node string) (PeerStats, bool) {
	n.mu.Lock()
	p := n.peers[node]
	n.mu.Unlock()
	if p == nil {
		return PeerStats{Node: node}, false
	}
	return p.snapshot(), true
}

func (p *peer) snapshot() PeerStats {
	c := &p.stats
	return PeerStats{
		Node: p.name, Alive: p.isAlive(), Up: p.currentLink() != nil,
		MessagesOut: c.messagesOut.Load(), BytesOut: c.bytesOut.Load(),
		MessagesIn: c.messagesIn.Load(), BytesIn: c.bytesIn.Load(),
		Drops: c.drops.Load(), Unhandled: c.unhandled.Load(), QueuedBytes: p.q.queued(),
		LinksUp: c.linksUp.Load(), DialFailures: c.dialFailures.Load(),
	}
}
