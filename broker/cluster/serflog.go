package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// serfLogWriter turns the lines serf and memberlist print to their *log.Logger,
// "[WARN] memberlist: Refuting a suspect message (from: b)", into slog records at the matching
// level, so a node has one log with one format.
type serfLogWriter struct{ log *slog.Logger }

func newSerfLogger(l *slog.Logger) *log.Logger {
	return log.New(serfLogWriter{log: l.With("component", "serf")}, "", 0)
}

var serfLevels = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (w serfLogWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, l := range serfLevels {
		if bytes.HasPrefix(msg, []byte(l.tag)) {
			level, msg = l.level, bytes.TrimSpace(msg[len(l.tag):])
			break
		}
	}
	ctx := context.Background()
	if w.log.Enabled(ctx, level) {
		w.log.Log(ctx, level, string(msg))
	}
	return len(p), nil
}
