package swc

import "slices"

// exchange is a group's running anti-entropy pull (§3.4). It is a pull in
// rounds: the puller sends its node clock; the peer computes the dots it
// has and the puller lacks, and answers with its own clock and the objects
// of up to ExchangeBatchSize of them (found through its dot-key map; dots
// no longer indexed were superseded or collected and are skipped), plus a
// cursor when more remain. The puller merges each batch and asks again from
// the cursor. The exchange ends with a round that scanned from the start
// and found nothing more: at that instant the puller holds every object the
// peer's clock (from that same reply) covers, so it may take the peer's own
// clock entry whole and record the clock in the watermark. Because clock and
// objects come from one reply, no write that reached the peer between two
// messages can slip between them (VerneMQ fetches the clock first and the
// objects later, a window garbage collection here must not have).
//
// Every reply is awaited at most CallTimeout and the whole exchange at most
// SyncTimeout; a dead or slow peer thus only delays this group's next pull.
type exchange struct {
	req      uint64 // id of the outstanding request; older replies are ignored
	peer     string
	deadline uint64 // tick by which the outstanding reply must come
	expire   uint64 // tick by which the exchange must end
	repaired int
	init     bool // streaming the peer's objects in key order first (initsync.go)
}

// scheduleSync sets the group's next pull: SyncInterval plus a random part
// of SyncLeeway, so groups and nodes do not pull in lockstep.
func (c *Core) scheduleSync(g *group) {
	next := c.ticks + c.cfg.ticks(c.cfg.SyncInterval)
	if c.cfg.SyncLeeway > 0 {
		next += c.rng.Uint64N(c.cfg.ticks(c.cfg.SyncLeeway) + 1)
	}
	g.nextSync = next
}

// exchangeTick abandons a timed-out exchange and starts a due one with a
// random peer.
func (c *Core) exchangeTick(g *group) {
	if ex := g.ex; ex != nil && (c.ticks >= ex.deadline || c.ticks >= ex.expire) {
		g.ex = nil
		c.stats.ExchangesTimedOut++
	}
	if g.ex != nil || c.ticks < g.nextSync {
		return
	}
	c.scheduleSync(g)
	peers := c.peers()
	if len(peers) == 0 {
		return
	}
	g.ex = &exchange{peer: peers[c.rng.IntN(len(peers))], expire: c.ticks + c.cfg.ticks(c.cfg.SyncTimeout)}
	c.stats.ExchangesStarted++
	if c.cfg.InitSync && g.fresh {
		g.ex.init = true
		c.requestInit(g, nil)
		return
	}
	c.requestSync(g, nil)
}

// requestSync sends the next round of g's exchange.
func (c *Core) requestSync(g *group, cursor *Dot) {
	ex := g.ex
	c.exSeq++
	ex.req = c.exSeq
	ex.deadline = c.ticks + c.cfg.ticks(c.cfg.CallTimeout)
	c.send(ex.peer, encodeSyncReq(g.idx, c.self, syncReq{ex: ex.req, clock: g.clock, cursor: cursor}))
}

// serveSync answers a pull: the dots this node has seen and the puller has
// not, after the cursor, in (id, counter) order, mapped to their objects.
func (c *Core) serveSync(g *group, from string, q syncReq) {
	resp := syncResp{ex: q.ex, full: q.cursor == nil, clock: g.clock}
	seen := map[string]bool{}
	dots := 0
	for _, id := range g.clock.IDs() {
		if resp.more {
			break
		}
		after := q.clock[id].Base
		if q.cursor != nil {
			if id < q.cursor.ID {
				continue
			}
			if id == q.cursor.ID {
				after = max(after, q.cursor.N)
			}
		}
		theirs := q.clock[id]
		g.clock[id].each(after, func(n uint64) bool {
			d := Dot{ID: id, N: n}
			if theirs.Contains(n) {
				return true
			}
			skey, ok := g.dkm.Key(d)
			if !ok {
				return true
			}
			if !seen[skey] {
				seen[skey] = true
				resp.items = append(resp.items, item{skey: skey, dcc: c.objs[skey].filled()})
			}
			if dots++; dots >= c.cfg.ExchangeBatchSize {
				resp.more, resp.cursor = true, d
				return false
			}
			return true
		})
	}
	c.send(from, encodeSyncResp(g.idx, c.self, resp))
}

// handleSyncResp merges one reply of g's exchange and asks for the next
// round or finishes.
func (c *Core) handleSyncResp(g *group, from string, actor ID, s syncResp) {
	ex := g.ex
	if ex == nil || ex.req != s.ex || ex.peer != from {
		return // a duplicate, or the reply to an abandoned exchange
	}
	for _, it := range s.items {
		if c.merge(g, it.skey, it.dcc) {
			ex.repaired++
			c.stats.Repaired++
		}
	}
	switch {
	case s.more:
		cur := s.cursor
		c.requestSync(g, &cur)
	case !s.full:
		c.requestSync(g, nil) // the closing round scans from the start
	default:
		c.finishSync(g, actor, s.clock)
	}
}

// finishSync ends an exchange whose last reply carried clock rc: take the
// peer's own entry whole (gap-free, and every object it covers is here), and
// the entries of replicas this node has never heard of (departed nodes'
// history; every object they cover is here too); record both clocks in the
// watermark; then collect.
func (c *Core) finishSync(g *group, peer ID, rc BVV) {
	g.clock.MergeEntry(peer, rc[peer])
	for _, id := range rc.IDs() {
		if _, ok := g.clock[id]; !ok {
			g.clock.MergeEntry(id, rc[id])
		}
	}
	g.wm.UpdatePeer(c.self, g.clock)
	g.wm.UpdatePeer(peer, rc)
	g.dirty = true
	g.ex = nil
	g.fresh = false
	c.stats.ExchangesCompleted++
	c.collect(g)
}

// sortedKeys returns a set's keys in order (deterministic iteration).
func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
