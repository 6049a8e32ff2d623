package swc

import (
	"fmt"
	"math"
)

// Message types. Every message starts with its type, the group and the
// sender's replica id (so a receiver learns a member's current incarnation
// from any message).
const (
	// msgBroadcast: the objects of one write batch (fire and forget).
	msgBroadcast byte = iota + 1
	// msgSyncReq: an anti-entropy pull: the puller's node clock and a
	// resume cursor; the peer answers with msgSyncResp.
	msgSyncReq
	// msgSyncResp: the peer's node clock, up to ExchangeBatchSize missing
	// dots' objects, the cursor to resume from and whether more remain.
	msgSyncResp
	// msgInitReq: an empty group's key-order stream request (initsync.go).
	msgInitReq
	// msgInitResp: a batch of objects in key order and the cursor.
	msgInitResp
)

// header is the common prefix of every message.
type header struct {
	typ   byte
	group int
	actor ID
}

func appendHeader(b []byte, typ byte, g int, actor ID) []byte {
	b = append(b, typ)
	b = appendUvarint(b, uint64(g))
	return appendString(b, actor)
}

// item is one object on the wire, filled with the sender's clock.
type item struct {
	skey string
	dcc  DCC
}

func appendItems(b []byte, items []item) []byte {
	b = appendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = appendString(b, it.skey)
		b = appendDCC(b, it.dcc)
	}
	return b
}

func (r *reader) items() []item {
	n := r.count()
	out := make([]item, 0, n)
	for range n {
		out = append(out, item{skey: r.string(), dcc: r.dcc()})
	}
	return out
}

// syncReq is msgSyncReq's body.
type syncReq struct {
	ex     uint64
	clock  BVV
	cursor *Dot // nil: scan from the start
}

// syncResp is msgSyncResp's body.
type syncResp struct {
	ex     uint64
	full   bool // the request scanned from the start
	clock  BVV
	items  []item
	cursor Dot
	more   bool
}

func appendCursor(b []byte, d *Dot) []byte {
	if d == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, d.ID)
	return appendUvarint(b, d.N)
}

func (r *reader) cursor() *Dot {
	if r.byte() == 0 {
		return nil
	}
	return &Dot{ID: r.string(), N: r.uvarint()}
}

func encodeSyncReq(g int, actor ID, q syncReq) []byte {
	b := appendHeader(nil, msgSyncReq, g, actor)
	b = appendUvarint(b, q.ex)
	b = appendBVV(b, q.clock)
	return appendCursor(b, q.cursor)
}

func encodeSyncResp(g int, actor ID, s syncResp) []byte {
	b := appendHeader(nil, msgSyncResp, g, actor)
	b = appendUvarint(b, s.ex)
	flags := byte(0)
	if s.full {
		flags |= 1
	}
	if s.more {
		flags |= 2
	}
	b = append(b, flags)
	b = appendBVV(b, s.clock)
	b = appendItems(b, s.items)
	return appendCursor(b, &s.cursor)
}

func encodeBroadcast(g int, actor ID, items []item) []byte {
	return appendItems(appendHeader(nil, msgBroadcast, g, actor), items)
}

// decodeHeader reads the common prefix.
func decodeHeader(r *reader) header {
	h := header{typ: r.byte()}
	// A group index is below swc_groups (at most 100). Bound it here: a
	// uvarint above MaxInt64 would convert to a negative int, pass Step's
	// "group >= len(groups)" check and index c.groups out of range (a
	// panic on one forged byte string; the regression input is in
	// testdata/fuzz/FuzzStep).
	if g := r.uvarint(); g > math.MaxInt32 {
		r.fail("group")
	} else {
		h.group = int(g)
	}
	h.actor = r.string()
	return h
}

func decodeSyncReq(r *reader) (syncReq, error) {
	q := syncReq{ex: r.uvarint(), clock: r.bvv(), cursor: r.cursor()}
	return q, r.done()
}

func decodeSyncResp(r *reader) (syncResp, error) {
	s := syncResp{ex: r.uvarint()}
	flags := r.byte()
	s.full, s.more = flags&1 != 0, flags&2 != 0
	s.clock = r.bvv()
	s.items = r.items()
	if cur := r.cursor(); cur != nil {
		s.cursor = *cur
	} else if r.err == nil {
		r.fail("missing cursor")
	}
	return s, r.done()
}

// Step implements sim.Core.
func (c *Core) Step(from string, msg []byte) error {
	r := &reader{b: msg}
	h := decodeHeader(r)
	if r.err != nil {
		return fmt.Errorf("swc: message from %s: %w", from, r.err)
	}
	if h.group >= len(c.groups) {
		return fmt.Errorf("swc: message from %s for group %d of %d (swc_groups differs?)", from, h.group, len(c.groups))
	}
	g := c.groups[h.group]
	switch h.typ {
	case msgBroadcast:
		items := r.items()
		if err := r.done(); err != nil {
			return fmt.Errorf("swc: broadcast from %s: %w", from, err)
		}
		if !c.admit(from, h.actor) {
			return nil
		}
		c.stats.Broadcasts++
		for _, it := range items {
			if err := c.checkItem(it, g); err != nil {
				return fmt.Errorf("swc: broadcast from %s: %w", from, err)
			}
		}
		for _, it := range items {
			c.merge(g, it.skey, it.dcc)
		}
	case msgSyncReq:
		q, err := decodeSyncReq(r)
		if err != nil {
			return fmt.Errorf("swc: sync request from %s: %w", from, err)
		}
		if !c.admit(from, h.actor) {
			return nil
		}
		c.serveSync(g, from, q)
	case msgSyncResp:
		s, err := decodeSyncResp(r)
		if err != nil {
			return fmt.Errorf("swc: sync reply from %s: %w", from, err)
		}
		for _, it := range s.items {
			if err := c.checkItem(it, g); err != nil {
				return fmt.Errorf("swc: sync reply from %s: %w", from, err)
			}
		}
		if !c.admit(from, h.actor) {
			return nil
		}
		c.handleSyncResp(g, from, h.actor, s)
	case msgInitReq:
		q, err := decodeInitReq(r)
		if err != nil {
			return fmt.Errorf("swc: init sync request from %s: %w", from, err)
		}
		if !c.admit(from, h.actor) {
			return nil
		}
		c.serveInit(g, from, q)
	case msgInitResp:
		s, err := decodeInitResp(r)
		if err != nil {
			return fmt.Errorf("swc: init sync reply from %s: %w", from, err)
		}
		for _, it := range s.items {
			if err := c.checkItem(it, g); err != nil {
				return fmt.Errorf("swc: init sync reply from %s: %w", from, err)
			}
		}
		if !c.admit(from, h.actor) {
			return nil
		}
		c.handleInitResp(g, from, s)
	default:
		return fmt.Errorf("swc: message type %d from %s", h.typ, from)
	}
	return nil
}
