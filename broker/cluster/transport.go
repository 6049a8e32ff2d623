// Package cluster joins a node to its peers: serf for membership and failure detection, and one
// long-lived TCP link per peer carrying msgpack frames on multiplexed channels (one-way messages
// and request/response with deadlines). The replication backends and the router see only the
// small Transport interface below; the simulator implements the same interface, so a backend's
// driver runs unchanged over real sockets and over a simulated network.
package cluster

import "context"

// Channel multiplexes one peer link. Values are part of the wire protocol: only append.
type Channel byte

// The channels of a peer link.
const (
	ChanMetadata Channel = 1 // replication backend one-way messages
	ChanMetaRPC  Channel = 2 // replication backend requests (anti-entropy exchanges)
	ChanRouting  Channel = 3 // forwarded PUBLISH batches between routers
	ChanSession  Channel = 4 // session takeover and queue migration requests
)

// Handler receives what peers send on one channel. HandleMessage must not block for long: it
// runs on the link's reader, and the bytes may be reused after it returns, so it copies what it
// keeps. HandleRequest runs in its own goroutine and its answer goes back to the requester.
type Handler interface {
	HandleMessage(from string, msg []byte)
	HandleRequest(ctx context.Context, from string, req []byte) ([]byte, error)
}

// MemberEvent reports a change of cluster membership.
type MemberEvent struct {
	Node string
	// Kind is "join", "leave" (graceful, or a failed member removed by the operator), "fail"
	// (failure detected), "reap" (a failed member not back within Options.AutoClean, forgotten)
	// or "update".
	Kind string
}

// Transport is what a replication backend or the router needs of the cluster.
type Transport interface {
	// Self is this node's name.
	Self() string
	// Members is the current live member list including Self, sorted.
	Members() []string
	// Send queues msg for node on ch and returns at once; it fails (never blocks) when the
	// link's outgoing buffer is full or the node is unknown, and the caller decides what a lost
	// message means (anti-entropy repairs metadata; the router keeps QoS 1/2 for later).
	Send(node string, ch Channel, msg []byte) error
	// Request sends req to node on ch and waits for its answer until ctx ends.
	Request(ctx context.Context, node string, ch Channel, req []byte) ([]byte, error)
	// Handle installs h for ch; it must be called before traffic on ch is expected.
	Handle(ch Channel, h Handler)
	// Watch returns member events from now on, and a function that stops them. The channel is
	// fed without ever blocking the membership layer.
	Watch() (<-chan MemberEvent, func())
}
