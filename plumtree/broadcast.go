package plumtree

import (
	"math"
	"slices"
)

// broadcaster is the epidemic broadcast tree state of plumtree_broadcast
// (Leitão et al.): per tree root, eager peers get each update pushed at
// once, lazy peers get an i-have announcement every lazy tick until they
// acknowledge it. Roots without a change of their own share the common
// sets computed from the member list.
//
// Sets are maps, and Go randomizes map iteration, so everything that sends
// iterates in sorted order: the core must stay deterministic.
type broadcaster struct {
	members     []string // sorted, self included
	commonEager set
	commonLazy  set
	eager, lazy map[string]set // by root, created on the root's first change
	// outstanding[peer][root+"\x00"+skey] is the announcement still owed to
	// a lazy peer. Keying by key rather than by message id lets a newer
	// version replace an older one (memberlist's Invalidates).
	outstanding map[string]map[string]*pendingIHave
}

type set map[string]struct{}

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

type pendingIHave struct{ announce }

func (b *broadcaster) init() {
	b.commonEager, b.commonLazy = set{}, set{}
	b.eager, b.lazy = map[string]set{}, map[string]set{}
	b.outstanding = map[string]map[string]*pendingIHave{}
}

func (b *broadcaster) eagerOf(root string) set {
	if s, ok := b.eager[root]; ok {
		return s
	}
	return b.commonEager
}

func (b *broadcaster) lazyOf(root string) set {
	if s, ok := b.lazy[root]; ok {
		return s
	}
	return b.commonLazy
}

// own gives root its own copies of the common sets before a change.
func (b *broadcaster) own(root string) {
	if _, ok := b.eager[root]; ok {
		return
	}
	e, l := set{}, set{}
	for p := range b.commonEager {
		e[p] = struct{}{}
	}
	for p := range b.commonLazy {
		l[p] = struct{}{}
	}
	b.eager[root], b.lazy[root] = e, l
}

func (b *broadcaster) isMember(p string) bool {
	_, ok := slices.BinarySearch(b.members, p)
	return ok
}

func (b *broadcaster) addEager(root, peer, self string) {
	if peer == self || !b.isMember(peer) {
		return
	}
	b.own(root)
	b.eager[root][peer] = struct{}{}
	delete(b.lazy[root], peer)
}

func (b *broadcaster) addLazy(root, peer, self string) {
	if peer == self || !b.isMember(peer) {
		return
	}
	b.own(root)
	b.lazy[root][peer] = struct{}{}
	delete(b.eager[root], peer)
}

// ack removes the announcement a answers, unless a newer version of the
// key replaced it since (the peer only said it has a's version).
func (b *broadcaster) ack(peer string, a announce) {
	q := b.outstanding[peer]
	id := a.root + "\x00" + a.skey
	if p := q[id]; p != nil && descends(a.vv, p.vv) {
		delete(q, id)
	}
}

func (b *broadcaster) outstandingTotal() int {
	n := 0
	for _, q := range b.outstanding {
		n += len(q)
	}
	return n
}

// setMembers applies a membership change: departed peers leave every set
// and their queues are dropped; when someone joined, the trees are rebuilt
// from scratch (plumtree_broadcast resets them too).
//
// Two departures from VerneMQ make a healed partition converge in one
// exchange tick instead of minutes. An exchange with a departed peer is
// abandoned: its replies cannot come, and waiting for exchange_timeout (60s)
// would block every other exchange meanwhile (one runs at a time). And a peer
// that (re)joins gets an exchange at once: what was broadcast while it was
// away was pushed to nobody there (it had left the trees), so anti-entropy is
// its only repair.
func (c *Core) SetMembers(members []string) {
	b := &c.bc
	next := slices.Clone(members)
	slices.Sort(next)
	next = slices.Compact(next)
	rebuild := false
	var joined []string
	for _, m := range next {
		if !b.isMember(m) {
			rebuild = true
			if m != c.self {
				joined = append(joined, m)
			}
		}
	}
	if x := c.ex.cur; x != nil {
		if _, ok := slices.BinarySearch(next, x.peer); !ok {
			c.ex.cur = nil
			c.stats.ExchangesTimedOut++
		}
	}
	for _, m := range b.members {
		if _, ok := slices.BinarySearch(next, m); !ok {
			delete(b.outstanding, m)
			delete(b.commonEager, m)
			delete(b.commonLazy, m)
			for _, s := range b.eager {
				delete(s, m)
			}
			for _, s := range b.lazy {
				delete(s, m)
			}
		}
	}
	b.members = next
	if rebuild {
		b.eager, b.lazy = map[string]set{}, map[string]set{}
		b.commonEager, b.commonLazy = c.initialPeers()
	}
	if len(joined) > 0 {
		c.StartExchange(joined[0])
	}
}

// initialPeers builds the common sets as plumtree_broadcast does: an N-ary
// tree over the sorted member list with wrap-around gives the eager peers,
// plus one random lazy peer.
func (c *Core) initialPeers() (eager, lazy set) {
	eager, lazy = set{}, set{}
	ms := c.bc.members
	n := len(ms)
	self, ok := slices.BinarySearch(ms, c.self)
	if !ok || n < 2 {
		return eager, lazy
	}
	var fanout int
	switch {
	case n == 2:
		fanout = 1
	case n <= 4:
		fanout = 1
	case n <= 9:
		fanout = 2
	default:
		fanout = int(math.Round(math.Log(float64(n)) + 1))
	}
	for j := 1; j <= fanout; j++ {
		if p := ms[(self*fanout+j)%n]; p != c.self {
			eager[p] = struct{}{}
		}
	}
	if n == 2 {
		return eager, lazy
	}
	var candidates []string
	for _, p := range ms {
		if _, e := eager[p]; !e && p != c.self {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) > 0 {
		lazy[candidates[c.rng.IntN(len(candidates))]] = struct{}{}
	}
	return eager, lazy
}

// broadcastLocal starts the broadcast of a local write: this node is the
// root, round 0.
func (c *Core) broadcastLocal(o *object) {
	c.push(o.skey, o.clock, 0, c.self, "")
}

// push sends the object eagerly and schedules lazy announcements on root's
// tree, skipping from (the peer it came from).
func (c *Core) push(skey string, d dvv, round uint64, root, from string) {
	var msg []byte
	for _, p := range c.bc.eagerOf(root).sorted() {
		if p == from || p == c.self {
			continue
		}
		if msg == nil {
			msg = appendString([]byte{msgBroadcast}, skey)
			msg = appendDVV(msg, d)
			msg = appendUvarint(msg, round)
			msg = appendString(msg, root)
		}
		c.send(p, msg)
	}
	a := announce{skey: skey, vv: d.join(), round: round, root: root}
	for _, p := range c.bc.lazyOf(root).sorted() {
		if p == from || p == c.self {
			continue
		}
		c.schedule(p, a)
	}
}

// schedule queues announcement a for lazy peer p, replacing an older
// version of the same key, within OutstandingLimit.
func (c *Core) schedule(p string, a announce) {
	q := c.bc.outstanding[p]
	if q == nil {
		q = map[string]*pendingIHave{}
		c.bc.outstanding[p] = q
	}
	id := a.root + "\x00" + a.skey
	if old := q[id]; old != nil {
		if !less(a.vv, old.vv) {
			old.announce = a
		}
		return
	}
	if len(q) >= c.cfg.OutstandingLimit {
		c.stats.OutstandingDropped++
		return
	}
	q[id] = &pendingIHave{a}
}

// lazyTick sends every outstanding announcement again, one i-have each.
func (c *Core) lazyTick() {
	for _, p := range c.bc.members {
		q := c.bc.outstanding[p]
		if p == c.self || len(q) == 0 {
			continue
		}
		ids := make([]string, 0, len(q))
		for id := range q {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			c.send(p, appendAnnounce(nil, msgIHave, q[id].announce))
		}
	}
}

func (c *Core) onBroadcast(from, skey string, d dvv, round uint64, root string) {
	c.stats.Broadcasts++
	if !c.merge(skey, d) {
		c.stats.Stale++
		c.bc.addLazy(root, from, c.self)
		c.send(from, appendString([]byte{msgPrune}, root))
		return
	}
	c.bc.addEager(root, from, c.self)
	c.push(skey, d, round+1, root, from)
}

func (c *Core) onIHave(from string, a announce) {
	c.stats.IHaves++
	if o := c.objs[a.skey]; o != nil && descends(o.clock.join(), a.vv) {
		c.send(from, appendAnnounce(nil, msgIgnoredIHave, a))
		return
	}
	// Graft at once: VerneMQ has no timer before grafting either.
	c.stats.Grafts++
	c.bc.addEager(a.root, from, c.self)
	c.send(from, appendAnnounce(nil, msgGraft, a))
}

func (c *Core) onGraft(from string, a announce) {
	o := c.objs[a.skey]
	switch {
	case o == nil:
		// Nothing to send; the peer's anti-entropy will sort it out.
	case equalVV(o.clock.join(), a.vv):
		c.bc.addEager(a.root, from, c.self)
		msg := appendString([]byte{msgBroadcast}, a.skey)
		msg = appendDVV(msg, o.clock)
		msg = appendUvarint(msg, a.round)
		msg = appendString(msg, a.root)
		c.send(from, msg)
	default:
		// The version asked for was superseded here: nothing to graft
		// (upstream answers {error, stale}). Acknowledge the announcement
		// unless a newer one replaced it, which the peer will graft next.
		c.bc.ack(from, a)
	}
}
