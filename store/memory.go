package store

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// MemStorage is where a MemDB keeps its data between opens: the in-memory stand-in for a
// directory. Closing a MemDB and opening another on the same MemStorage sees every committed
// batch, which models a process restart (not a power loss: "unsynced" data survives, as it
// does in the OS page cache).
type MemStorage struct {
	mu     sync.Mutex
	trees  map[Keyspace]*memTree
	locked bool
}

// NewMemStorage returns empty storage.
func NewMemStorage() *MemStorage { return &MemStorage{trees: map[Keyspace]*memTree{}} }

// memItem is one record. Key and value share one allocation (the batch copies them into it),
// which halves the allocations per stored record: the simulator keeps millions of them.
type memItem struct {
	kv   []byte
	klen int
}

func newMemItem(key, val []byte) memItem {
	kv := make([]byte, len(key)+len(val))
	copy(kv, key)
	copy(kv[len(key):], val)
	return memItem{kv: kv, klen: len(key)}
}

func (it memItem) key() []byte { return it.kv[:it.klen:it.klen] }

// val is never nil for a stored record, even when empty (Get distinguishes it from absence).
func (it memItem) val() []byte { return it.kv[it.klen:] }

func memLess(a, b memItem) bool { return bytes.Compare(a.key(), b.key()) < 0 }

// probe is a search key; its kv is not copied.
func probe(key []byte) memItem { return memItem{kv: key, klen: len(key)} }

// memTree is a B-tree with copy-on-write clones (github.com/google/btree): commits write the
// live tree in place, and a snapshot or iterator clones it in O(1); the first later write to a
// node still shared with a clone copies that node. A persistent treap did the same with a
// path copy, about 20 fresh nodes, on every insert, which made the simulator's engine 40 % of
// its CPU and a third of its heap at 100k keys.
type memTree = btree.BTreeG[memItem]

// memDegree is the B-tree degree (nodes of 31 to 63 records): wide nodes mean few pointers
// per record, and a copied node costs at most 63 records of 32 bytes.
const memDegree = 32

func newMemTree() *memTree { return btree.NewG(memDegree, memLess) }

// MemDB is the in-memory engine: a B-tree per keyspace. Commits change the live trees under
// the write lock; snapshots and iterators read clones taken under it.
type MemDB struct {
	st     *MemStorage
	c      committer
	mu     sync.RWMutex // guards the live trees' contents and closed
	trees  map[Keyspace]*memTree
	closed bool
	live   atomic.Int64
}

var _ Engine = (*MemDB)(nil)

// OpenMemory opens an engine on st, creating the keyspaces of o. Like RocksDB, only one engine
// may have st open at a time (ErrLocked). o.Dir, the sizes and the compression are ignored;
// o.Sync and o.Injector apply (syncs are counted but cost nothing).
func OpenMemory(st *MemStorage, o Options) (*MemDB, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.locked {
		return nil, &OpenError{Dir: "(memory)", Kind: ErrLocked, Advice: adviceLocked,
			Err: fmt.Errorf("memory storage already open")}
	}
	st.locked = true
	for _, ks := range keyspaceList(o.ExtraKeyspaces) {
		if _, ok := st.trees[ks]; !ok {
			st.trees[ks] = newMemTree()
		}
	}
	// The map is only changed above, while no engine has st open, so m may share it.
	m := &MemDB{st: st, trees: st.trees}
	m.c.init(o.Sync, o.Injector, func() error { return nil })
	return m, nil
}

func (m *MemDB) tree(ks Keyspace) (*memTree, error) {
	t, ok := m.trees[ks]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKeyspace, ks)
	}
	return t, nil
}

// Get implements Reader.
func (m *MemDB) Get(ks Keyspace, key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	t, err := m.tree(ks)
	if err != nil {
		return nil, err
	}
	return memGet(t, key)
}

func memGet(t *memTree, key []byte) ([]byte, error) {
	it, ok := t.Get(probe(key))
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(it.val()), nil
}

// NewIterator implements Reader. The iterator sees the state at its creation, as RocksDB's do.
func (m *MemDB) NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error) {
	// A clone changes the cow context of the tree it is taken from, so it is a write.
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	t, err := m.tree(ks)
	if err != nil {
		return nil, err
	}
	return newMemIter(t.Clone(), lower, upper, &m.live), nil
}

// NewSnapshot implements Engine.
func (m *MemDB) NewSnapshot() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	trees := make(map[Keyspace]*memTree, len(m.trees))
	for k, t := range m.trees {
		trees[k] = t.Clone()
	}
	m.live.Add(1)
	return &memSnap{m: m, trees: trees}, nil
}

// Stats implements Engine.
func (m *MemDB) Stats() Stats { return m.c.stats() }

// Close implements Engine; the data stays in the MemStorage.
func (m *MemDB) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	if n := m.live.Load(); n > 0 {
		return fmt.Errorf("store: close memory engine: %d iterators or snapshots still open", n)
	}
	m.closed = true
	m.st.mu.Lock()
	m.st.locked = false
	m.st.mu.Unlock()
	return nil
}

type memOp struct {
	ks   Keyspace
	item memItem // the record to put, or the key (kv, klen = len(kv)) to delete
	del  bool
}

type memBatch struct {
	m      *MemDB
	ops    []memOp
	done   bool
	ticket uint64
}

// NewBatch implements Engine.
func (m *MemDB) NewBatch() Batch { return &memBatch{m: m} }

func (b *memBatch) Put(ks Keyspace, key, value []byte) {
	b.ops = append(b.ops, memOp{ks: ks, item: newMemItem(key, value)})
}

func (b *memBatch) Delete(ks Keyspace, key []byte) {
	b.ops = append(b.ops, memOp{ks: ks, item: newMemItem(key, nil), del: true})
}

func (b *memBatch) Len() int { return len(b.ops) }

// write applies every op or none: keyspaces are checked before anything changes, and all
// changes are made under one hold of the write lock.
func (b *memBatch) write(bool) error {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, op := range b.ops {
		if _, err := m.tree(op.ks); err != nil {
			return err
		}
	}
	for _, op := range b.ops {
		if op.del {
			m.trees[op.ks].Delete(op.item)
		} else {
			m.trees[op.ks].ReplaceOrInsert(op.item)
		}
	}
	return nil
}

func (b *memBatch) Commit() error {
	if b.done {
		return fmt.Errorf("store: batch already committed or closed")
	}
	b.done = true
	return b.m.c.commit(b.write)
}

func (b *memBatch) CommitNoSyncWait() error {
	if b.done {
		return fmt.Errorf("store: batch already committed or closed")
	}
	b.done = true
	t, err := b.m.c.apply(b.write)
	b.ticket = t
	return err
}

func (b *memBatch) SyncWait() error { return b.m.c.syncWait(b.ticket) }
func (b *memBatch) Close()          { b.done, b.ops = true, nil }

type memSnap struct {
	m      *MemDB
	trees  map[Keyspace]*memTree // clones: never written
	closed bool
}

func (s *memSnap) tree(ks Keyspace) (*memTree, error) {
	t, ok := s.trees[ks]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKeyspace, ks)
	}
	return t, nil
}

func (s *memSnap) Get(ks Keyspace, key []byte) ([]byte, error) {
	t, err := s.tree(ks)
	if err != nil {
		return nil, err
	}
	return memGet(t, key)
}

// NewIterator reads the snapshot's clone itself: nothing writes it, so no further clone is
// needed.
func (s *memSnap) NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error) {
	t, err := s.tree(ks)
	if err != nil {
		return nil, err
	}
	return newMemIter(t, lower, upper, &s.m.live), nil
}

func (s *memSnap) Close() error {
	if !s.closed {
		s.closed = true
		s.m.live.Add(-1)
	}
	return nil
}

// memIterBatch is how many records an iterator fetches per descent: the B-tree has no cursor,
// only callbacks from a pivot, so stepping one record per descent would cost O(log n) each.
const memIterBatch = 64

// memIter walks a tree nothing writes (a clone). It buffers up to memIterBatch records in the
// direction of travel and descends again from the last one when they run out.
type memIter struct {
	t            *memTree
	lower, upper []byte
	buf          []memItem // records in the direction of travel; buf[pos] is the current one
	pos          int
	fwd          bool
	live         *atomic.Int64
	closed       bool
}

func newMemIter(t *memTree, lower, upper []byte, live *atomic.Int64) *memIter {
	live.Add(1)
	return &memIter{t: t, lower: bytes.Clone(lower), upper: bytes.Clone(upper), live: live}
}

// fill loads the records from key on in direction fwd (all of them when key is nil; key
// itself only when inclusive) that are within the bounds, and stands on the first.
func (it *memIter) fill(fwd bool, key []byte, inclusive bool) bool {
	it.buf, it.pos, it.fwd = it.buf[:0], 0, fwd
	visit := func(r memItem) bool {
		k := r.key()
		if !inclusive && key != nil && bytes.Equal(k, key) {
			return true
		}
		if fwd && it.upper != nil && bytes.Compare(k, it.upper) >= 0 {
			return false
		}
		if !fwd && it.lower != nil && bytes.Compare(k, it.lower) < 0 {
			return false
		}
		it.buf = append(it.buf, r)
		return len(it.buf) < memIterBatch
	}
	switch {
	case fwd && key == nil:
		it.t.Ascend(visit)
	case fwd:
		it.t.AscendGreaterOrEqual(probe(key), visit)
	case key == nil:
		it.t.Descend(visit)
	default:
		it.t.DescendLessOrEqual(probe(key), visit)
	}
	return len(it.buf) > 0
}

func (it *memIter) First() bool { return it.fill(true, it.lower, true) }

func (it *memIter) Last() bool { return it.fill(false, it.upper, false) }

func (it *memIter) SeekGE(key []byte) bool {
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	return it.fill(true, key, true)
}

func (it *memIter) SeekLT(key []byte) bool {
	if it.upper != nil && bytes.Compare(key, it.upper) > 0 {
		key = it.upper
	}
	return it.fill(false, key, false)
}

// step moves one record in direction fwd: within the buffer when it was filled that way,
// else by a descent from the current key (its bytes belong to the tree, not to the buffer
// the refill overwrites).
func (it *memIter) step(fwd bool) bool {
	if !it.Valid() {
		return false
	}
	if it.fwd == fwd && it.pos+1 < len(it.buf) {
		it.pos++
		return true
	}
	return it.fill(fwd, it.buf[it.pos].key(), false)
}

func (it *memIter) Next() bool { return it.step(true) }

func (it *memIter) Prev() bool { return it.step(false) }

func (it *memIter) Valid() bool { return it.pos < len(it.buf) }

func (it *memIter) Key() []byte {
	if !it.Valid() {
		return nil
	}
	return it.buf[it.pos].key()
}

func (it *memIter) Value() []byte {
	if !it.Valid() {
		return nil
	}
	return it.buf[it.pos].val()
}

func (it *memIter) Error() error { return nil }

func (it *memIter) Close() error {
	if !it.closed {
		it.closed = true
		it.live.Add(-1)
	}
	return nil
}
