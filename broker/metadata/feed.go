package metadata

import (
	"sync"
	"sync/atomic"
)

// Feed fans events out to subscriptions, one FullPrefix each. It is the
// event half of a Store, shared by Memory and the backends.
//
// Publish never blocks: every subscription has its own unbounded queue (a
// slice behind a mutex) and one goroutine that forwards the queue to the
// subscriber's unbuffered channel. A slow or stuck subscriber therefore only
// grows its own queue (visible in Queued) and never delays a writer or
// another subscriber. Unbounded is deliberate: dropping an event would leave
// a routing trie silently wrong, while a backlog is visible and recovers.
//
// Events reach each subscription in the order Publish was called; callers
// that need commit order (all stores) call Publish in commit order, e.g.
// under their write lock.
//
// The zero Feed is ready to use. A Feed must not be copied after first use.
type Feed struct {
	mu     sync.RWMutex
	subs   map[FullPrefix][]*subscription
	closed bool
	n      int          // subscriptions, for Subscriptions
	queued atomic.Int64 // events pushed and not yet delivered or dropped
}

// subscription is one Subscribe call: its queue and forwarding goroutine.
type subscription struct {
	feed      *Feed
	fp        FullPrefix
	skipLocal bool

	mu      sync.Mutex
	queue   []Event
	stopped bool // set by the forwarder when it exits; push drops afterwards

	wake   chan struct{} // capacity 1: "the queue may be non-empty"
	done   chan struct{} // closed by cancel
	exited chan struct{} // closed when the forwarder has returned
	out    chan Event
	once   sync.Once
}

// Subscribe registers a subscription to fp. See Store.Subscribe. After
// Close, it returns a closed channel.
func (f *Feed) Subscribe(fp FullPrefix, skipLocal bool) (<-chan Event, func()) {
	s := &subscription{
		feed:      f,
		fp:        fp,
		skipLocal: skipLocal,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
		out:       make(chan Event),
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	}
	if f.subs == nil {
		f.subs = make(map[FullPrefix][]*subscription)
	}
	f.subs[fp] = append(f.subs[fp], s)
	f.n++
	f.mu.Unlock()
	go s.forward()
	return s.out, s.cancel
}

// Publish queues ev for every subscription of ev.FP (except those that skip
// local events, when ev.Local). It never blocks on subscribers.
func (f *Feed) Publish(ev Event) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, s := range f.subs[ev.FP] {
		if ev.Local && s.skipLocal {
			continue
		}
		s.push(ev)
	}
}

// Queued returns the number of events published and not yet received by
// their subscribers, over all subscriptions: the backlog of slow readers.
func (f *Feed) Queued() int { return int(f.queued.Load()) }

// Subscriptions returns the number of live subscriptions.
func (f *Feed) Subscriptions() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.n
}

// Close cancels every subscription (their channels close) and makes later
// Subscribe calls return a closed channel.
func (f *Feed) Close() {
	f.mu.Lock()
	f.closed = true
	var all []*subscription
	for _, subs := range f.subs {
		all = append(all, subs...)
	}
	f.mu.Unlock()
	for _, s := range all {
		s.cancel()
	}
}

func (f *Feed) remove(s *subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	subs := f.subs[s.fp]
	for i, x := range subs {
		if x == s {
			subs = append(subs[:i:i], subs[i+1:]...) // copy: Publish may hold the old slice
			f.n--
			break
		}
	}
	if len(subs) == 0 {
		delete(f.subs, s.fp)
	} else {
		f.subs[s.fp] = subs
	}
}

func (s *subscription) push(ev Event) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, ev)
	s.feed.queued.Add(1)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// cancel stops the forwarder, unregisters the subscription and waits until
// the channel is closed, so that no event is received after cancel returns.
func (s *subscription) cancel() {
	s.once.Do(func() {
		close(s.done)
		s.feed.remove(s)
		<-s.exited
	})
}

// maxSpare bounds the queue capacity kept for reuse after a burst, so that
// one burst does not pin its memory for the subscription's lifetime.
const maxSpare = 1024

// forward moves events from the queue to the channel. It swaps the whole
// queue out under the lock, so a writer takes the mutex for one append and
// never waits for a send.
func (s *subscription) forward() {
	defer close(s.exited)
	defer close(s.out)
	var spare []Event
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = spare
		s.mu.Unlock()
		if len(batch) == 0 {
			spare = batch
			select {
			case <-s.wake:
				continue
			case <-s.done:
				s.stop(0)
				return
			}
		}
		for i, ev := range batch {
			select {
			case s.out <- ev:
				s.feed.queued.Add(-1)
			case <-s.done:
				s.stop(len(batch) - i)
				return
			}
		}
		clear(batch) // drop references to keys and values
		if cap(batch) <= maxSpare {
			spare = batch[:0]
		} else {
			spare = nil
		}
	}
}

// stop marks the subscription stopped and discounts its undelivered events:
// pending taken out of the queue by the forwarder plus what is still queued.
func (s *subscription) stop(pending int) {
	s.mu.Lock()
	s.stopped = true
	pending += len(s.queue)
	s.queue = nil
	s.mu.Unlock()
	s.feed.queued.Add(-int64(pending))
}
