// Package fault provides store.Injector implementations that fail chosen writes and syncs of
// an engine's commit path, after pebble's errorfs: count operations, fail the Nth, or fail
// everything from the Nth on (a crash: nothing more reaches the disk). Tests then reopen the
// engine and check that what they built on top of it is consistent.
package fault

import (
	"errors"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// ErrInjected is the error every injector here returns.
var ErrInjected = errors.New("fault: injected error")

// Injector counts operations and fails those its rule picks. Safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	counts  [2]int
	rule    func(op store.Op, index int) bool
	sticky  bool // once failed, fail every later operation of any kind
	failed  bool
	delay   time.Duration
	delayOp store.Op
}

// MaybeError implements store.Injector.
func (in *Injector) MaybeError(op store.Op) error {
	in.mu.Lock()
	i := in.counts[op]
	in.counts[op]++
	fail := in.failed || (in.rule != nil && in.rule(op, i))
	if fail && in.sticky {
		in.failed = true
	}
	delay := in.delay > 0 && in.delayOp == op
	in.mu.Unlock()
	if fail {
		return ErrInjected
	}
	if delay {
		time.Sleep(in.delay) // outside the lock, so concurrent syncs are not serialized here
	}
	return nil
}

// Count returns how many operations of kind op were seen (failed ones included).
func (in *Injector) Count(op store.Op) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.counts[op]
}

// Failed reports whether a sticky injector has tripped.
func (in *Injector) Failed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.failed
}

// Counter never fails; it only counts.
func Counter() *Injector { return &Injector{} }

// OnIndex fails only the nth (0-based) operation of kind op.
func OnIndex(op store.Op, n int) *Injector {
	return &Injector{rule: func(o store.Op, i int) bool { return o == op && i == n }}
}

// CrashAt fails the nth (0-based) operation of kind op and every operation after it: the
// process "died" there. Close the engine and reopen it on the same storage without an
// injector to see what survived.
func CrashAt(op store.Op, n int) *Injector {
	return &Injector{sticky: true, rule: func(o store.Op, i int) bool { return o == op && i == n }}
}

// SlowSync never fails but makes every sync take d, so that committers pile up behind it;
// group-commit tests use it to make grouping certain rather than likely.
func SlowSync(d time.Duration) *Injector { return &Injector{delay: d, delayOp: store.OpSync} }
