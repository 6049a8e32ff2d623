// Package topic validates MQTT topic names and filters and indexes them for
// the router: Trie maps subscription filters to subscribers, and
// RetainedIndex maps retained topic names to values for wildcard lookups.
//
// # Matching
//
// Levels are separated by '/', and empty levels are levels ("a//b" has
// three). '+' matches exactly one level, '#' matches its parent level and
// every level below ("a/#" matches "a" and "a/b/c"), and a topic whose
// first character is '$' is not matched by a filter whose first level is a
// wildcard, so "#" does not see "$SYS/…" [MQTT-4.7.2-1].
//
// # Concurrency: why persistent snapshots
//
// Every PUBLISH runs Match; SUBSCRIBE and UNSUBSCRIBE change the trie far
// less often but come in storms (a reconnecting fleet, a node loading the
// replicated subscriber table). nats-server's Sublist guards a mutable trie
// with an RWMutex and hides the read lock behind L1/L2 result caches
// validated by a generation counter. That helps repeated subjects, but every
// cache miss still takes the read lock, a waiting writer blocks new readers
// (sync.RWMutex prefers writers), and churn flushes the caches exactly when
// load is highest.
//
// Here the trie is persistent instead. A reader does one atomic load of the
// current root and walks immutable nodes: no lock, no shared counter, no
// waiting, and no allocation when the caller's slice has room. A writer takes
// a mutex (writers only exclude each other), copies the nodes on the path it
// changes and publishes the new root with an atomic store. Children and
// subscriber sets are hash array mapped tries (pmap), so a path copy costs
// O(depth · log32 fanout) small arrays even under a level with a million
// siblings. Nodes created within one Batch are changed in place because
// no reader can see them yet, which makes bulk loads cheap. The price is
// garbage per write (a few KiB per change with a million subscriptions) and
// slower single writes than a locked mutable trie. bench_test.go measures
// both sides, and baseline_bench_test.go runs the same parallel workload
// against an RWMutex-guarded mutable trie for comparison.
//
// RetainedIndex uses the same structure; in addition, replacing the value of
// a topic that is already retained is a single atomic store, because
// retained publishes to existing topics are its hot write path.
//
// This package imports nothing else from the broker.
package topic
