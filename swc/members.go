package swc

import (
	"slices"
	"strconv"
	"strings"
)

// SetMembers implements sim.Core (§3.6). A member that left is forgotten:
// its watermark columns go (so it no longer holds collection back) and the
// deletes only it wrote are pruned from disk at once. Replica ids of new
// members are learned from their first message; until then collection
// waits, as it must for a member whose clock is unknown.
func (c *Core) SetMembers(members []string) {
	next := slices.Clone(members)
	if !slices.Contains(next, c.name) {
		next = append(next, c.name)
	}
	slices.Sort(next)
	next = slices.Compact(next)
	c.members = next
	names := make([]string, 0, len(c.actors))
	for name := range c.actors {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name != c.name && !c.isMember(name) {
			old := c.actors[name]
			delete(c.actors, name)
			c.actorsDirty = true
			c.depart(old)
		}
	}
}

// admit checks the sender of a message: it must be a member, and the
// replica id it writes under must be its current incarnation. A newer id
// for a known name is a node that lost its data and came back: its old id
// departs.
func (c *Core) admit(from string, actor ID) bool {
	if from == c.name || !c.isMember(from) || !strings.HasPrefix(actor, from+"#") {
		c.stats.Ignored++
		return false
	}
	known, ok := c.actors[from]
	switch {
	case !ok:
		c.actors[from] = actor
		c.actorsDirty = true
	case known == actor:
	case newerActor(actor, known):
		c.actors[from] = actor
		c.actorsDirty = true
		c.depart(known)
	default:
		c.stats.Ignored++ // a late message of a previous incarnation
		return false
	}
	return true
}

// newerActor reports whether replica id a was made after b (same node):
// by the boot timestamp in the id, then the bytes.
func newerActor(a, b ID) bool {
	ta, tb := actorTime(a), actorTime(b)
	if ta != tb {
		return ta > tb
	}
	return a > b
}

func actorTime(a ID) uint64 {
	i := strings.LastIndexByte(a, '#')
	rest := a[i+1:]
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		rest = rest[:j]
	}
	t, _ := strconv.ParseUint(rest, 16, 64)
	return t
}

// depart forgets a replica id that will never write again: its watermark
// columns, and the deletes whose every ⊥ it wrote (VerneMQ's
// enforce_prune_for_peer, here written to disk). Its entries stay in the
// node clocks: its dots were real and may still reach other members.
func (c *Core) depart(old ID) {
	for _, g := range c.groups {
		if g.wm.RemoveObserver(old) {
			g.dirty = true
		}
		for _, skey := range sortedKeys(g.gc) {
			o := c.objs[skey]
			if o == nil || !o.dcc.allTombstones() {
				continue
			}
			only := true
			for _, dv := range o.dcc.Vals {
				only = only && dv.Dot.ID == old
			}
			if only {
				c.remove(o)
				c.stats.Pruned++
			}
		}
	}
}
