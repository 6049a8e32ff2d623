// Package swc is the Server Wide Clocks metadata replication backend
// (VerneMQ's vmq_swc, linked with -tags swc) behind the metadata.Store
// contract, with real distributed deletes: once every member has seen a
// delete, its tombstone, its dot-key map entry and its object record are
// removed from every node's disk.
//
// It has the same two halves as package plumtree:
//
//   - Core is a deterministic state machine (sim.Core). The keyspace is
//     split into groups by key hash; each group is an independent replica
//     with its own node clock (a bitmapped version vector, bvv.go), dot-key
//     map (dkm.go), watermark matrix (watermark.go), write batch and
//     anti-entropy exchange (exchange.go). Objects are dot causal containers
//     (dcc.go). Garbage collection (gc.go) and membership (members.go) work
//     per group. The core reads no clock, starts no goroutine and holds no
//     socket or database handle: every output leaves through sim.Ready, and
//     everything one step changes (objects, dot-key map, node clocks,
//     watermarks) is in that Ready's single atomic batch.
//   - Node (node.go) is the driver shared with package plumtree
//     (broker/metadata/driver): it runs a Core over a cluster.Transport and
//     a store.Engine, here with its batcher on so that concurrent writes
//     share one commit, and implements metadata.Store and metadata.Cluster.
//     SWC adds the prevent_nonempty_join check.
//
// Departure from VerneMQ: the contract resolves concurrent writes by
// last-writer-wins, tombstones included, so a delete is kept as a ⊥ value in
// its object (not dropped at once as SWC does) until garbage collection can
// prove that every write concurrent with it has reached this node; see
// gc.go and docs/replication.md.
package swc
