package cluster

import "sync"

// watcher feeds one Watch subscriber. Its queue is unbounded: membership events are rare (a
// few per node joining, leaving or failing), and dropping one would leave a subscriber such as
// the router believing a dead node alive. A subscriber that never reads costs memory, not a
// stalled membership layer. One goroutine per watcher moves events from the queue to the
// channel so that publish never blocks.
type watcher struct {
	out  chan MemberEvent
	wake chan struct{} // 1-buffered
	stop chan struct{}
	once sync.Once

	mu    sync.Mutex
	queue []MemberEvent // guarded by mu
}

func newWatcher() *watcher {
	return &watcher{out: make(chan MemberEvent), wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// publish queues e and returns at once.
func (w *watcher) publish(e MemberEvent) {
	w.mu.Lock()
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run delivers queued events in order until stopped, then closes out.
func (w *watcher) run() {
	defer close(w.out)
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, e := range batch {
			select {
			case w.out <- e:
			case <-w.stop:
				return
			}
		}
		select {
		case <-w.wake:
		case <-w.stop:
			return
		}
	}
}

func (w *watcher) close() { w.once.Do(func() { close(w.stop) }) }

// watchers is the set of Watch subscribers of a Transport.
type watchers struct {
	mu  sync.Mutex
	set map[*watcher]struct{} // guarded by mu
}

// add registers a subscriber and returns its channel and stop function.
func (ws *watchers) add() (<-chan MemberEvent, func()) {
	w := newWatcher()
	ws.mu.Lock()
	if ws.set == nil {
		ws.set = map[*watcher]struct{}{}
	}
	ws.set[w] = struct{}{}
	ws.mu.Unlock()
	go w.run()
	return w.out, func() {
		ws.mu.Lock()
		delete(ws.set, w)
		ws.mu.Unlock()
		w.close()
	}
}

func (ws *watchers) publish(e MemberEvent) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.set {
		w.publish(e)
	}
}

// closeAll stops every subscriber; their channels close.
func (ws *watchers) closeAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.set {
		w.close()
	}
	ws.set = nil
}
