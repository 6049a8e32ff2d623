package topic

import (
	"sync"
	"sync/atomic"
)

// RetainedIndex maps retained topic names to values (typically a reference
// into the retained-message store) and answers "which retained topics does
// this filter match" by walking only the trie branches the filter can reach,
// so a narrow wildcard subscribe costs the same with a thousand or a million
// retained messages.
//
// Get and Match read an immutable snapshot without locking. Writers
// serialize on a mutex. Replacing the value of an existing topic, the common
// case for retained publishes, is one atomic store with no copying; adding
// or removing a topic copies the nodes on its path. The zero value is an
// empty index ready to use.
type RetainedIndex[V any] struct {
	mu   sync.Mutex // serializes writers
	root atomic.Pointer[rnode[V]]
	n    atomic.Int64
}

type rnode[V any] struct {
	owner    *owner
	children pmap[string, *rnode[V]]
	// val is nil when no message is retained at this exact topic. It is
	// atomic so that a writer can replace the value in a published node;
	// the node's structure stays immutable.
	val atomic.Pointer[retained[V]]
}

type retained[V any] struct {
	topic string
	v     V
}

func (n *rnode[V]) editable(o *owner) *rnode[V] {
	if n == nil {
		return &rnode[V]{owner: o}
	}
	if n.owner == o {
		return n
	}
	c := &rnode[V]{owner: o, children: n.children}
	c.val.Store(n.val.Load())
	return c
}

// Len returns the number of retained topics.
func (x *RetainedIndex[V]) Len() int { return int(x.n.Load()) }

// Get returns the value retained at topic.
func (x *RetainedIndex[V]) Get(topic string) (V, bool) {
	if n := x.root.Load().find(topic); n != nil {
		if r := n.val.Load(); r != nil {
			return r.v, true
		}
	}
	var zero V
	return zero, false
}

func (n *rnode[V]) find(topic string) *rnode[V] {
	for n != nil {
		level, rest, more := cutLevel(topic)
		n, _ = n.children.get(hashLevel(level), level)
		if !more {
			return n
		}
		topic = rest
	}
	return nil
}

// Set retains value at topic, replacing any previous value. topic must be a
// valid topic name.
func (x *RetainedIndex[V]) Set(topic string, value V) error {
	if err := ValidateName(topic, 0); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	// Fast path: the node exists, so only its value changes and readers
	// can see the new value in place.
	if n := x.root.Load().find(topic); n != nil {
		if n.val.Swap(&retained[V]{topic: topic, v: value}) == nil {
			x.n.Add(1)
		}
		return nil
	}
	x.batchLocked(func(b *RetainedBatch[V]) { _ = b.Set(topic, value) })
	return nil
}

// Delete removes the value retained at topic and reports whether there was
// one.
func (x *RetainedIndex[V]) Delete(topic string) (deleted bool) {
	x.Batch(func(b *RetainedBatch[V]) { deleted = b.Delete(topic) })
	return deleted
}

// Batch applies several changes under one writer lock and publishes them at
// once when fn returns; nodes created within the batch are changed in place,
// which makes loading many topics at startup several times faster than
// calling Set for each. fn must not call methods of x. If fn panics nothing
// is published.
func (x *RetainedIndex[V]) Batch(fn func(b *RetainedBatch[V])) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.batchLocked(fn)
}

func (x *RetainedIndex[V]) batchLocked(fn func(b *RetainedBatch[V])) {
	b := &RetainedBatch[V]{o: new(owner), root: x.root.Load()}
	fn(b)
	if !b.dirty {
		return
	}
	b.o = nil
	x.root.Store(b.root)
	x.n.Add(b.delta)
}

// RetainedBatch is a write transaction on a RetainedIndex; see
// RetainedIndex.Batch. It is valid only inside that function. Unlike
// RetainedIndex.Set it never changes a published node, so readers see the
// whole batch or none of it.
type RetainedBatch[V any] struct {
	o     *owner
	root  *rnode[V]
	delta int64
	dirty bool
}

// Set is RetainedIndex.Set within the batch.
func (b *RetainedBatch[V]) Set(topic string, value V) error {
	if err := ValidateName(topic, 0); err != nil {
		return err
	}
	var added bool
	b.root, added = b.root.set(b.o, topic, &retained[V]{topic: topic, v: value})
	if added {
		b.delta++
	}
	b.dirty = true
	return nil
}

// Delete is RetainedIndex.Delete within the batch.
func (b *RetainedBatch[V]) Delete(topic string) bool {
	var removed bool
	b.root, removed = b.root.delete(b.o, topic)
	if removed {
		b.delta--
		b.dirty = true
	}
	return removed
}

func (n *rnode[V]) set(o *owner, topic string, r *retained[V]) (*rnode[V], bool) {
	m := n.editable(o)
	level, rest, more := cutLevel(topic)
	h := hashLevel(level)
	old, _ := m.children.get(h, level)
	var c *rnode[V]
	var added bool
	if more {
		c, added = old.set(o, rest, r)
	} else {
		c = old.editable(o)
		added = c.val.Swap(r) == nil
	}
	if c != old {
		m.children.set(o, h, level, c)
	}
	return m, added
}

func (n *rnode[V]) delete(o *owner, topic string) (*rnode[V], bool) {
	if n == nil {
		return nil, false
	}
	level, rest, more := cutLevel(topic)
	h := hashLevel(level)
	old, _ := n.children.get(h, level)
	if old == nil {
		return n, false
	}
	var c *rnode[V]
	if more {
		var removed bool
		if c, removed = old.delete(o, rest); !removed {
			return n, false
		}
	} else {
		if old.val.Load() == nil {
			return n, false
		}
		c = old.editable(o)
		c.val.Store(nil)
	}
	m := n.editable(o)
	if c.val.Load() == nil && c.children.len() == 0 {
		m.children.delete(o, h, level)
	} else if c != old {
		m.children.set(o, h, level, c)
	}
	return m, true
}

// Match calls fn for every retained topic that filter matches, until fn
// returns false. Topics starting with '$' are not matched by a filter whose
// first level is a wildcard [MQTT-4.7.2-1]. fn runs on a snapshot without
// any lock held. The cost is the number of trie nodes on the branches the
// filter can reach: a literal level is one lookup, '+' visits that level's
// children, '#' visits the whole subtree below it.
func (x *RetainedIndex[V]) Match(filter string, fn func(topic string, value V) bool) {
	x.root.Load().match(filter, true, fn)
}

func (n *rnode[V]) match(filter string, first bool, fn func(string, V) bool) bool {
	if n == nil {
		return true
	}
	level, rest, more := cutLevel(filter)
	switch level {
	case "#":
		// "a/#" matches "a" too (§4.7.1.2, non-normative); the root holds no topic.
		if !first && !n.visit(fn) {
			return false
		}
		return n.children.root.each(func(l string, c *rnode[V]) bool {
			return (first && isDollar(l)) || c.all(fn)
		})
	case "+":
		return n.children.root.each(func(l string, c *rnode[V]) bool {
			return (first && isDollar(l)) || c.next(rest, more, fn)
		})
	default:
		c, _ := n.children.get(hashLevel(level), level)
		return c.next(rest, more, fn)
	}
}

// next continues match below a level that matched.
func (n *rnode[V]) next(rest string, more bool, fn func(string, V) bool) bool {
	if n == nil {
		return true
	}
	if more {
		return n.match(rest, false, fn)
	}
	return n.visit(fn)
}

func (n *rnode[V]) visit(fn func(string, V) bool) bool {
	if r := n.val.Load(); r != nil {
		return fn(r.topic, r.v)
	}
	return true
}

func (n *rnode[V]) all(fn func(string, V) bool) bool {
	return n.visit(fn) && n.children.root.each(func(_ string, c *rnode[V]) bool { return c.all(fn) })
}
