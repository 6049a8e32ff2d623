// Package logging builds the broker's *slog.Logger from a plain Options
// struct: a console sink, a size-rotated file sink (lumberjack) and a syslog
// sink, each with its own level, combined by a fan-out handler.
//
// Every sink's level is a *slog.LevelVar so that the admin API can raise or
// lower verbosity on a running node (Logger.SetLevel) without rebuilding the
// handler chain or losing the attributes that callers attached with With.
//
// The package knows nothing about the config file format; cmd/ maps config
// keys onto Options. Nothing here is global: the caller injects the logger.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
)

// Sink names accepted by Logger.SetLevel and Logger.LevelVar.
const (
	SinkConsole = "console"
	SinkFile    = "file"
	SinkSyslog  = "syslog"
)

// Output formats. The zero value of a Format field means FormatText.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Options selects the sinks. A sink that is not enabled costs nothing at log
// time. With no sink enabled, New returns a logger that discards everything.
type Options struct {
	Console ConsoleOptions
	File    FileOptions
	Syslog  SyslogOptions
	// AddSource records the caller's file:line in every sink.
	AddSource bool
}

// ConsoleOptions configures the sink that writes to a terminal or a pipe.
type ConsoleOptions struct {
	Enabled bool
	Level   slog.Level
	Format  string    // "text" (default) or "json"
	Writer  io.Writer // default os.Stderr, so stdout stays free for command output
}

// FileOptions configures the rotated log file. The sink is enabled when Path
// is not empty.
type FileOptions struct {
	Path   string
	Level  slog.Level
	Format string // "text" (default) or "json"
	// MaxSizeMB is the size at which the file is rotated; 0 means
	// lumberjack's default of 100 MB.
	MaxSizeMB int
	// MaxBackups is how many rotated files to keep; 0 keeps all of them
	// (subject to MaxAgeDays).
	MaxBackups int
	// MaxAgeDays removes rotated files older than this; 0 keeps them
	// regardless of age.
	MaxAgeDays int
}

// SyslogOptions configures the syslog sink (RFC 3164 through log/syslog).
type SyslogOptions struct {
	Enabled bool
	Level   slog.Level
	// Address is empty for the local syslog daemon, or "udp://host:port",
	// "tcp://host:port" or "unix:///path" for an explicit destination.
	// A bare "host:port" means UDP, the traditional syslog transport.
	Address string
	// Facility is a syslog facility name: kern, user, mail, daemon, auth,
	// syslog, lpr, news, uucp, cron, authpriv, ftp, local0 … local7.
	// Empty means daemon.
	Facility string
	// Tag prefixes every message; empty means the program name.
	Tag string
}

// Logger is a *slog.Logger plus the handles needed to change each sink's
// level at run time and to release the file and syslog connection.
// It is safe for concurrent use.
type Logger struct {
	*slog.Logger

	levels  map[string]*slog.LevelVar // immutable after New
	closers []io.Closer               // immutable after New

	closeOnce sync.Once
	closeErr  error
}

// New builds a Logger from opts. The returned io.Closer (the Logger itself)
// flushes and closes the file and the syslog connection; the logger must not
// be used after Close. On error nothing is left open.
func New(opts Options) (*Logger, io.Closer, error) {
	l := &Logger{levels: make(map[string]*slog.LevelVar)}
	var handlers []slog.Handler

	add := func(name string, level slog.Level, build func(*slog.LevelVar) (slog.Handler, io.Closer, error)) error {
		lv := new(slog.LevelVar)
		lv.Set(level)
		h, c, err := build(lv)
		if err != nil {
			return fmt.Errorf("logging: %s sink: %w", name, err)
		}
		l.levels[name] = lv
		if c != nil {
			l.closers = append(l.closers, c)
		}
		handlers = append(handlers, h)
		return nil
	}

	var err error
	if opts.Console.Enabled {
		err = add(SinkConsole, opts.Console.Level, func(lv *slog.LevelVar) (slog.Handler, io.Closer, error) {
			return newConsoleHandler(opts.Console, lv, opts.AddSource)
		})
	}
	if err == nil && opts.File.Path != "" {
		err = add(SinkFile, opts.File.Level, func(lv *slog.LevelVar) (slog.Handler, io.Closer, error) {
			return newFileHandler(opts.File, lv, opts.AddSource)
		})
	}
	if err == nil && opts.Syslog.Enabled {
		err = add(SinkSyslog, opts.Syslog.Level, func(lv *slog.LevelVar) (slog.Handler, io.Closer, error) {
			return newSyslogHandler(opts.Syslog, lv, opts.AddSource)
		})
	}
	if err != nil {
		_ = l.Close()
		return nil, nil, err
	}

	switch len(handlers) {
	case 0:
		l.Logger = slog.New(slog.DiscardHandler)
	case 1:
		// A single sink needs no fan-out, and skipping it saves a Record
		// clone per call.
		l.Logger = slog.New(handlers[0])
	default:
		// MultiHandler.Enabled is true when any sink's level allows the
		// record, and Handle asks each sink again, so every sink filters by
		// its own LevelVar.
		l.Logger = slog.New(slog.NewMultiHandler(handlers...))
	}
	return l, l, nil
}

// SetLevel changes the level of one configured sink. It takes effect for all
// loggers derived from l (With, WithGroup) immediately.
func (l *Logger) SetLevel(sink string, level slog.Level) error {
	lv := l.LevelVar(sink)
	if lv == nil {
		return fmt.Errorf("logging: set level: sink %q is not configured (have %s)", sink, strings.Join(l.Sinks(), ", "))
	}
	lv.Set(level)
	return nil
}

// LevelVar returns the level of a configured sink, or nil if the sink is not
// enabled. Callers may Set it directly.
func (l *Logger) LevelVar(sink string) *slog.LevelVar {
	return l.levels[sink]
}

// Sinks lists the configured sinks in a stable order.
func (l *Logger) Sinks() []string {
	names := make([]string, 0, len(l.levels))
	for name := range l.levels {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Close releases the file and the syslog connection. It is idempotent.
func (l *Logger) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for _, c := range l.closers {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("logging: close: %w", err)
		}
	})
	return l.closeErr
}

// ParseLevel maps a configuration word onto a slog level. It accepts debug,
// info, warning (or warn) and error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("logging: unknown level %q (want debug, info, warning or error)", s)
}

// newFormatHandler is the one place that turns a format name into a handler,
// so every sink accepts the same words.
func newFormatHandler(format string, w io.Writer, ho *slog.HandlerOptions) (slog.Handler, error) {
	switch strings.ToLower(format) {
	case "", FormatText:
		return slog.NewTextHandler(w, ho), nil
	case FormatJSON:
		return slog.NewJSONHandler(w, ho), nil
	}
	return nil, fmt.Errorf("unknown format %q (want text or json)", format)
}

func newConsoleHandler(o ConsoleOptions, lv *slog.LevelVar, addSource bool) (slog.Handler, io.Closer, error) {
	w := o.Writer
	if w == nil {
		w = os.Stderr
	}
	h, err := newFormatHandler(o.Format, w, &slog.HandlerOptions{Level: lv, AddSource: addSource})
	// The console writer belongs to the caller; we never close it.
	return h, nil, err
}
