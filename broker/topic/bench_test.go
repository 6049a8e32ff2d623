package topic

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The subscription shape: sites of 100 devices; per device one of
// "site/S/dev/D/temp" (80%), "site/S/dev/+/temp" (10%) or "site/S/dev/D/#"
// (10%). A topic "site/S/dev/D/temp" matches about a dozen of them, the
// same number at every size, so the benchmarks show how Match scales with
// the total alone.
func benchFilter(i int) string {
	s, d := strconv.Itoa(i/100), strconv.Itoa(i%100)
	switch i % 10 {
	case 8:
		return "site/" + s + "/dev/+/temp"
	case 9:
		return "site/" + s + "/dev/" + d + "/#"
	}
	return "site/" + s + "/dev/" + d + "/temp"
}

func benchTopics(subs int) []string {
	topics := make([]string, 1024)
	sites := max(subs/100, 1)
	for i := range topics {
		topics[i] = fmt.Sprintf("site/%d/dev/%d/temp", (i*7919)%sites, i%min(subs, 100))
	}
	return topics
}

// benchTries are built once per size and only when a benchmark asks, so
// plain `go test` never pays for the million-subscription trie.
var benchTries sync.Map // int -> *Trie[int, int]

func benchTrie(b *testing.B, subs int) *Trie[int, int] {
	if t, ok := benchTries.Load(subs); ok {
		return t.(*Trie[int, int])
	}
	b.Helper()
	t := new(Trie[int, int])
	t.Batch(func(bt *Batch[int, int]) {
		for i := range subs {
			if _, err := bt.Subscribe(benchFilter(i), i, i); err != nil {
				b.Fatal(err)
			}
		}
	})
	benchTries.Store(subs, t)
	runtime.GC() // finish the build's GC work before anything is timed
	return t
}

var benchSizes = []struct {
	name string
	n    int
}{{"1", 1}, {"10k", 10_000}, {"1M", 1_000_000}}

func BenchmarkTrieMatch(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("subs="+size.name, func(b *testing.B) {
			t, topics := benchTrie(b, size.n), benchTopics(size.n)
			dst := make([]Entry[int, int], 0, 64)
			matched, i := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				dst = t.Match(topics[i&1023], dst[:0])
				matched += len(dst)
				i++
			}
			b.ReportMetric(float64(matched)/float64(i), "matches/op")
		})
	}
}

// BenchmarkTrieMatchParallel runs Match on every P, alone, while one more
// goroutine subscribes and unsubscribes at a paced ~20k writes/s, and while
// it does so flat out. Readers take no lock, so ns/op should grow only by
// the CPU the writer takes away (this machine has two cores) and the GC work
// its garbage causes. Compare BenchmarkBaselineRWMutexMatchParallel.
func BenchmarkTrieMatchParallel(b *testing.B) {
	for _, size := range benchSizes[1:] {
		t, topics := benchTrie(b, size.n), benchTopics(size.n)
		sites := max(size.n/100, 1)
		benchParallel(b, size.name, topics,
			func(topic string, dst []Entry[int, int]) []Entry[int, int] { return t.Match(topic, dst) },
			func(i int) {
				f := "site/" + strconv.Itoa(i%sites) + "/dev/+/hum"
				_, _ = t.Subscribe(f, -1, i)
				t.Unsubscribe(f, -1)
			})
	}
}

// benchParallel runs match under b.RunParallel with no writer, a paced
// writer and a flat-out writer; each write call is two changes.
func benchParallel(b *testing.B, size string, topics []string,
	match func(string, []Entry[int, int]) []Entry[int, int], write func(i int)) {
	for _, churn := range []string{"none", "paced", "max"} {
		b.Run("subs="+size+"/churn="+churn, func(b *testing.B) {
			var writes atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if churn != "none" {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						write(i)
						writes.Add(2)
						if churn == "paced" && i%10 == 9 {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]Entry[int, int], 0, 64)
				i := int(next.Add(97))
				for pb.Next() {
					dst = match(topics[i&1023], dst[:0])
					i++
				}
			})
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(writes.Load())/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkTrieSubscribe is the writer's cost: one Subscribe plus one
// Unsubscribe, each a separately published snapshot.
func BenchmarkTrieSubscribe(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("subs="+size.name, func(b *testing.B) {
			t := benchTrie(b, size.n)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				f := benchFilter(i % size.n)
				_, _ = t.Subscribe(f, -1, i)
				t.Unsubscribe(f, -1)
				i++
			}
		})
	}
}

// BenchmarkTrieBatchLoad is a startup load of the replicated subscriber
// table; ns/op is per subscription.
func BenchmarkTrieBatchLoad(b *testing.B) {
	const n = 100_000
	filters := make([]string, n)
	for i := range filters {
		filters[i] = benchFilter(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		var t Trie[int, int]
		t.Batch(func(bt *Batch[int, int]) {
			for i, f := range filters {
				_, _ = bt.Subscribe(f, i, i)
			}
		})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sub")
}

var benchIndexes sync.Map // int -> *RetainedIndex[int]

// benchIndex retains "site/S/dev/D/temp" for 100 devices per site.
func benchIndex(b *testing.B, total int) *RetainedIndex[int] {
	if x, ok := benchIndexes.Load(total); ok {
		return x.(*RetainedIndex[int])
	}
	x := new(RetainedIndex[int])
	x.Batch(func(rb *RetainedBatch[int]) {
		for i := range total {
			if err := rb.Set(fmt.Sprintf("site/%d/dev/%d/temp", i/100, i%100), i); err != nil {
				b.Fatal(err)
			}
		}
	})
	benchIndexes.Store(total, x)
	runtime.GC()
	return x
}

// BenchmarkRetainedMatch subscribes "site/7/dev/+/temp", which matches 100
// retained topics whatever the total; ns/op should not grow with it.
func BenchmarkRetainedMatch(b *testing.B) {
	for _, size := range benchSizes[1:] {
		b.Run("retained="+size.name, func(b *testing.B) {
			x := benchIndex(b, size.n)
			matched := 0
			fn := func(string, int) bool { matched++; return true }
			b.ReportAllocs()
			for b.Loop() {
				x.Match("site/7/dev/+/temp", fn)
			}
			b.ReportMetric(float64(matched)/float64(b.N), "matches/op")
		})
	}
}

// BenchmarkRetainedSet: replacing an existing retained message (the fast
// path) versus adding and deleting a new topic.
func BenchmarkRetainedSet(b *testing.B) {
	x := benchIndex(b, 1_000_000)
	b.Run("existing", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = x.Set("site/42/dev/17/temp", i)
			i++
		}
	})
	b.Run("new+delete", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = x.Set("site/42/dev/17/hum", 1)
			x.Delete("site/42/dev/17/hum")
		}
	})
}
