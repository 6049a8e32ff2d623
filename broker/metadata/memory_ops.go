package metadata

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
)

// Put implements Store. The value is stamped max(clock, winner.TS+1), so it
// wins over every version of the key this store holds (see the package
// doc). A Put of the bytes already stored still writes (its new timestamp
// matters against concurrent writes elsewhere) but emits no event.
func (m *Memory) Put(ctx context.Context, fp FullPrefix, key, val []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", fp, err)
	}
	data := make([]byte, len(val)) // a copy, and never nil: nil means absent in events
	copy(data, val)
	return m.writeLocal("put", fp, key, Value{Node: m.node, Data: data})
}

// Delete implements Store. Like Put, the tombstone is stamped above the
// key's current winner, so the delete wins locally even against a value
// from a node whose clock runs ahead.
func (m *Memory) Delete(ctx context.Context, fp FullPrefix, key []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", fp, err)
	}
	return m.writeLocal("delete", fp, key, Value{Node: m.node, Tomb: true})
}

// writeLocal stores v as the only version of the key, replacing all
// siblings: a local write has seen everything this node holds, so it never
// becomes a sibling of them.
func (m *Memory) writeLocal(op string, fp FullPrefix, key []byte, v Value) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("%s %s: %w", op, fp, ErrClosed)
	}
	t := m.table(fp)
	e := t.lookup(key)
	old, had := e.resolved()
	v.TS = m.clock()
	if had && v.TS <= old.TS && old.TS < math.MaxInt64 { // saturate rather than wrap
		v.TS = old.TS + 1
	}
	if e == nil {
		e = t.insert(key)
	}
	m.seq++
	clear(e.sibs)
	e.sibs = append(e.sibs[:0], v)
	e.dots = append(e.dots[:0], m.seq)
	m.publish(fp, e.key, old, had, v, true)
	return nil
}

// Get implements Store. It takes the write lock only when the key has
// siblings to collapse.
func (m *Memory) Get(ctx context.Context, fp FullPrefix, key []byte) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("get %s: %w", fp, err)
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, false, fmt.Errorf("get %s: %w", fp, ErrClosed)
	}
	e := m.lookup(fp, key)
	if e == nil || len(e.sibs) == 1 {
		v, ok := e.resolved()
		m.mu.RUnlock()
		return liveData(v, ok)
	}
	m.mu.RUnlock()

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, fmt.Errorf("get %s: %w", fp, ErrClosed)
	}
	v, ok := m.collapse(m.lookup(fp, key)) // looked up again: it may have changed meanwhile
	return liveData(v, ok)
}

func liveData(v Value, ok bool) ([]byte, bool, error) {
	if !ok || v.Tomb {
		return nil, false, nil
	}
	return v.Data, true, nil
}

// foldChunk is how many keys Fold copies per lock acquisition: it bounds
// both the time writers wait and the memory a Fold holds, and lets fn run
// without the lock so that it may call the store.
const foldChunk = 256

type foldPair struct{ key, val []byte }

// Fold implements Store.
func (m *Memory) Fold(ctx context.Context, fp FullPrefix, fn func(key, val []byte) error) error {
	buf := make([]foldPair, 0, foldChunk)
	var last []byte // last key scanned; nil before the first chunk
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fold %s: %w", fp, err)
		}
		var done bool
		var err error
		buf, last, done, err = m.foldChunk(fp, last, buf[:0])
		if err != nil {
			return fmt.Errorf("fold %s: %w", fp, err)
		}
		for _, p := range buf {
			if err := fn(p.key, p.val); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// foldChunk appends to buf the live keys among the next foldChunk keys of fp
// after last (from the start when last is nil), collapsing siblings on the
// way. It returns the last key scanned and whether the table is exhausted.
func (m *Memory) foldChunk(fp FullPrefix, last []byte, buf []foldPair) ([]foldPair, []byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return buf, last, true, ErrClosed
	}
	t := m.tables[fp]
	if t == nil {
		return buf, last, true, nil
	}
	t.ensureSorted()
	i := 0
	if last != nil {
		i = t.after(last)
	}
	for n := 0; i < len(t.sorted) && n < foldChunk; i, n = i+1, n+1 {
		e := t.sorted[i]
		if w, _ := m.collapse(e); !w.Tomb {
			buf = append(buf, foldPair{key: e.key, val: w.Data})
		}
		last = e.key
	}
	return buf, last, i >= len(t.sorted), nil
}

// collapse writes back e's LWW winner as its only version when it has
// siblings, and returns the winner. The winner keeps its TS, Node and Data,
// only its causal history changes (a new dot covering all siblings), so the
// resolved view does not change and no event is emitted. Callers hold the
// write lock.
func (m *Memory) collapse(e *entry) (Value, bool) {
	w, ok := e.resolved()
	if ok && len(e.sibs) > 1 {
		m.seq++
		clear(e.sibs)
		e.sibs = append(e.sibs[:0], w)
		e.dots = append(e.dots[:0], m.seq)
	}
	return w, ok
}

// GetRaw implements Store. The siblings are in write order.
func (m *Memory) GetRaw(ctx context.Context, fp FullPrefix, key []byte) ([]Value, Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("get raw %s: %w", fp, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, nil, fmt.Errorf("get raw %s: %w", fp, ErrClosed)
	}
	e := m.lookup(fp, key)
	if e == nil {
		return nil, nil, nil
	}
	return slices.Clone(e.sibs), encodeMemContext(e.maxDot()), nil
}

// PutRaw implements Store. Versions whose dot is covered by cc are
// replaced; the others stay as siblings of v.
func (m *Memory) PutRaw(ctx context.Context, fp FullPrefix, key []byte, v Value, cc Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put raw %s: %w", fp, err)
	}
	seen, err := decodeMemContext(cc)
	if err != nil {
		return fmt.Errorf("put raw %s: %w", fp, err)
	}
	if v.Tomb {
		v.Data = nil
	} else {
		v.Data = append(make([]byte, 0, len(v.Data)), v.Data...)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("put raw %s: %w", fp, ErrClosed)
	}
	t := m.table(fp)
	e := t.lookup(key)
	old, had := e.resolved()
	if e == nil {
		e = t.insert(key)
	}
	n := 0
	for i, d := range e.dots {
		if d > seen {
			e.sibs[n], e.dots[n] = e.sibs[i], d
			n++
		}
	}
	clear(e.sibs[n:])
	m.seq++
	e.sibs = append(e.sibs[:n], v)
	e.dots = append(e.dots[:n], m.seq)
	cur, _ := Resolve(e.sibs)
	m.publish(fp, e.key, old, had, cur, v.Node == m.node)
	return nil
}

// PurgeTombstones removes the keys whose winner is a tombstone stamped
// before the given time (unix µs) and returns how many it removed. On a
// single node nothing can bring a purged key back, so a broker running on
// Memory calls it periodically to bound the memory that deleted keys (random
// client ids, one-off retained topics) would otherwise hold forever. A later
// write of a purged key starts a fresh history; Contexts read before the
// purge stay harmless because dots are never reused.
func (m *Memory) PurgeTombstones(before int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for fp, t := range m.tables {
		n += t.removeIf(func(e *entry) bool {
			w, ok := e.resolved()
			return ok && w.Tomb && w.TS < before
		})
		if len(t.entries) == 0 {
			delete(m.tables, fp)
		}
	}
	return n
}

// publish emits the event for a write that moved the key's resolved view
// from old (had: the key existed) to cur, if the view changed. Callers hold
// the write lock, which puts events in commit order.
func (m *Memory) publish(fp FullPrefix, key []byte, old Value, had bool, cur Value, local bool) {
	oldLive, newLive := had && !old.Tomb, !cur.Tomb
	if oldLive == newLive && (!newLive || bytes.Equal(old.Data, cur.Data)) {
		return
	}
	ev := Event{Deleted: !newLive, FP: fp, Key: key, Local: local}
	if oldLive {
		ev.Old = old.Data
	}
	if newLive {
		ev.New = cur.Data
	}
	m.feed.Publish(ev)
}

func (m *Memory) table(fp FullPrefix) *table {
	t := m.tables[fp]
	if t == nil {
		t = newTable()
		m.tables[fp] = t
	}
	return t
}

func (m *Memory) lookup(fp FullPrefix, key []byte) *entry {
	if t := m.tables[fp]; t != nil {
		return t.lookup(key)
	}
	return nil
}
