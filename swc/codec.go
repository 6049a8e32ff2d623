package swc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("swc: malformed encoding")

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes what the append functions wrote; the first error sticks
// and every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errMalformed, what)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("varint")
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
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("byte")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// bytes returns a length-prefixed slice, copied so that it outlives the
// transport's buffer.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length")
		return nil
	}
	out := slices.Clone(r.b[:n])
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail("length")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads an element count, bounded by the bytes left (each element
// takes at least one byte), so garbage cannot make us allocate much.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("count")
		return 0
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}

func appendVV(b []byte, v VV) []byte {
	ids := make([]ID, 0, len(v))
	for id := range v {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = appendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, id)
		b = appendUvarint(b, v[id])
	}
	return b
}

func (r *reader) vv() VV {
	n := r.count()
	if n == 0 {
		return nil
	}
	v := make(VV, n)
	for range n {
		id := r.string()
		v[id] = r.uvarint()
	}
	return v
}

func appendBVV(b []byte, c BVV) []byte {
	ids := c.IDs()
	b = appendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		e := c[id]
		b = appendString(b, id)
		b = appendUvarint(b, e.Base)
		b = appendUvarint(b, uint64(len(e.Bits)))
		for _, w := range e.Bits {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b
}

func (r *reader) bvv() BVV {
	n := r.count()
	c := make(BVV, n)
	for range n {
		id := r.string()
		e := Entry{Base: r.uvarint()}
		words := r.count()
		if r.err == nil && words*8 > len(r.b) {
			r.fail("bitmap")
		}
		if r.err != nil {
			return c
		}
		if words > 0 {
			e.Bits = make([]uint64, words)
			for i := range e.Bits {
				e.Bits[i] = binary.LittleEndian.Uint64(r.b[i*8:])
			}
			r.b = r.b[words*8:]
		}
		if !e.Normal() {
			r.fail("clock entry not normalized")
		}
		c[id] = e
	}
	return c
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
	b = appendUvarint(b, uint64(len(v.Data)))
	return append(b, v.Data...)
}

func (r *reader) value() metadata.Value {
	v := metadata.Value{TS: r.varint(), Node: r.string()}
	flags := r.byte()
	v.Tomb = flags&valTomb != 0
	v.Data = r.bytes()
	if !v.Tomb && v.Data == nil && r.err == nil {
		v.Data = []byte{}
	}
	if v.Tomb {
		v.Data = nil
	}
	return v
}

// appendDCC encodes an object: values by dot, then the context.
func appendDCC(b []byte, d DCC) []byte {
	b = appendUvarint(b, uint64(len(d.Vals)))
	for _, dv := range d.Vals {
		b = appendString(b, dv.Dot.ID)
		b = appendUvarint(b, dv.Dot.N)
		b = appendValue(b, dv.Val)
	}
	return appendVV(b, d.Ctx)
}

func (r *reader) dcc() DCC {
	n := r.count()
	var d DCC
	for range n {
		dot := Dot{ID: r.string(), N: r.uvarint()}
		d.Vals = append(d.Vals, DotVal{Dot: dot, Val: r.value()})
	}
	if !slices.IsSortedFunc(d.Vals, func(x, y DotVal) int { return cmpDot(x.Dot, y.Dot) }) {
		r.fail("object values out of order")
	}
	d.Ctx = r.vv()
	return d
}

func decodeDCC(b []byte) (DCC, error) {
	r := reader{b: b}
	d := r.dcc()
	return d, r.done()
}

func decodeBVV(b []byte) (BVV, error) {
	r := reader{b: b}
	c := r.bvv()
	return c, r.done()
}

func appendWatermark(b []byte, w *Watermark) []byte {
	obs := w.Observers()
	b = appendUvarint(b, uint64(len(obs)))
	for _, o := range obs {
		b = appendString(b, o)
		b = appendVV(b, w.cols[o])
	}
	return b
}

func decodeWatermark(b []byte) (*Watermark, error) {
	r := reader{b: b}
	w := NewWatermark()
	n := r.count()
	for range n {
		o := r.string()
		col := r.vv()
		if col == nil {
			col = VV{}
		}
		w.cols[o] = col
	}
	return w, r.done()
}

// ctxMagic starts every Context this package hands out, so that PutRaw can
// refuse one from another backend.
const ctxMagic = 0x5c

func encodeContext(v VV) metadata.Context {
	return metadata.Context(appendVV([]byte{ctxMagic}, v))
}

func decodeContext(cc metadata.Context) (VV, error) {
	if len(cc) == 0 {
		return nil, nil
	}
	if cc[0] != ctxMagic {
		return nil, metadata.ErrBadContext
	}
	r := reader{b: cc[1:]}
	v := r.vv()
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: %w", metadata.ErrBadContext, err)
	}
	return v, nil
}
