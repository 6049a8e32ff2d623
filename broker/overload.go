package broker

import (
	"context"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// overload sheds new connections when the node is past its configured limits: heap memory
// (overload.max_memory) or messages queued node-wide (overload.max_queued_messages). Memory is
// sampled once a second, because reading it costs more than a CONNECT should pay; the queued
// total is a shared counter every queue keeps up to date.
type overload struct {
	maxMemory int64
	maxQueued int64
	queued    atomic.Int64
	heap      atomic.Int64
	shedding  atomic.Bool
	onChange  func(shedding bool, heap, queued int64)
}

func (o *overload) admit() bool {
	over := (o.maxMemory > 0 && o.heap.Load() > o.maxMemory) || (o.maxQueued > 0 && o.queued.Load() > o.maxQueued)
	if o.shedding.Swap(over) != over && o.onChange != nil {
		o.onChange(over, o.heap.Load(), o.queued.Load())
	}
	return !over
}

// sample keeps the heap figure fresh until ctx ends.
func (o *overload) sample(ctx context.Context) {
	if o.maxMemory <= 0 {
		return
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			o.heap.Store(int64(s[0].Value.Uint64()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
