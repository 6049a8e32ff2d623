package plumtree

import (
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

// Message types: the first byte of every message. Part of the wire
// protocol: only append.
const (
	msgBroadcast    byte = 1  // skey, object, round, root
	msgPrune        byte = 2  // root
	msgIHave        byte = 3  // skey, vv, round, root
	msgIgnoredIHave byte = 4  // skey, vv, round, root
	msgGraft        byte = 5  // skey, vv, round, root
	msgGetBuckets   byte = 6  // xid, tree, level, buckets
	msgBuckets      byte = 7  // xid, tree, level, (bucket, children)*
	msgGetSegments  byte = 8  // xid, tree, segments
	msgSegments     byte = 9  // xid, tree, (segment, (key, hash)*)*
	msgMerge        byte = 10 // (skey, object)*
	msgPull         byte = 11 // skey*
	msgPullPrefix   byte = 12 // tree id of a full prefix
)

// IsIHave reports whether msg is an i-have announcement: the one message a
// driver may drop under overload (plumtree.drop_i_have_threshold), since
// the sender repeats it every lazy tick until acknowledged.
func IsIHave(msg []byte) bool { return len(msg) > 0 && msg[0] == msgIHave }

// announce is the body of IHave, IgnoredIHave and Graft: a message id
// (store key and version vector) and the tree it travels on.
type announce struct {
	skey  string
	vv    vv
	round uint64
	root  string
}

func appendAnnounce(b []byte, typ byte, a announce) []byte {
	b = append(b, typ)
	b = appendString(b, a.skey)
	b = appendVV(b, a.vv)
	b = appendUvarint(b, a.round)
	return appendString(b, a.root)
}

func (r *reader) announce() announce {
	return announce{skey: r.string(), vv: r.vv(), round: r.uvarint(), root: r.string()}
}

// send queues a message to peer.
func (c *Core) send(to string, msg []byte) {
	c.out.Send = append(c.out.Send, sim.Envelope{To: to, Data: msg})
}

// checkKey rejects a store key that does not decode: objects are indexed by
// the full prefix decoded from it.
func checkKey(r *reader, skey string) {
	if r.err == nil {
		if _, _, err := metadata.DecodeKey([]byte(skey)); err != nil {
			r.fail("bad store key")
		}
	}
}

// Step implements sim.Core.
func (c *Core) Step(from string, msg []byte) error {
	if len(msg) == 0 {
		return fmt.Errorf("plumtree: empty message from %s", from)
	}
	r := reader{b: msg[1:]}
	var handle func()
	switch msg[0] {
	case msgBroadcast:
		skey, d, round, root := r.string(), r.dvv(), r.uvarint(), r.string()
		checkKey(&r, skey)
		handle = func() { c.onBroadcast(from, skey, d, round, root) }
	case msgPrune:
		root := r.string()
		handle = func() { c.bc.addLazy(root, from, c.self) }
	case msgIHave:
		a := r.announce()
		handle = func() { c.onIHave(from, a) }
	case msgIgnoredIHave:
		a := r.announce()
		handle = func() { c.bc.ack(from, a) }
	case msgGraft:
		a := r.announce()
		handle = func() { c.onGraft(from, a) }
	case msgGetBuckets:
		xid, tree, level, bs := r.uvarint(), r.string(), r.uvarint(), r.uint32s()
		handle = func() { c.onGetBuckets(from, xid, tree, int(level), bs) }
	case msgBuckets:
		xid, tree, level, bs := r.uvarint(), r.string(), r.uvarint(), r.buckets()
		handle = func() { c.onBuckets(from, xid, tree, int(level), bs) }
	case msgGetSegments:
		xid, tree, ss := r.uvarint(), r.string(), r.uint32s()
		handle = func() { c.onGetSegments(from, xid, tree, ss) }
	case msgSegments:
		xid, tree, ss := r.uvarint(), r.string(), r.segments()
		handle = func() { c.onSegments(from, xid, tree, ss) }
	case msgMerge:
		objs := r.objects()
		handle = func() { c.onMerge(objs) }
	case msgPull:
		keys := r.strings()
		handle = func() { c.onPull(from, keys) }
	case msgPullPrefix:
		tree := r.string()
		handle = func() { c.onPullPrefix(from, tree) }
	default:
		return fmt.Errorf("plumtree: unknown message type %d from %s", msg[0], from)
	}
	if err := r.done(); err != nil {
		return fmt.Errorf("plumtree: message type %d from %s: %w", msg[0], from, err)
	}
	handle()
	return nil
}

func appendUint32s(b []byte, xs []uint32) []byte {
	b = appendUvarint(b, uint64(len(xs)))
	for _, x := range xs {
		b = appendUvarint(b, uint64(x))
	}
	return b
}

func (r *reader) uint32s() []uint32 {
	n := r.count()
	out := make([]uint32, 0, n)
	for range n {
		out = append(out, uint32(r.uvarint()))
	}
	return out
}

func appendStrings(b []byte, xs []string) []byte {
	b = appendUvarint(b, uint64(len(xs)))
	for _, x := range xs {
		b = appendString(b, x)
	}
	return b
}

func (r *reader) strings() []string {
	n := r.count()
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
	}
	return out
}

// bucketContent is one bucket in a Buckets reply.
type bucketContent struct {
	bucket   uint32
	children []child
}

func appendBuckets(b []byte, bs []bucketContent) []byte {
	b = appendUvarint(b, uint64(len(bs)))
	for _, bc := range bs {
		b = appendUvarint(b, uint64(bc.bucket))
		b = appendUvarint(b, uint64(len(bc.children)))
		for _, ch := range bc.children {
			b = appendUvarint(b, uint64(ch.idx))
			b = appendUvarint(b, ch.hash)
		}
	}
	return b
}

func (r *reader) buckets() []bucketContent {
	n := r.count()
	out := make([]bucketContent, 0, n)
	for range n {
		bc := bucketContent{bucket: uint32(r.uvarint())}
		m := r.count()
		for range m {
			bc.children = append(bc.children, child{idx: uint32(r.uvarint()), hash: r.uvarint()})
		}
		out = append(out, bc)
	}
	return out
}

// segmentContent is one segment in a Segments reply.
type segmentContent struct {
	segment uint32
	pairs   []keyHash
}

func appendSegments(b []byte, ss []segmentContent) []byte {
	b = appendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendUvarint(b, uint64(s.segment))
		b = appendUvarint(b, uint64(len(s.pairs)))
		for _, p := range s.pairs {
			b = appendString(b, p.key)
			b = appendUvarint(b, p.hash)
		}
	}
	return b
}

func (r *reader) segments() []segmentContent {
	n := r.count()
	out := make([]segmentContent, 0, n)
	for range n {
		s := segmentContent{segment: uint32(r.uvarint())}
		m := r.count()
		for range m {
			s.pairs = append(s.pairs, keyHash{key: r.string(), hash: r.uvarint()})
		}
		out = append(out, s)
	}
	return out
}

// wireObject is an object in a Merge message.
type wireObject struct {
	skey  string
	clock dvv
}

func (r *reader) objects() []wireObject {
	n := r.count()
	out := make([]wireObject, 0, n)
	for range n {
		o := wireObject{skey: r.string(), clock: r.dvv()}
		checkKey(r, o.skey)
		out = append(out, o)
	}
	return out
}
