package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/linxGnu/grocksdb"
)

// formatKey, in the default column family, records the layout version of the keyspaces so a
// newer layout is refused by an older binary instead of being misread.
var formatKey = []byte("nautilus/format")

const formatVersion = 1

// DB is the RocksDB engine: one database, one column family per keyspace.
type DB struct {
	dir   string
	db    *grocksdb.DB
	cfs   map[Keyspace]*grocksdb.ColumnFamilyHandle
	all   []*grocksdb.ColumnFamilyHandle // every handle, including default, for Close
	ro    *grocksdb.ReadOptions
	wo    *grocksdb.WriteOptions // no sync
	woS   *grocksdb.WriteOptions // sync
	opts  *grocksdb.Options
	bbto  *grocksdb.BlockBasedTableOptions
	cache *grocksdb.Cache
	c     committer

	// mu is held shared by every call into RocksDB and exclusively by Close, so that no cgo
	// call ever runs on a destroyed handle.
	mu     sync.RWMutex
	closed bool
	live   atomic.Int64 // open iterators and snapshots
}

var _ Engine = (*DB)(nil)

// Open opens or creates the RocksDB database in o.Dir. Failures are *OpenError values that
// say whether the directory is locked, corrupt, of an unknown format or inaccessible.
func Open(o Options) (*DB, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("store: Options.Dir is empty")
	}
	dir := filepath.Clean(o.Dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, openOSError(dir, err)
	}
	ctype, err := compressionType(o.Compression)
	if err != nil {
		return nil, err
	}
	d := &DB{dir: dir, cfs: map[Keyspace]*grocksdb.ColumnFamilyHandle{}}
	d.opts = grocksdb.NewDefaultOptions()
	d.opts.SetCreateIfMissing(true)
	d.opts.SetCreateIfMissingColumnFamilies(true)
	d.opts.SetCompression(ctype)
	d.opts.SetKeepLogFileNum(4)
	d.opts.SetMaxLogFileSize(16 << 20)
	if o.WriteBufferSize > 0 {
		d.opts.SetWriteBufferSize(o.WriteBufferSize)
	}
	d.bbto = grocksdb.NewDefaultBlockBasedTableOptions()
	if o.BlockCacheSize > 0 {
		d.cache = grocksdb.NewLRUCache(o.BlockCacheSize)
		d.bbto.SetBlockCache(d.cache)
	}
	d.opts.SetBlockBasedTableFactory(d.bbto)

	names, err := familyNames(d.opts, dir, o.ExtraKeyspaces)
	if err != nil {
		d.destroyOptions()
		return nil, err
	}
	cfOpts := make([]*grocksdb.Options, len(names))
	for i := range cfOpts {
		cfOpts[i] = d.opts // one cache and one compression for every keyspace
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(d.opts, dir, names, cfOpts)
	if err != nil {
		d.destroyOptions()
		return nil, classifyOpenError(dir, err)
	}
	d.db, d.all = db, handles
	for i, n := range names {
		d.cfs[Keyspace(n)] = handles[i]
	}
	d.ro = grocksdb.NewDefaultReadOptions()
	d.wo = grocksdb.NewDefaultWriteOptions()
	d.woS = grocksdb.NewDefaultWriteOptions()
	d.woS.SetSync(true)
	d.c.init(o.Sync, o.Injector, d.syncWAL)
	if err := d.checkFormat(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// familyNames lists the column families to open: default, ours, and whatever the database
// already holds (RocksDB refuses to open without naming every family).
func familyNames(opts *grocksdb.Options, dir string, extra []Keyspace) ([]string, error) {
	names := []string{"default"}
	seen := map[string]bool{"default": true}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, ks := range keyspaceList(extra) {
		add(string(ks))
	}
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); errors.Is(err, fs.ErrNotExist) {
		return names, nil // a new database
	}
	existing, err := grocksdb.ListColumnFamilies(opts, dir)
	if err != nil {
		return nil, classifyOpenError(dir, err)
	}
	for _, n := range existing {
		add(n)
	}
	return names, nil
}

func (d *DB) checkFormat() error {
	v, err := d.db.GetCF(d.ro, d.cfs["default"], formatKey)
	if err != nil {
		return classifyOpenError(d.dir, err)
	}
	defer v.Free()
	if !v.Exists() {
		wb := grocksdb.NewWriteBatch()
		defer wb.Destroy()
		wb.PutCF(d.cfs["default"], formatKey, []byte{formatVersion})
		if err := d.db.Write(d.woS, wb); err != nil {
			return classifyOpenError(d.dir, err)
		}
		return nil
	}
	if b := v.Data(); len(b) != 1 || b[0] > formatVersion {
		return &OpenError{Dir: d.dir, Kind: ErrIncompatible, Advice: adviceIncompatible,
			Err: fmt.Errorf("layout version %v, this binary reads up to %d", b, formatVersion)}
	}
	return nil
}

func openOSError(dir string, err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, fs.ErrExist) {
		return &OpenError{Dir: dir, Kind: ErrPermission, Advice: advicePermission, Err: err}
	}
	return &OpenError{Dir: dir, Err: err}
}

func (d *DB) destroyOptions() {
	d.opts.Destroy()
	d.bbto.Destroy()
	if d.cache != nil {
		d.cache.Destroy()
	}
}

// Dir returns the database directory.
func (d *DB) Dir() string { return d.dir }

// Keyspaces returns every open keyspace, including families found in the database.
func (d *DB) Keyspaces() []Keyspace {
	var out []Keyspace
	for ks := range d.cfs {
		if ks != "default" {
			out = append(out, ks)
		}
	}
	return out
}

func (d *DB) cf(ks Keyspace) (*grocksdb.ColumnFamilyHandle, error) {
	if h, ok := d.cfs[ks]; ok && ks != "default" {
		return h, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKeyspace, ks)
}

// Get implements Reader.
func (d *DB) Get(ks Keyspace, key []byte) ([]byte, error) { return d.get(d.ro, ks, key) }

func (d *DB) get(ro *grocksdb.ReadOptions, ks Keyspace, key []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	h, err := d.cf(ks)
	if err != nil {
		return nil, err
	}
	v, err := d.db.GetCF(ro, h, key)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", ks, err)
	}
	defer v.Free()
	if !v.Exists() {
		return nil, ErrNotFound
	}
	return bytes.Clone(v.Data()), nil
}

// Stats implements Engine.
func (d *DB) Stats() Stats { return d.c.stats() }

func (d *DB) syncWAL() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	// With manual_wal_flush off (the default) FlushWAL(true) is SyncWAL: fsync the log.
	if err := d.db.FlushWAL(true); err != nil {
		return fmt.Errorf("store: sync WAL: %w", err)
	}
	return nil
}

// Close implements Engine.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	if n := d.live.Load(); n > 0 {
		return fmt.Errorf("store: close %s: %d iterators or snapshots still open", d.dir, n)
	}
	d.closed = true
	for _, h := range d.all {
		h.Destroy()
	}
	d.db.Close()
	d.ro.Destroy()
	d.wo.Destroy()
	d.woS.Destroy()
	d.destroyOptions()
	return nil
}
