package plumtree

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// The encoding is hand-written (varints and length-prefixed bytes) rather
// than msgpack: objects are encoded on every write and hashed on every tree
// insert, and reflection would dominate those paths.

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("plumtree: malformed encoding")

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes what the append functions wrote. The first error sticks;
// later reads return zero values, so decoders check err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errMalformed, what)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a length and checks it against the bytes left, assuming each
// element takes at least one byte, so a forged length cannot make a
// decoder allocate more than the message size.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("count exceeds message")
		return 0
	}
	return int(n)
}

// bytes returns a copy: decoded values outlive the message buffer.
func (r *reader) bytes() []byte {
	n := r.count()
	if r.err != nil {
		return nil
	}
	p := make([]byte, n)
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return p
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}

const (
	valTomb = 1 << iota
)

func appendValue(b []byte, v metadata.Value) []byte {
	b = binary.AppendVarint(b, v.TS)
	b = appendString(b, v.Node)
	var flags byte
	if v.Tomb {
		flags |= valTomb
	}
	b = append(b, flags)
	if !v.Tomb {
		b = appendBytes(b, v.Data)
	}
	return b
}

func (r *reader) value() metadata.Value {
	v := metadata.Value{TS: r.varint(), Node: r.string()}
	flags := r.byte()
	if flags&^valTomb != 0 {
		r.fail("unknown value flags")
	}
	if flags&valTomb != 0 {
		v.Tomb = true
	} else {
		v.Data = r.bytes() // never nil: a live value has data, maybe empty
	}
	return v
}

// appendDVV encodes a clock canonically (entries are kept sorted), so equal
// clocks encode, and hash, equally on every node.
func appendDVV(b []byte, d dvv) []byte {
	b = appendUvarint(b, uint64(len(d)))
	for _, e := range d {
		b = appendString(b, e.id)
		b = appendUvarint(b, e.n)
		b = appendUvarint(b, uint64(len(e.vals)))
		for _, v := range e.vals {
			b = appendValue(b, v)
		}
	}
	return b
}

func (r *reader) dvv() dvv {
	n := r.count()
	d := make(dvv, 0, n)
	for range n {
		e := dvvEntry{id: r.string(), n: r.uvarint()}
		nv := r.count()
		if uint64(nv) > e.n {
			r.fail("more values than events")
		}
		for range nv {
			e.vals = append(e.vals, r.value())
		}
		if len(d) > 0 && d[len(d)-1].id >= e.id {
			r.fail("clock entries not sorted")
		}
		if r.err != nil {
			return nil
		}
		d = append(d, e)
	}
	return d
}

func appendVV(b []byte, v vv) []byte {
	b = appendUvarint(b, uint64(len(v)))
	for _, e := range v {
		b = appendString(b, e.id)
		b = appendUvarint(b, e.n)
	}
	return b
}

func (r *reader) vv() vv {
	n := r.count()
	v := make(vv, 0, n)
	for range n {
		e := vvEntry{id: r.string(), n: r.uvarint()}
		if len(v) > 0 && v[len(v)-1].id >= e.id {
			r.fail("version vector not sorted")
		}
		if r.err != nil {
			return nil
		}
		v = append(v, e)
	}
	return v
}

// decodeDVV decodes a stored object.
func decodeDVV(b []byte) (dvv, error) {
	r := reader{b: b}
	d := r.dvv()
	if err := r.done(); err != nil {
		return nil, err
	}
	return d, nil
}

// Contexts handed out by GetRaw are a tag byte and an encoded version
// vector (the DVVSet join).
const ctxTag = 'p'

func encodeContext(v vv) metadata.Context {
	if len(v) == 0 {
		return nil
	}
	return appendVV([]byte{ctxTag}, v)
}

func decodeContext(cc metadata.Context) (vv, error) {
	if len(cc) == 0 {
		return nil, nil
	}
	if cc[0] != ctxTag {
		return nil, fmt.Errorf("%w: not a plumtree context", metadata.ErrBadContext)
	}
	r := reader{b: cc[1:]}
	v := r.vv()
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %v", metadata.ErrBadContext, err)
	}
	return v, nil
}
