package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The peer-link protocol. A link starts with a handshake (handshake.go) and then carries frames:
//
//	uint32 big-endian body length | body
//
// where the body is one msgpack array of six elements,
//
//	[type uint, channel uint, id uint, timeout-ms uint, payload bin|nil, error str|nil]
//
// Every frame has the same shape so that the decoder is one short, strict, fuzzed function; a
// later protocol version that needs more fields appends elements and bumps ProtocolVersionMax.
// The body is ordinary msgpack, so a capture can be read with any msgpack tool, but it is encoded
// and decoded by hand: the generic encoder allocates per frame, and the hot path (a 100-byte
// routing message) must not.
const (
	// ProtocolVersionMin is the oldest peer-link protocol this build still speaks.
	ProtocolVersionMin = 1
	// ProtocolVersionMax is the newest peer-link protocol this build speaks.
	//  1: frames message, request, response, error, ping, pong.
	ProtocolVersionMax = 1
)

// frameType says what a frame is.
// WARNING: ONLY APPEND TO THIS LIST. The numeric values are part of the protocol.
type frameType uint8

const (
	frameMessage  frameType = 1 // one-way message: channel, payload
	frameRequest  frameType = 2 // request: channel, id, timeout, payload
	frameResponse frameType = 3 // answer to request id: payload
	frameError    frameType = 4 // request id failed on the remote: error
	framePing     frameType = 5 // liveness probe on an idle link
	framePong     frameType = 6 // answer to a ping
)

// frameLenSize is the size of the length prefix.
const frameLenSize = 4

// frameFields is the array length of a version-1 frame body.
const frameFields = 6

// frame is one decoded frame. Payload aliases the buffer it was decoded from.
type frame struct {
	Type      frameType
	Chan      Channel
	ID        uint64
	TimeoutMS uint64
	Payload   []byte
	Err       string
}

// errMalformed is wrapped by every decoding error, so a reader can tell a broken peer from a
// broken socket.
var errMalformed = errors.New("malformed frame")

// frameSize is the encoded size of f, length prefix included, without encoding it.
func frameSize(f *frame) int {
	return frameLenSize + 1 + uintSize(uint64(f.Type)) + uintSize(uint64(f.Chan)) +
		uintSize(f.ID) + uintSize(f.TimeoutMS) + binSize(len(f.Payload)) + strSize(len(f.Err))
}

// appendFrame appends f, length prefix included, to dst.
func appendFrame(dst []byte, f *frame) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0x90|frameFields)
	dst = appendUint(dst, uint64(f.Type))
	dst = appendUint(dst, uint64(f.Chan))
	dst = appendUint(dst, f.ID)
	dst = appendUint(dst, f.TimeoutMS)
	dst = appendBin(dst, f.Payload)
	dst = appendStr(dst, f.Err)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameLenSize))
	return dst
}

// decodeFrame decodes one frame body (without its length prefix). It never panics on any
// input and never allocates beyond the returned error: Payload aliases body.
func decodeFrame(body []byte) (frame, error) {
	var f frame
	d := decoder{b: body}
	if n, ok := d.arrayLen(); !ok || n != frameFields {
		return f, fmt.Errorf("%w: not a %d-element array", errMalformed, frameFields)
	}
	t, ok1 := d.uint()
	ch, ok2 := d.uint()
	id, ok3 := d.uint()
	to, ok4 := d.uint()
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return f, fmt.Errorf("%w: bad integer field", errMalformed)
	}
	if t == 0 || t > math.MaxUint8 || ch > math.MaxUint8 {
		return f, fmt.Errorf("%w: type %d or channel %d out of range", errMalformed, t, ch)
	}
	payload, ok := d.bin()
	if !ok {
		return f, fmt.Errorf("%w: bad payload", errMalformed)
	}
	errStr, ok := d.str()
	if !ok {
		return f, fmt.Errorf("%w: bad error string", errMalformed)
	}
	if len(d.b) != 0 {
		return f, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(d.b))
	}
	f = frame{Type: frameType(t), Chan: Channel(ch), ID: id, TimeoutMS: to, Payload: payload, Err: errStr}
	return f, nil
}

func uintSize(v uint64) int {
	switch {
	case v < 0x80:
		return 1
	case v <= math.MaxUint8:
		return 2
	case v <= math.MaxUint16:
		return 3
	case v <= math.MaxUint32:
		return 5
	}
	return 9
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

func binSize(n int) int {
	switch {
	case n == 0:
		return 1 // nil
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

func appendBin(dst, b []byte) []byte {
	n := len(b)
	switch {
	case n == 0:
		return append(dst, 0xc0)
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

func strSize(n int) int {
	switch {
	case n == 0:
		return 1 // nil
	case n < 32:
		return 1 + n
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

func appendStr(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n == 0:
		return append(dst, 0xc0)
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

// decoder reads the msgpack subset frames use. Every method checks bounds before slicing.
type decoder struct{ b []byte }

func (d *decoder) take(n int) ([]byte, bool) {
	if n < 0 || n > len(d.b) {
		return nil, false
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v, true
}

func (d *decoder) byte() (byte, bool) {
	v, ok := d.take(1)
	if !ok {
		return 0, false
	}
	return v[0], true
}

// length reads a big-endian length of size bytes.
func (d *decoder) length(size int) (int, bool) {
	v, ok := d.take(size)
	if !ok {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		n = n<<8 | uint64(c)
	}
	if n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

func (d *decoder) arrayLen() (int, bool) {
	c, ok := d.byte()
	switch {
	case !ok:
		return 0, false
	case c&0xf0 == 0x90:
		return int(c & 0x0f), true
	case c == 0xdc:
		return d.length(2)
	case c == 0xdd:
		return d.length(4)
	}
	return 0, false
}

func (d *decoder) uint() (uint64, bool) {
	c, ok := d.byte()
	if !ok {
		return 0, false
	}
	if c < 0x80 {
		return uint64(c), true
	}
	var size int
	switch c {
	case 0xcc:
		size = 1
	case 0xcd:
		size = 2
	case 0xce:
		size = 4
	case 0xcf:
		size = 8
	default:
		return 0, false
	}
	v, ok := d.take(size)
	if !ok {
		return 0, false
	}
	var n uint64
	for _, b := range v {
		n = n<<8 | uint64(b)
	}
	return n, true
}

func (d *decoder) bin() ([]byte, bool) {
	c, ok := d.byte()
	if !ok {
		return nil, false
	}
	var n int
	switch c {
	case 0xc0:
		return nil, true
	case 0xc4:
		n, ok = d.length(1)
	case 0xc5:
		n, ok = d.length(2)
	case 0xc6:
		n, ok = d.length(4)
	default:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return d.take(n)
}

func (d *decoder) str() (string, bool) {
	c, ok := d.byte()
	if !ok {
		return "", false
	}
	var n int
	switch {
	case c == 0xc0:
		return "", true
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9:
		n, ok = d.length(1)
	case c == 0xda:
		n, ok = d.length(2)
	case c == 0xdb:
		n, ok = d.length(4)
	default:
		return "", false
	}
	if !ok {
		return "", false
	}
	v, ok := d.take(n)
	return string(v), ok
}
