package store

import (
	"bytes"
	"fmt"

	"github.com/linxGnu/grocksdb"
)

// rocksIter adapts a grocksdb iterator. Bounds are enforced by RocksDB (iterate_lower_bound /
// iterate_upper_bound, so it never reads past them) and clamped again in SeekGE/SeekLT.
type rocksIter struct {
	d            *DB
	it           *grocksdb.Iterator
	ro           *grocksdb.ReadOptions
	lower, upper []byte
	closed       bool
}

// NewIterator implements Reader.
func (d *DB) NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error) {
	return d.newIter(nil, ks, lower, upper)
}

func (d *DB) newIter(snap *grocksdb.Snapshot, ks Keyspace, lower, upper []byte) (Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	h, err := d.cf(ks)
	if err != nil {
		return nil, err
	}
	ri := &rocksIter{d: d, ro: grocksdb.NewDefaultReadOptions(), lower: bytes.Clone(lower), upper: bytes.Clone(upper)}
	if snap != nil {
		ri.ro.SetSnapshot(snap)
	}
	// grocksdb keeps references to these slices for the iterator's lifetime.
	if ri.lower != nil {
		ri.ro.SetIterateLowerBound(ri.lower)
	}
	if ri.upper != nil {
		ri.ro.SetIterateUpperBound(ri.upper)
	}
	ri.it = d.db.NewIteratorCF(ri.ro, h)
	d.live.Add(1)
	return ri, nil
}

func (r *rocksIter) First() bool { r.it.SeekToFirst(); return r.it.Valid() }
func (r *rocksIter) Last() bool  { r.it.SeekToLast(); return r.it.Valid() }

func (r *rocksIter) SeekGE(key []byte) bool {
	if r.lower != nil && bytes.Compare(key, r.lower) < 0 {
		key = r.lower
	}
	r.it.Seek(key)
	return r.it.Valid()
}

func (r *rocksIter) SeekLT(key []byte) bool {
	if r.upper != nil && bytes.Compare(key, r.upper) > 0 {
		key = r.upper
	}
	r.it.SeekForPrev(key) // last key <= key
	if r.it.Valid() && bytes.Equal(r.it.Key().Data(), key) {
		r.it.Prev()
	}
	return r.it.Valid()
}

func (r *rocksIter) Next() bool    { r.it.Next(); return r.it.Valid() }
func (r *rocksIter) Prev() bool    { r.it.Prev(); return r.it.Valid() }
func (r *rocksIter) Valid() bool   { return r.it.Valid() }
func (r *rocksIter) Key() []byte   { return r.it.Key().Data() }
func (r *rocksIter) Value() []byte { return r.it.Value().Data() }

func (r *rocksIter) Error() error {
	if err := r.it.Err(); err != nil {
		return fmt.Errorf("store: iterate: %w", err)
	}
	return nil
}

func (r *rocksIter) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Error()
	r.it.Close()
	r.ro.Destroy()
	r.d.live.Add(-1)
	return err
}

type rocksSnap struct {
	d      *DB
	snap   *grocksdb.Snapshot
	ro     *grocksdb.ReadOptions
	closed bool
}

// NewSnapshot implements Engine.
func (d *DB) NewSnapshot() (Snapshot, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	s := &rocksSnap{d: d, snap: d.db.NewSnapshot(), ro: grocksdb.NewDefaultReadOptions()}
	s.ro.SetSnapshot(s.snap)
	d.live.Add(1)
	return s, nil
}

func (s *rocksSnap) Get(ks Keyspace, key []byte) ([]byte, error) { return s.d.get(s.ro, ks, key) }

func (s *rocksSnap) NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error) {
	return s.d.newIter(s.snap, ks, lower, upper)
}

func (s *rocksSnap) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	s.d.db.ReleaseSnapshot(s.snap)
	s.ro.Destroy()
	s.d.live.Add(-1)
	return nil
}
