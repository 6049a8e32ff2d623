package packet

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
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
	// src is set by NewPooledReader: br is then taken from brPool when bytes arrive and
	// given back once they are consumed, and idle holds what the wait for them read.
	src  io.Reader
	idle idleRead
	// budget, when set, is charged for every body larger than the bufio buffer while it is read.
	budget *Budget
}

// Budget bounds the bytes that a group of Readers (the connections not yet authenticated) may
// hold in packet bodies at once. A body is charged its announced length before any of it is
// read and released once it has been read, so a peer that announces a large CONNECT and sends
// it slowly holds budget, not memory beyond it. Safe for concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes; limit <= 0 means no limit.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used is the bytes charged now.
func (b *Budget) Used() int64 { return b.used.Load() }

func (b *Budget) take(n int) bool {
	if b.limit <= 0 {
		return true
	}
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *Budget) give(n int) {
	if b.limit > 0 {
		b.used.Add(-int64(n))
	}
}

// SetBudget makes the bodies read from now on charge b (nil: none).
func (r *Reader) SetBudget(b *Budget) { r.budget = b }

// pooledSize is the buffer size of a pooled Reader, the size session connections had
// before they were pooled: bodies up to it are decoded in place.
const pooledSize = 4096

// idleSize is what a pooled Reader reads while it waits: enough for the usual small
// packet (a PINGREQ, a PUBLISH of a sensor reading) to need no second read.
const idleSize = 128

var brPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, pooledSize) }}

// idleRead is what a pooled Reader reads while it holds no buffer: the first bytes of
// whatever arrives, handed to the pooled buffer before the source is read again.
type idleRead struct {
	src    io.Reader
	b      [idleSize]byte
	off, n int
	err    error // returned by the source with the bytes in b, reported after them
}

func (ir *idleRead) Read(p []byte) (int, error) {
	if ir.off < ir.n {
		n := copy(p, ir.b[ir.off:ir.n])
		ir.off += n
		return n, nil
	}
	if ir.err != nil {
		err := ir.err
		ir.err = nil
		return 0, err
	}
	return ir.src.Read(p)
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

// NewPooledReader is NewReader for a connection that is idle most of the time. Its
// 4096-byte buffer comes from a pool shared by all pooled Readers: it is taken when bytes
// arrive and given back once every byte in it has been consumed, before the Reader waits
// for more. The wait itself reads into a 128-byte array of the Reader's own, so an idle
// connection holds no buffer. The cost is one more read from src when more than 128
// bytes arrive after the Reader had drained its buffer.
//
// Packets and bodies keep their lifetime: valid until the next call to ReadPacket or
// ReadRaw, which is when the buffer they alias may go back to the pool.
func NewPooledReader(src io.Reader, maxPacketSize int) *Reader {
	rd := &Reader{src: src}
	rd.idle.src = src
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
func (r *Reader) Buffered() int {
	if r.br == nil {
		return 0
	}
	return r.br.Buffered()
}

// maxEmptyReads is how many reads returning neither bytes nor an error a pooled Reader
// accepts in a row, as bufio does.
const maxEmptyReads = 100

// wait gives the pooled buffer back, blocks until src has bytes, and takes a buffer again
// with them in it.
func (r *Reader) wait() error {
	if r.br != nil {
		r.br.Reset(nil)
		brPool.Put(r.br)
		r.br = nil
	}
	for i := 0; ; i++ {
		n, err := r.src.Read(r.idle.b[:])
		if n > 0 {
			r.idle.off, r.idle.n, r.idle.err = 0, n, err
			break
		}
		if err != nil {
			return err
		}
		if i == maxEmptyReads {
			return io.ErrNoProgress
		}
	}
	r.br = brPool.Get().(*bufio.Reader)
	r.br.Reset(&r.idle)
	return nil
}

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
	if r.src != nil && r.Buffered() == 0 {
		if err := r.wait(); err != nil {
			return FixedHeader{}, nil, err // io.EOF here is a clean end
		}
	}
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
		// What already arrived of the body is returned with the error: a CONNECT's first bytes
		// name its protocol version, and an MQTT 5 client is told 0x95 in its CONNACK.
		prefix, _ := r.br.Peek(min(r.br.Buffered(), rl, 16))
		return fh, prefix, errf(PacketTooLarge, "packet exceeds the maximum packet size")
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
	if r.budget != nil {
		if !r.budget.take(n) {
			return nil, errf(QuotaExceeded, "too many bytes in packets of connections not yet authenticated")
		}
		defer r.budget.give(n)
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
