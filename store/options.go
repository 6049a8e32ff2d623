package store

import "fmt"

// SyncPolicy says when commits reach stable storage (config key store.sync).
type SyncPolicy string

const (
	// SyncAlways fsyncs the write-ahead log for every batch before Commit returns.
	SyncAlways SyncPolicy = "always"
	// SyncBatch (group commit) makes Commit wait for an fsync that covers the batch, but
	// concurrent committers share one fsync: the first waiter syncs for everyone queued.
	SyncBatch SyncPolicy = "batch"
	// SyncOff never fsyncs; the OS writes the log back when it likes. A process crash loses
	// nothing (the data is in the page cache); a power loss can lose recent commits.
	SyncOff SyncPolicy = "off"
)

// Compression is the block compression of the RocksDB tables (config key store.compression).
type Compression string

// Compressions accepted by Options; which are usable depends on how librocksdb was built,
// see SupportedCompressions.
const (
	CompressionNone   Compression = "none"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

// Options configure an engine. The zero value (besides Dir for RocksDB) is valid: SyncBatch,
// RocksDB's default cache and buffer sizes, snappy compression.
type Options struct {
	// Dir is the database directory, by convention <platform_data_dir>/store. It is created
	// when missing; nothing in it is ever deleted by Open.
	Dir string
	// Sync is the write-sync policy; empty means SyncBatch.
	Sync SyncPolicy
	// BlockCacheSize and WriteBufferSize are in bytes; 0 keeps RocksDB's default.
	BlockCacheSize  uint64
	WriteBufferSize uint64
	// Compression of table blocks; empty means snappy.
	Compression Compression
	// ExtraKeyspaces are opened (and created when missing) besides DefaultKeyspaces: a
	// replication backend names its own here. Families already in the database but not named
	// are opened too, so a node can start with a different backend and keep the other's data.
	ExtraKeyspaces []Keyspace
	// Injector, when set, is asked before every write and sync and may fail them (tests).
	Injector Injector
}

func (o Options) withDefaults() (Options, error) {
	switch o.Sync {
	case "":
		o.Sync = SyncBatch
	case SyncAlways, SyncBatch, SyncOff:
	default:
		return o, fmt.Errorf("store: unknown sync policy %q (want always, batch or off)", o.Sync)
	}
	switch o.Compression {
	case "":
		o.Compression = CompressionSnappy
	case CompressionNone, CompressionSnappy, CompressionLZ4, CompressionZstd:
	default:
		return o, fmt.Errorf("store: unknown compression %q (want none, snappy, lz4 or zstd)", o.Compression)
	}
	return o, nil
}
