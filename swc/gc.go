package swc

// collect is garbage collection (§3.5) for one group: deletes become real.
//
// A deleted key keeps its ⊥ value(s) in its object until this node can
// prove two things for every ⊥ dot d: every member has seen d, and every
// write concurrent with d has reached this node. Both come from the
// watermark columns, which are only raised from a member's clock as carried
// by the final reply of an exchange this node pulled from that member: a
// column that covers d shows the member had seen d then, and the exchange
// brought every object that member's clock covered, so every write the
// member made before it saw d — every write of it concurrent with d — is
// merged here. (VerneMQ also raises columns from peers' watermarks; that
// proves the first point only, which is enough for SWC's "a delete removes
// what it has seen" but not for the last-writer-wins contract, where a
// concurrent write with a lower timestamp must still lose to the ⊥.)
//
// Then the object record, its ⊥ and its dot-key entries are deleted in
// this step's batch: no member can send the key's old versions again (they
// are covered by its clock), and a node that joins later never learns the
// key existed. A member that is down or cut off (missing from SetMembers,
// as the membership layer reports a failed member) holds collection back
// until it is pulled from again — no longer; only one that left
// (MemberLeft) stops counting.
//
// A deleted key whose ⊥ won against live siblings is first collapsed into
// a single ⊥ (the write-back a Get would do), so it can be collected in a
// later round.
func (c *Core) collect(g *group) {
	if len(g.gc) == 0 {
		return
	}
	// Every member that has not left observes, reachable or not: one that is
	// down or cut off still holds what it held, and may have written.
	observers := make([]ID, 0, len(c.actors))
	for name, a := range c.actors {
		if name == c.name {
			continue
		}
		if a == "" {
			return // a member never heard from: it may hold anything
		}
		observers = append(observers, a)
	}
	for _, skey := range sortedKeys(g.gc) {
		o := c.objs[skey]
		if o == nil {
			delete(g.gc, skey)
			continue
		}
		if !o.dcc.allTombstones() {
			c.collapse(o)
			continue
		}
		if c.stable(g, o, observers) {
			c.remove(o)
			c.stats.Collected++
		}
	}
}

// stable reports whether every ⊥ dot of o is covered by every observer's
// watermark column.
func (c *Core) stable(g *group, o *object, observers []ID) bool {
	for _, dv := range o.dcc.Vals {
		for _, obs := range observers {
			if g.wm.Get(obs, dv.Dot.ID) < dv.Dot.N {
				return false
			}
		}
	}
	return true
}

// remove deletes a collected object: record, dot-key entries, gc mark.
func (c *Core) remove(o *object) {
	g := o.g
	for _, dv := range o.dcc.Vals {
		if g.dkm.Remove(dv.Dot) {
			c.persistDelete(DKMKeyspace, dkmKey(g.idx, dv.Dot))
		}
	}
	c.persistDelete(ObjectKeyspace, []byte(o.skey))
	delete(g.gc, o.skey)
	c.drop(o)
}
