package topic

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// seed hashes levels and keys for the persistent maps. A per-process random
// seed keeps crafted topic names from degrading the maps.
var seed = maphash.MakeSeed()

func hashLevel(s string) uint64 { return maphash.String(seed, s) }

// Entry is one matched subscription.
type Entry[K comparable, V any] struct {
	Key   K
	Value V
}

// Trie maps topic filters to subscribers. Each (filter, key) pair holds one
// value; the key is usually the subscriber id and the value its options.
//
// Readers (Match, Len) load an immutable snapshot with one atomic load and
// never lock or wait. Writers (Subscribe, Unsubscribe, Batch) serialize on a
// mutex, copy the nodes on the changed path and publish a new snapshot.
// The zero value is an empty trie ready to use.
type Trie[K comparable, V any] struct {
	mu   sync.Mutex                     // serializes writers; readers never take it
	snap atomic.Pointer[trieSnap[K, V]] // nil means empty
}

type trieSnap[K comparable, V any] struct {
	root *tnode[K, V]
	n    int // number of (filter, key) subscriptions
}

type tnode[K comparable, V any] struct {
	owner    *owner
	children pmap[string, *tnode[K, V]] // literal levels
	plus     *tnode[K, V]               // the '+' level
	hash     *tnode[K, V]               // the '#' level; only its subs are used
	subs     pmap[K, V]
}

func (n *tnode[K, V]) empty() bool {
	return n.subs.len() == 0 && n.children.len() == 0 && n.plus == nil && n.hash == nil
}

func (n *tnode[K, V]) editable(o *owner) *tnode[K, V] {
	if n == nil {
		return &tnode[K, V]{owner: o}
	}
	if n.owner == o {
		return n
	}
	c := *n
	c.owner = o
	return &c
}

// Len returns the number of subscriptions.
func (t *Trie[K, V]) Len() int {
	if s := t.snap.Load(); s != nil {
		return s.n
	}
	return 0
}

// Subscribe adds the subscription (filter, key) with value, or replaces the
// value if it exists; replaced tells which, for MQTT 5 Retain Handling 1.
// The filter must be valid (ValidateFilter); a shared subscription's
// "$share/<group>/" prefix is the caller's business.
func (t *Trie[K, V]) Subscribe(filter string, key K, value V) (replaced bool, err error) {
	t.Batch(func(b *Batch[K, V]) { replaced, err = b.Subscribe(filter, key, value) })
	return replaced, err
}

// Unsubscribe removes the subscription (filter, key) and reports whether it
// existed.
func (t *Trie[K, V]) Unsubscribe(filter string, key K) (removed bool) {
	t.Batch(func(b *Batch[K, V]) { removed = b.Unsubscribe(filter, key) })
	return removed
}

// Batch applies several changes under one writer lock and publishes them to
// readers at once when fn returns: all of a SUBSCRIBE packet's filters
// together, or a bulk load at startup, which is several times faster than
// one Subscribe per filter because nodes created within the batch are
// changed in place. fn must not call methods of t. If fn panics nothing is
// published.
func (t *Trie[K, V]) Batch(fn func(b *Batch[K, V])) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &Batch[K, V]{o: new(owner)}
	if s := t.snap.Load(); s != nil {
		b.root, b.n = s.root, s.n
	}
	fn(b)
	if !b.dirty {
		return
	}
	b.o = nil // the nodes become shared the moment they are published
	t.snap.Store(&trieSnap[K, V]{root: b.root, n: b.n})
}

// Batch is a write transaction on a Trie; see Trie.Batch. It is valid only
// inside the function passed to Trie.Batch.
type Batch[K comparable, V any] struct {
	o     *owner
	root  *tnode[K, V]
	n     int
	dirty bool
}

// Subscribe is Trie.Subscribe within the batch.
func (b *Batch[K, V]) Subscribe(filter string, key K, value V) (replaced bool, err error) {
	if err := ValidateFilter(filter, 0); err != nil {
		return false, err
	}
	var added bool
	b.root, added = b.root.subscribe(b.o, filter, key, value)
	if added {
		b.n++
	}
	b.dirty = true
	return !added, nil
}

// Unsubscribe is Trie.Unsubscribe within the batch.
func (b *Batch[K, V]) Unsubscribe(filter string, key K) (removed bool) {
	b.root, removed = b.root.unsubscribe(b.o, filter, key)
	if removed {
		b.n--
		b.dirty = true
	}
	return removed
}

// cutLevel splits the first level off s. rest is only meaningful when more
// is true; it is "" for a trailing empty level ("a/").
func cutLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// subscribe returns the replacement for n (n itself if it was changed in
// place) and whether the subscription is new.
func (n *tnode[K, V]) subscribe(o *owner, filter string, key K, value V) (*tnode[K, V], bool) {
	m := n.editable(o)
	level, rest, more := cutLevel(filter)
	var added bool
	switch level {
	case "+":
		m.plus, added = m.plus.descend(o, rest, more, key, value)
	case "#":
		m.hash, added = m.hash.descend(o, rest, more, key, value)
	default:
		h := hashLevel(level)
		old, _ := m.children.get(h, level)
		var c *tnode[K, V]
		c, added = old.descend(o, rest, more, key, value)
		if c != old {
			m.children.set(o, h, level, c)
		}
	}
	return m, added
}

// descend continues subscribe below a level: into the rest of the filter,
// or into this node's subscriber set when the filter ends here.
func (n *tnode[K, V]) descend(o *owner, rest string, more bool, key K, value V) (*tnode[K, V], bool) {
	if more {
		return n.subscribe(o, rest, key, value)
	}
	m := n.editable(o)
	return m, m.subs.set(o, maphash.Comparable(seed, key), key, value)
}

// unsubscribe returns the replacement for n (nil once it holds nothing) and
// whether the subscription existed. Unchanged subtrees are not copied.
func (n *tnode[K, V]) unsubscribe(o *owner, filter string, key K) (*tnode[K, V], bool) {
	if n == nil {
		return nil, false
	}
	level, rest, more := cutLevel(filter)
	var old *tnode[K, V]
	var h uint64
	switch level {
	case "+":
		old = n.plus
	case "#":
		old = n.hash
	default:
		h = hashLevel(level)
		old, _ = n.children.get(h, level)
	}
	if old == nil {
		return n, false
	}
	var c *tnode[K, V]
	if more {
		var removed bool
		if c, removed = old.unsubscribe(o, rest, key); !removed {
			return n, false
		}
	} else {
		if _, ok := old.subs.get(maphash.Comparable(seed, key), key); !ok {
			return n, false
		}
		c = old.editable(o)
		c.subs.delete(o, maphash.Comparable(seed, key), key)
	}
	if c != nil && c.empty() {
		c = nil // prune, so churn does not leave dead branches behind
	}
	m := n.editable(o)
	switch level {
	case "+":
		m.plus = c
	case "#":
		m.hash = c
	default:
		if c == nil {
			m.children.delete(o, h, level)
		} else {
			m.children.set(o, h, level, c)
		}
	}
	return m, true
}

// Match appends every subscription whose filter matches topic to dst and
// returns the extended slice; it does not allocate when dst has room. A key
// subscribed with several matching filters appears once per filter: merging
// them (highest QoS, all subscription identifiers) is the router's job.
// topic should be a valid topic name (ValidateName).
func (t *Trie[K, V]) Match(topic string, dst []Entry[K, V]) []Entry[K, V] {
	s := t.snap.Load()
	if s == nil {
		return dst
	}
	return s.root.matchAppend(topic, 0, isDollar(topic), dst)
}

// MatchFunc calls fn for every subscription whose filter matches topic. fn
// runs on a consistent snapshot without any lock held, so it may call back
// into the trie.
func (t *Trie[K, V]) MatchFunc(topic string, fn func(key K, value V)) {
	s := t.snap.Load()
	if s == nil {
		return
	}
	s.root.matchFunc(topic, 0, isDollar(topic), fn)
}

// isDollar reports whether wildcards at the first level are barred from
// matching topic [MQTT-4.7.2-1].
func isDollar(topic string) bool { return topic != "" && topic[0] == '$' }

// matchAppend visits n, which matched the levels of topic before offset i;
// i == len(topic)+1 means every level has been consumed. The first level is
// the only one where dollar matters.
func (n *tnode[K, V]) matchAppend(topic string, i int, dollar bool, dst []Entry[K, V]) []Entry[K, V] {
	wild := i > 0 || !dollar
	// '#' also matches its parent level: "a/#" matches "a" (§4.7.1.2, non-normative).
	if n.hash != nil && wild {
		dst = appendSubs(n.hash.subs.root, dst)
	}
	if i > len(topic) {
		return appendSubs(n.subs.root, dst)
	}
	j := strings.IndexByte(topic[i:], '/')
	if j < 0 {
		j = len(topic)
	} else {
		j += i
	}
	if n.plus != nil && wild {
		dst = n.plus.matchAppend(topic, j+1, dollar, dst)
	}
	if n.children.len() > 0 {
		if c, ok := n.children.get(hashLevel(topic[i:j]), topic[i:j]); ok {
			dst = c.matchAppend(topic, j+1, dollar, dst)
		}
	}
	return dst
}

// matchFunc is matchAppend with a callback; kept separate because a closure
// capturing dst would escape and cost an allocation per Match.
func (n *tnode[K, V]) matchFunc(topic string, i int, dollar bool, fn func(K, V)) {
	wild := i > 0 || !dollar
	if n.hash != nil && wild {
		eachSub(n.hash.subs.root, fn)
	}
	if i > len(topic) {
		eachSub(n.subs.root, fn)
		return
	}
	j := strings.IndexByte(topic[i:], '/')
	if j < 0 {
		j = len(topic)
	} else {
		j += i
	}
	if n.plus != nil && wild {
		n.plus.matchFunc(topic, j+1, dollar, fn)
	}
	if n.children.len() > 0 {
		if c, ok := n.children.get(hashLevel(topic[i:j]), topic[i:j]); ok {
			c.matchFunc(topic, j+1, dollar, fn)
		}
	}
}

func appendSubs[K comparable, V any](n *hnode[K, V], dst []Entry[K, V]) []Entry[K, V] {
	if n == nil {
		return dst
	}
	for i := range n.slots {
		s := &n.slots[i]
		if s.sub != nil {
			dst = appendSubs(s.sub, dst)
		} else {
			dst = append(dst, Entry[K, V]{Key: s.key, Value: s.val})
		}
	}
	return dst
}

func eachSub[K comparable, V any](n *hnode[K, V], fn func(K, V)) {
	if n == nil {
		return
	}
	for i := range n.slots {
		s := &n.slots[i]
		if s.sub != nil {
			eachSub(s.sub, fn)
		} else {
			fn(s.key, s.val)
		}
	}
}
