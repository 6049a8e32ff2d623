// Package plumtree is the default metadata replication backend: VerneMQ's
// Plumtree (epidemic broadcast trees plus Merkle-tree active anti-entropy)
// behind the metadata.Store contract.
//
// It has two halves, after etcd's raft:
//
//   - Core is a deterministic state machine (sim.Core): objects versioned
//     with dotted version vector sets (dvvset.go), the broadcast trees
//     (broadcast.go), the Merkle trees (hashtree.go, treeset.go) and the
//     exchange that walks them (exchange.go, diff.go). It reads no clock,
//     starts no goroutine and holds no socket or database handle: inputs
//     are messages, ticks, membership and API calls, outputs a sim.Ready of
//     writes to persist, messages to send and events to deliver. The
//     simulator in broker/metadata/sim drives it directly.
//   - Node (node.go) is the driver shared with the other backends
//     (broker/metadata/driver) over a Core: it runs the core over a
//     cluster.Transport and a store.Engine with goroutines and the wall
//     clock, and implements metadata.Store and metadata.Cluster. For each
//     Ready it commits the writes, then sends, then publishes events:
//     persist before send. Plumtree adds the i-have overload guard.
//
// Objects live in one store keyspace (Keyspace), keyed by
// metadata.EncodeKey, so a restart reloads every object and rebuilds the
// Merkle trees from them. Deletes are tombstones kept forever, as in
// VerneMQ (Stats counts them). docs/replication.md describes the protocol,
// the configuration and the known costs.
package plumtree
