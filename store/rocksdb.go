package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/linxGnu/grocksdb"
)

// Keyspace names one column family. The set is fixed at open time: RocksDB refuses to open a
// database without naming every column family it holds, so adding a keyspace means adding it here.
type Keyspace string

// The keyspaces of a node's database.
const (
	Messages   Keyspace = "messages"    // message payloads, reference counted
	QueueIndex Keyspace = "queue_index" // per-subscriber queue entries pointing at messages
	Metadata   Keyspace = "metadata"    // the replicated metadata backend's own layout
)

var keyspaces = []Keyspace{Messages, QueueIndex, Metadata}

// Options configure the engine. Zero values take RocksDB's defaults.
type Options struct {
	// Dir is the database directory; it is created when missing.
	Dir string
	// SyncWrites makes every write batch fsync the WAL before it returns.
	SyncWrites bool
	// BlockCacheSize and WriteBufferSize are in bytes.
	BlockCacheSize  uint64
	WriteBufferSize uint64
}

// DB is an open RocksDB database with its keyspaces.
type DB struct {
	db  *grocksdb.DB
	cfs map[Keyspace]*grocksdb.ColumnFamilyHandle
	ro  *grocksdb.ReadOptions
	wo  *grocksdb.WriteOptions
	opt *grocksdb.Options
}

// ErrLocked reports that another process holds the database open.
var ErrLocked = errors.New("store: database is locked by another process")

// Open opens or creates the database in o.Dir.
func Open(o Options) (*DB, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create data directory %s: %w", o.Dir, err)
	}
	opts := grocksdb.NewDefaultOptions()
	opts.SetCreateIfMissing(true)
	opts.SetCreateIfMissingColumnFamilies(true)
	if o.WriteBufferSize > 0 {
		opts.SetWriteBufferSize(o.WriteBufferSize)
	}
	if o.BlockCacheSize > 0 {
		bbto := grocksdb.NewDefaultBlockBasedTableOptions()
		bbto.SetBlockCache(grocksdb.NewLRUCache(o.BlockCacheSize))
		opts.SetBlockBasedTableFactory(bbto)
	}
	names := []string{"default"}
	cfOpts := []*grocksdb.Options{opts}
	for _, ks := range keyspaces {
		names = append(names, string(ks))
		cfOpts = append(cfOpts, opts)
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(opts, o.Dir, names, cfOpts)
	if err != nil {
		opts.Destroy()
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("%w: %s (is another nautilus running on this data directory? stop it or choose another platform_data_dir): %v", ErrLocked, o.Dir, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", filepath.Clean(o.Dir), err)
	}
	s := &DB{db: db, cfs: make(map[Keyspace]*grocksdb.ColumnFamilyHandle), ro: grocksdb.NewDefaultReadOptions(), wo: grocksdb.NewDefaultWriteOptions(), opt: opts}
	s.wo.SetSync(o.SyncWrites)
	for i, ks := range keyspaces {
		s.cfs[ks] = handles[i+1]
	}
	handles[0].Destroy() // the default family is unused; keyspaces are explicit
	return s, nil
}

// Get returns a copy of the value stored under key, or nil and no error when there is none.
func (s *DB) Get(ks Keyspace, key []byte) ([]byte, error) {
	v, err := s.db.GetCF(s.ro, s.cfs[ks], key)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", ks, err)
	}
	defer v.Free()
	if !v.Exists() {
		return nil, nil
	}
	return append([]byte(nil), v.Data()...), nil
}

// Batch collects writes across keyspaces that commit atomically.
type Batch struct {
	s  *DB
	wb *grocksdb.WriteBatch
}

// NewBatch starts an empty batch; Commit or Discard must follow.
func (s *DB) NewBatch() *Batch { return &Batch{s: s, wb: grocksdb.NewWriteBatch()} }

// Put adds a write of key in ks.
func (b *Batch) Put(ks Keyspace, key, value []byte) { b.wb.PutCF(b.s.cfs[ks], key, value) }

// Delete adds a delete of key in ks.
func (b *Batch) Delete(ks Keyspace, key []byte) { b.wb.DeleteCF(b.s.cfs[ks], key) }

// Commit writes the batch atomically and releases it.
func (b *Batch) Commit() error {
	defer b.wb.Destroy()
	if err := b.s.db.Write(b.s.wo, b.wb); err != nil {
		return fmt.Errorf("store: write batch: %w", err)
	}
	return nil
}

// Discard releases an uncommitted batch.
func (b *Batch) Discard() { b.wb.Destroy() }

// Close releases the database; the DB must not be used afterwards.
func (s *DB) Close() error {
	for _, h := range s.cfs {
		h.Destroy()
	}
	s.db.Close()
	s.ro.Destroy()
	s.wo.Destroy()
	s.opt.Destroy()
	return nil
}
