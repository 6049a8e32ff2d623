package broker_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
)

// subscriberLoop reads and acknowledges deliveries on c and reports each one on got.
func subscriberLoop(c *brokertest.Raw, got chan<- struct{}) {
	for {
		p, err := c.ReadErr(30 * time.Second)
		if err != nil {
			return
		}
		if pub, ok := p.(*packet.Publish); ok {
			if pub.QoS == 1 {
				buf, _ := packet.Encode(nil, c.Version, &packet.Puback{PacketID: pub.PacketID})
				c.Conn.Write(buf)
			}
			got <- struct{}{}
		}
	}
}

func benchBroker(b *testing.B) *brokertest.Node {
	return brokertest.Start(b, func(c *config.Config) {
		c.Sessions.MaxOnlineMessages = -1
		c.Sessions.MaxInflightMessages = 0
	})
}

// BenchmarkPublishFanOut measures one publisher reaching N subscribers of one topic: each
// op is one PUBLISH, delivered N times. The persistent runs give the subscribers sessions that
// outlive them, so every QoS 1 delivery is written to the message store and acknowledged there.
func BenchmarkPublishFanOut(b *testing.B) {
	type run struct {
		qos        byte
		subs       int
		persistent bool
	}
	runs := []run{{0, 1, false}, {0, 100, false}, {1, 1, false}, {1, 100, false}, {1, 1, true}, {1, 8, true}}
	for _, r := range runs {
		name := fmt.Sprintf("qos%d/subs%d", r.qos, r.subs)
		if r.persistent {
			name += "/persistent"
		}
		b.Run(name, func(b *testing.B) { benchFanOut(b, r.qos, r.subs, r.persistent) })
	}
}

func benchFanOut(b *testing.B, qos byte, subs int, persistent bool) {
	n := benchBroker(b)
	got := make(chan struct{}, 1<<16)
	for i := range subs {
		c, _ := brokertest.Connect(b, n.Addr, packet.V311, fmt.Sprintf("s%d", i), func(c *packet.Connect) { c.CleanStart = !persistent })
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/+", QoS: qos}}})
		c.Read()
		go subscriberLoop(c, got)
	}
	pub, _ := brokertest.Connect(b, n.Addr, packet.V311, "pub", nil)
	go func() { // drain PUBACKs
		for {
			if _, err := pub.ReadErr(30 * time.Second); err != nil {
				return
			}
		}
	}()
	payload := make([]byte, 64)
	buf, _ := packet.Encode(nil, packet.V311, &packet.Publish{Topic: "bench/x", QoS: qos, PacketID: 1, Payload: payload})
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pub.SendBytes(buf)
	}
	for i := 0; i < b.N*subs; i++ {
		<-got
	}
	b.ReportMetric(float64(b.N*subs)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkPublishFanIn measures N publishers sending to one subscriber.
func BenchmarkPublishFanIn(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d/pubs8", qos), func(b *testing.B) {
			n := benchBroker(b)
			got := make(chan struct{}, 1<<16)
			sub, _ := brokertest.Connect(b, n.Addr, packet.V311, "sub", nil)
			sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "in/#", QoS: qos}}})
			sub.Read()
			go subscriberLoop(sub, got)
			const pubs = 8
			var conns []*brokertest.Raw
			for i := range pubs {
				c, _ := brokertest.Connect(b, n.Addr, packet.V311, fmt.Sprintf("p%d", i), nil)
				conns = append(conns, c)
				go func() {
					for {
						if _, err := c.ReadErr(30 * time.Second); err != nil {
							return
						}
					}
				}()
			}
			buf, _ := packet.Encode(nil, packet.V311, &packet.Publish{Topic: "in/x", QoS: qos, PacketID: 1, Payload: make([]byte, 64)})
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / pubs
			for i, c := range conns {
				count := per
				if i == 0 {
					count += b.N % pubs
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range count {
						c.Conn.Write(buf)
					}
				}()
			}
			wg.Wait()
			for range b.N {
				<-got
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkIdleConnectionMemory reports the heap held per idle connected client: each op
// connects one more client, and the heap growth is divided by their number.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := benchBroker(b)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	clients := make([]*brokertest.Raw, 0, b.N)
	for i := 0; i < b.N; i++ {
		c, _ := brokertest.Connect(b, n.Addr, packet.V311, fmt.Sprintf("idle-%d", i), nil)
		clients = append(clients, c)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The clients live in this process too; their share (a socket and a read buffer each) is
	// included, so the figure is an upper bound on the broker's cost.
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "heap-bytes/conn")
	for _, c := range clients {
		c.Conn.Close()
	}
}

// BenchmarkConnectSubscribe is a device storm: each op is one client that connects (clean),
// subscribes to a topic of its own at QoS 1, waits for its SUBACK and disconnects, with 8 such
// clients at a time, on the node's default store.sync (batch) and the Plumtree backend that
// `nautilus start` runs.
func BenchmarkConnectSubscribe(b *testing.B) {
	n, _ := brokertest.StartWith(b, nil, broker.Options{Backend: plumtreeBackend()})
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				c, _ := brokertest.Connect(b, n.Addr, packet.V5, fmt.Sprint("dev-", i), nil)
				c.Subscribe(1, 1, fmt.Sprint("dev/", i))
				c.Send(&packet.Disconnect{})
				c.Conn.Close()
			}
		}()
	}
	wg.Wait()
}

// plumtreeBackend is the backend cmd/nautilus links by default.
func plumtreeBackend() *broker.Backend {
	return &broker.Backend{
		Name:      "plumtree",
		Keyspaces: []store.Keyspace{plumtree.Keyspace},
		Open: func(env broker.BackendEnv) (metadata.Store, error) {
			return plumtree.Open(plumtree.Options{Transport: env.Transport, Engine: env.Engine, Membership: env.Membership, Logger: env.Log})
		},
	}
}

// BenchmarkRetainedStore is one client storing retained messages on distinct topics at QoS 1,
// with up to 100 PUBACKs outstanding, on the Plumtree backend: each op is one retained message
// stored and acknowledged.
func BenchmarkRetainedStore(b *testing.B) {
	n, _ := brokertest.StartWith(b, nil, broker.Options{Backend: plumtreeBackend()})
	c, _ := brokertest.Connect(b, n.Addr, packet.V311, "ret-pub", nil)
	acked := make(chan struct{}, 100)
	go func() {
		for {
			p, err := c.ReadErr(30 * time.Second)
			if err != nil {
				return
			}
			if _, ok := p.(*packet.Puback); ok {
				acked <- struct{}{}
			}
		}
	}()
	payload := make([]byte, 64)
	b.ResetTimer()
	for i := range b.N {
		if i >= 100 {
			<-acked
		}
		c.Send(&packet.Publish{Topic: fmt.Sprint("ret/", i), QoS: 1, PacketID: uint16(i%60000 + 1), Retain: true, Payload: payload})
	}
	for range min(b.N, 100) {
		<-acked
	}
}
