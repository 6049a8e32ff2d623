package swc

import (
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// queueBroadcast adds an object (filled, unstripped) to the group's write
// batch; a key written again in the same step is sent once, latest state.
func (c *Core) queueBroadcast(g *group, skey string, d DCC) {
	if c.cfg.DisableBroadcast {
		return
	}
	if g.bcast == nil {
		g.bcast = map[string]int{}
	}
	if i, ok := g.bcast[skey]; ok {
		g.bitems[i].dcc = d
		return
	}
	g.bcast[skey] = len(g.bitems)
	g.bitems = append(g.bitems, bcastItem{skey: skey, dcc: d})
}

// broadcast sends the group's write batch to every peer, fire and forget,
// in messages of at most BatchSize objects. A lost message only leaves a
// gap in the receiver's clock that anti-entropy closes.
func (c *Core) broadcast(g *group) {
	peers := c.peers()
	for start := 0; start < len(g.bitems) && len(peers) > 0; start += c.cfg.BatchSize {
		end := min(start+c.cfg.BatchSize, len(g.bitems))
		items := make([]item, 0, end-start)
		for _, bi := range g.bitems[start:end] {
			items = append(items, item(bi))
		}
		msg := encodeBroadcast(g.idx, c.self, items)
		for _, p := range peers {
			c.send(p, msg)
		}
	}
	g.bcast, g.bitems = nil, nil
}

// checkKey refuses a store key that does not decode or belongs to another
// group than the message's.
func (c *Core) checkKey(skey string, g *group) error {
	if _, _, err := metadata.DecodeKey([]byte(skey)); err != nil {
		return err
	}
	if c.groupOf(skey) != g {
		return fmt.Errorf("key %q is not in group %d", skey, g.idx)
	}
	return nil
}

// maxDotGap bounds how far above this node's clock base for its replica a
// remote value dot may lie. Merging a dot sets a bit for it in the node
// clock's bitmap, which then spans every counter from the base up to it: a
// forged counter near 2^64 would allocate without end (a panic in the
// allocator). Real gaps are as large as the writes of one replica in one
// group this node has not seen (superseded ones never arrive as values), so
// the bound is generous: 2^30 counters, a 128 MiB bitmap at worst.
const maxDotGap = 1 << 30

// checkItem checks an object from a peer before anything of it is merged:
// its key belongs to g, and its value dots are within maxDotGap.
func (c *Core) checkItem(it item, g *group) error {
	if err := c.checkKey(it.skey, g); err != nil {
		return err
	}
	for _, dv := range it.dcc.Vals {
		if base := g.clock[dv.Dot.ID].Base; dv.Dot.N > base && dv.Dot.N-base > maxDotGap {
			return fmt.Errorf("key %q: dot %s:%d lies %d counters above this node's clock (limit %d)", it.skey, dv.Dot.ID, dv.Dot.N, dv.Dot.N-base, maxDotGap)
		}
	}
	return nil
}

// merge folds a remote version of skey (filled with the sender's clock)
// into the local one: sync with the filled local object, record the remote
// value dots in the node clock, and strip-and-save when the object changed.
// It reports whether it did.
func (c *Core) merge(g *group, skey string, remote DCC) bool {
	o, existed := c.objs[skey]
	if !existed {
		o = c.object(skey)
	}
	local := o.filled()
	s := Sync(local, remote)
	for _, dv := range remote.Vals {
		if !g.clock.Contains(dv.Dot) {
			g.clock.Add(dv.Dot)
			g.dirty = true
		}
	}
	if len(s.Vals) == 0 && !existed {
		c.drop(o)
		return false
	}
	if sameDots(s.Vals, local.Vals) {
		st := s.Clone()
		st.Strip(g.clock)
		cur := o.dcc.Clone()
		cur.Strip(g.clock)
		if sameCtx(st.Ctx, cur.Ctx) {
			return false
		}
	}
	c.save(o, s, false)
	return true
}
