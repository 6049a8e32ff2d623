package metadata_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/vmihailenco/msgpack/v5"
)

func sampleRecord() metadata.SubscriberRecord {
	return metadata.SubscriberRecord{
		{
			Node:         "n1",
			CleanSession: true,
			Subs: []metadata.Subscription{
				{Filter: "a/+/c", QoS: 1},
				{Filter: "x/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, SubID: 1<<28 - 1, Share: "g1"},
				{Filter: "", QoS: 0},
			},
		},
		{Node: "n2"}, // a takeover in progress: no subscriptions yet
	}
}

func TestSubscriberRecordRoundTrip(t *testing.T) {
	for _, rec := range []metadata.SubscriberRecord{sampleRecord(), nil, {{Node: "\x00odd node"}}} {
		b, err := metadata.EncodeSubscriberRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := metadata.DecodeSubscriberRecord(b)
		if err != nil {
			t.Fatalf("decode %x: %v", b, err)
		}
		if len(rec) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip = %+v; want %+v", got, rec)
		}
		again, _ := metadata.EncodeSubscriberRecord(got)
		if !bytes.Equal(again, b) {
			t.Fatal("encoding is not deterministic")
		}
	}
}

func sampleRetained() *metadata.RetainedMessage {
	return &metadata.RetainedMessage{
		Payload: []byte("hello\x00world"),
		QoS:     1,
		Properties: metadata.RetainProperties{
			PayloadFormat:   1,
			ContentType:     "text/plain",
			ResponseTopic:   "reply/to",
			CorrelationData: []byte{0, 1, 2},
			UserProperties:  [][2]string{{"k", "v"}, {"k", "v2"}, {"", ""}},
			MessageExpiry:   3600,
		},
		ExpiresAt: 1_900_000_000,
	}
}

func TestRetainedMessageRoundTrip(t *testing.T) {
	for _, m := range []*metadata.RetainedMessage{sampleRetained(), {Payload: []byte("p")}} {
		b, err := metadata.EncodeRetainedMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := metadata.DecodeRetainedMessage(b)
		if err != nil {
			t.Fatalf("decode %x: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip = %+v; want %+v", got, m)
		}
	}
	m := sampleRetained()
	if m.Expired(1_899_999_999) || !m.Expired(1_900_000_000) {
		t.Fatal("Expired disagrees with ExpiresAt")
	}
	if (&metadata.RetainedMessage{}).Expired(1 << 40) {
		t.Fatal("ExpiresAt 0 expired")
	}
}

// TestRecordEvolution checks the promise of the map encoding: fields unknown
// to the decoder are skipped and missing ones read as zero, so nodes of
// different versions can share records.
func TestRecordEvolution(t *testing.T) {
	newer := []map[string]any{{
		"n": "n1", "future": []int{1, 2},
		"s": []map[string]any{{"f": "a/b", "q": 1, "new": "x"}},
	}}
	b, err := msgpack.Marshal(newer)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := metadata.DecodeSubscriberRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	want := metadata.SubscriberRecord{{Node: "n1", Subs: []metadata.Subscription{{Filter: "a/b", QoS: 1}}}}
	if !reflect.DeepEqual(rec, want) {
		t.Fatalf("decoded %+v; want %+v", rec, want)
	}
}

func TestDecodeRecordsMalformed(t *testing.T) {
	valid, _ := metadata.EncodeSubscriberRecord(sampleRecord())
	badQoS, _ := metadata.EncodeSubscriberRecord(metadata.SubscriberRecord{{Node: "n", Subs: []metadata.Subscription{{Filter: "a", QoS: 3}}}})
	badRH, _ := metadata.EncodeSubscriberRecord(metadata.SubscriberRecord{{Node: "n", Subs: []metadata.Subscription{{Filter: "a", RetainHandling: 3}}}})
	for name, b := range map[string][]byte{
		"empty":     {},
		"truncated": valid[:len(valid)-1],
		"trailing":  append(bytes.Clone(valid), 0xc0),
		"not array": {0x2a},
		"qos 3":     badQoS,
		"rh 3":      badRH,
		// Declared lengths far beyond the input: must fail, not allocate.
		"huge array": {0xdd, 0x23, 0xb0, 0xed, 0xf3},
		"huge map":   {0x91, 0xdf, 0xff, 0xff, 0xff, 0xff},
		"too deep":   bytes.Repeat([]byte{0x91}, 40),
	} {
		if _, err := metadata.DecodeSubscriberRecord(b); !errors.Is(err, metadata.ErrMalformedValue) {
			t.Errorf("DecodeSubscriberRecord(%s) = %v; want ErrMalformedValue", name, err)
		}
	}
	retained, _ := metadata.EncodeRetainedMessage(sampleRetained())
	badRet, _ := metadata.EncodeRetainedMessage(&metadata.RetainedMessage{QoS: 3})
	for name, b := range map[string][]byte{
		"empty":                {},
		"truncated":            retained[:len(retained)-2],
		"trailing":             append(bytes.Clone(retained), 0),
		"qos 3":                badRet,
		"huge user properties": {0x81, 0xa2, 'p', 'r', 0x81, 0xa2, 'u', 'p', 0xdd, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := metadata.DecodeRetainedMessage(b); !errors.Is(err, metadata.ErrMalformedValue) {
			t.Errorf("DecodeRetainedMessage(%s) = %v; want ErrMalformedValue", name, err)
		}
	}
}

func FuzzDecodeSubscriberRecord(f *testing.F) {
	b, _ := metadata.EncodeSubscriberRecord(sampleRecord())
	f.Add(b)
	f.Add([]byte{0x90})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := metadata.DecodeSubscriberRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		b2, err := metadata.EncodeSubscriberRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		rec2, err := metadata.DecodeSubscriberRecord(b2)
		if err != nil || !reflect.DeepEqual(normRecord(rec), normRecord(rec2)) {
			t.Fatalf("re-decode = %+v, %v; want %+v", rec2, err, rec)
		}
	})
}

// normRecord maps empty slices to nil: omitempty does not keep the difference.
func normRecord(r metadata.SubscriberRecord) metadata.SubscriberRecord {
	if len(r) == 0 {
		return nil
	}
	for i := range r {
		if len(r[i].Subs) == 0 {
			r[i].Subs = nil
		}
	}
	return r
}

func FuzzDecodeRetainedMessage(f *testing.F) {
	b, _ := metadata.EncodeRetainedMessage(sampleRetained())
	f.Add(b)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := metadata.DecodeRetainedMessage(b)
		if err != nil {
			return
		}
		b2, err := metadata.EncodeRetainedMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := metadata.DecodeRetainedMessage(b2); err != nil {
			t.Fatalf("re-decode of %x: %v", b2, err)
		}
	})
}
