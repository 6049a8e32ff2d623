package brokertest

import (
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/config"
)

// StartLogged is Start with the broker's log (debug level) also kept in memory, so a test can
// assert on it, for example that no connection handler panicked. With NAUTILUS_TEST_LOG set
// the log is copied to standard error as well.
func StartLogged(t testing.TB, mutate func(*config.Config), plugins ...any) (*Node, *Log) {
	t.Helper()
	return StartWith(t, mutate, broker.Options{Plugins: plugins})
}

// Log is a broker log kept in memory.
type Log struct{ buf lockedBuffer }

// String is the log so far.
func (l *Log) String() string { return l.buf.String() }

// Contains reports whether the log so far contains s.
func (l *Log) Contains(s string) bool { return strings.Contains(l.buf.String(), s) }
