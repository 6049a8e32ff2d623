// Package admin serves a node's admin HTTP API on every listener.http.<name>: cluster
// membership (show, join, leave with session handoff, remove a failed node), node status,
// sessions, TLS certificate reload, a Prometheus /metrics endpoint and a small HTML status
// page. Every request but /metrics carries the
// node's API key (admin.api_key, or a key generated at first start and kept in the data
// directory). The package also holds the client `nautilus admin` uses. docs/admin.md is the
// operator's reference.
//
// The broker starts the server (broker.Broker.Start) and passes itself as the Node; the
// package depends only on that interface, so it does not import the broker.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/listener"
	"github.com/nautilus-mq/nautilus/broker/metrics"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// Version is the version the API reports. The nautilus binary sets it from its build stamp;
// when empty, the main module's version Go recorded is used.
var Version string

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// Node is what the API needs from a running broker.
type Node interface {
	Metrics() *metrics.Registry
	// ClusterNode is nil on a node without listener.vmq.
	ClusterNode() *cluster.Node
	// JoinCluster joins the cluster of the node at a gossip address (through the metadata
	// backend, which may refuse).
	JoinCluster(addr string) error
	// LeaveCluster hands this node's sessions to the other members (or ends them, with kill)
	// and leaves; it does not leave when a session could not be handed off.
	LeaveCluster(ctx context.Context, kill bool) (session.HandoffResult, error)
	// Session reports whether the node holds the client's session and whether a connection is
	// attached; conn describes that connection (empty while offline).
	Session(mountpoint, clientID string) (exists, online bool, conn session.ConnInfo)
	// MetadataBackend names the linked replication backend.
	MetadataBackend() string
	Listeners() []*listener.Listener
}

// Options configure a Server.
type Options struct {
	Node   Node
	Config *config.Config
	Log    *slog.Logger
}

// Server is the admin API of one node, on each of its http listeners.
type Server struct {
	opts    Options
	key     string
	timeout time.Duration
	handler http.Handler

	mu      sync.Mutex
	servers []*http.Server
	addrs   []net.Addr
	wg      sync.WaitGroup
}

// Start serves the API on every listener.http.<name> of the configuration. With none it
// returns a Server that serves nothing (and creates no key). It fails when a listener cannot
// bind or the key cannot be read or created.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Server{opts: opts, timeout: opts.Config.Admin.RequestTimeout}
	if s.timeout <= 0 {
		s.timeout = 15 * time.Second
	}
	var lns []config.Listener
	for _, l := range opts.Config.Listeners {
		if l.Type == config.ListenerHTTP {
			lns = append(lns, l)
		}
	}
	if len(lns) == 0 {
		return s, nil
	}
	key, err := LoadOrCreateKey(opts.Config, opts.Log)
	if err != nil {
		return nil, err
	}
	s.key = key
	s.handler = s.newHandler()
	for _, lc := range lns {
		if err := s.listen(ctx, lc); err != nil {
			s.Stop(context.Background())
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) listen(ctx context.Context, lc config.Listener) error {
	ln, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return fmt.Errorf("admin: %s: %w", lc.Key(), err)
	}
	if lc.MaxConnections > 0 {
		ln = &limitListener{Listener: ln, sem: make(chan struct{}, lc.MaxConnections), done: make(chan struct{})}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.timeout,
		WriteTimeout:      s.timeout + 5*time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.opts.Log.With("listener", lc.Key()).Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.addrs = append(s.addrs, ln.Addr())
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Log.Error("admin API listener stopped", "listener", lc.Key(), "err", err)
		}
	}()
	s.opts.Log.Info("admin API listening", "listener", lc.Key(), "address", ln.Addr().String())
	return nil
}

// Addrs are the bound addresses, in configuration order (useful with port 0).
func (s *Server) Addrs() []net.Addr {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Handler is the API's HTTP handler, for serving it elsewhere (tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Stop closes the listeners and waits for requests in progress until ctx ends.
func (s *Server) Stop(ctx context.Context) {
	if s == nil {
		return
	}
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
	s.wg.Wait()
}

// limitListener accepts at most cap(sem) connections at a time (listener max_connections);
// further connections wait in the kernel's backlog.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
