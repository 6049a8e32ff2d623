package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the race detector judge the logger, not the test's buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTest(t *testing.T, opts Options) *Logger {
	t.Helper()
	l, c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestConsoleText(t *testing.T) {
	var buf syncBuffer
	l := newTest(t, Options{Console: ConsoleOptions{Enabled: true, Level: slog.LevelInfo, Writer: &buf}})
	l.Info("listener started", "addr", "127.0.0.1:1883")
	l.Debug("hidden")
	out := buf.String()
	if !strings.Contains(out, `level=INFO msg="listener started" addr=127.0.0.1:1883`) {
		t.Errorf("text output = %q", out)
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("debug record passed an info sink: %q", out)
	}
}

func TestConsoleJSON(t *testing.T) {
	var buf syncBuffer
	l := newTest(t, Options{Console: ConsoleOptions{Enabled: true, Format: "json", Writer: &buf}})
	l.With("node", "n1").Warn("netsplit", "peers", 2)
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("not one JSON object: %q: %v", buf.String(), err)
	}
	if rec["msg"] != "netsplit" || rec["level"] != "WARN" || rec["node"] != "n1" || rec["peers"] != float64(2) {
		t.Errorf("record = %v", rec)
	}
}

func TestNoSinksDiscards(t *testing.T) {
	l := newTest(t, Options{})
	if l.Enabled(t.Context(), slog.LevelError) {
		t.Error("logger with no sinks reports enabled")
	}
	l.Error("nowhere")
	if len(l.Sinks()) != 0 {
		t.Errorf("Sinks = %v", l.Sinks())
	}
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]Options{
		"console format": {Console: ConsoleOptions{Enabled: true, Format: "xml"}},
		"file format":    {File: FileOptions{Path: filepath.Join(dir, "a.log"), Format: "yaml"}},
		"file path":      {File: FileOptions{Path: filepath.Join(notDir, "a.log")}},
		"file size":      {File: FileOptions{Path: filepath.Join(dir, "b.log"), MaxSizeMB: -1}},
		"facility":       {Syslog: SyslogOptions{Enabled: true, Address: "udp://127.0.0.1:9", Facility: "local9"}},
		"scheme":         {Syslog: SyslogOptions{Enabled: true, Address: "http://127.0.0.1:9"}},
		// A later sink's failure must not leak the file opened before it.
		"after file": {
			File:   FileOptions{Path: filepath.Join(dir, "c.log")},
			Syslog: SyslogOptions{Enabled: true, Address: "tcp://"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if l, c, err := New(o); err == nil {
				_ = c.Close()
				t.Fatalf("New succeeded with sinks %v", l.Sinks())
			} else if !strings.HasPrefix(err.Error(), "logging: ") {
				t.Errorf("error lacks context: %v", err)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, " warning ": slog.LevelWarn,
		"warn": slog.LevelWarn, "Error": slog.LevelError,
	} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "trace", "fatal", "info+2"} {
		if _, err := ParseLevel(in); err == nil {
			t.Errorf("ParseLevel(%q) succeeded", in)
		}
	}
}

func TestFileWritesAndRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nautilus.log")
	l := newTest(t, Options{File: FileOptions{Path: path, Format: "json", MaxSizeMB: 1, MaxBackups: 3}})

	l.Info("first line")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"msg":"first line"`) {
		t.Fatalf("file = %q", data)
	}

	// lumberjack's unit is a megabyte; write a little more than one.
	pad := strings.Repeat("x", 1000)
	for i := 0; i < 1200; i++ {
		l.Info("filler", "i", i, "pad", pad)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var backups []string
	for _, e := range entries {
		if e.Name() != "nautilus.log" && strings.HasPrefix(e.Name(), "nautilus-") {
			backups = append(backups, e.Name())
		}
	}
	if len(backups) == 0 {
		t.Fatalf("no rotated file in %v", entries)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1<<20 {
		t.Errorf("current file is %d bytes, over MaxSize", st.Size())
	}
}

func TestSyslogRemoteUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	l := newTest(t, Options{Syslog: SyslogOptions{
		Enabled: true, Level: slog.LevelInfo, Facility: "local3", Tag: "nautilus",
		Address: "udp://" + pc.LocalAddr().String(),
	}})
	l.Debug("filtered out")
	l.Warn("disk almost full", "free_mb", 12)

	buf := make([]byte, 4096)
	// The deadline only bounds a failure; a passing run returns at once.
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no syslog datagram: %v", err)
	}
	got := string(buf[:n])
	// local3 (19) * 8 + warning (4) = 156.
	if !strings.HasPrefix(got, "<156>") || !strings.Contains(got, "nautilus[") ||
		!strings.Contains(got, `msg="disk almost full" free_mb=12`) {
		t.Errorf("datagram = %q", got)
	}
	if strings.Contains(got, "filtered out") || strings.Contains(got, "time=") {
		t.Errorf("datagram = %q", got)
	}
}

// TestSyslogLocal logs to the local syslog daemon (an empty log.syslog.address), which
// log/syslog finds at /dev/log: the test plays the daemon there with a datagram socket. It
// needs root to create /dev/log and does not touch a real daemon's socket.
func TestSyslogLocal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating /dev/log needs root")
	}
	if _, err := os.Lstat("/dev/log"); err == nil {
		t.Skip("/dev/log belongs to a running syslog daemon")
	}
	pc, err := net.ListenPacket("unixgram", "/dev/log")
	if err != nil {
		t.Skipf("cannot play the local syslog daemon: %v", err)
	}
	t.Cleanup(func() { pc.Close(); os.Remove("/dev/log") })

	l := newTest(t, Options{Syslog: SyslogOptions{Enabled: true, Level: slog.LevelInfo, Facility: "daemon", Tag: "nautilus"}})
	l.Error("store unavailable", "path", "/var/lib/nautilus")
	buf := make([]byte, 4096)
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram at /dev/log: %v", err)
	}
	// daemon (3) * 8 + err (3) = 27.
	if got := string(buf[:n]); !strings.HasPrefix(got, "<27>") || !strings.Contains(got, `msg="store unavailable" path=/var/lib/nautilus`) {
		t.Errorf("datagram = %q", got)
	}
}

// TestSyslogUnixStream logs to a daemon on a unix stream socket named by unix:///path.
func TestSyslogUnixStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syslog.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		got <- string(buf[:n])
	}()
	l := newTest(t, Options{Syslog: SyslogOptions{Enabled: true, Level: slog.LevelInfo, Facility: "local0", Tag: "nautilus", Address: "unix://" + path}})
	l.Info("listening", "address", "127.0.0.1:1883")
	// local0 (16) * 8 + info (6) = 134.
	if s := <-got; !strings.HasPrefix(s, "<134>") || !strings.Contains(s, `msg=listening address=127.0.0.1:1883`) {
		t.Errorf("stream message = %q", s)
	}
}

func TestParseSyslogAddress(t *testing.T) {
	for in, want := range map[string][2]string{
		"":                   {"", ""},
		"udp://10.0.0.1:514": {"udp", "10.0.0.1:514"},
		"tcp://log:601":      {"tcp", "log:601"},
		"unix:///dev/log":    {"unix", "/dev/log"},
		"syslog.example:514": {"udp", "syslog.example:514"},
	} {
		n, a, err := parseSyslogAddress(in)
		if err != nil || n != want[0] || a != want[1] {
			t.Errorf("parseSyslogAddress(%q) = %q, %q, %v", in, n, a, err)
		}
	}
}

func TestPerSinkLevels(t *testing.T) {
	var console syncBuffer
	path := filepath.Join(t.TempDir(), "n.log")
	l := newTest(t, Options{
		Console: ConsoleOptions{Enabled: true, Level: slog.LevelWarn, Writer: &console},
		File:    FileOptions{Path: path, Level: slog.LevelDebug},
	})
	if !l.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("fan-out not enabled for a level one sink accepts")
	}
	l.Debug("debug-only")
	l.Error("both")

	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c := console.String(); strings.Contains(c, "debug-only") || !strings.Contains(c, "both") {
		t.Errorf("console = %q", c)
	}
	if f := string(file); !strings.Contains(f, "debug-only") || !strings.Contains(f, "both") {
		t.Errorf("file = %q", f)
	}
	if got := l.Sinks(); fmt.Sprint(got) != "[console file]" {
		t.Errorf("Sinks = %v", got)
	}
}

func TestSetLevelAtRuntime(t *testing.T) {
	var buf syncBuffer
	l := newTest(t, Options{Console: ConsoleOptions{Enabled: true, Level: slog.LevelError, Writer: &buf}})
	derived := l.With("component", "registry") // made before the change on purpose

	derived.Info("before")
	if err := l.SetLevel(SinkConsole, slog.LevelDebug); err != nil {
		t.Fatal(err)
	}
	derived.Debug("after")
	if out := buf.String(); strings.Contains(out, "before") || !strings.Contains(out, "msg=after component=registry") {
		t.Errorf("output = %q", out)
	}
	if got := l.LevelVar(SinkConsole).Level(); got != slog.LevelDebug {
		t.Errorf("LevelVar = %v", got)
	}
	if err := l.SetLevel(SinkSyslog, slog.LevelDebug); err == nil {
		t.Error("SetLevel on an unconfigured sink succeeded")
	}
}

func TestConcurrentLogging(t *testing.T) {
	var buf syncBuffer
	path := filepath.Join(t.TempDir(), "n.log")
	l := newTest(t, Options{
		Console: ConsoleOptions{Enabled: true, Writer: &buf, Format: "json"},
		File:    FileOptions{Path: path},
	})
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			lg := l.With("g", g)
			for i := range each {
				lg.Info("msg", "i", i)
				if i%50 == 0 {
					_ = l.SetLevel(SinkFile, slog.Level(i%8-4))
				}
			}
		})
	}
	wg.Wait()
	if lines := strings.Count(buf.String(), "\n"); lines != goroutines*each {
		t.Errorf("console got %d lines, want %d", lines, goroutines*each)
	}
}
