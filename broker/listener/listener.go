// Package listener accepts client connections. Each Listener is an object that can be started
// and stopped without touching the others (the admin API's listener commands need that); its
// accept loop backs off on temporary errors instead of exiting, refuses connections beyond its
// max_connections cleanly, and hands every accepted connection to the broker's handler in its
// own goroutine.
//
// One Listener serves one kind: plain TCP, TLS (ssl), MQTT over WebSocket (ws, wss) or a unix
// socket, optionally behind a PROXY protocol header. Everything that happens before MQTT (the
// PROXY header, the TLS handshake, the HTTP upgrade) runs in the connection's goroutine within
// a handshake timeout, so a client that stalls there costs only its own connection.
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves one accepted connection; it owns the connection and closes it. The
// connection is the plain socket on a plain TCP listener; otherwise it is unwrapped (PROXY
// header read, TLS handshake done, WebSocket upgraded), its RemoteAddr is the client's real
// address, and it implements
//
//	interface{ IdentityUsername() string }
//
// giving the username established by a client certificate or a proxy, if any.
type Handler func(ctx context.Context, nc net.Conn)

// Config describes one listener.
type Config struct {
	// Name is the listener's key, e.g. "tcp.default".
	Name    string
	Network string // "tcp" or "unix"
	Address string
	// MaxConnections bounds concurrent connections; negative means unbounded.
	MaxConnections int
	// HandshakeTimeout bounds what happens before MQTT: the PROXY header, the TLS handshake,
	// the WebSocket upgrade. A connection that has not finished by then is closed. Default 10 s.
	HandshakeTimeout time.Duration
	// ProxyProtocol expects a PROXY protocol v1 or v2 header first (before TLS).
	ProxyProtocol bool
	// ProxyUseCN makes the client certificate CN of a PROXY v2 SSL TLV the username.
	ProxyUseCN bool
	// TLS, when set, terminates TLS (ssl and wss listeners).
	TLS *TLSConfig
	// WebSocket, when set, serves MQTT over WebSocket (ws and wss listeners).
	WebSocket *WebSocketConfig
}

// Listener is one listening socket and its accept loop.
type Listener struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	tls     *tlsState

	mu     sync.Mutex
	ln     net.Listener
	ws     *wsServer
	cancel context.CancelFunc
	done   chan struct{}
	conns  sync.WaitGroup
	active atomic.Int64
	// Refused counts connections closed at once because MaxConnections was reached.
	Refused atomic.Int64
	// Failed counts connections closed before reaching MQTT: a missing or bad PROXY header,
	// a failed or unfinished TLS handshake.
	Failed atomic.Int64
}

// New returns a stopped listener. It fails when the TLS material cannot be loaded.
func New(cfg Config, h Handler, log *slog.Logger) (*Listener, error) {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	l := &Listener{cfg: cfg, handler: h, log: log.With("listener", cfg.Name)}
	if cfg.TLS != nil {
		st, err := newTLSState(*cfg.TLS, l.log)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", cfg.Name, err)
		}
		l.tls = st
	}
	return l, nil
}

// Name is the listener's key.
func (l *Listener) Name() string { return l.cfg.Name }

// Kind names what the listener serves: tcp, ssl, ws, wss or unix.
func (l *Listener) Kind() string {
	switch {
	case l.cfg.Network == "unix":
		return "unix"
	case l.cfg.WebSocket != nil && l.tls != nil:
		return "wss"
	case l.cfg.WebSocket != nil:
		return "ws"
	case l.tls != nil:
		return "ssl"
	}
	return "tcp"
}

// Addr is the bound address while running (useful with port 0), or nil.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Running reports whether the listener accepts connections.
func (l *Listener) Running() bool { return l.Addr() != nil }

// Active is the number of open connections.
func (l *Listener) Active() int64 { return l.active.Load() }

// Reload reads the certificate, key, CA and CRL files again (for the admin API); on error the
// certificates in use stay. Listeners without TLS have nothing to reload. New handshakes use
// the new certificates; established connections keep theirs.
func (l *Listener) Reload() error {
	if l.tls == nil {
		return nil
	}
	if err := l.tls.reload(); err != nil {
		return fmt.Errorf("listener %s: %w", l.cfg.Name, err)
	}
	l.log.Info("certificates reloaded")
	return nil
}

// Start binds the socket and starts accepting.
func (l *Listener) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return fmt.Errorf("listener %s: already running", l.cfg.Name)
	}
	if l.cfg.Network == "unix" {
		removeStaleSocket(l.cfg.Address)
	}
	// No TCP keep-alive on accepted connections: MQTT's own keep alive finds dead clients
	// (the session's read deadline), and setting the socket options cost four system calls per
	// connection in a connect storm. The session turns it on for a client that asks for no MQTT
	// keep alive (keep alive 0), which would otherwise never be found dead.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, l.cfg.Network, l.cfg.Address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.cfg.Name, err)
	}
	// Connections get the caller's context: stopping the listener leaves them running.
	connCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	l.ln, l.cancel, l.done = ln, cancel, make(chan struct{})
	if l.cfg.WebSocket != nil {
		l.ws = newWSServer(connCtx, *l.cfg.WebSocket, l.cfg.HandshakeTimeout, l.handler, l.log, ln.Addr())
	}
	if l.tls != nil {
		go l.tls.watch(ctx.Done())
	}
	go l.acceptLoop(ctx, connCtx, ln, l.ws, l.done)
	l.log.Info("listening", "address", ln.Addr().String(), "kind", l.Kind())
	return nil
}

// removeStaleSocket removes a unix socket file that no process listens on any more (left by a
// crash), so a restart can bind; a live socket is left for net.Listen to report.
func removeStaleSocket(path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}

// Stop closes the socket so no new connection is accepted; connections already open go on
// (the broker ends them through their sessions). It waits for the accept loop to exit.
func (l *Listener) Stop() {
	l.mu.Lock()
	ln, cancel, done, ws := l.ln, l.cancel, l.done, l.ws
	l.ln, l.ws = nil, nil
	l.mu.Unlock()
	if ln == nil {
		return
	}
	ln.Close()
	<-done
	if ws != nil {
		ws.close()
	}
	// The context ends the certificate watcher; connections use their own lifetimes.
	cancel()
}

// Wait blocks until every connection this listener accepted has been closed.
func (l *Listener) Wait() { l.conns.Wait() }

func (l *Listener) acceptLoop(ctx, connCtx context.Context, ln net.Listener, ws *wsServer, done chan struct{}) {
	defer close(done)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Out of file descriptors and similar: wait and retry, never exit silently.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed; retrying", "error", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if max := l.cfg.MaxConnections; max >= 0 && l.active.Load() >= int64(max) {
			// Refuse before reading anything: the client sees the connection close.
			l.Refused.Add(1)
			l.log.Warn("refusing connection: max_connections reached", "peer", nc.RemoteAddr().String(), "max_connections", max)
			nc.Close()
			continue
		}
		l.active.Add(1)
		l.conns.Add(1)
		tc := &tracked{Conn: nc, done: func() { l.active.Add(-1); l.conns.Done() }}
		go l.serve(connCtx, tc, ws)
	}
}

// serve unwraps one connection (PROXY header, TLS) within the handshake timeout and hands it
// to the handler, or to the HTTP server of a WebSocket listener. A connection that fails here
// is closed alone.
func (l *Listener) serve(ctx context.Context, tc *tracked, ws *wsServer) {
	var nc net.Conn = tc
	if l.cfg.Network == "unix" {
		// Unix sockets have no peer address; name the socket, so logs say where it came from.
		nc = &Conn{Conn: tc, remote: &net.UnixAddr{Name: l.cfg.Address, Net: "unix"}}
	}
	deadline := time.Now().Add(l.cfg.HandshakeTimeout)
	fail := func(stage string, err error) {
		l.Failed.Add(1)
		l.log.Info("connection closed before MQTT", "stage", stage, "peer", nc.RemoteAddr().String(), "error", err)
		tc.Close()
	}
	if l.cfg.ProxyProtocol {
		pc, err := readProxyHeader(nc, deadline, l.cfg.ProxyUseCN)
		if err != nil {
			fail("proxy_protocol", err)
			return
		}
		nc = pc
	}
	if l.tls != nil {
		tlsConn, err := l.tls.serverTLS(nc, deadline)
		if err != nil {
			fail("tls", err)
			return
		}
		nc = tlsConn
	}
	if ws != nil {
		ws.ln.deliver(nc)
		return
	}
	l.handler(ctx, nc)
}
