package swc

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// Restore returns the core persisted in r, or a new one (a new replica id)
// when r holds no SWC state. Clocks, watermarks, members' replica ids,
// objects and dot-key maps are all read back; the gc marks are rebuilt from
// the objects. The core does not keep r.
func Restore(name string, cfg Config, env sim.Env, r store.Reader) (*Core, error) {
	c, err := New(name, cfg, env)
	if err != nil {
		return nil, err
	}
	actor, err := r.Get(MetaKeyspace, []byte(metaActor))
	if errors.Is(err, store.ErrNotFound) {
		return c, c.restoreObjects(r) // a first boot must find no objects
	}
	if err != nil {
		return nil, fmt.Errorf("swc: restore %s: %w", name, err)
	}
	c.self, c.fresh = string(actor), false
	c.actors[name] = c.self
	if b, err := r.Get(MetaKeyspace, []byte(metaGroups)); err != nil {
		return nil, fmt.Errorf("swc: restore %s: group count: %w", name, err)
	} else if rd := (reader{b: b}); rd.uvarint() != uint64(len(c.groups)) || rd.done() != nil {
		return nil, fmt.Errorf("swc: restore %s: the data was written with another swc_groups than %d", name, len(c.groups))
	}
	if b, err := r.Get(MetaKeyspace, []byte(metaActors)); err == nil {
		actors, err := decodeActors(b)
		if err != nil {
			return nil, fmt.Errorf("swc: restore %s: %w", name, err)
		}
		for n, a := range actors {
			if n != name {
				c.actors[n] = a
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("swc: restore %s: %w", name, err)
	}
	for _, g := range c.groups {
		if b, err := r.Get(MetaKeyspace, []byte(clockKey(g.idx))); err == nil {
			if g.clock, err = decodeBVV(b); err != nil {
				return nil, fmt.Errorf("swc: restore %s: clock of group %d: %w", name, g.idx, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("swc: restore %s: %w", name, err)
		}
		if b, err := r.Get(MetaKeyspace, []byte(wmKey(g.idx))); err == nil {
			if g.wm, err = decodeWatermark(b); err != nil {
				return nil, fmt.Errorf("swc: restore %s: watermark of group %d: %w", name, g.idx, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("swc: restore %s: %w", name, err)
		}
	}
	if err := c.restoreObjects(r); err != nil {
		return nil, err
	}
	for _, g := range c.groups {
		// A group restored with history has nothing to stream in; an empty one (a node
		// restarted before its first exchange finished) still has.
		g.fresh = g.empty()
	}
	return c, c.restoreDKM(r)
}

func (c *Core) restoreObjects(r store.Reader) error {
	it, err := r.NewIterator(ObjectKeyspace, nil, nil)
	if err != nil {
		return fmt.Errorf("swc: restore objects: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if c.fresh {
			return fmt.Errorf("swc: restore %s: objects stored without a replica id", c.name)
		}
		skey := string(it.Key())
		if err := c.checkKey(skey, c.groupOf(skey)); err != nil {
			return fmt.Errorf("swc: restore object %q: %w", skey, err)
		}
		d, err := decodeDCC(it.Value())
		if err != nil {
			return fmt.Errorf("swc: restore object %q: %w", skey, err)
		}
		o := c.object(skey)
		o.dcc = d
		if !viewOf(d).live() {
			o.g.gc[skey] = struct{}{}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("swc: restore objects: %w", err)
	}
	return nil
}

func (c *Core) restoreDKM(r store.Reader) error {
	it, err := r.NewIterator(DKMKeyspace, nil, nil)
	if err != nil {
		return fmt.Errorf("swc: restore dot-key map: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		gi, d, err := parseDKMKey(it.Key())
		if err != nil {
			return err
		}
		if gi >= len(c.groups) {
			return fmt.Errorf("swc: restore dot-key map: group %d of %d", gi, len(c.groups))
		}
		c.groups[gi].dkm.Insert(d, string(it.Value()))
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("swc: restore dot-key map: %w", err)
	}
	return nil
}

func encodeActors(m map[string]ID) []byte {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	b := appendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		b = appendString(b, n)
		b = appendString(b, m[n])
	}
	return b
}

func decodeActors(b []byte) (map[string]ID, error) {
	r := reader{b: b}
	n := r.count()
	m := make(map[string]ID, n)
	for range n {
		name := r.string()
		m[name] = r.string()
	}
	return m, r.done()
}
