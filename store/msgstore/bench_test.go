package msgstore

import (
	"crypto/rand"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/store"
	"github.com/vmihailenco/msgpack/v5"
)

var policies = []store.SyncPolicy{store.SyncAlways, store.SyncBatch, store.SyncOff}

func payload(size int) []byte {
	p := make([]byte, size)
	rand.Read(p) // incompressible: disk numbers are not flattered by compression
	return p
}

func openBench(b *testing.B, dir string, p store.SyncPolicy) (*Store, store.Engine) {
	b.Helper()
	e, err := store.Open(store.Options{Dir: dir, Sync: p})
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(e, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s, e
}

// BenchmarkEnqueue: one message to one offline queue per op, from 8 goroutines (so that group
// commit has company), per payload size and sync policy.
func BenchmarkEnqueue(b *testing.B) {
	for _, size := range []int{16, 4096} {
		for _, p := range policies {
			b.Run(fmt.Sprintf("%dB/%s", size, p), func(b *testing.B) {
				s, e := openBench(b, b.TempDir(), p)
				defer e.Close()
				pl := payload(size)
				var id atomicID
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := id.next()
						q := QueueID(fmt.Sprint("client-", i%64))
						if err := s.Enqueue(Message{ID: i, Topic: "bench/t", Payload: pl, QoS: 1}, []Target{{Queue: q, QoS: 1}}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				st := e.Stats()
				b.ReportMetric(float64(st.Syncs)/float64(b.N), "syncs/op")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkDequeue: Read a page of 16 from the head of a queue and Delete it; reported per
// message. The queues are filled beforehand with syncs off.
func BenchmarkDequeue(b *testing.B) {
	const page, queues = 16, 8
	for _, size := range []int{16, 4096} {
		for _, p := range policies {
			b.Run(fmt.Sprintf("%dB/%s", size, p), func(b *testing.B) {
				dir := b.TempDir()
				s, e := openBench(b, dir, store.SyncOff)
				pl := payload(size)
				n := (b.N/page + 1) * page
				for i := range n {
					q := QueueID(fmt.Sprint("client-", i%queues))
					if err := s.Enqueue(Message{ID: uint64(i), Topic: "bench/t", Payload: pl, QoS: 1}, []Target{{Queue: q, QoS: 1}}); err != nil {
						b.Fatal(err)
					}
				}
				e.Close()
				s, e = openBench(b, dir, p)
				defer e.Close()
				now := time.Now()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.SetParallelism(1)
				b.ResetTimer()
				var qn atomicID
				b.RunParallel(func(pb *testing.PB) {
					q := QueueID(fmt.Sprint("client-", qn.next()%queues))
					var es []Entry
					for pb.Next() {
						if len(es) == 0 {
							var err error
							if es, err = s.Read(q, page, FIFO, now); err != nil {
								b.Error(err)
								return
							}
							if len(es) == 0 {
								continue
							}
						}
						// Acknowledge one message at a time, as deliveries complete.
						if _, err := s.Delete(q, es[0].Seq); err != nil {
							b.Error(err)
							return
						}
						es = es[1:]
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkDiskPerMessage stores 20k messages in one queue each, reopens (RocksDB flushes the
// recovered log into a table) and reports the bytes on disk per message, per sync policy (the
// policy changes when bytes reach the disk, which the figure shows is not how many).
func BenchmarkDiskPerMessage(b *testing.B) {
	const n = 20000
	for _, size := range []int{16, 4096} {
		for _, p := range policies {
			b.Run(fmt.Sprintf("%dB/%s", size, p), func(b *testing.B) { diskPerMessage(b, n, size, p) })
		}
	}
}

func diskPerMessage(b *testing.B, n, size int, p store.SyncPolicy) {
	for range b.N {
		dir := b.TempDir()
		s, e := openBench(b, dir, p)
		pl := payload(size)
		for i := range n {
			s.Enqueue(Message{ID: uint64(i), Topic: "bench/topic/with/levels", Payload: pl, QoS: 1},
				[]Target{{Queue: QueueID(fmt.Sprint("mqtt-client-", i%1000)), QoS: 1}})
		}
		e.Close()
		_, e = openBench(b, dir, store.SyncOff)
		e.Close()
		sst, total := dirSize(b, dir)
		b.ReportMetric(float64(sst)/float64(n), "sst-B/msg")
		b.ReportMetric(float64(total)/float64(n), "disk-B/msg")
	}
}

func dirSize(b *testing.B, dir string) (sst, total int64) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		if strings.HasSuffix(p, ".sst") {
			sst += info.Size()
		}
		return nil
	})
	return sst, total
}

// BenchmarkFanout10k: one message to 10,000 offline subscribers per op: one payload copy and
// 10,000 index entries in one batch.
func BenchmarkFanout10k(b *testing.B) {
	for _, p := range policies {
		b.Run(string(p), func(b *testing.B) {
			s, e := openBench(b, b.TempDir(), p)
			defer e.Close()
			ts := make([]Target, 10000)
			for i := range ts {
				ts[i] = Target{Queue: QueueID(fmt.Sprint("client-", i)), QoS: 1, SubIDs: []uint32{1}}
			}
			pl := payload(256)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Enqueue(Message{ID: uint64(i), Topic: "broadcast", Payload: pl, QoS: 1}, ts); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st := s.Stats(); st.Messages != b.N || st.Entries != b.N*len(ts) {
				b.Fatalf("stats %+v after %d fan-outs", st, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/entry")
		})
	}
}

// BenchmarkCodec compares the hand-written message format with msgpack.
func BenchmarkCodec(b *testing.B) {
	m := Message{ID: 1, Topic: "devices/42/telemetry", Payload: payload(256), QoS: 1, Properties: []byte{1, 2, 3, 4}, ExpiresAt: 1_700_000_000_000}
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			buf = appendMessage(buf[:0], &m)
			if _, err := decodeMessage(1, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, err := msgpack.Marshal(&m)
			if err != nil {
				b.Fatal(err)
			}
			var out Message
			if err := msgpack.Unmarshal(buf, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
