package filewatch

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// File is a parsed file kept in memory and re-read when it changes: a plugin reads Current on
// every check without waiting, and a reload replaces the whole value or, on failure, keeps the
// last good one.
type File[T any] struct {
	path string
	log  *slog.Logger
	spec Spec[T]

	cur atomic.Pointer[T]

	mu      sync.Mutex // serialises reloads and guards the fields below
	stamp   Stamp
	lastErr string
}

// Spec says how to read one kind of file and how to talk about it in the log.
type Spec[T any] struct {
	// What names the file in log lines, e.g. "ACL file"; Kind names its lines ("ACL") and Item
	// what it holds ("rules").
	What, Kind, Item string
	// Line takes a bad line's number and cause out of an error Load returned.
	Line func(error) (line int, cause error, ok bool)
	// Load parses the file; bad lines are skipped and returned as errors, a fatal error keeps
	// the previous value.
	Load func(path string) (T, []error, error)
	// Empty is the value before a first successful read.
	Empty T
	// NotFound is logged (as a warning) when the file is missing at the first read, and says
	// what that means for clients.
	NotFound string
	// Describe adds key/value pairs about a value to log lines (e.g. "rules", n).
	Describe func(T) []any
}

// Open reads the file at path once; a missing or unreadable file is not an error: the value
// stays Empty, a warning is logged, and a later reload picks the file up.
func Open[T any](path string, log *slog.Logger, spec Spec[T]) *File[T] {
	f := &File[T]{path: path, log: log, spec: spec}
	empty := spec.Empty
	f.cur.Store(&empty)
	f.Reload()
	return f
}

// Path is the file read.
func (f *File[T]) Path() string { return f.path }

// Current is the value in force.
func (f *File[T]) Current() *T { return f.cur.Load() }

// Set replaces the value in force (tests).
func (f *File[T]) Set(v *T) { f.cur.Store(v) }

// Reload re-reads the file now. On failure the previous value stays in force and the error is
// logged (once per distinct error) and returned.
func (f *File[T]) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reload(true)
}

// Start re-reads the file every interval when it has changed, until ctx ends. An interval of
// zero or less disables reloading.
func (f *File[T]) Start(ctx context.Context, interval time.Duration) {
	go Every(ctx, interval, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reload(false)
	})
}

func (f *File[T]) reload(force bool) error {
	st, err := StampOf(f.path)
	if err == nil && !force && st == f.stamp {
		return nil
	}
	var v T
	var bad []error
	if err == nil {
		v, bad, err = f.spec.Load(f.path)
	}
	if err != nil {
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			if errors.Is(err, fs.ErrNotExist) && f.stamp == (Stamp{}) {
				f.log.Warn(f.spec.What + " not found: " + f.spec.NotFound)
			} else {
				f.log.Error("cannot read "+f.spec.What+"; keeping the last "+f.spec.Item+" read", append(f.spec.Describe(*f.Current()), "error", err)...)
			}
		}
		return err
	}
	for _, e := range bad {
		if line, cause, ok := f.spec.Line(e); ok {
			f.log.Warn("malformed "+f.spec.Kind+" line skipped", "line", line, "error", cause)
		} else {
			f.log.Warn("malformed "+f.spec.Kind+" line skipped", "error", e)
		}
	}
	f.cur.Store(&v)
	f.stamp, f.lastErr = st, ""
	f.log.Info(f.spec.What+" loaded", append(f.spec.Describe(v), "skipped_lines", len(bad))...)
	return nil
}
