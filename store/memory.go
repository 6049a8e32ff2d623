package store

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
)

// MemStorage is where a MemDB keeps its data between opens: the in-memory stand-in for a
// directory. Closing a MemDB and opening another on the same MemStorage sees every committed
// batch, which models a process restart (not a power loss: "unsynced" data survives, as it
// does in the OS page cache).
type MemStorage struct {
	mu     sync.Mutex
	roots  map[Keyspace]*node
	locked bool
}

// NewMemStorage returns empty storage.
func NewMemStorage() *MemStorage { return &MemStorage{roots: map[Keyspace]*node{}} }

// MemDB is the in-memory engine: a persistent treap per keyspace. Commits replace root
// pointers under a lock; snapshots and iterators keep the roots they started with.
type MemDB struct {
	st     *MemStorage
	c      committer
	mu     sync.RWMutex // guards roots (the live version) and closed
	roots  map[Keyspace]*node
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
		if _, ok := st.roots[ks]; !ok {
			st.roots[ks] = nil
		}
	}
	m := &MemDB{st: st, roots: st.roots}
	m.c.init(o.Sync, o.Injector, func() error { return nil })
	return m, nil
}

func (m *MemDB) root(ks Keyspace) (*node, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	r, ok := m.roots[ks]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKeyspace, ks)
	}
	return r, nil
}

// Get implements Reader.
func (m *MemDB) Get(ks Keyspace, key []byte) ([]byte, error) {
	r, err := m.root(ks)
	if err != nil {
		return nil, err
	}
	return memGet(r, key)
}

func memGet(r *node, key []byte) ([]byte, error) {
	n := treeGet(r, key)
	if n == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(n.val), nil
}

// NewIterator implements Reader. The iterator sees the state at its creation, as RocksDB's do.
func (m *MemDB) NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error) {
	r, err := m.root(ks)
	if err != nil {
		return nil, err
	}
	m.live.Add(1)
	return &memIter{root: r, lower: bytes.Clone(lower), upper: bytes.Clone(upper), live: &m.live}, nil
}

// NewSnapshot implements Engine.
func (m *MemDB) NewSnapshot() (Snapshot, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	roots := make(map[Keyspace]*node, len(m.roots))
	for k, v := range m.roots {
		roots[k] = v
	}
	m.live.Add(1)
	return &memSnap{m: m, roots: roots}, nil
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
	ks       Keyspace
	key, val []byte
	del      bool
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
	b.ops = append(b.ops, memOp{ks: ks, key: bytes.Clone(key), val: bytes.Clone(value)})
}

func (b *memBatch) Delete(ks Keyspace, key []byte) {
	b.ops = append(b.ops, memOp{ks: ks, key: bytes.Clone(key), del: true})
}

func (b *memBatch) Len() int { return len(b.ops) }

// write applies every op or none: keyspaces are checked before anything changes, and the new
// roots are installed together under the write lock.
func (b *memBatch) write(bool) error {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, op := range b.ops {
		if _, ok := m.roots[op.ks]; !ok {
			return fmt.Errorf("%w %q", ErrUnknownKeyspace, op.ks)
		}
	}
	for _, op := range b.ops {
		if op.del {
			m.roots[op.ks] = treeDelete(m.roots[op.ks], op.key)
		} else {
			if op.val == nil {
				op.val = []byte{}
			}
			m.roots[op.ks] = treeInsert(m.roots[op.ks], op.key, op.val, prio(op.key))
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
	roots  map[Keyspace]*node
	closed bool
}

func (s *memSnap) Get(ks Keyspace, key []byte) ([]byte, error) {
	r, ok := s.roots[ks]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKeyspace, ks)
	}
	return memGet(r, key)
}

func (s *memSnap) NewIterator(ks Keyspace, lower, upper []byte) (Iterator, error) {
	r, ok := s.roots[ks]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKeyspace, ks)
	}
	s.m.live.Add(1)
	return &memIter{root: r, lower: bytes.Clone(lower), upper: bytes.Clone(upper), live: &s.m.live}, nil
}

func (s *memSnap) Close() error {
	if !s.closed {
		s.closed = true
		s.m.live.Add(-1)
	}
	return nil
}

// memIter walks an immutable root. Each step descends from the root (O(log n)), which keeps
// the iterator a single pointer with no stack to invalidate.
type memIter struct {
	root         *node
	lower, upper []byte
	cur          *node
	live         *atomic.Int64
	closed       bool
}

func (it *memIter) inBounds(n *node) *node {
	if n == nil {
		return nil
	}
	if it.lower != nil && bytes.Compare(n.key, it.lower) < 0 {
		return nil
	}
	if it.upper != nil && bytes.Compare(n.key, it.upper) >= 0 {
		return nil
	}
	return n
}

func (it *memIter) set(n *node) bool { it.cur = it.inBounds(n); return it.cur != nil }

func (it *memIter) First() bool {
	if it.lower != nil {
		return it.set(treeSeekGE(it.root, it.lower, false))
	}
	return it.set(treeFirst(it.root))
}

func (it *memIter) Last() bool {
	if it.upper != nil {
		return it.set(treeSeekLT(it.root, it.upper, false))
	}
	return it.set(treeLast(it.root))
}

func (it *memIter) SeekGE(key []byte) bool {
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	return it.set(treeSeekGE(it.root, key, false))
}

func (it *memIter) SeekLT(key []byte) bool {
	if it.upper != nil && bytes.Compare(key, it.upper) > 0 {
		key = it.upper
	}
	return it.set(treeSeekLT(it.root, key, false))
}

func (it *memIter) Next() bool {
	if it.cur == nil {
		return false
	}
	return it.set(treeSeekGE(it.root, it.cur.key, true))
}

func (it *memIter) Prev() bool {
	if it.cur == nil {
		return false
	}
	return it.set(treeSeekLT(it.root, it.cur.key, false))
}

func (it *memIter) Valid() bool { return it.cur != nil }

func (it *memIter) Key() []byte {
	if it.cur == nil {
		return nil
	}
	return it.cur.key
}

func (it *memIter) Value() []byte {
	if it.cur == nil {
		return nil
	}
	return it.cur.val
}

func (it *memIter) Error() error { return nil }

func (it *memIter) Close() error {
	if !it.closed {
		it.closed = true
		it.live.Add(-1)
	}
	return nil
}
