package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/persist"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
	"github.com/nautilus-mq/nautilus/store"
)

// BenchmarkForwardQoS1 measures a QoS 1 publish on n1 reaching a subscriber on n2 over the
// in-process network, with the messages held in memory only and with the outbox on RocksDB
// (store.sync = off, so the figure is the CPU of the write, not the disk's latency). Like a
// connection's reader, it does not wait for each publish to be stored, only for each window of
// 64 (a client's in-flight window).
func BenchmarkForwardQoS1(b *testing.B) {
	for _, withOutbox := range []bool{false, true} {
		b.Run(fmt.Sprintf("outbox=%v", withOutbox), func(b *testing.B) {
			net := cluster.NewLocalNetwork()
			nodes := startNodes(b, net, PreferLocal, 1<<30, "n1", "n2")
			n1 := nodes["n1"]
			if withOutbox {
				db, err := store.Open(store.Options{Dir: b.TempDir(), Sync: store.SyncOff, ExtraKeyspaces: persist.Keyspaces})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { db.Close() })
				ps, err := persist.Open(db)
				if err != nil {
					b.Fatal(err)
				}
				n1.reg.Close()
				n1.reg = startRegistry(b, n1, PreferLocal, 1<<30, func(o *Options) { o.Outbox = ps.Outbox() })
			}
			q := nodes["n2"].queues.add("sub", true)
			nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "t", QoS: 1}})
			waitFor(b, "n1 learns", func() bool { return n1.reg.Subscriptions() == 1 })
			payload := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			got := 0
			var pend queue.Pending
			for i := 0; i < b.N; i++ {
				n1.reg.PublishNoWait(&message.Message{ID: message.NextID(), Topic: "t", QoS: 1, Payload: payload}, &pend)
				if i%64 == 63 {
					if err := pend.Wait(); err != nil {
						b.Fatal(err)
					}
					got += len(q.Take(nil, 1<<20, time.Now()))
				}
			}
			waitFor(b, "deliveries", func() bool {
				got += len(q.Take(nil, 1<<20, time.Now()))
				return got == b.N
			})
		})
	}
}
