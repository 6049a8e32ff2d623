package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// session replays a client's side of a conversation for one version: the
// CONNECT first (read with version 0), then every other vector of that version.
func session(v Version) (stream []byte, want []Packet) {
	for _, tc := range vectors {
		if tc.v == v && tc.pkt.Type() == CONNECT && len(want) == 0 {
			stream = append(stream, tc.wire...)
			want = append(want, tc.pkt)
		}
	}
	for _, tc := range vectors {
		if tc.v == v && tc.pkt.Type() != CONNECT {
			stream = append(stream, tc.wire...)
			want = append(want, tc.pkt)
		}
	}
	return stream, want
}

func readAll(t *testing.T, r *Reader, v Version, want []Packet) {
	t.Helper()
	rv := Version(0)
	for i, w := range want {
		p, err := r.ReadPacket(rv)
		if err != nil {
			t.Fatalf("packet %d (%T): %v", i, w, err)
		}
		if !equalPackets(p, w) {
			t.Fatalf("packet %d:\n got  %+v\n want %+v", i, normalize(p), normalize(w))
		}
		rv = v
	}
	if _, err := r.ReadPacket(v); err != io.EOF {
		t.Fatalf("after the last packet: err = %v, want io.EOF", err)
	}
}

func TestReaderStream(t *testing.T) {
	for _, v := range []Version{V31, V311, V5} {
		stream, want := session(v)
		t.Run(v.String()+"/whole", func(t *testing.T) {
			readAll(t, NewReader(bytes.NewReader(stream), 0), v, want)
		})
		// Split input: every packet arrives one byte at a time.
		t.Run(v.String()+"/one-byte", func(t *testing.T) {
			readAll(t, NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0), v, want)
		})
		t.Run(v.String()+"/half-reads", func(t *testing.T) {
			readAll(t, NewReader(iotest.HalfReader(bytes.NewReader(stream)), 0), v, want)
		})
		// A buffer smaller than some bodies takes the copying path.
		t.Run(v.String()+"/small-bufio", func(t *testing.T) {
			br := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(stream)), 16)
			readAll(t, NewReader(br, 0), v, want)
		})
	}
}

func TestReaderTruncated(t *testing.T) {
	stream, _ := session(V311)
	// Cut the stream at every offset that is not a packet boundary: the
	// reader must report io.ErrUnexpectedEOF, never a decode error or panic.
	boundaries := map[int]bool{0: true}
	for off := 0; off < len(stream); {
		_, _, n, err := SplitPacket(stream[off:], 0)
		if err != nil {
			t.Fatal(err)
		}
		off += n
		boundaries[off] = true
	}
	for cut := 0; cut < len(stream); cut++ {
		r := NewReader(iotest.OneByteReader(bytes.NewReader(stream[:cut])), 0)
		var err error
		for v := Version(0); err == nil; v = V311 {
			_, err = r.ReadPacket(v)
		}
		want := io.ErrUnexpectedEOF
		if boundaries[cut] {
			want = io.EOF
		}
		if err != want {
			t.Fatalf("cut at %d: err = %v, want %v", cut, err, want)
		}
	}
}

// headerOnly serves a fixed header and fails the test if anything reads on.
type headerOnly struct {
	t      *testing.T
	header []byte
	done   bool
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if h.done {
		h.t.Error("read past the fixed header of an oversized packet")
		return 0, errors.New("read past header")
	}
	h.done = true
	return copy(p, h.header), nil
}

func TestReaderOversize(t *testing.T) {
	// PUBLISH announcing 2,097,151 bytes, against a 1 MiB limit.
	r := NewReader(&headerOnly{t: t, header: raw(0x30, 0xFF, 0xFF, 0x7F)}, 1<<20)
	_, err := r.ReadPacket(V5)
	if ReasonOf(err) != PacketTooLarge {
		t.Fatalf("err = %v, want PacketTooLarge", err)
	}
	if r.buf != nil {
		t.Fatal("a body buffer was allocated for a rejected packet")
	}
	// The limit counts the fixed header: 9 bytes total passes a limit of 9
	// and fails a limit of 8.
	pkt := raw(0x30, 7, 0, 3, "a/b", "hi")
	if _, err := NewReader(bytes.NewReader(pkt), 9).ReadPacket(V311); err != nil {
		t.Fatalf("exact limit: %v", err)
	}
	r = NewReader(bytes.NewReader(pkt), 9)
	r.SetMaxPacketSize(8)
	if _, err := r.ReadPacket(V311); ReasonOf(err) != PacketTooLarge {
		t.Fatalf("limit 8: %v", err)
	}
}

func TestReaderLargeBody(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB: larger than maxKeptBuffer
	small := bytes.Repeat([]byte("z"), 5000)                  // larger than the bufio buffer, kept
	var stream []byte
	for _, pl := range [][]byte{payload, small, small} {
		var err error
		stream, err = Encode(stream, V5, &Publish{Topic: "big", QoS: 1, PacketID: 1, Payload: pl})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(iotest.HalfReader(bytes.NewReader(stream)), 0)
	for i, want := range [][]byte{payload, small, small} {
		fh, body, err := r.ReadRaw()
		if err != nil {
			t.Fatal(err)
		}
		var p Publish
		if err := DecodePublish(V5, fh, body, &p); err != nil || !bytes.Equal(p.Payload, want) {
			t.Fatalf("packet %d: %v, %d bytes", i, err, len(p.Payload))
		}
		if i == 0 && r.buf != nil {
			t.Fatal("the reader kept a 128 KiB buffer")
		}
		if i == 2 && cap(r.buf) < len(small) {
			t.Fatal("the reader did not keep a 5 KB buffer")
		}
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want ReasonCode
	}{
		{"flags", raw(0x41, 2, 0, 1), MalformedPacket},
		{"length-5-bytes", raw(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), MalformedPacket},
		{"length-non-minimal", raw(0x30, 0x80, 0x00), MalformedPacket},
		{"decode", raw(0x40, 2, 0, 0), ProtocolError},
	}
	for _, tc := range cases {
		_, err := NewReader(bytes.NewReader(tc.in), 0).ReadPacket(V311)
		if ReasonOf(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// I/O errors pass through unchanged.
	boom := errors.New("boom")
	_, err := NewReader(iotest.ErrReader(boom), 0).ReadPacket(V311)
	if err != boom {
		t.Errorf("err = %v", err)
	}
	_, err = NewReader(io.MultiReader(bytes.NewReader(raw(0x30, 5, 0)), iotest.ErrReader(boom)), 0).ReadPacket(V311)
	if err != boom {
		t.Errorf("mid-body err = %v", err)
	}
}

func TestReaderBufferedAndReuse(t *testing.T) {
	stream := append(raw(0xC0, 0), raw(0xC0, 0)...)
	br := bufio.NewReader(bytes.NewReader(stream))
	r := NewReader(br, -1)
	if r.br != br || r.max != MaxPacketSize {
		t.Fatal("NewReader should use the caller's bufio.Reader and default the limit")
	}
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() != 2 {
		t.Fatalf("Buffered = %d", r.Buffered())
	}
}

func TestReaderDoesNotTrustAnnouncedLength(t *testing.T) {
	// 256 MB announced, 10 bytes sent: the reader must not allocate the
	// announced size before the bytes arrive.
	in := append(raw(0x30, 0xFF, 0xFF, 0xFF, 0x7F), make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(in), 0).ReadPacket(V311)
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for a 10-byte body", grew)
	}
}

func TestPooledReader(t *testing.T) {
	for _, v := range []Version{V31, V311, V5} {
		stream, want := session(v)
		t.Run(v.String()+"/whole", func(t *testing.T) {
			readAll(t, NewPooledReader(bytes.NewReader(stream), 0), v, want)
		})
		t.Run(v.String()+"/one-byte", func(t *testing.T) {
			readAll(t, NewPooledReader(iotest.OneByteReader(bytes.NewReader(stream)), 0), v, want)
		})
		t.Run(v.String()+"/half-reads", func(t *testing.T) {
			readAll(t, NewPooledReader(iotest.HalfReader(bytes.NewReader(stream)), 0), v, want)
		})
		// The last bytes arrive together with io.EOF.
		t.Run(v.String()+"/data-eof", func(t *testing.T) {
			readAll(t, NewPooledReader(iotest.DataErrReader(bytes.NewReader(stream)), 0), v, want)
		})
	}
	// Truncated streams end in io.ErrUnexpectedEOF, as with NewReader.
	stream, _ := session(V311)
	_, _, n, _ := SplitPacket(stream, 0)
	r := NewPooledReader(bytes.NewReader(stream[:n+1]), 0)
	if _, err := r.ReadPacket(0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(V311); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: err = %v", err)
	}
}

// TestPooledReaderReleases checks that a pooled Reader holds no buffer while it waits, and
// that bodies larger than the pooled buffer still arrive whole.
func TestPooledReaderReleases(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewPooledReader(pr, 0)
	small, _ := Encode(nil, V311, &Publish{Topic: "a", Payload: []byte("hi")})
	big, _ := Encode(nil, V311, &Publish{Topic: "b", QoS: 1, PacketID: 7, Payload: bytes.Repeat([]byte("x"), 10000)})
	mid, _ := Encode(nil, V311, &Publish{Topic: "c", Payload: bytes.Repeat([]byte("y"), 1000)})
	go func() {
		pw.Write(small)
		pw.Write(append(append([]byte{}, big...), mid...))
		pw.Close()
	}()
	for i, want := range []int{2, 10000, 1000} {
		fh, body, err := r.ReadRaw()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		var p Publish
		if err := DecodePublish(V311, fh, body, &p); err != nil || len(p.Payload) != want {
			t.Fatalf("packet %d: %v, %d bytes", i, err, len(p.Payload))
		}
		if i == 0 && r.Buffered() != 0 {
			t.Fatalf("buffered %d after the first packet", r.Buffered())
		}
	}
	if _, _, err := r.ReadRaw(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if r.br != nil {
		t.Fatal("the reader kept its buffer while waiting")
	}
}

// TestReaderBudget: bodies larger than the bufio buffer charge a shared budget while they are
// read; one that does not fit is refused with QuotaExceeded before any of it is read, and a
// read body gives its share back.
func TestReaderBudget(t *testing.T) {
	b := NewBudget(10_000)
	pub := func(n int) []byte {
		p, err := Encode(nil, V5, &Publish{Topic: "t", Payload: bytes.Repeat([]byte("x"), n)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	r := NewReader(bytes.NewReader(append(pub(8000), pub(100)...)), 0)
	r.SetBudget(b)
	if _, err := r.ReadPacket(V5); err != nil {
		t.Fatalf("an 8 KB body within a 10 KB budget: %v", err)
	}
	if b.Used() != 0 {
		t.Fatalf("budget used %d after the body was read, want 0", b.Used())
	}
	if !b.take(5000) {
		t.Fatal("take 5000 of an empty 10,000 budget")
	}
	// Another reader needs 8 KB while 5 KB are taken: refused, and nothing more is charged.
	r2 := NewReader(&headerOnly{t: t, header: pub(8000)[:3]}, 0)
	r2.SetBudget(b)
	if _, err := r2.ReadPacket(V5); ReasonOf(err) != QuotaExceeded {
		t.Fatalf("an 8 KB body with 5 KB of budget left: %v, want QuotaExceeded", err)
	}
	if b.Used() != 5000 {
		t.Fatalf("budget used %d after a refusal, want 5000", b.Used())
	}
	// Small bodies decoded in the bufio buffer are not charged at all.
	if _, err := r.ReadPacket(V5); err != nil || b.Used() != 5000 {
		t.Fatalf("a small body: %v, budget used %d", err, b.Used())
	}
}

// TestReaderOversizeKeepsPrefix: a refused packet returns what arrived of its body, so that a
// too large CONNECT still names its protocol version.
func TestReaderOversizeKeepsPrefix(t *testing.T) {
	stream := []byte{0x10, 0xff, 0xff, 0x7f, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60}
	r := NewReader(bytes.NewReader(stream), 64<<10)
	fh, body, err := r.ReadRaw()
	if ReasonOf(err) != PacketTooLarge || fh.Type != CONNECT {
		t.Fatalf("type %v, err %v; want CONNECT, PacketTooLarge", fh.Type, err)
	}
	if v, ok := ConnectVersion(body); !ok || v != V5 {
		t.Fatalf("version from the prefix %q: %v %v", body, v, ok)
	}
}
