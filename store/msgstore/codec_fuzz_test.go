package msgstore

import (
	"bytes"
	"reflect"
	"testing"
)

// The fuzz targets of the value and key formats (codec.go), which Open,
// reads and sweeps decode from disk. Seeds are the encoders' output; the
// committed corpus is in testdata/fuzz/<Target>/.

func fuzzMessages() []Message {
	return []Message{
		{ID: 1, Topic: "devices/42/telemetry", Payload: []byte("21.5"), QoS: 1, Properties: []byte{0x81, 0xa2, 'c', 't', 0xa4, 'j', 's', 'o', 'n'}, ExpiresAt: 1_700_000_000_000},
		{ID: 2, Topic: "a", QoS: 2, Retain: true},
		{ID: 3, Topic: "", Payload: []byte{0, 1, 2}, ExpiresAt: -1},
	}
}

// FuzzDecodeMessage: a stored message decodes or is refused; what decodes
// re-encodes to a value that decodes equally.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range fuzzMessages() {
		f.Add(appendMessage(nil, &m))
	}
	f.Add([]byte{messageV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b) // decodeMessage aliases its input
		m, err := decodeMessage(7, in)
		if err != nil {
			return
		}
		if m.ID != 7 {
			t.Fatalf("id %d; want 7", m.ID)
		}
		enc := appendMessage(nil, &m)
		m2, err := decodeMessage(7, enc)
		if err != nil || !sameMessage(m, m2) {
			t.Fatalf("decodeMessage(appendMessage(%+v)) = %+v, %v", m, m2, err)
		}
		if !bytes.Equal(in, b) {
			t.Fatalf("decodeMessage modified its input")
		}
	})
}

// sameMessage compares messages with nil and empty byte slices equal (the
// format does not keep the difference).
func sameMessage(a, b Message) bool {
	return a.ID == b.ID && a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) && a.QoS == b.QoS &&
		a.Retain == b.Retain && bytes.Equal(a.Properties, b.Properties) && a.ExpiresAt == b.ExpiresAt
}

// FuzzDecodeEntry: a queue entry decodes with and without its
// subscription ids (Open and sweeps skip them), consistently; what
// decodes re-encodes to an entry that decodes equally.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range []entryValue{
		{msgID: 1, qos: 1, expiresAt: 1_700_000_000_000, subIDs: []uint32{1, 300, 1 << 28}},
		{msgID: 1 << 40, qos: 2, dup: true},
		{msgID: 0, expiresAt: -1},
	} {
		f.Add(appendEntry(nil, &e))
	}
	f.Add([]byte{entryV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		full, err := decodeEntry(b, true)
		short, serr := decodeEntry(b, false)
		if err == nil && serr != nil {
			t.Fatalf("decodes with subscription ids but not without: %v", serr)
		}
		if serr == nil {
			if short.subIDs != nil {
				t.Fatalf("subscription ids %v decoded when not asked for", short.subIDs)
			}
			if err == nil && (short.msgID != full.msgID || short.qos != full.qos || short.dup != full.dup || short.expiresAt != full.expiresAt) {
				t.Fatalf("with ids %+v, without %+v", full, short)
			}
		}
		if err != nil {
			return
		}
		e2, err := decodeEntry(appendEntry(nil, &full), true)
		if err != nil || !reflect.DeepEqual(full, e2) {
			t.Fatalf("decodeEntry(appendEntry(%+v)) = %+v, %v", full, e2, err)
		}
	})
}

// FuzzParseIndexKey: a queue index key parses or is refused; what parses
// is the key indexKey builds.
func FuzzParseIndexKey(f *testing.F) {
	f.Add(indexKey("mp\x00client-1", 1))
	f.Add(indexKey("", 0))
	f.Add(indexKey(QueueID(bytes.Repeat([]byte{'q'}, 200)), ^uint64(0)))
	f.Fuzz(func(t *testing.T, k []byte) {
		q, seq, err := parseIndexKey(k)
		if err != nil {
			return
		}
		k2 := indexKey(q, seq)
		if q2, seq2, err := parseIndexKey(k2); err != nil || q2 != q || seq2 != seq {
			t.Fatalf("parseIndexKey(indexKey(%q, %d)) = %q, %d, %v", q, seq, q2, seq2, err)
		}
	})
}
