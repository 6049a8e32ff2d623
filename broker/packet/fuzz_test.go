package packet

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// Decode fuzzing: arbitrary bytes are read as a stream of packets on a
// connection of one version. Nothing may panic; every error must carry a
// reason code; every packet that decodes must re-encode, decode to the same
// value, and re-encode to the same bytes; and the Reader, fed one byte at a
// time, must see exactly what SplitPacket+Decode saw.

func FuzzDecodeV3(f *testing.F) { fuzzDecodeTarget(f, V31) }
func FuzzDecodeV4(f *testing.F) { fuzzDecodeTarget(f, V311) }
func FuzzDecodeV5(f *testing.F) { fuzzDecodeTarget(f, V5) }

func fuzzDecodeTarget(f *testing.F, v Version) {
	for _, seed := range decodeSeeds(v) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, v, data) })
}

// decodeSeeds are the vectors of version v (whole, concatenated, split and
// truncated) and the malformed vectors.
func decodeSeeds(v Version) [][]byte {
	var seeds [][]byte
	var stream []byte
	for _, tc := range vectors {
		if tc.v == v {
			seeds = append(seeds, tc.wire)
			stream = append(stream, tc.wire...)
		}
	}
	seeds = append(seeds, stream, stream[:len(stream)/2], stream[:len(stream)-1])
	for _, tc := range vectors {
		if tc.v == v && len(tc.wire) > 3 {
			seeds = append(seeds, tc.wire[:len(tc.wire)-2]) // truncated body
		}
	}
	for _, tc := range badVectors {
		if tc.v == v || tc.v == 0 {
			seeds = append(seeds, tc.wire)
		}
	}
	return seeds
}

type decoded struct {
	pkt    Packet
	rc     ReasonCode
	header bool // the error came from the fixed header: the stream stops there
}

func checkDecode(t *testing.T, v Version, data []byte) {
	var results []decoded
	end := io.EOF
	for rest := data; len(rest) > 0; {
		fh, body, n, err := SplitPacket(rest, 0)
		if err == ErrIncomplete {
			end = io.ErrUnexpectedEOF
			break
		}
		if err != nil {
			checkReason(t, err)
			results = append(results, decoded{rc: ReasonOf(err), header: true})
			break
		}
		rest = rest[n:]
		p, err := Decode(decodeVersion(fh.Type, v), fh, body)
		if err != nil {
			checkReason(t, err)
			results = append(results, decoded{rc: ReasonOf(err)})
			if fh.Type == PUBLISH && v != 0 {
				if err2 := DecodePublish(v, fh, body, &Publish{}); ReasonOf(err2) != ReasonOf(err) {
					t.Fatalf("Decode says %v, DecodePublish says %v", err, err2)
				}
			}
			continue
		}
		results = append(results, decoded{pkt: p})
		checkReencode(t, v, fh, p)
	}
	checkReader(t, v, data, results, end)
}

func checkReason(t *testing.T, err error) {
	t.Helper()
	if rc := ReasonOf(err); rc < 0x80 || rc == UnspecifiedError {
		t.Fatalf("decode error without a specific reason code: %v", err)
	}
}

func checkReencode(t *testing.T, v Version, fh FixedHeader, p Packet) {
	t.Helper()
	enc, err := Encode(nil, v, p)
	if err != nil {
		t.Fatalf("decoded %T %+v does not encode: %v", p, normalize(p), err)
	}
	if n := Size(v, p); n != len(enc) {
		t.Fatalf("Size = %d, encoded %d bytes", n, len(enc))
	}
	dv := decodeVersion(fh.Type, v)
	p2, err := decodeWire(dv, enc)
	if err != nil {
		t.Fatalf("re-encoded %T (% x) does not decode: %v", p, enc, err)
	}
	if !equalPackets(p, p2) {
		t.Fatalf("decode(encode(p)) != p:\n p  %+v\n p2 %+v", normalize(p), normalize(p2))
	}
	enc2, err := Encode(nil, v, p2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding is not canonical:\n % x\n % x (%v)", enc, enc2, err)
	}
	if pub, ok := p.(*Publish); ok {
		// The zero-allocation path agrees with Decode, also when its struct
		// holds a previous packet.
		reused := &Publish{Topic: "old", PacketID: 9, Dup: true,
			Properties: Properties{Present: 1 << PropContentType, ContentType: "x", UserProperties: []UserProperty{{"a", "b"}}}}
		fh2, n, _ := DecodeFixedHeader(enc)
		if err := DecodePublish(v, fh2, enc[n:], reused); err != nil || !equalPackets(reused, pub) {
			t.Fatalf("DecodePublish: %v\n got  %+v\n want %+v", err, normalize(reused), normalize(pub))
		}
	}
}

func checkReader(t *testing.T, v Version, data []byte, results []decoded, end error) {
	t.Helper()
	r := NewReader(iotest.OneByteReader(bytes.NewReader(data)), 0)
	for i, want := range results {
		fh, body, err := r.ReadRaw()
		if want.header {
			if ReasonOf(err) != want.rc {
				t.Fatalf("packet %d: Reader says %v, DecodeFixedHeader says %v", i, err, want.rc)
			}
			return
		}
		if err != nil {
			t.Fatalf("packet %d: Reader fails with %v", i, err)
		}
		p, err := Decode(decodeVersion(fh.Type, v), fh, body)
		if want.pkt == nil {
			if ReasonOf(err) != want.rc {
				t.Fatalf("packet %d: Reader+Decode says %v, SplitPacket+Decode says %v", i, err, want.rc)
			}
			continue
		}
		if err != nil || !equalPackets(p, want.pkt) {
			t.Fatalf("packet %d: Reader gives %+v, %v; want %+v", i, p, err, normalize(want.pkt))
		}
	}
	if _, _, err := r.ReadRaw(); err != end {
		t.Fatalf("end of stream: Reader says %v, want %v", err, end)
	}
}

// FuzzRoundTrip builds a valid packet of any type and version from the fuzz
// inputs, encodes it, decodes it and expects the same packet back.
func FuzzRoundTrip(f *testing.F) {
	for kind := uint8(1); kind <= 15; kind++ {
		for v := uint8(0); v < 3; v++ {
			f.Add(kind, v, uint16(kind)*7, uint8(0xFF), uint32(0xFFFFFFFF), "a/b", "k", []byte("payload"))
			f.Add(kind, v, uint16(0), uint8(0x00), uint32(0), "", "", []byte(nil))
			f.Add(kind, v, uint16(1), uint8(0x5A), uint32(0x12345678), "$share/g/x", "é€𝄞", []byte{0, 0xFF})
		}
	}
	f.Fuzz(func(t *testing.T, kind, v uint8, id uint16, flags uint8, n uint32, s1, s2 string, data []byte) {
		ver := []Version{V31, V311, V5}[v%3]
		p, ver := genPacket(Type(kind%15+1), ver, id, flags, n, s1, s2, data)
		enc, err := Encode(nil, ver, p)
		if err != nil {
			t.Fatalf("encode %T %+v: %v", p, normalize(p), err)
		}
		if Size(ver, p) != len(enc) {
			t.Fatalf("Size = %d, encoded %d", Size(ver, p), len(enc))
		}
		got, err := decodeWire(decodeVersion(p.Type(), ver), enc)
		if err != nil {
			t.Fatalf("decode % x: %v (from %+v)", enc, err, normalize(p))
		}
		if !equalPackets(got, p) {
			t.Fatalf("round trip:\n sent %+v\n got  %+v\n wire % x", normalize(p), normalize(got), enc)
		}
	})
}

// text turns fuzz input into a string the decoder accepts: well-formed UTF-8
// without U+0000, at most 65535 bytes.
func text(s string) string {
	if len(s) > maxStringLen {
		s = s[:maxStringLen]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}

func topicName(s string) string {
	s = strings.NewReplacer("+", "", "#", "").Replace(text(s))
	if s == "" {
		return "t"
	}
	return s
}

func binary(b []byte) []byte {
	if len(b) > maxStringLen {
		b = b[:maxStringLen]
	}
	if len(b) == 0 {
		return nil
	}
	return b
}

func validCodes(t Type, v Version) []ReasonCode {
	if v != V5 {
		switch t {
		case CONNACK:
			return []ReasonCode{Success, UnsupportedProtocolVersion, ClientIdentifierNotValid, ServerUnavailable,
				BadUserNameOrPassword, NotAuthorized}
		case SUBACK:
			return []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError}
		}
		return []ReasonCode{Success}
	}
	var codes []ReasonCode
	for rc := 0; rc < 256; rc++ {
		if ReasonCode(rc).ValidFor(t) {
			codes = append(codes, ReasonCode(rc))
		}
	}
	return codes
}

// genProps sets each property allowed in t whose bit is set in n, with a
// legal value derived from the inputs.
func genProps(t Type, n uint32, s string, data []byte, user bool) Properties {
	var p Properties
	for id := PropID(1); int(id) < len(propSpecs); id++ {
		if !id.known() || allowedProps[t]&(1<<id) == 0 || n>>(id%32)&1 == 0 {
			continue
		}
		switch id {
		case PropUserProperty:
			continue
		case PropSubscriptionID:
			p.SubscriptionIDs = append(p.SubscriptionIDs, n%MaxRemainingLength+1)
			if t == PUBLISH && n&1 == 1 {
				p.SubscriptionIDs = append(p.SubscriptionIDs, 1)
			}
			continue
		case PropResponseTopic:
			p.ResponseTopic = topicName(s)
		}
		switch propSpecs[id].kind {
		case kByte:
			*p.u8(id) = byte(n >> 8 & 1)
		case kUint16:
			*p.u16(id) = uint16(n) | 1
		case kUint32:
			*p.u32(id) = n | 1
		case kString:
			if id != PropResponseTopic {
				*p.str(id) = text(s)
			}
		case kBinary:
			*p.bin(id) = binary(data)
		}
		p.SetPresent(id)
	}
	if p.Has(PropAuthData) {
		p.SetPresent(PropAuthMethod)
	}
	if user {
		p.UserProperties = []UserProperty{{text(s), text(string(data))}, {"k", ""}}
	}
	return p
}

func genPacket(t Type, v Version, id uint16, flags uint8, n uint32, s1, s2 string, data []byte) (Packet, Version) {
	if id == 0 {
		id = 1
	}
	var props Properties
	if v == V5 || t == AUTH {
		props = genProps(t, n, s2, data, flags&0x80 != 0)
	}
	pick := func(codes []ReasonCode, k uint32) ReasonCode { return codes[k%uint32(len(codes))] }
	switch t {
	case CONNECT:
		c := &Connect{ProtocolName: protocolName(v), ProtocolVersion: v, Bridge: flags&1 != 0 && v != V5,
			CleanStart: flags&2 != 0, KeepAlive: id, ClientID: text(s1), Properties: props}
		if flags&4 != 0 {
			c.Will = &Will{Topic: topicName(s1), Payload: binary(data), QoS: flags >> 3 % 3, Retain: flags&0x20 != 0}
			if v == V5 {
				c.Will.Properties = genProps(willProps, n>>3, s2, data, flags&0x40 != 0)
			}
		}
		c.UsernameFlag = flags&0x80 != 0
		if c.UsernameFlag {
			c.Username = text(s2)
		}
		c.PasswordFlag = flags&0x40 != 0 && (c.UsernameFlag || v == V5)
		if c.PasswordFlag {
			c.Password = binary(data)
		}
		return c, v
	case CONNACK:
		c := &Connack{ReasonCode: pick(validCodes(CONNACK, v), n), Properties: props}
		c.SessionPresent = flags&1 != 0 && v != V31 && c.ReasonCode == Success
		return c, v
	case PUBLISH:
		p := &Publish{QoS: flags % 3, Retain: flags&8 != 0, Topic: topicName(s1), Payload: binary(data), Properties: props}
		if p.QoS > 0 {
			p.PacketID, p.Dup = id, flags&4 != 0
		}
		if flags&0x10 != 0 && p.Properties.Has(PropTopicAlias) {
			p.Topic = ""
		}
		return p, v
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		rc := pick(validCodes(t, v), n)
		switch t {
		case PUBACK:
			return &Puback{PacketID: id, ReasonCode: rc, Properties: props}, v
		case PUBREC:
			return &Pubrec{PacketID: id, ReasonCode: rc, Properties: props}, v
		case PUBREL:
			return &Pubrel{PacketID: id, ReasonCode: rc, Properties: props}, v
		}
		return &Pubcomp{PacketID: id, ReasonCode: rc, Properties: props}, v
	case SUBSCRIBE:
		p := &Subscribe{PacketID: id, Properties: props}
		for i := 0; i <= int(flags%3); i++ {
			s := Subscription{Filter: text(s1), QoS: byte(n>>(2*i)) % 3}
			if s.Filter == "" || i == 1 {
				s.Filter = "a/+/#"
			}
			if v == V5 {
				s.NoLocal = n>>(8+i)&1 != 0 && !strings.HasPrefix(s.Filter, sharePrefix)
				s.RetainAsPublished = n>>(12+i)&1 != 0
				s.RetainHandling = byte(n>>(16+2*i)) % 3
			}
			p.Subscriptions = append(p.Subscriptions, s)
		}
		return p, v
	case SUBACK:
		p := &Suback{PacketID: id, Properties: props}
		for i := 0; i <= int(flags%3); i++ {
			p.ReasonCodes = append(p.ReasonCodes, pick(validCodes(SUBACK, v), n>>(8*i)))
		}
		return p, v
	case UNSUBSCRIBE:
		p := &Unsubscribe{PacketID: id, Properties: props, Filters: []string{topicName(s1)}}
		if flags&1 != 0 {
			p.Filters = append(p.Filters, "#")
		}
		return p, v
	case UNSUBACK:
		p := &Unsuback{PacketID: id, Properties: props}
		if v == V5 {
			for i := 0; i <= int(flags%3); i++ {
				p.ReasonCodes = append(p.ReasonCodes, pick(validCodes(UNSUBACK, v), n>>(8*i)))
			}
		}
		return p, v
	case PINGREQ:
		return &Pingreq{}, v
	case PINGRESP:
		return &Pingresp{}, v
	case DISCONNECT:
		return &Disconnect{ReasonCode: pick(validCodes(DISCONNECT, v), n), Properties: props}, v
	}
	a := &Auth{ReasonCode: pick(validCodes(AUTH, V5), n), Properties: props}
	if a.ReasonCode != Success || a.Properties.size() > 0 {
		a.Properties.AuthMethod = text(s1)
		a.Properties.SetPresent(PropAuthMethod)
	}
	return a, V5
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from the vectors. It is a
// tool, not a test: NAUTILUS_WRITE_CORPUS=1 go test -run WriteFuzzCorpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("NAUTILUS_WRITE_CORPUS") == "" {
		t.Skip("set NAUTILUS_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	for name, v := range map[string]Version{"FuzzDecodeV3": V31, "FuzzDecodeV4": V311, "FuzzDecodeV5": V5} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, seed := range decodeSeeds(v) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRoundTrip")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	i := 0
	for kind := 1; kind <= 15; kind++ {
		for v := 0; v < 3; v++ {
			body := fmt.Sprintf("go test fuzz v1\nuint8(%d)\nuint8(%d)\nuint16(%d)\nuint8(%d)\nuint32(%d)\nstring(%q)\nstring(%q)\n[]byte(%q)\n",
				kind-1, v, kind*13, (kind*37)%256, uint32(kind)*0x9E3779B9, "a/b/c", "ünïcode", []byte{1, 2, 3})
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
}
