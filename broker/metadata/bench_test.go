package metadata_test

import (
	"fmt"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

const benchKeys = 10000

// benchStore returns a Memory store holding benchKeys subscriber keys and
// the keys, in insertion order.
func benchStore(b *testing.B) (*metadata.Memory, [][]byte) {
	b.Helper()
	m := metadata.NewMemory("bench", nil)
	b.Cleanup(func() { _ = m.Close() })
	keys := make([][]byte, benchKeys)
	val := []byte("0123456789abcdef0123456789abcdef") // a small subscriber record
	for i := range keys {
		keys[i] = metadata.SubscriberKey{Mountpoint: "", ClientID: fmt.Sprintf("client-%08d", i*7919%benchKeys)}.Encode()
		if err := m.Put(bg, metadata.Subscribers, keys[i], val); err != nil {
			b.Fatal(err)
		}
	}
	return m, keys
}

func BenchmarkMemoryPut(b *testing.B) {
	m, keys := benchStore(b)
	val := []byte("fedcba9876543210fedcba9876543210")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := m.Put(bg, metadata.Subscribers, keys[i%benchKeys], val); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemoryPutSubscribed measures Put with one subscriber draining
// events, the broker's steady state (its trie follows the table).
func BenchmarkMemoryPutSubscribed(b *testing.B) {
	m, keys := benchStore(b)
	ch, cancel := m.Subscribe(metadata.Subscribers, false)
	defer cancel()
	go func() {
		for range ch {
		}
	}()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := m.Put(bg, metadata.Subscribers, keys[i%benchKeys], fmt.Appendf(nil, "%d", i%2)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryGet(b *testing.B) {
	m, keys := benchStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok, err := m.Get(bg, metadata.Subscribers, keys[i%benchKeys]); err != nil || !ok {
			b.Fatal(ok, err)
		}
		i++
	}
}

func BenchmarkMemoryGetParallel(b *testing.B) {
	m, keys := benchStore(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, err := m.Get(bg, metadata.Subscribers, keys[i%benchKeys]); err != nil || !ok {
				b.Error(ok, err)
				return
			}
			i++
		}
	})
}

func BenchmarkMemoryFold(b *testing.B) {
	m, _ := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := m.Fold(bg, metadata.Subscribers, func(_, _ []byte) error { n++; return nil }); err != nil || n != benchKeys {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

func BenchmarkSubscriberKeyEncode(b *testing.B) {
	k := metadata.SubscriberKey{Mountpoint: "tenant-a", ClientID: "sensor-000042/room-7"}
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Encode()
	}
}

func BenchmarkSubscriberKeyAppendTo(b *testing.B) {
	k := metadata.SubscriberKey{Mountpoint: "tenant-a", ClientID: "sensor-000042/room-7"}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = k.AppendTo(buf[:0])
	}
}

func BenchmarkSubscriberKeyDecode(b *testing.B) {
	enc := metadata.SubscriberKey{Mountpoint: "tenant-a", ClientID: "sensor-000042/room-7"}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := metadata.DecodeSubscriberKey(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeKey(b *testing.B) {
	key := metadata.RetainKey{Mountpoint: "", Topic: "building/7/floor/3/temperature"}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		_ = metadata.EncodeKey(metadata.Retained, key)
	}
}

func BenchmarkSubscriberRecordCodec(b *testing.B) {
	rec := sampleRecord()
	b.ReportAllocs()
	for b.Loop() {
		enc, err := metadata.EncodeSubscriberRecord(rec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := metadata.DecodeSubscriberRecord(enc); err != nil {
			b.Fatal(err)
		}
	}
}
