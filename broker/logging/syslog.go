package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"
)

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL,
	"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG,
	"lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS, "uucp": syslog.LOG_UUCP,
	"cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// parseSyslogAddress splits "scheme://addr" into log/syslog's network and
// raddr. Empty means the local daemon, which log/syslog finds itself.
func parseSyslogAddress(addr string) (network, raddr string, err error) {
	if addr == "" {
		return "", "", nil
	}
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return "udp", addr, nil
	}
	switch scheme {
	case "udp", "tcp", "unix", "unixgram":
		if rest == "" {
			return "", "", fmt.Errorf("address %q has no host", addr)
		}
		return scheme, rest, nil
	}
	return "", "", fmt.Errorf("address %q: unsupported scheme %q (want udp, tcp or unix)", addr, scheme)
}

func newSyslogHandler(o SyslogOptions, lv *slog.LevelVar, addSource bool) (slog.Handler, io.Closer, error) {
	facility := syslog.LOG_DAEMON
	if o.Facility != "" {
		f, ok := facilities[strings.ToLower(o.Facility)]
		if !ok {
			return nil, nil, fmt.Errorf("unknown facility %q", o.Facility)
		}
		facility = f
	}
	network, raddr, err := parseSyslogAddress(o.Address)
	if err != nil {
		return nil, nil, err
	}
	w, err := syslog.Dial(network, raddr, facility|syslog.LOG_INFO, o.Tag)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %q: %w", o.Address, err)
	}
	ho := &slog.HandlerOptions{
		Level:     lv,
		AddSource: addSource,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// syslog stamps its own time; a second one is noise.
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}
	h := &syslogHandler{level: lv}
	// One text handler per severity: log/syslog chooses the severity by
	// method, not by argument, so each handler writes through the method
	// that matches the record's level.
	for i, fn := range [...]func(string) error{w.Debug, w.Info, w.Warning, w.Err} {
		h.bySeverity[i] = slog.NewTextHandler(severityWriter(fn), ho)
	}
	return h, w, nil
}

// syslogHandler routes each record to the inner handler for its syslog
// severity.
type syslogHandler struct {
	level      slog.Leveler
	bySeverity [4]slog.Handler // debug, info, warning, err
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	i := 3
	switch {
	case r.Level < slog.LevelInfo:
		i = 0
	case r.Level < slog.LevelWarn:
		i = 1
	case r.Level < slog.LevelError:
		i = 2
	}
	return h.bySeverity[i].Handle(ctx, r)
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &syslogHandler{level: h.level}
	for i, inner := range h.bySeverity {
		n.bySeverity[i] = inner.WithAttrs(attrs)
	}
	return n
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	n := &syslogHandler{level: h.level}
	for i, inner := range h.bySeverity {
		n.bySeverity[i] = inner.WithGroup(name)
	}
	return n
}

// severityWriter adapts one of syslog.Writer's per-severity methods to
// io.Writer. slog handlers issue exactly one Write per record.
type severityWriter func(string) error

func (w severityWriter) Write(p []byte) (int, error) {
	if err := w(strings.TrimSuffix(string(p), "\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}
