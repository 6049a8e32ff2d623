package listener

import (
	"bufio"
	"net"
	"sync"
)

// Conn is the connection a Handler gets from a TLS, PROXY protocol or unix listener (WebSocket
// listeners hand over their own adapter with the same methods). RemoteAddr is the client's
// real address, the one a PROXY header or a trusted X-Forwarded-For named when there was one,
// so hooks, logs and the admin see the client rather than the load balancer.
type Conn struct {
	net.Conn
	br       *bufio.Reader // bytes read past a PROXY header; nil once drained or never used
	remote   net.Addr
	username string
}

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// IdentityUsername is the username the listener established for the client: the CN of its
// verified certificate (use_identity_as_username) or the CN a TLS-terminating proxy passed in
// a PROXY v2 header (proxy_protocol_use_cn_as_username); empty when there is none. The
// session uses it in place of the CONNECT's username and skips auth_on_register, as VerneMQ
// does for pre-authenticated clients.
func (c *Conn) IdentityUsername() string { return c.username }

func (c *Conn) Read(b []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() == 0 {
			c.br = nil
		} else {
			return c.br.Read(b)
		}
	}
	return c.Conn.Read(b)
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// tracked calls done once, when the accepted socket is closed, whoever closes it: the session,
// the TLS layer after a failed handshake, or the HTTP server for a request that is not an
// upgrade. It is how the listener counts open connections across every kind.
type tracked struct {
	net.Conn
	once sync.Once
	done func()
}

// NetConn is the accepted socket: a session that hangs up finds CloseWrite there.
func (t *tracked) NetConn() net.Conn { return t.Conn }

func (t *tracked) Close() error {
	err := t.Conn.Close()
	t.once.Do(t.done)
	return err
}

// identity extracts what the layers below a connection learnt about the client.
func identity(nc net.Conn) (remote net.Addr, username string) {
	if c, ok := nc.(*Conn); ok {
		return c.RemoteAddr(), c.username
	}
	return nc.RemoteAddr(), ""
}
