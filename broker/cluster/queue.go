package cluster

import "sync"

// outQueue is one peer's outgoing buffer: frames already encoded back to back, waiting for the
// link's writer. Encoding at Send time copies the caller's bytes (Send returns before they are
// written, and the caller may reuse its buffer) and lets the writer hand many frames to one
// Write call. The writer swaps the whole buffer out with a spare one, so a steady stream of
// small messages costs no allocation.
//
// The buffer outlives links: what is queued while a link is down goes out on the next one,
// as VerneMQ's outgoing_clustering_buffer_size does. It is emptied when the peer leaves or fails.
type outQueue struct {
	limit int           // bytes; immutable
	wake  chan struct{} // 1-buffered: a coalesced "there is something to write"

	mu     sync.Mutex
	buf    []byte // guarded by mu
	frames int    // frames in buf; guarded by mu
}

func newOutQueue(limit int) *outQueue {
	return &outQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// push encodes f at the end of the buffer. Unless force is set it refuses a frame that would
// take the buffer past its limit. Responses and pongs are forced: a requester is already
// waiting for them, and they are bounded by the requests the peer itself sent.
func (q *outQueue) push(f *frame, force bool) bool {
	size := frameSize(f)
	q.mu.Lock()
	if !force && len(q.buf)+size > q.limit {
		q.mu.Unlock()
		return false
	}
	q.buf = appendFrame(q.buf, f)
	q.frames++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns everything queued and leaves spare (emptied) in its place.
func (q *outQueue) take(spare []byte) (batch []byte, frames int) {
	q.mu.Lock()
	batch, frames = q.buf, q.frames
	q.buf, q.frames = spare[:0], 0
	q.mu.Unlock()
	return batch, frames
}

// reset drops everything queued, for a peer that left or failed.
func (q *outQueue) reset() {
	q.mu.Lock()
	q.buf, q.frames = nil, 0
	q.mu.Unlock()
}

// queued is the number of bytes waiting.
func (q *outQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf)
}
