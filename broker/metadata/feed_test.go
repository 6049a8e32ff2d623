package metadata_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func TestFeedFanOutAndRelease(t *testing.T) {
	var f metadata.Feed // the zero Feed is usable
	fp2 := metadata.FullPrefix{Prefix: "test", Sub: "other"}
	f.Publish(metadata.Event{FP: fp}) // nobody listens: dropped, not queued
	if q := f.Queued(); q != 0 {
		t.Fatalf("Queued = %d with no subscribers", q)
	}
	goroutines := runtime.NumGoroutine()

	const subs, events = 8, 1000
	chans := make([]<-chan metadata.Event, subs)
	cancels := make([]func(), subs)
	for i := range subs {
		chans[i], cancels[i] = f.Subscribe(fp, i%2 == 0) // even ones skip local events
	}
	other, cancelOther := f.Subscribe(fp2, false)
	if n := f.Subscriptions(); n != subs+1 {
		t.Fatalf("Subscriptions = %d; want %d", n, subs+1)
	}
	for i := range events {
		f.Publish(metadata.Event{FP: fp, Key: fmt.Appendf(nil, "%d", i), Local: i%3 == 0})
	}
	f.Publish(metadata.Event{FP: fp2, Key: []byte("x")})

	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Go(func() {
			for j := range events {
				if i%2 == 0 && j%3 == 0 {
					continue // skipped local event
				}
				if e := <-ch; string(e.Key) != fmt.Sprint(j) {
					t.Errorf("subscriber %d: got key %s; want %d", i, e.Key, j)
					return
				}
			}
		})
	}
	wg.Wait()
	if e := <-other; string(e.Key) != "x" {
		t.Fatalf("other prefix got %q", e.Key)
	}

	for _, c := range cancels {
		c()
	}
	cancelOther()
	for _, ch := range chans {
		if _, ok := <-ch; ok {
			t.Fatal("event after cancel")
		}
	}
	if n, q := f.Subscriptions(), f.Queued(); n != 0 || q != 0 {
		t.Fatalf("after cancel: %d subscriptions, %d queued; want 0, 0", n, q)
	}
	// Exited goroutines leave the count shortly after they signal it.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Fatalf("%d goroutines after cancel; %d before subscribing", g, goroutines)
	}
}

// A subscriber may cancel from inside its own receive loop, with events
// still queued.
func TestFeedCancelFromConsumer(t *testing.T) {
	var f metadata.Feed
	ch, cancel := f.Subscribe(fp, false)
	for range 100 {
		f.Publish(metadata.Event{FP: fp})
	}
	n := 0
	for range ch {
		if n++; n == 10 {
			cancel()
		}
	}
	if n != 10 || f.Queued() != 0 {
		t.Fatalf("received %d events, %d still queued; want 10, 0", n, f.Queued())
	}
}

func TestFeedClose(t *testing.T) {
	var f metadata.Feed
	ch, cancel := f.Subscribe(fp, false)
	f.Publish(metadata.Event{FP: fp})
	f.Close()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
	cancel() // after Close: a no-op
	ch, cancel = f.Subscribe(fp, false)
	defer cancel()
	if _, ok := <-ch; ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
	f.Publish(metadata.Event{FP: fp})
	if f.Queued() != 0 || f.Subscriptions() != 0 {
		t.Fatalf("closed feed holds %d events, %d subscriptions", f.Queued(), f.Subscriptions())
	}
}
