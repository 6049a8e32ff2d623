package mqttload

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// These benchmarks run a broker in this process so that `go test -cpuprofile/-memprofile`
// profiles it together with the load (cmd/nautilus has no profiling flag, on purpose):
//
//	go test ./bench/mqttload -run '^$' -bench BrokerFanIn -benchtime 1x -cpuprofile /tmp/cpu.out
//	go tool pprof -top -focus 'nautilus/broker' /tmp/cpu.out
//	go test ./bench/mqttload -run '^$' -bench BrokerConnect -benchtime 3000x -cpuprofile /tmp/connect.out
//	BENCH_HEAP_PROFILE=/tmp/heap.out go test ./bench/mqttload -run '^$' -bench BrokerIdle -benchtime 1x
//	go tool pprof -sample_index=inuse_space -top /tmp/heap.out
//
// The generator shares the process: read the profile for the broker's packages.

func profileBroker(b *testing.B) *brokertest.Node {
	return brokertest.Start(b, func(c *config.Config) {
		c.Sessions.MaxOnlineMessages = -1
		c.Sessions.MaxInflightMessages = 1000
	})
}

// BenchmarkBrokerFanIn is the fan-in scenario (8 publishers → 1 subscriber) at QoS 0, 1, 2 for
// 2 s per iteration.
func BenchmarkBrokerFanIn(b *testing.B) {
	for _, qos := range []byte{0, 1, 2} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			n := profileBroker(b)
			var msgs, lost float64
			for range b.N {
				r, err := Run(context.Background(), FanIn, Config{Addr: n.Addr, QoS: qos, Publishers: 8, Duration: 2 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				msgs += r.MsgsPerSec
				lost += float64(r.Lost)
			}
			b.ReportMetric(msgs/float64(b.N), "msgs/s")
			b.ReportMetric(lost/float64(b.N), "lost/op")
		})
	}
}

// BenchmarkBrokerIdle opens 2000 connections with bare sockets (a CONNECT written, the CONNACK
// read, nothing else: no goroutine or buffer on the client side) and reports what the process
// grew by per connection, which is then the broker's: heap in use, goroutine stacks and
// goroutines.
func BenchmarkBrokerIdle(b *testing.B) {
	const conns = 2000
	heapFile := os.Getenv("BENCH_HEAP_PROFILE")
	if heapFile != "" {
		// Sample finely: the default (one per 512 KiB) misses most per-connection objects.
		runtime.MemProfileRate = 512
	}
	n := profileBroker(b)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		var socks []net.Conn
		for i := range conns {
			c, err := net.Dial("tcp", n.Addr)
			if err != nil {
				b.Fatal(err)
			}
			p, _ := packet.Encode(nil, packet.V311, &packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: fmt.Sprintf("idle-%d", i)})
			if _, err := c.Write(p); err != nil {
				b.Fatal(err)
			}
			ack := make([]byte, 4)
			if _, err := io.ReadFull(c, ack); err != nil {
				b.Fatal(err)
			}
			socks = append(socks, c)
		}
		time.Sleep(500 * time.Millisecond)
		// Twice: stacks of goroutines that exited (handshakes, writers) are given back to the
		// heap only by the second collection after they were freed.
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/conns, "heap-B/conn")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/conns, "stack-B/conn")
		b.ReportMetric(float64(g1-g0)/conns, "goroutines/conn")
		if heapFile != "" {
			// Written while the connections are open: -memprofile would be taken after
			// they closed.
			f, err := os.Create(heapFile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		for _, c := range socks {
			c.Close()
		}
	}
}

// BenchmarkBrokerConnect is the connection storm: each op is one connection opened with a
// bare socket (CONNECT written, CONNACK read) by one of 8 dialers, then closed at the end.
func BenchmarkBrokerConnect(b *testing.B) {
	n := profileBroker(b)
	var next atomic.Int64
	socks := make([]net.Conn, b.N)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				c, err := net.Dial("tcp", n.Addr)
				if err != nil {
					b.Error(err)
					return
				}
				p, _ := packet.Encode(nil, packet.V311, &packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: fmt.Sprintf("storm-%d", i)})
				if _, err := c.Write(p); err != nil {
					b.Error(err)
					return
				}
				ack := make([]byte, 4)
				if _, err := io.ReadFull(c, ack); err != nil {
					b.Error(err)
					return
				}
				socks[i] = c
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
	b.StopTimer()
	for _, c := range socks {
		if c != nil {
			c.Close()
		}
	}
}
