// Package store is the node's embedded storage engine: one RocksDB database per node under the
// data directory, split into keyspaces (column families) for offline messages, the queue index
// and the metadata backends. It hides grocksdb behind a small API so that the rest of Nautilus
// never touches cgo handles, and so that a fault-injecting or in-memory engine can stand in for
// it in tests and simulators.
package store
