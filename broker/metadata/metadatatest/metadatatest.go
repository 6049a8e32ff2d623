// Package metadatatest is the contract suite for metadata.Store: a backend
// is correct when it passes it. Run checks one node on its own; RunCluster
// checks N nodes over a Cluster (a simulated network, or real nodes):
// replication, siblings, deletes without resurrection, events, convergence
// after partitions, restart, join and leave, and a seeded property test
// against metadata.Memory as the model.
//
// The suite forges concurrent writes with PutRaw under node names starting
// with "metadatatest-", so the store under test must not use such a name.
package metadatatest

import (
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// Option adjusts Run.
type Option func(*config)

type config struct {
	eventTimeout time.Duration
	slowEvents   int
}

// WithEventTimeout sets how long the suite waits for an expected event
// before failing (default 10s). It only bounds a failure: passing runs never
// wait for it, and no test asserts on timing.
func WithEventTimeout(d time.Duration) Option {
	return func(c *config) { c.eventTimeout = d }
}

// WithSlowSubscriberEvents sets how many writes the slow-subscriber test
// makes while nobody reads (default 10000).
func WithSlowSubscriberEvents(n int) Option {
	return func(c *config) { c.slowEvents = n }
}

// Run runs the single-node contract checks as subtests, each on a fresh
// store from newStore. newStore should register its own cleanup with
// t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) metadata.Store, opts ...Option) {
	cfg := config{eventTimeout: 10 * time.Second, slowEvents: 10000}
	for _, o := range opts {
		o(&cfg)
	}
	su := &suite{newStore: newStore, cfg: cfg}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PutGet", su.testPutGet},
		{"PutCopiesValue", su.testPutCopiesValue},
		{"Delete", su.testDelete},
		{"FoldOrder", su.testFoldOrder},
		{"FoldPrefixIsolation", su.testFoldPrefixIsolation},
		{"FoldHidesTombstones", su.testFoldHidesTombstones},
		{"FoldStopsOnError", su.testFoldStopsOnError},
		{"FoldCallbackMayWrite", su.testFoldCallbackMayWrite},
		{"CanceledContext", su.testCanceledContext},
		{"LWWSiblings", su.testLWWSiblings},
		{"LWWFoldWritesBack", su.testLWWFoldWritesBack},
		{"LWWTombstoneSibling", su.testLWWTombstoneSibling},
		{"PutRawContext", su.testPutRawContext},
		{"LocalWriteWins", su.testLocalWriteWins},
		{"SameNodeWritesNeverSibling", su.testSameNodeWritesNeverSibling},
		{"Events", su.testEvents},
		{"EventsOnlyOnChange", su.testEventsOnlyOnChange},
		{"EventsRaw", su.testEventsRaw},
		{"EventsPrefixIsolation", su.testEventsPrefixIsolation},
		{"SkipLocal", su.testSkipLocal},
		{"SlowSubscriber", su.testSlowSubscriber},
		{"Cancel", su.testCancel},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	newStore func(t *testing.T) metadata.Store
	cfg      config
}
