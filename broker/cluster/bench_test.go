package cluster

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkSend100B measures one-way throughput of 100-byte messages from a to b over
// loopback, until b has received them all. A full buffer makes the sender yield and retry,
// so the figure is what the link sustains, not how fast a buffer fills.
func BenchmarkSend100B(b *testing.B) {
	nodes := startCluster(b, "a", "b")
	a, dst := nodes[0], nodes[1]
	var got atomic.Int64
	dst.Handle(ChanRouting, HandlerFuncs{Message: func(string, []byte) { got.Add(1) }})
	msg := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for range b.N {
		for {
			err := a.Send("b", ChanRouting, msg)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrBufferFull) {
				b.Fatal(err)
			}
			runtime.Gosched()
		}
	}
	for got.Load() < int64(b.N) {
		runtime.Gosched()
	}
}

// BenchmarkRequest measures the round trip of a 100-byte request and answer.
func BenchmarkRequest(b *testing.B) {
	nodes := startCluster(b, "a", "b")
	a, dst := nodes[0], nodes[1]
	dst.Handle(ChanMetaRPC, HandlerFuncs{Request: func(_ context.Context, _ string, req []byte) ([]byte, error) {
		return req, nil
	}})
	req := make([]byte, 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := a.Request(ctx, "b", ChanMetaRPC, req); err != nil {
			b.Fatal(err)
		}
	}
}
