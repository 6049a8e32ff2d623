// Package store is the node's embedded storage engine: one database per node under the data
// directory, split into keyspaces (RocksDB column families) for offline messages, the queue
// index and the metadata backends.
//
// The rest of Nautilus sees only the narrow Engine interface. Two implementations exist:
//   - DB, over RocksDB (grocksdb), serves production;
//   - MemDB, a sorted in-memory engine with the same semantics (atomic batches, snapshots,
//     bounded iterators, the lock), serves simulators and fast tests.
//
// Both route every commit through the same committer, which applies the write-sync policy
// (always, batch = group commit, off) and consults an optional Injector that can fail the Nth
// write or sync, the way pebble's errorfs fails file operations. store/fault holds injectors,
// store/storetest the contract suite both engines pass. docs/storage.md describes the layout,
// the policies and what each open error means.
package store
