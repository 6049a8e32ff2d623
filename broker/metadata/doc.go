// Package metadata is the contract between the broker and its replicated
// metadata store, in the manner of database/sql/driver: the broker keeps its
// subscriptions, session registry, retained messages and runtime config here,
// and a replication backend (plumtree, or swc with -tags swc) implements
// Store. The package also holds what every backend shares: the LWW order
// (Compare, Less, Resolve), the order-preserving key encoding (EncodeKey,
// SubscriberKey, RetainKey), the value codecs the broker stores
// (SubscriberRecord, RetainedMessage), the event fan-out (Feed), and Memory,
// the single-node in-memory store that serves a single-node broker and is the
// reference model (oracle) for the backends' tests in package metadatatest.
//
// # What a Store guarantees
//
//   - Writes commit locally and never wait for peers. Put and Delete return
//     once the write is durable on this node (in memory, for Memory);
//     replication happens afterwards.
//   - Delete is a write of a tombstone. Readers (Get, Fold, events) map a
//     tombstone to "absent"; GetRaw shows it (until a backend's garbage
//     collection, if any, removes it).
//   - Concurrent writes to one key on different nodes are kept as siblings
//     and resolved last-writer-wins by a total order on Value: timestamp,
//     then node name, then bytes.Compare of the data, then tombstone over
//     live value. Every node therefore picks the same winner from the same
//     siblings. Get and Fold write the winner back when they see siblings,
//     which collapses them cluster-wide after the first read.
//   - A local write is stamped max(clock, winner.TS+1) where winner is the
//     key's current LWW winner on this node, so a write always wins over
//     everything this node has seen for the key, even when the wall clock
//     went backwards or a peer's clock runs ahead. Writes on one node to one
//     key are serialized and never become siblings of each other.
//   - Events report every change of a key's resolved view (absent, or live
//     with some bytes), in commit order, to every subscriber of the key's
//     FullPrefix, without ever blocking the writer.
//
// # What a Store does not guarantee
//
//   - Consistency is eventual: a read on one node may not see a write that
//     another node has already acknowledged, and two nodes may briefly
//     disagree. Once writes stop and the network heals, all nodes converge
//     to the same live keys and values.
//   - LWW picks the highest timestamp, not the causally latest write. Under
//     clock skew, a write on a node whose clock runs behind can lose to an
//     older concurrent write from a node whose clock runs ahead. Only
//     concurrent writes are affected: a node that has seen a write always
//     stamps its own later write above it (the max rule above).
//   - There are no transactions, no compare-and-swap and no multi-key
//     atomicity. Callers that read, modify and write one key use GetRaw and
//     PutRaw with the causal Context, which makes a concurrent write a
//     sibling instead of silently overwriting it.
//
// Byte slices passed in are copied. Byte slices handed out (values, keys,
// event payloads) are shared and must be treated as read-only.
package metadata
