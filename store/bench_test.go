package store_test

import (
	"fmt"
	"testing"

	"github.com/nautilus-mq/nautilus/store"
)

// BenchmarkCommit measures one small batch per op on RocksDB per sync policy, single
// goroutine and 8 goroutines (where group commit can share syncs).
func BenchmarkCommit(b *testing.B) {
	for _, par := range []int{1, 8} {
		for _, p := range []store.SyncPolicy{store.SyncAlways, store.SyncBatch, store.SyncOff} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", p, par), func(b *testing.B) {
				db, err := store.Open(store.Options{Dir: b.TempDir(), Sync: p})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				val := make([]byte, 100)
				b.ReportAllocs()
				b.SetParallelism((par + 1) / 2)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					k := make([]byte, 8)
					for i := 0; pb.Next(); i++ {
						k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
						bt := db.NewBatch()
						bt.Put(store.Messages, k, val)
						if err := bt.Commit(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(db.Stats().Syncs)/float64(b.N), "syncs/op")
			})
		}
	}
}
