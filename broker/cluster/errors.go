package cluster

import (
	"errors"
	"fmt"
)

// Errors a Transport returns, wrapped with the node and channel concerned; test them with
// errors.Is.
var (
	// ErrUnknownNode: the node is not a live member (never joined, left, or failed).
	ErrUnknownNode = errors.New("cluster: unknown or dead node")
	// ErrSelf: Send and Request address peers; a node does not send to itself.
	ErrSelf = errors.New("cluster: message addressed to this node")
	// ErrBufferFull: the peer's outgoing buffer (outgoing_clustering_buffer_size) is full and
	// the message was dropped and counted.
	ErrBufferFull = errors.New("cluster: outgoing buffer full")
	// ErrLinkDown: the link a request went out on broke before the answer came back; the
	// request may or may not have run on the peer.
	ErrLinkDown = errors.New("cluster: peer link down")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("cluster: node closed")
	// ErrNoHandler: the peer has no handler for the channel.
	ErrNoHandler = errors.New("cluster: no handler for channel")
	// ErrNoLink: serf reports the peer alive, but no link to it could be made the last
	// unlinkableAfter times in a row (its certificate is refused, its link port is
	// firewalled): requests fail at once instead of waiting out their deadline.
	ErrNoLink = errors.New("cluster: no link to peer")
	// ErrIncompatible: a peer speaks no protocol version this node speaks.
	ErrIncompatible = errors.New("cluster: incompatible peer-link protocol version")
)

// RemoteError is the error a peer's HandleRequest returned, carried back as text.
type RemoteError struct {
	Node string
	Msg  string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("cluster: %s answered: %s", e.Node, e.Msg) }

// noHandlerMsg is the error text a peer sends when it has no handler; the requester turns it
// back into ErrNoHandler so callers can test for it.
const noHandlerMsg = "no handler for channel"
