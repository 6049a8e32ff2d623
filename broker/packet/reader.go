package packet

import (
	"bufio"
	"io"
)

// Reader reads packets from a byte stream. It is not safe for concurrent use;
// a connection has one reading goroutine.
//
// A packet returned by ReadPacket, and the body returned by ReadRaw, alias
// the Reader's buffers and are valid only until the next call to ReadPacket
// or ReadRaw. The broker copies what it keeps (topic, payload, properties of
// a message it routes).
//
// After any error the stream position is undefined: the caller closes the
// connection (sending CONNACK or DISCONNECT with ReasonOf(err) first where the
// protocol allows).
type Reader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

// maxKeptBuffer bounds the body buffer a Reader keeps between packets: a rare
// large packet should not pin its size of memory on an idle connection.
const maxKeptBuffer = 64 << 10

// growStep is the first allocation for a body larger than the bufio buffer.
const growStep = 64 << 10

// NewReader returns a Reader over r. If r is a *bufio.Reader it is used
// directly (and must not be read by anyone else), otherwise r is wrapped in
// one. maxPacketSize is the largest packet accepted, fixed header included,
// as MQTT 5's Maximum Packet Size counts it; <= 0 means MaxPacketSize.
//
// Bodies that fit in the bufio.Reader's buffer are decoded in place, without
// a copy; larger ones are read into a buffer the Reader reuses (up to 64 KiB)
// or, beyond 64 KiB, into one that grows as the bytes arrive.
func NewReader(r io.Reader, maxPacketSize int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	rd := &Reader{br: br}
	rd.SetMaxPacketSize(maxPacketSize)
	return rd
}

// SetMaxPacketSize changes the limit for the packets read from now on.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 || n > MaxPacketSize {
		n = MaxPacketSize
	}
	r.max = n
}

// Buffered returns the number of bytes already buffered: when it is 0 after a
// packet, the next read would block, which makes it a good moment to flush
// the replies of a batch.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadPacket reads and decodes one packet. v is the connection's version, 0
// before CONNECT (see Decode). It returns io.EOF when the stream ends cleanly
// between packets and io.ErrUnexpectedEOF when it ends inside one.
func (r *Reader) ReadPacket(v Version) (Packet, error) {
	fh, body, err := r.ReadRaw()
	if err != nil {
		return nil, err
	}
	return Decode(v, fh, body)
}

// ReadRaw reads one packet without decoding its body, so that the caller can
// pick the decoder, typically DecodePublish into a reused Publish. The fixed
// header is validated, and a packet larger than the maximum size is rejected
// with PacketTooLarge before any of its body is read or buffer allocated.
func (r *Reader) ReadRaw() (FixedHeader, []byte, error) {
	b0, err := r.br.ReadByte()
	if err != nil {
		return FixedHeader{}, nil, err // io.EOF here is a clean end
	}
	fh := FixedHeader{Type: Type(b0 >> 4), Flags: b0 & 0x0f}
	if err := checkFlags(fh.Type, fh.Flags); err != nil {
		return FixedHeader{}, nil, err
	}
	// Byte by byte rather than Peek: a short packet at the end of what the
	// peer sent so far must not make us wait for bytes that are not coming.
	rl, n := 0, 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return FixedHeader{}, nil, unexpectedEOF(err)
		}
		rl |= int(c&0x7f) << (7 * n)
		n++
		if c&0x80 == 0 {
			if c == 0 && n > 1 {
				// [MQTT-1.5.5-1]
				return FixedHeader{}, nil, malformed("variable byte integer is not minimally encoded")
			}
			break
		}
		if n == 4 {
			return FixedHeader{}, nil, malformed("variable byte integer longer than 4 bytes")
		}
	}
	fh.RemainingLength = rl
	if 1+n+rl > r.max {
		return FixedHeader{}, nil, errf(PacketTooLarge, "packet exceeds the maximum packet size")
	}
	body, err := r.body(rl)
	if err != nil {
		return FixedHeader{}, nil, err
	}
	return fh, body, nil
}

func (r *Reader) body(n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= r.br.Size() {
		// The peeked bytes stay put until the next read from br, which is
		// exactly the lifetime promised for the packet: no copy needed.
		b, err := r.br.Peek(n)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		_, _ = r.br.Discard(n)
		return b[:n:n], nil
	}
	buf := r.buf[:0]
	if cap(buf) < n {
		// Grow as the bytes arrive rather than trusting the announced length:
		// a peer that claims 256 MB and then sends nothing must not cost 256 MB.
		// Doubling keeps the extra copying below the packet's own size.
		buf = make([]byte, 0, min(n, max(cap(buf), growStep)))
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r.br, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	if cap(buf) <= maxKeptBuffer {
		r.buf = buf
	} else {
		r.buf = nil
	}
	return buf[:n:n], nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
