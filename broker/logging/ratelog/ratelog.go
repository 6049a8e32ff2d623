// Package ratelog logs events that a client can repeat at packet or connection rate (a refused
// CONNECT, a publish refused during a netsplit) at most once per interval per cause: the first
// one at once, with its details, then one summary line per interval with how many there were
// and the details of the last. Under attack the log stays readable and the disk stays free;
// the exact counts are in the metrics, which every caller keeps as well.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// maxCauses bounds the limiters of a Group: causes are meant to be a small fixed set (reason
// codes, error kinds), and one built from client input must not grow the map without end.
const maxCauses = 64

// overflowCause collects the causes past maxCauses.
const overflowCause = "other"

// Clock is the time source of a Group; tests replace it to step time by hand.
type Clock struct {
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func())
}

// Group rate-limits one kind of event ("publishes refused") per cause.
type Group struct {
	log      *slog.Logger
	level    slog.Level
	interval time.Duration
	what     string
	clock    Clock

	causes sync.Map // cause -> *limiter
	mu     sync.Mutex
	n      int // causes created, under mu
}

// New returns a Group logging through log at level. what names the event in the plural, as a
// summary line reads "12 publishes refused in the last 10s". An interval of zero or less logs
// every event.
func New(log *slog.Logger, level slog.Level, interval time.Duration, what string) *Group {
	return &Group{log: log, level: level, interval: interval, what: what,
		clock: Clock{Now: time.Now, AfterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}}
}

// SetClock replaces the clock; call it before the first Log.
func (g *Group) SetClock(c Clock) { g.clock = c }

// Log records one event of cause, with attrs (slog key-value pairs) describing it.
func (g *Group) Log(cause string, attrs ...any) {
	if g.interval <= 0 {
		g.log.Log(context.Background(), g.level, g.what, append([]any{"cause", cause}, attrs...)...)
		return
	}
	g.limiter(cause).log(attrs)
}

func (g *Group) limiter(cause string) *limiter {
	if l, ok := g.causes.Load(cause); ok {
		return l.(*limiter)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.causes.Load(cause); ok {
		return l.(*limiter)
	}
	if g.n >= maxCauses {
		cause = overflowCause
		if l, ok := g.causes.Load(cause); ok {
			return l.(*limiter)
		}
	}
	l := &limiter{g: g, cause: cause}
	g.causes.Store(cause, l)
	g.n++
	return l
}

// limiter is the state of one cause. The hot path, an event inside the interval, is two
// atomic adds, one pointer store and one compare-and-swap.
type limiter struct {
	g     *Group
	cause string
	// next is when (unix ns) an event may be logged at once again; lastLine when the last line
	// was written.
	next, lastLine atomic.Int64
	suppressed     atomic.Int64
	armed          atomic.Bool // a summary is scheduled
	last           atomic.Pointer[[]any]
}

func (l *limiter) log(attrs []any) {
	now := l.g.clock.Now().UnixNano()
	if next := l.next.Load(); now >= next && l.next.CompareAndSwap(next, now+int64(l.g.interval)) {
		l.lastLine.Store(now)
		l.g.log.Log(context.Background(), l.g.level, l.g.what, append([]any{"cause", l.cause}, attrs...)...)
		return
	}
	l.last.Store(&attrs)
	l.suppressed.Add(1)
	if l.armed.CompareAndSwap(false, true) {
		wait := time.Duration(l.next.Load() - now)
		l.g.clock.AfterFunc(max(wait, 0), l.summarise)
	}
}

// summarise writes the summary of the events suppressed since the last line. An event that
// races with it is either in this count or arms the next summary: none is lost.
func (l *limiter) summarise() {
	l.armed.Store(false)
	n := l.suppressed.Swap(0)
	if n == 0 {
		return
	}
	now := l.g.clock.Now().UnixNano()
	l.next.Store(now + int64(l.g.interval))
	since := time.Duration(now - l.lastLine.Swap(now)).Round(time.Second)
	args := []any{"cause", l.cause, "count", n}
	if last := l.last.Load(); last != nil {
		args = append(args, slog.Group("last", *last...))
	}
	l.g.log.Log(context.Background(), l.g.level, fmt.Sprintf("%d %s in the last %s", n, l.g.what, since), args...)
}
