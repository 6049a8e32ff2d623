package listener

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

func TestMaxConnectionsRefusesCleanly(t *testing.T) {
	release := make(chan struct{})
	l := mustNew(t, Config{Name: "tcp.test", Address: "127.0.0.1:0", MaxConnections: 1}, func(_ context.Context, nc net.Conn) {
		<-release
		nc.Close()
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	first, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitFor(t, func() bool { return l.Active() == 1 })

	second, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("second connection read = %v; want EOF (refused)", err)
	}
	if l.Refused.Load() != 1 {
		t.Fatalf("Refused = %d", l.Refused.Load())
	}
	close(release)
	waitFor(t, func() bool { return l.Active() == 0 })
}

func TestStopAndRestart(t *testing.T) {
	l := mustNew(t, Config{Name: "tcp.test", Address: "127.0.0.1:0", MaxConnections: -1}, func(_ context.Context, nc net.Conn) { nc.Close() },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("stopped listener still accepts")
	}
	l.cfg.Address = addr
	if err := l.Start(context.Background()); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer l.Stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("restarted listener refuses: %v", err)
	}
	c.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustNew(t testing.TB, cfg Config, h Handler, log *slog.Logger) *Listener {
	t.Helper()
	l, err := New(cfg, h, log)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
