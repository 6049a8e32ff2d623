package swc

import (
	"slices"
	"strconv"
	"strings"
)

// SetMembers implements sim.Core (§3.6) with the members this node can
// reach (cluster.Transport.Members): exchanges and broadcasts go to them.
// A member missing from the list is not forgotten: the membership layer
// drops a member that crashed, is paused or is cut off by a partition just
// as it drops one that left, and such a member comes back with its data —
// the writes it made meanwhile, and without the deletes made here. So it
// keeps its replica id and its watermark column, and holds garbage
// collection back until it is pulled from again. Only MemberLeft (a member
// that left for good) or a new incarnation of a name (admit) forgets a
// replica id. A member whose id is not known yet is recorded without one,
// and collection waits until it is heard from, as it must for a member
// whose clock is unknown.
func (c *Core) SetMembers(members []string) {
	next := slices.Clone(members)
	if !slices.Contains(next, c.name) {
		next = append(next, c.name)
	}
	slices.Sort(next)
	next = slices.Compact(next)
	c.members = next
	for _, m := range next {
		if _, ok := c.actors[m]; !ok {
			c.actors[m] = "" // not heard from yet
			c.actorsDirty = true
		}
	}
}

// MemberLeft implements sim.Leaver: name left the cluster for good (a
// graceful leave, or a failed member the operator removed). Its watermark
// columns go, so it no longer holds collection back, and the deletes only
// it wrote are pruned from disk at once. A name that is a reachable member
// again (the event came late) is kept.
func (c *Core) MemberLeft(name string) {
	if name == c.name || c.isMember(name) {
		return
	}
	old, ok := c.actors[name]
	if !ok {
		return
	}
	delete(c.actors, name)
	c.actorsDirty = true
	if old != "" {
		c.depart(old)
	}
}

// admit checks the sender of a message: it must be a member (reachable, or
// known and not departed: a member this node believes down may be back
// before the membership layer says so), and the replica id it writes under
// must be its current incarnation. A newer id for a known name is a node
// that lost its data and came back: its old id departs.
func (c *Core) admit(from string, actor ID) bool {
	known, ok := c.actors[from]
	if from == c.name || (!ok && !c.isMember(from)) || !strings.HasPrefix(actor, from+"#") {
		c.stats.Ignored++
		return false
	}
	switch {
	case !ok || known == "":
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
