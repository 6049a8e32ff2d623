package store

// Engine is the storage seam: a sorted key-value store split into keyspaces, with atomic
// multi-keyspace batches, bounded iterators and consistent snapshots. Implementations are safe
// for concurrent use; batches and iterators belong to one goroutine at a time.
type Engine interface {
	Reader
	// NewBatch starts an empty batch. Commit or Close must follow.
	NewBatch() Batch
	// NewSnapshot pins the current state; reads through it never see later commits.
	NewSnapshot() (Snapshot, error)
	// Stats reports counters of the commit path (writes, syncs), for tests and metrics.
	Stats() Stats
	// Close releases the engine. It fails, and closes nothing, while iterators or snapshots
	// are open: closing RocksDB under a live iterator would crash the process.
	Close() error
}

// Reader reads either the latest state (an Engine) or a pinned one (a Snapshot).
type Reader interface {
	// Get returns a copy of the value under key, or ErrNotFound.
	Get(ks Keyspace, key []byte) ([]byte, error)
	// NewIterator iterates over keys k of ks with lower <= k < upper; a nil bound is open.
	NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error)
}

// Snapshot is a consistent read-only view; Close releases it.
type Snapshot interface {
	Reader
	Close() error
}

// Batch collects writes across keyspaces; Commit applies all of them or none. Put and Delete
// copy their arguments. Errors in Put or Delete (an unknown keyspace) surface from Commit.
type Batch interface {
	Put(ks Keyspace, key, value []byte)
	Delete(ks Keyspace, key []byte)
	// Len is the number of operations added.
	Len() int
	// Commit applies the batch atomically and returns once it is as durable as the engine's
	// SyncPolicy requires. It releases the batch.
	Commit() error
	// CommitNoSyncWait applies the batch atomically (readers see it at once) but does not wait
	// for durability; SyncWait must follow. Callers that must order commits (msgstore, under a
	// mutex) apply with this and wait outside their lock, so that group commit still groups.
	CommitNoSyncWait() error
	// SyncWait returns once a batch applied with CommitNoSyncWait is durable per the policy.
	SyncWait() error
	// Close releases a batch that was not committed; it is a no-op after Commit.
	Close()
}

// Iterator walks keys in ascending byte order within its bounds. Positioning methods return
// whether the iterator now stands on an entry. Key and Value are valid until the next
// positioning call; copy them to keep them.
type Iterator interface {
	First() bool
	Last() bool
	// SeekGE moves to the first key >= key; SeekLT to the last key < key.
	SeekGE(key []byte) bool
	SeekLT(key []byte) bool
	Next() bool
	Prev() bool
	Valid() bool
	Key() []byte
	Value() []byte
	// Error reports a read error that ended iteration early.
	Error() error
	Close() error
}

// Stats are cumulative counters of an engine's commit path.
type Stats struct {
	Commits uint64 // batches applied
	Syncs   uint64 // WAL fsyncs issued (fewer than Commits under group commit)
}
