package queue

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
)

func del(n int, qos byte) Delivery {
	return Delivery{Msg: &message.Message{ID: uint64(n), QoS: qos}, QoS: qos}
}

func ids(ds []Delivery) []uint64 {
	var out []uint64
	for _, d := range ds {
		out = append(out, d.Msg.ID)
	}
	return out
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFIFORefusesNewestWhenFull(t *testing.T) {
	var drops []uint64
	q := New(Policy{Type: FIFO, MaxOnline: -1, MaxOffline: 3}, func(d Delivery, r DropReason) {
		if r != DropQueueFull {
			t.Errorf("reason %s", r)
		}
		drops = append(drops, d.Msg.ID)
	})
	for i := 1; i <= 5; i++ {
		q.Enqueue(del(i, 1))
	}
	got := ids(q.Take(nil, 10, time.Now()))
	if !equal(got, []uint64{1, 2, 3}) || !equal(drops, []uint64{4, 5}) {
		t.Fatalf("took %v dropped %v; want [1 2 3] and [4 5]", got, drops)
	}
	if q.Dropped() != 2 {
		t.Fatalf("Dropped = %d", q.Dropped())
	}
}

func TestLIFODropsOldestAndDeliversNewestFirst(t *testing.T) {
	var drops []uint64
	q := New(Policy{Type: LIFO, MaxOnline: -1, MaxOffline: 3}, func(d Delivery, _ DropReason) { drops = append(drops, d.Msg.ID) })
	for i := 1; i <= 5; i++ {
		q.Enqueue(del(i, 1))
	}
	got := ids(q.Take(nil, 10, time.Now()))
	if !equal(got, []uint64{5, 4, 3}) || !equal(drops, []uint64{1, 2}) {
		t.Fatalf("took %v dropped %v; want [5 4 3] and [1 2]", got, drops)
	}
}

func TestOfflineQoS0(t *testing.T) {
	var reasons []DropReason
	q := New(Policy{MaxOnline: -1, MaxOffline: -1}, func(_ Delivery, r DropReason) { reasons = append(reasons, r) })
	if q.Enqueue(del(1, 0)) {
		t.Fatal("offline QoS 0 kept without QoS0Offline")
	}
	q.SetOnline(true)
	if !q.Enqueue(del(2, 0)) {
		t.Fatal("online QoS 0 refused")
	}
	q.SetOnline(false)
	q.SetPolicy(Policy{MaxOnline: -1, MaxOffline: -1, QoS0Offline: true})
	if !q.Enqueue(del(3, 0)) {
		t.Fatal("offline QoS 0 refused with QoS0Offline")
	}
	if len(reasons) != 1 || reasons[0] != DropOfflineQoS0 {
		t.Fatalf("reasons %v", reasons)
	}
}

func TestOnlineAndOfflineBounds(t *testing.T) {
	q := New(Policy{MaxOnline: 1, MaxOffline: 2}, nil)
	q.SetOnline(true)
	q.Enqueue(del(1, 1))
	if q.Enqueue(del(2, 1)) {
		t.Fatal("online bound not enforced")
	}
	q.SetOnline(false)
	if !q.Enqueue(del(3, 1)) {
		t.Fatal("offline bound applied while online bound was in force")
	}
}

func TestExpiredDroppedOnTake(t *testing.T) {
	now := time.Now()
	var reasons []DropReason
	q := New(Policy{MaxOnline: -1, MaxOffline: -1}, func(_ Delivery, r DropReason) { reasons = append(reasons, r) })
	d := del(1, 1)
	d.Msg.ExpiresAt = now.Add(time.Second)
	q.Enqueue(d)
	q.Enqueue(del(2, 1))
	got := ids(q.Take(nil, 10, now.Add(2*time.Second)))
	if !equal(got, []uint64{2}) || len(reasons) != 1 || reasons[0] != DropExpired {
		t.Fatalf("took %v reasons %v", got, reasons)
	}
}

func TestPushFrontKeepsOrder(t *testing.T) {
	for _, typ := range []Type{FIFO, LIFO} {
		q := New(Policy{Type: typ, MaxOnline: -1, MaxOffline: -1}, nil)
		for i := 1; i <= 4; i++ {
			q.Enqueue(del(i, 1))
		}
		first := q.Take(nil, 2, time.Now())
		q.PushFront(first)
		all := ids(q.Take(nil, 10, time.Now()))
		want := []uint64{1, 2, 3, 4}
		if typ == LIFO {
			want = []uint64{4, 3, 2, 1}
		}
		if !equal(all, want) {
			t.Fatalf("type %d: after PushFront took %v; want %v", typ, all, want)
		}
	}
}

// chanWaker turns wakes into a channel signal, as a connection's writer would hear them.
type chanWaker chan struct{}

func (w chanWaker) Wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

func TestWaiterWokenWithoutBlocking(t *testing.T) {
	q := New(Policy{MaxOnline: -1, MaxOffline: -1}, nil)
	w := make(chanWaker, 1)
	q.AddWaiter(w)
	<-w // woken at once, for work already queued
	q.SetOnline(true)
	<-w
	for i := range 100 { // must not block although nobody reads the signal
		q.Enqueue(del(i, 1))
	}
	select {
	case <-w:
	default:
		t.Fatal("no wake after enqueue")
	}
	q.RemoveWaiter(w)
	q.Enqueue(del(100, 1))
	select {
	case <-w:
		t.Fatal("woken after RemoveWaiter")
	default:
	}
}

func TestConcurrentEnqueueTake(t *testing.T) {
	q := New(Policy{MaxOnline: -1, MaxOffline: -1}, nil)
	q.SetOnline(true)
	w := make(chanWaker, 1)
	q.AddWaiter(w)
	const producers, per = 4, 1000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				q.Enqueue(del(p*per+i, 1))
			}
		}()
	}
	got := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for got < producers*per {
		got += len(q.Take(nil, 64, time.Now()))
		select {
		case <-w:
		case <-done:
		case <-time.After(time.Second):
		}
	}
	if got != producers*per {
		t.Fatalf("took %d of %d", got, producers*per)
	}
}

func BenchmarkEnqueueTake(b *testing.B) {
	q := New(Policy{MaxOnline: -1, MaxOffline: -1}, nil)
	q.SetOnline(true)
	m := &message.Message{QoS: 1}
	buf := make([]Delivery, 0, 64)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q.Enqueue(Delivery{Msg: m, QoS: 1})
		if i%32 == 31 {
			buf = q.Take(buf[:0], 64, now)
		}
	}
}

func TestTotalTracksNodeWideBacklog(t *testing.T) {
	var total atomic.Int64
	p := Policy{Type: LIFO, MaxOnline: 2, MaxOffline: 2, Total: &total}
	a, b := New(p, nil), New(p, nil)
	for i := range 3 { // the third evicts the oldest: the count stays at 2
		a.Enqueue(del(i, 1))
	}
	b.Enqueue(del(10, 1))
	if total.Load() != 3 {
		t.Fatalf("total = %d after enqueues; want 3", total.Load())
	}
	taken := a.Take(nil, 1, time.Now())
	if total.Load() != 2 {
		t.Fatalf("total = %d after take; want 2", total.Load())
	}
	a.PushFront(taken)
	b.Drain(DropSessionGone)
	if total.Load() != 2 {
		t.Fatalf("total = %d after push front and drain; want 2", total.Load())
	}
}

// TestWaitersAllHearOfWork: every waiter added with AddWaiter is woken for new work (a
// session shared by several connections wakes each writer), and a removed one no longer is.
func TestWaitersAllHearOfWork(t *testing.T) {
	q := New(Policy{MaxOnline: -1, MaxOffline: -1}, nil)
	q.SetOnline(true)
	a, b := make(chanWaker, 1), make(chanWaker, 1)
	q.AddWaiter(a)
	q.AddWaiter(b)
	<-a // AddWaiter signals at once, for work already queued
	<-b
	q.Enqueue(del(1, 1))
	for name, ch := range map[string]chanWaker{"a": a, "b": b} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatalf("waiter %s not signalled", name)
		}
	}
	q.RemoveWaiter(a)
	q.Enqueue(del(2, 1))
	select {
	case <-a:
		t.Fatal("removed waiter signalled")
	case <-b:
	}
	if got := ids(q.Take(nil, 10, time.Now())); !equal(got, []uint64{1, 2}) {
		t.Fatalf("Take = %v", got)
	}
}
