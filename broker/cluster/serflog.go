package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"

	"github.com/nautilus-mq/nautilus/broker/logging/ratelog"
)

// serfLogWriter turns the lines serf and memberlist print to their *log.Logger,
// "[WARN] memberlist: Refuting a suspect message (from: b)", into slog records at the matching
// level, so a node has one log with one format.
//
// Gossip that a stranger sends (no key, another key) makes memberlist log an error per packet;
// those lines go to refused, which logs them once per interval.
type serfLogWriter struct {
	log     *slog.Logger
	refused *ratelog.Group
}

func newSerfLogger(l *slog.Logger, refused *ratelog.Group) *log.Logger {
	return log.New(serfLogWriter{log: l.With("component", "serf"), refused: refused}, "", 0)
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
	if w.refused != nil && bytes.Contains(msg, []byte("crypt")) {
		// "no installed keys could decrypt the message", "Encryption is configured but remote
		// state is not encrypted", and the like: someone without the key.
		w.refused.Log("gossip without the cluster's key", "detail", string(msg))
		return len(p), nil
	}
	ctx := context.Background()
	if w.log.Enabled(ctx, level) {
		w.log.Log(ctx, level, string(msg))
	}
	return len(p), nil
}
