package swc

import (
	"cmp"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// Initial sync (vmq_swc.init_sync, VerneMQ's init_sync_procedure): a group
// that holds nothing yet (a new or wiped node) starts its first exchange by
// streaming the peer's objects in key order, a batch per round, instead of
// asking for missing dots. A dot-driven pull would get the same objects, but
// the peer would find each through its dot-key map, dot by dot, and an
// object written by many replicas would be looked up once per dot; a scan in
// key order reads each object once, from the same sorted tables a fold uses.
//
// The stream alone cannot end the exchange: writes that reach the peer
// behind the cursor during the stream are missed, so the peer's clock from
// the last batch does not describe what the puller holds. So once the stream
// is done, the same exchange goes on as an ordinary dot-driven pull from the
// start (exchange.go). The objects streamed put their dots in the puller's
// clock, so that pull asks only for what the stream missed, and it ends the
// exchange as every pull does: by taking the peer's clock from a reply that
// found nothing more to send. Correctness therefore rests on the ordinary
// pull alone; the stream is only the cheaper way to move the bulk.

// initCursor is the position of a key-order stream: the last object sent.
type initCursor struct {
	fp  metadata.FullPrefix
	key []byte
}

// initReq is msgInitReq's body: the exchange and where to resume (nil: from
// the first key).
type initReq struct {
	ex    uint64
	after *initCursor
}

// initResp is msgInitResp's body: up to ExchangeBatchSize objects of the
// group in key order after the request's cursor, the cursor to resume from,
// and whether more remain.
type initResp struct {
	ex    uint64
	items []item
	next  initCursor
	more  bool
}

// empty reports whether g has seen no dot at all (its clock may have entries,
// at zero, for members it has heard of).
func (g *group) empty() bool {
	for _, e := range g.clock {
		if e.Max() != 0 {
			return false
		}
	}
	return true
}

// requestInit sends the next round of g's key-order stream.
func (c *Core) requestInit(g *group, after *initCursor) {
	ex := g.ex
	c.exSeq++
	ex.req = c.exSeq
	ex.deadline = c.ticks + c.cfg.ticks(c.cfg.CallTimeout)
	c.send(ex.peer, encodeInitReq(g.idx, c.self, initReq{ex: ex.req, after: after}))
}

// serveInit answers a key-order stream request from the sorted tables:
// full prefixes in order, keys in order within each, objects of group g
// only (other groups' objects are skipped; each group streams separately).
func (c *Core) serveInit(g *group, from string, q initReq) {
	resp := initResp{ex: q.ex}
	fps := make([]metadata.FullPrefix, 0, len(c.tables))
	for fp := range c.tables {
		fps = append(fps, fp)
	}
	slices.SortFunc(fps, compareFullPrefix)
	for _, fp := range fps {
		if q.after != nil && compareFullPrefix(fp, q.after.fp) < 0 {
			continue
		}
		t := c.tables[fp]
		t.ensureSorted()
		start := 0
		if q.after != nil && fp == q.after.fp {
			start = t.after(q.after.key)
		}
		for _, o := range t.sorted[start:] {
			if o.g != g || o.dead {
				continue
			}
			if len(resp.items) == c.cfg.ExchangeBatchSize {
				resp.more = true
				c.send(from, encodeInitResp(g.idx, c.self, resp))
				return
			}
			resp.items = append(resp.items, item{skey: o.skey, dcc: o.filled()})
			resp.next = initCursor{fp: fp, key: o.key}
		}
	}
	c.send(from, encodeInitResp(g.idx, c.self, resp))
}

// handleInitResp merges one batch of g's stream and asks for the next, or
// goes on with the ordinary pull once the stream is done.
func (c *Core) handleInitResp(g *group, from string, s initResp) {
	ex := g.ex
	if ex == nil || !ex.init || ex.req != s.ex || ex.peer != from {
		return // a duplicate, or the reply to an abandoned exchange
	}
	c.stats.InitObjects += uint64(len(s.items))
	for _, it := range s.items {
		if c.merge(g, it.skey, it.dcc) {
			ex.repaired++
			c.stats.Repaired++
		}
	}
	if s.more {
		next := s.next
		c.requestInit(g, &next)
		return
	}
	ex.init = false
	c.stats.InitSyncs++
	c.requestSync(g, nil)
}

func compareFullPrefix(a, b metadata.FullPrefix) int {
	return cmp.Or(cmp.Compare(a.Prefix, b.Prefix), cmp.Compare(a.Sub, b.Sub))
}

func appendInitCursor(b []byte, c *initCursor) []byte {
	if c == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, c.fp.Prefix)
	b = appendString(b, c.fp.Sub)
	return appendString(b, string(c.key))
}

func (r *reader) initCursor() *initCursor {
	if r.byte() == 0 {
		return nil
	}
	return &initCursor{fp: metadata.FullPrefix{Prefix: r.string(), Sub: r.string()}, key: []byte(r.string())}
}

func encodeInitReq(g int, actor ID, q initReq) []byte {
	b := appendHeader(nil, msgInitReq, g, actor)
	b = appendUvarint(b, q.ex)
	return appendInitCursor(b, q.after)
}

func encodeInitResp(g int, actor ID, s initResp) []byte {
	b := appendHeader(nil, msgInitResp, g, actor)
	b = appendUvarint(b, s.ex)
	more := byte(0)
	if s.more {
		more = 1
	}
	b = append(b, more)
	b = appendItems(b, s.items)
	return appendInitCursor(b, &s.next)
}

func decodeInitReq(r *reader) (initReq, error) {
	q := initReq{ex: r.uvarint(), after: r.initCursor()}
	return q, r.done()
}

func decodeInitResp(r *reader) (initResp, error) {
	s := initResp{ex: r.uvarint(), more: r.byte() == 1}
	s.items = r.items()
	if cur := r.initCursor(); cur != nil {
		s.next = *cur
	} else if r.err == nil {
		r.fail("missing cursor")
	}
	return s, r.done()
}
