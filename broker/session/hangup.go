package session

import (
	"net"
	"sync/atomic"
	"time"
)

// A connection the server ends after telling the client why (a DISCONNECT with a reason code, a
// refused CONNACK) is not closed at once. Closing a TCP socket with unread input makes the
// kernel answer with a RST, and a RST makes the client's stack discard what it had received
// but not yet read: a client still writing (answering PUBRECs with PUBRELs, say) lost the very
// DISCONNECT that told it why, and saw only "connection reset". So the server half-closes
// (the client reads its last packet, then end of stream), reads and discards whatever the
// client still sends for a bounded time and number of bytes, and closes then, or as soon as the
// client closes.
const (
	// lingerTime bounds how long a socket stays open after its last packet; it is also Kick's
	// backstop, so a takeover never waits longer than it did before.
	lingerTime = 2 * time.Second
	// lingerBytes bounds what is read and thrown away meanwhile: a client that floods after its
	// DISCONNECT gets its socket closed rather than a free sink.
	lingerBytes = 64 << 10
	// maxLingering bounds the sockets lingering at once on a node: past it a connection is
	// closed at once, as before, so a storm of refused connects cannot pin descriptors.
	maxLingering = 1024
)

// lingering counts the sockets in linger across the process.
var lingering atomic.Int64

// closeWriter is a connection whose sending side can be shut alone: *net.TCPConn and
// *net.UnixConn (FIN), *tls.Conn (close_notify), the listener's WebSocket adapter (close
// frame).
type closeWriter interface{ CloseWrite() error }

// netConner is a wrapper that can name the connection it wraps (*tls.Conn and the listener's
// wrappers for PROXY protocol, TLS identity, WebSocket and connection counting).
type netConner interface{ NetConn() net.Conn }

// hangUp is called once the server's last packet is written: from then on nothing the client
// sends is handled, and a reader blocked on the socket is woken to end the connection.
func (c *Conn) hangUp() {
	if c.hungUp.Swap(true) {
		return
	}
	c.shutWrite()
	// The reader re-checks hungUp after every read and after moving its keep-alive deadline,
	// so this deadline cannot be lost to one it sets concurrently.
	c.nc.SetReadDeadline(time.Now())
}

// shutWrite shuts the sending side of every layer that can: the TLS close_notify, the
// WebSocket close frame and the TCP FIN each tell their own kind of client that nothing more
// comes. A layer without CloseWrite is passed through; with none at all, the linger still
// keeps the socket open for the client to read.
func (c *Conn) shutWrite() {
	if c.shut.Swap(true) {
		return
	}
	nc := c.nc
	for range 8 { // a handful of wrappers at most; the bound only guards a wrapper cycle
		if cw, ok := nc.(closeWriter); ok {
			cw.CloseWrite()
		}
		u, ok := nc.(netConner)
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}

// rawConn is the innermost connection under c.nc: lingering reads bytes there, below TLS and
// WebSocket framing, which need not be parsed to be discarded (and a WebSocket reader that
// timed out, as the wake in hangUp makes it, refuses every later read).
func (c *Conn) rawConn() net.Conn {
	nc := c.nc
	for range 8 {
		u, ok := nc.(netConner)
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	return nc
}

// linger keeps a hung-up socket open until the client closes it, lingerTime passes or
// lingerBytes arrive, discarding what is read. The caller closes the socket afterwards.
// Discarded bytes are not counted in bytes_received: they were never MQTT to the broker.
func (c *Conn) linger() {
	if !c.hungUp.Load() {
		return
	}
	if lingering.Add(1) > maxLingering {
		lingering.Add(-1)
		return
	}
	defer lingering.Add(-1)
	c.shutWrite()
	raw := c.rawConn()
	raw.SetReadDeadline(time.Now().Add(lingerTime))
	buf := make([]byte, 4096)
	for n := 0; n < lingerBytes; {
		m, err := raw.Read(buf)
		n += m
		if err != nil {
			return
		}
	}
}
