package packet

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
)

type publishCase struct {
	name string
	v    Version
	p    *Publish
}

func publishCases() []publishCase {
	withProps := props(func(p *Properties) {
		p.PayloadFormat, p.MessageExpiry, p.ContentType = 1, 3600, "application/json"
		p.ResponseTopic, p.CorrelationData = "reply/to/me", []byte("corr-1234")
		p.SetPresent(PropPayloadFormat)
		p.SetPresent(PropMessageExpiry)
		p.SetPresent(PropContentType)
		p.SetPresent(PropResponseTopic)
		p.SetPresent(PropCorrelationData)
		p.SubscriptionIDs = []uint32{42}
		p.UserProperties = []UserProperty{{"trace", "abc123"}, {"tenant", "acme"}}
	})
	var out []publishCase
	for _, v := range []Version{V311, V5} {
		for _, qos := range []byte{0, 1} {
			for _, size := range []int{16, 4096} {
				for _, withP := range []bool{false, true} {
					if withP && v != V5 {
						continue
					}
					p := &Publish{QoS: qos, Topic: "sensors/building-7/floor-3/temperature", Payload: bytes.Repeat([]byte("x"), size)}
					if qos > 0 {
						p.PacketID = 4242
					}
					name := fmt.Sprintf("%s/qos%d/%dB", v, qos, size)
					if withP {
						p.Properties = withProps
						name += "/props"
					}
					out = append(out, publishCase{name, v, p})
				}
			}
		}
	}
	return out
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, c := range publishCases() {
		wire, err := Encode(nil, c.v, c.p)
		if err != nil {
			b.Fatal(err)
		}
		fh, n, err := DecodeFixedHeader(wire)
		if err != nil {
			b.Fatal(err)
		}
		body := wire[n:]
		b.Run(c.name, func(b *testing.B) {
			var p Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if err := DecodePublish(c.v, fh, body, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, c := range publishCases() {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, Size(c.v, c.p))
			b.ReportAllocs()
			b.SetBytes(int64(cap(buf)))
			for b.Loop() {
				var err error
				if buf, err = AppendPublish(buf[:0], c.v, c.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReaderPublish is the session's read loop: ReadRaw then
// DecodePublish into one reused struct.
func BenchmarkReaderPublish(b *testing.B) {
	for _, c := range publishCases() {
		wire, _ := Encode(nil, c.v, c.p)
		const batch = 64
		stream := bytes.Repeat(wire, batch)
		b.Run(c.name, func(b *testing.B) {
			src := bytes.NewReader(stream)
			br := bufio.NewReaderSize(src, 8192)
			r := NewReader(br, 0)
			var p Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			i := 0
			for b.Loop() {
				if i%batch == 0 {
					src.Reset(stream)
					br.Reset(src)
				}
				i++
				fh, body, err := r.ReadRaw()
				if err != nil {
					b.Fatal(err)
				}
				if err := DecodePublish(c.v, fh, body, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchConnect(v Version) *Connect {
	c := &Connect{ProtocolVersion: v, CleanStart: true, KeepAlive: 60, ClientID: "client-0123456789",
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("secret"),
		Will: &Will{Topic: "clients/client-0123456789/status", Payload: []byte("offline"), QoS: 1, Retain: true}}
	if v == V5 {
		c.Properties = props(func(p *Properties) {
			p.SessionExpiry, p.ReceiveMaximum, p.MaximumPacketSize = 3600, 100, 1<<20
			p.SetPresent(PropSessionExpiry)
			p.SetPresent(PropReceiveMaximum)
			p.SetPresent(PropMaximumPacketSize)
		})
		c.Will.Properties = props(func(p *Properties) { p.WillDelay = 5; p.SetPresent(PropWillDelay) })
	}
	return c
}

func benchSubscribe() *Subscribe {
	return &Subscribe{PacketID: 7, Subscriptions: []Subscription{
		{Filter: "sensors/+/floor-3/#", QoS: 1}, {Filter: "alerts/#", QoS: 2, RetainHandling: 1}, {Filter: "cmd/client-1", QoS: 0}}}
}

func BenchmarkDecode(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		for _, p := range []Packet{benchConnect(v), benchSubscribe()} {
			wire, err := Encode(nil, v, p)
			if err != nil {
				b.Fatal(err)
			}
			fh, n, _ := DecodeFixedHeader(wire)
			dv := decodeVersion(p.Type(), v)
			b.Run(fmt.Sprintf("%s/%s", p.Type(), v), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decode(dv, fh, wire[n:]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		for _, p := range []Packet{benchConnect(v), benchSubscribe(), &Puback{PacketID: 9}} {
			b.Run(fmt.Sprintf("%s/%s", p.Type(), v), func(b *testing.B) {
				buf := make([]byte, 0, Size(v, p))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = Encode(buf[:0], v, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestAckEncodeZeroAlloc: the session builds acknowledgements on the fly;
// passing them through the Packet interface must not move them to the heap.
func TestAckEncodeZeroAlloc(t *testing.T) {
	buf := make([]byte, 0, 64)
	id := uint16(1)
	a := testing.AllocsPerRun(100, func() {
		id++
		buf, _ = Encode(buf[:0], V5, &Puback{PacketID: id, ReasonCode: NoMatchingSubscribers})
		buf, _ = Encode(buf, V311, &Pubrec{PacketID: id})
		buf, _ = Encode(buf, V5, &Pubcomp{PacketID: id})
		buf, _ = Encode(buf, V5, &Pingresp{})
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

// TestPublishZeroAlloc pins the hot path's allocation count, so a change
// that makes PUBLISH allocate fails the tests, not just a benchmark.
func TestPublishZeroAlloc(t *testing.T) {
	for _, c := range publishCases() {
		wire, _ := Encode(nil, c.v, c.p)
		fh, n, _ := DecodeFixedHeader(wire)
		var p Publish
		_ = DecodePublish(c.v, fh, wire[n:], &p) // warm the reused slices
		if a := testing.AllocsPerRun(100, func() { _ = DecodePublish(c.v, fh, wire[n:], &p) }); a != 0 {
			t.Errorf("DecodePublish %s: %v allocs", c.name, a)
		}
		buf := make([]byte, 0, len(wire))
		if a := testing.AllocsPerRun(100, func() { buf, _ = AppendPublish(buf[:0], c.v, c.p) }); a != 0 {
			t.Errorf("AppendPublish %s: %v allocs", c.name, a)
		}
		if a := testing.AllocsPerRun(100, func() { _ = Size(c.v, c.p) }); a != 0 {
			t.Errorf("Size %s: %v allocs", c.name, a)
		}
		r := NewReader(bytes.NewReader(nil), 0)
		src := bytes.NewReader(wire)
		if a := testing.AllocsPerRun(100, func() {
			src.Reset(wire)
			r.br.Reset(src)
			fh, body, err := r.ReadRaw()
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			_ = DecodePublish(c.v, fh, body, &p)
		}); a != 0 {
			t.Errorf("Reader %s: %v allocs", c.name, a)
		}
	}
}
