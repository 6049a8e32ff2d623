package swc

import (
	"bytes"
	"fmt"
	"math"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func (c *Core) lookup(fp metadata.FullPrefix, key []byte) *object {
	if t := c.tables[fp]; t != nil {
		return t.entries[string(key)]
	}
	return nil
}

// object returns skey's object, creating an empty one (not yet stored).
func (c *Core) object(skey string) *object {
	if o := c.objs[skey]; o != nil {
		return o
	}
	fp, key, _ := metadata.DecodeKey([]byte(skey))
	o := &object{skey: skey, fp: fp, key: key, g: c.groupOf(skey)}
	c.objs[skey] = o
	t := c.tables[fp]
	if t == nil {
		t = &table{entries: map[string]*object{}}
		c.tables[fp] = t
	}
	t.add(o)
	return o
}

// drop removes o from memory (its records are deleted by the caller).
func (c *Core) drop(o *object) {
	delete(c.objs, o.skey)
	o.dead = true // before remove, which may sweep dead objects at once
	if t := c.tables[o.fp]; t != nil {
		t.remove(o)
	}
}

// filled returns o's object with the node clock's bases in its context.
func (o *object) filled() DCC {
	d := o.dcc.Clone()
	d.Fill(o.g.clock)
	return d
}

// view is the LWW-resolved state of an object.
type view struct {
	winner metadata.Value
	exists bool
}

func viewOf(d DCC) view {
	w, ok := metadata.Resolve(d.Values())
	return view{w, ok}
}

func (v view) live() bool { return v.exists && !v.winner.Tomb }

// save stores the new state d (filled) of o: the dot-key entries of the
// dots it gained and lost, the stripped object (or the deletion of its
// record when no value is left), the gc mark, and the event if the view
// changed. Everything goes into the current Ready's batch.
func (c *Core) save(o *object, d DCC, local bool) {
	g := o.g
	old := viewOf(o.dcc)
	d.dedupe()
	for _, dv := range o.dcc.Vals {
		if !d.has(dv.Dot) && g.dkm.Remove(dv.Dot) {
			c.persistDelete(DKMKeyspace, dkmKey(g.idx, dv.Dot))
		}
	}
	for _, dv := range d.Vals {
		if g.dkm.Insert(dv.Dot, o.skey) {
			c.persist(DKMKeyspace, dkmKey(g.idx, dv.Dot), []byte(o.skey))
		}
	}
	d.Strip(g.clock)
	o.dcc = d
	if len(d.Vals) == 0 {
		// Every value was superseded by a context without values: nothing
		// is left to read or to serve.
		c.persistDelete(ObjectKeyspace, []byte(o.skey))
		delete(g.gc, o.skey)
		c.drop(o)
	} else {
		c.persist(ObjectKeyspace, []byte(o.skey), appendDCC(nil, d))
		if viewOf(d).live() {
			delete(g.gc, o.skey)
		} else {
			g.gc[o.skey] = struct{}{}
		}
	}
	c.emit(o, old, viewOf(d), local)
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

// writeLocal is the local write path (§3.3): fill the object, discard what
// ctx covers (the object's own context when ctx is nil and own is set, so
// the write supersedes everything this node has seen), take the next dot of
// this node, add v under it, strip-and-save, and queue the object for the
// group's broadcast.
func (c *Core) writeLocal(o *object, ctx VV, own bool, v metadata.Value, local bool) {
	g := o.g
	d := o.filled()
	if own {
		ctx = d.Ctx.Clone()
	}
	d.Discard(ctx)
	dot := g.clock.Event(c.self)
	g.dirty = true
	d.Add(dot, v)
	c.queueBroadcast(g, o.skey, d.Clone())
	c.save(o, d, local)
}

// stamp returns the timestamp of a local write to o: the clock, raised
// above the current winner so the write wins locally (package metadata's
// rule), saturating instead of wrapping.
func (c *Core) stamp(o *object) int64 {
	ts := c.clock()
	if v := viewOf(o.dcc); v.exists && ts <= v.winner.TS && v.winner.TS < math.MaxInt64 {
		ts = v.winner.TS + 1
	}
	return ts
}

// Put implements sim.LocalAPI.
func (c *Core) Put(fp metadata.FullPrefix, key, val []byte) error {
	o := c.object(string(metadata.EncodeKey(fp, key)))
	data := append(make([]byte, 0, len(val)), val...)
	c.writeLocal(o, nil, true, metadata.Value{TS: c.stamp(o), Node: c.name, Data: data}, true)
	return nil
}

// Delete implements sim.LocalAPI: a ⊥ through the write path.
func (c *Core) Delete(fp metadata.FullPrefix, key []byte) error {
	o := c.object(string(metadata.EncodeKey(fp, key)))
	c.writeLocal(o, nil, true, metadata.Value{TS: c.stamp(o), Node: c.name, Tomb: true}, true)
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
	v := viewOf(o.dcc)
	if len(o.dcc.Vals) > 1 && len(o.dcc.Distinct()) > 1 {
		c.writeLocal(o, nil, true, v.winner, false)
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
	sorted := t.sorted // collapse may add objects (never to this slice)
	for n := 0; i < len(sorted) && n < limit; i, n = i+1, n+1 {
		o := sorted[i]
		if !o.dead {
			if v := c.collapse(o); v.live() {
				fn(o.key, v.winner.Data)
			}
		}
		last = o.key
	}
	return last, i >= len(sorted), nil
}

// GetRaw implements sim.LocalAPI: the siblings, ⊥ included, and the filled
// context (which covers them).
func (c *Core) GetRaw(fp metadata.FullPrefix, key []byte) ([]metadata.Value, metadata.Context, error) {
	o := c.lookup(fp, key)
	if o == nil || len(o.dcc.Vals) == 0 {
		return nil, nil, nil
	}
	return o.dcc.Distinct(), encodeContext(o.filled().Ctx), nil
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
	o := c.object(string(metadata.EncodeKey(fp, key)))
	c.writeLocal(o, ctx, false, v, v.Node == c.name)
	return nil
}

// table keeps one full prefix's objects in key order for Fold: inserts go
// to a pending list sorted in at the next fold; removals are marked and
// swept at the next fold, or as soon as they outnumber the live objects.
type table struct {
	entries map[string]*object
	sorted  []*object
	pending []*object
	removed int
}

func (t *table) add(o *object) {
	t.entries[string(o.key)] = o
	t.pending = append(t.pending, o)
}

// sweepAt is the fewest removed objects remove sweeps: below it, waiting for a fold costs
// little memory.
const sweepAt = 1024

func (t *table) remove(o *object) {
	if t.entries[string(o.key)] == o {
		delete(t.entries, string(o.key))
		t.removed++
		// The broker folds a prefix only at startup, so without this every object ever
		// added (a subscriber per client id under churn) stayed in sorted or pending: the
		// 1M churn simulation grew past 6 GB. Sweeping once the removed outnumber the live
		// costs amortized O(1) per removal.
		if t.removed >= sweepAt && t.removed > len(t.entries) {
			t.sweep()
		}
	}
}

// sweep drops the dead objects from sorted and pending into new slices: a fold in progress
// (FoldChunk's loop, whose collapse may drop an object, or a chunked fold resuming by key)
// keeps reading the old ones, where dead objects are skipped.
func (t *table) sweep() {
	keep := func(s []*object) []*object {
		out := make([]*object, 0, len(t.entries))
		for _, o := range s {
			if !o.dead {
				out = append(out, o)
			}
		}
		return out
	}
	t.sorted, t.pending = keep(t.sorted), keep(t.pending)
	t.removed = 0
}

func cmpObjects(a, b *object) int { return bytes.Compare(a.key, b.key) }

func (t *table) ensureSorted() {
	if t.removed > 0 {
		dead := func(o *object) bool { return o.dead }
		t.sorted = slices.DeleteFunc(t.sorted, dead)
		t.pending = slices.DeleteFunc(t.pending, dead)
		t.removed = 0
	}
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
