package brokertest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/config"
)

// StartLogged is Start with the broker's log (debug level) also kept in memory, so a test can
// assert on it, for example that no connection handler panicked. With NAUTILUS_TEST_LOG set
// the log is copied to standard error as well.
func StartLogged(t testing.TB, mutate func(*config.Config), plugins ...any) (*Node, *Log) {
	t.Helper()
	cfg := config.Default()
	cfg.Auth.AllowAnonymous = true
	cfg.Node.PlatformDataDir = t.TempDir()
	cfg.Listeners = []config.Listener{config.NewListener(config.ListenerTCP, "default", "127.0.0.1:0")}
	cfg.SysTree.Enabled = false
	if mutate != nil {
		mutate(cfg)
	}
	l := &Log{}
	var w io.Writer = &l.buf
	if os.Getenv("NAUTILUS_TEST_LOG") != "" {
		w = io.MultiWriter(w, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := broker.New(cfg, broker.Options{Log: log, Plugins: plugins})
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("broker.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	return &Node{Broker: b, Addr: b.Listeners()[0].Addr().String(), Cfg: cfg}, l
}

// Log is a broker log kept in memory.
type Log struct{ buf lockedBuffer }

// String is the log so far.
func (l *Log) String() string { return l.buf.String() }

// Contains reports whether the log so far contains s.
func (l *Log) Contains(s string) bool { return strings.Contains(l.buf.String(), s) }
