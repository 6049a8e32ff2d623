package plumtree

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// Core is the Plumtree replication state machine of one node: objects,
// Merkle trees, broadcast trees and the running exchange. It implements
// sim.Core; see that interface for the calling rules (not safe for
// concurrent use; persist each Ready before sending it).
type Core struct {
	self  string
	cfg   Config
	clock func() int64
	rng   *rand.Rand

	objs   map[string]*object // by store key
	tables map[metadata.FullPrefix]*table
	trees  *treeSet

	bc broadcaster
	ex exchanger

	ticks uint64
	out   sim.Ready
	stats Stats
}

var _ sim.Core = (*Core)(nil)

// Stats are a core's counters.
type Stats struct {
	// Objects is the number of keys stored, tombstones included; Tombstones
	// is how many of them read as deleted. Plumtree never removes either.
	Objects, Tombstones int
	// Outstanding is the number of announcements waiting for lazy peers.
	Outstanding int
	// Broadcasts received, of which Stale (already known: the sender is
	// pruned); IHaves received and Grafts sent.
	Broadcasts, Stale, IHaves, Grafts uint64
	// OutstandingDropped counts announcements not queued (OutstandingLimit).
	OutstandingDropped uint64
	// Exchanges started, completed and abandoned on timeout; Repaired counts
	// objects changed by anti-entropy merges.
	ExchangesStarted, ExchangesCompleted, ExchangesTimedOut, Repaired uint64
}

// object is one key: its DVVSet and the hash of its encoding.
type object struct {
	skey  string // metadata.EncodeKey(fp, key): the store key and tree key
	tree  string // leaf tree id (the encoded full prefix)
	fp    metadata.FullPrefix
	key   []byte // aliases a copy of skey; handed out read-only
	clock dvv
	hash  uint64
}

// New returns an empty core for node self. env supplies the clock used to
// stamp writes and the random source.
func New(self string, cfg Config, env sim.Env) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Clock == nil || env.Rand == nil {
		return nil, errors.New("plumtree: core needs a clock and a random source")
	}
	cfg = cfg.withDefaults()
	c := &Core{
		self:   self,
		cfg:    cfg,
		clock:  env.Clock,
		rng:    env.Rand,
		objs:   map[string]*object{},
		tables: map[metadata.FullPrefix]*table{},
		trees:  newTreeSet(cfg.RootTree, cfg.LeafTree),
	}
	c.bc.init()
	c.SetMembers([]string{self})
	return c, nil
}

// Restore returns a core holding the objects persisted in r, with its
// Merkle trees rebuilt from them (trees are never persisted, as upstream).
// The core does not keep r.
func Restore(self string, cfg Config, env sim.Env, r store.Reader) (*Core, error) {
	c, err := New(self, cfg, env)
	if err != nil {
		return nil, err
	}
	it, err := r.NewIterator(Keyspace, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("plumtree: restore: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		fp, _, err := metadata.DecodeKey(it.Key())
		if err != nil {
			return nil, fmt.Errorf("plumtree: restore key %q: %w", it.Key(), err)
		}
		d, err := decodeDVV(it.Value())
		if err != nil {
			return nil, fmt.Errorf("plumtree: restore %s: %w", fp, err)
		}
		o := c.newObject(string(it.Key()))
		o.clock = d
		o.hash = hashObject(it.Value())
		c.trees.insert(o.tree, o.skey, o.hash)
		if w, ok := metadata.Resolve(d.values()); ok && w.Tomb {
			c.stats.Tombstones++
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("plumtree: restore: %w", err)
	}
	return c, nil
}

// Factory adapts Restore to the simulator.
func Factory(cfg Config) sim.Factory {
	return func(name string, r store.Reader, env sim.Env) (sim.Core, error) {
		return Restore(name, cfg, env, r)
	}
}

// Name returns the node name.
func (c *Core) Name() string { return c.self }

// Stats returns the counters.
func (c *Core) Stats() Stats {
	s := c.stats
	s.Objects = len(c.objs)
	s.Outstanding = c.bc.outstandingTotal()
	return s
}

// Ready implements sim.Core.
func (c *Core) Ready() sim.Ready {
	rd := c.out
	c.out = sim.Ready{}
	return rd
}

// Tick implements sim.Core.
func (c *Core) Tick() {
	c.ticks++
	if c.ticks%c.cfg.ticks(c.cfg.LazyTick) == 0 {
		c.lazyTick()
	}
	c.exchangeTimeout()
	if c.ticks%c.cfg.ticks(c.cfg.ExchangeTick) == 0 {
		c.exchangeTick()
	}
}

// newObject registers an empty object under skey, which must be a valid
// store key.
func (c *Core) newObject(skey string) *object {
	fp, key, _ := metadata.DecodeKey([]byte(skey))
	o := &object{skey: skey, fp: fp, key: key}
	start, _ := metadata.PrefixRange(fp)
	o.tree = string(start)
	c.objs[skey] = o
	t := c.tables[fp]
	if t == nil {
		t = &table{entries: map[string]*object{}}
		c.tables[fp] = t
	}
	t.add(o)
	return o
}

func (c *Core) lookup(fp metadata.FullPrefix, key []byte) *object {
	if t := c.tables[fp]; t != nil {
		return t.entries[string(key)]
	}
	return nil
}

func (c *Core) lookupOrCreate(fp metadata.FullPrefix, key []byte) *object {
	if o := c.lookup(fp, key); o != nil {
		return o
	}
	return c.newObject(string(metadata.EncodeKey(fp, key)))
}

// view is the LWW-resolved state of an object.
type view struct {
	winner metadata.Value
	exists bool
}

func viewOf(d dvv) view {
	w, ok := metadata.Resolve(d.values())
	return view{w, ok}
}

func (v view) live() bool { return v.exists && !v.winner.Tomb }

// setClock stores a new clock for o: persist, Merkle insert, event.
func (c *Core) setClock(o *object, d dvv, local bool) {
	old := viewOf(o.clock)
	o.clock = d
	enc := appendDVV(nil, d)
	o.hash = hashObject(enc)
	c.out.Persist = append(c.out.Persist, sim.Write{Keyspace: Keyspace, Key: []byte(o.skey), Value: enc})
	c.trees.insert(o.tree, o.skey, o.hash)
	cur := viewOf(d)
	if old.exists && old.winner.Tomb {
		c.stats.Tombstones--
	}
	if cur.exists && cur.winner.Tomb {
		c.stats.Tombstones++
	}
	c.emit(o, old, cur, local)
}

// emit queues the event for a change of o's resolved view, if it changed.
func (c *Core) emit(o *object, old, cur view, local bool) {
	ol, nl := old.live(), cur.live()
	if ol == nl && (!nl || bytes.Equal(old.winner.Data, cur.winner.Data)) {
		return
	}
	ev := metadata.Event{Deleted: !nl, FP: o.fp, Key: o.key, Local: local}
	if ol {
		ev.Old = old.winner.Data
	}
	if nl {
		ev.New = cur.winner.Data
	}
	c.out.Events = append(c.out.Events, ev)
}

func hashObject(enc []byte) uint64 { return nonZero(fnvBytes(fnvOffset, enc)) }

// merge folds a remote version of skey into the local one. It returns false
// when the remote version is stale (the local clock descends it).
func (c *Core) merge(skey string, remote dvv) bool {
	o := c.objs[skey]
	if o != nil && descends(o.clock.join(), remote.join()) {
		return false
	}
	if o == nil {
		o = c.newObject(skey)
	}
	c.setClock(o, syncDVV(o.clock, remote), false)
	return true
}

// writeLocal writes v as this node, having seen ctx, and broadcasts it.
func (c *Core) writeLocal(o *object, ctx vv, v metadata.Value, local bool) {
	c.setClock(o, update(o.clock, ctx, c.self, v), local)
	c.broadcastLocal(o)
}

// stamp returns the timestamp of a local write to o: the clock, raised
// above the current winner so the write wins locally (package metadata's
// rule), saturating instead of wrapping.
func (c *Core) stamp(o *object) int64 {
	ts := c.clock()
	if v := viewOf(o.clock); v.exists && ts <= v.winner.TS && v.winner.TS < math.MaxInt64 {
		ts = v.winner.TS + 1
	}
	return ts
}

// Put implements sim.LocalAPI. Writes are serialized by the caller, so two
// local writes of one key can never take the same dot (the race VerneMQ has
// between concurrent local writers).
func (c *Core) Put(fp metadata.FullPrefix, key, val []byte) error {
	o := c.lookupOrCreate(fp, key)
	data := append(make([]byte, 0, len(val)), val...)
	c.writeLocal(o, o.clock.join(), metadata.Value{TS: c.stamp(o), Node: c.self, Data: data}, true)
	return nil
}

// Delete implements sim.LocalAPI: a tombstone through the write path.
func (c *Core) Delete(fp metadata.FullPrefix, key []byte) error {
	o := c.lookupOrCreate(fp, key)
	c.writeLocal(o, o.clock.join(), metadata.Value{TS: c.stamp(o), Node: c.self, Tomb: true}, true)
	return nil
}

// Get implements sim.LocalAPI.
func (c *Core) Get(fp metadata.FullPrefix, key []byte) ([]byte, bool, error) {
	o := c.lookup(fp, key)
	if o == nil {
		return nil, false, nil
	}
	v := c.collapse(o)
	if !v.live() {
		return nil, false, nil
	}
	return v.winner.Data, true, nil
}

// collapse writes o's LWW winner back when it has siblings: a new dot of
// this node covering them all, carrying the winner unchanged, so the view
// (and no event) changes and the siblings vanish wherever it spreads.
func (c *Core) collapse(o *object) view {
	v := viewOf(o.clock)
	if len(o.clock.distinct()) > 1 {
		c.writeLocal(o, o.clock.join(), v.winner, false)
	}
	return v
}

// FoldChunk implements sim.LocalAPI.
func (c *Core) FoldChunk(fp metadata.FullPrefix, after []byte, limit int, fn func(key, val []byte)) ([]byte, bool, error) {
	t := c.tables[fp]
	if t == nil {
		return after, true, nil
	}
	t.ensureSorted()
	i := 0
	if after != nil {
		i = t.after(after)
	}
	last := after
	for n := 0; i < len(t.sorted) && n < limit; i, n = i+1, n+1 {
		o := t.sorted[i]
		if v := c.collapse(o); v.live() {
			fn(o.key, v.winner.Data)
		}
		last = o.key
	}
	return last, i >= len(t.sorted), nil
}

// GetRaw implements sim.LocalAPI.
func (c *Core) GetRaw(fp metadata.FullPrefix, key []byte) ([]metadata.Value, metadata.Context, error) {
	o := c.lookup(fp, key)
	if o == nil || len(o.clock) == 0 {
		return nil, nil, nil
	}
	return o.clock.distinct(), encodeContext(o.clock.join()), nil
}

// PutRaw implements sim.LocalAPI. The write takes a dot of this node
// whatever v.Node says; its events are local only when v.Node is this node.
func (c *Core) PutRaw(fp metadata.FullPrefix, key []byte, v metadata.Value, cc metadata.Context) error {
	ctx, err := decodeContext(cc)
	if err != nil {
		return fmt.Errorf("put raw %s: %w", fp, err)
	}
	if v.Tomb {
		v.Data = nil
	} else {
		v.Data = append(make([]byte, 0, len(v.Data)), v.Data...)
	}
	o := c.lookupOrCreate(fp, key)
	c.writeLocal(o, ctx, v, v.Node == c.self)
	return nil
}

// table keeps one full prefix's objects in key order for Fold, with the
// same pending-list scheme as metadata.Memory: inserts stay O(1) and the
// next fold sorts what was added.
type table struct {
	entries map[string]*object
	sorted  []*object
	pending []*object
}

func (t *table) add(o *object) {
	t.entries[string(o.key)] = o
	t.pending = append(t.pending, o)
}

func cmpObjects(a, b *object) int { return bytes.Compare(a.key, b.key) }

func (t *table) ensureSorted() {
	if len(t.pending) == 0 {
		return
	}
	slices.SortFunc(t.pending, cmpObjects)
	t.sorted = append(t.sorted, t.pending...)
	slices.SortStableFunc(t.sorted, cmpObjects)
	t.pending = t.pending[:0]
}

// after returns the index of the first key above key.
func (t *table) after(key []byte) int {
	i, found := slices.BinarySearchFunc(t.sorted, key, func(o *object, k []byte) int {
		return bytes.Compare(o.key, k)
	})
	if found {
		i++
	}
	return i
}
