// Package listener accepts client connections. Each Listener is an object that can be started
// and stopped without touching the others (the admin API's listener commands need that); its
// accept loop backs off on temporary errors instead of exiting, refuses connections beyond its
// max_connections cleanly, and hands every accepted connection to the broker's handler in its
// own goroutine.
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves one accepted connection; it owns the connection and closes it.
type Handler func(ctx context.Context, nc net.Conn)

// Config describes one listener.
type Config struct {
	// Name is the listener's key, e.g. "tcp.default".
	Name    string
	Network string // "tcp" or "unix"
	Address string
	// MaxConnections bounds concurrent connections; negative means unbounded.
	MaxConnections int
}

// Listener is one listening socket and its accept loop.
type Listener struct {
	cfg     Config
	handler Handler
	log     *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
	conns  sync.WaitGroup
	active atomic.Int64
	// Refused counts connections closed at once because MaxConnections was reached.
	Refused atomic.Int64
}

// New returns a stopped listener.
func New(cfg Config, h Handler, log *slog.Logger) *Listener {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	return &Listener{cfg: cfg, handler: h, log: log.With("listener", cfg.Name)}
}

// Name is the listener's key.
func (l *Listener) Name() string { return l.cfg.Name }

// Addr is the bound address while running (useful with port 0), or nil.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Active is the number of open connections.
func (l *Listener) Active() int64 { return l.active.Load() }

// Start binds the socket and starts accepting.
func (l *Listener) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return fmt.Errorf("listener %s: already running", l.cfg.Name)
	}
	ln, err := net.Listen(l.cfg.Network, l.cfg.Address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	l.ln, l.cancel, l.done = ln, cancel, make(chan struct{})
	go l.acceptLoop(ctx, ln, l.done)
	l.log.Info("listening", "address", ln.Addr().String())
	return nil
}

// Stop closes the socket so no new connection is accepted; connections already open go on
// (the broker ends them through their sessions). It waits for the accept loop to exit.
func (l *Listener) Stop() {
	l.mu.Lock()
	ln, cancel, done := l.ln, l.cancel, l.done
	l.ln = nil
	l.mu.Unlock()
	if ln == nil {
		return
	}
	cancel()
	ln.Close()
	<-done
}

// Wait blocks until every connection this listener accepted has been served.
func (l *Listener) Wait() { l.conns.Wait() }

func (l *Listener) acceptLoop(ctx context.Context, ln net.Listener, done chan struct{}) {
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
		go func() {
			defer l.conns.Done()
			defer l.active.Add(-1)
			l.handler(ctx, nc)
		}()
	}
}
