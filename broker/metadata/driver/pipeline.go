package driver

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// The pipeline carries out a core's Ready in two halves. Under the core's lock the writes are
// applied to the engine without waiting for its sync (readers see them, a crash of the process
// keeps them), and the flush joins the queue. The dispatcher, one goroutine, takes the queue
// in order, waits once for the sync of the newest batch (the engine's group commit: one fsync
// covers every batch applied before it), then sends the flushes' messages and publishes their
// events. So nothing reaches a peer or a subscriber before it is durable, as before, but the
// lock is no longer held through an fsync: concurrent writers apply one after the other in
// microseconds and share the sync.

// flush is one carried-out Ready waiting for its sync. It is a metadata.Durable: SyncWait
// returns once its writes are durable and its messages sent.
type flush struct {
	batch  store.Batch // nil when the Ready persisted nothing
	sends  []sim.Envelope
	events []metadata.Event
	done   chan struct{}
	err    error
}

// SyncWait implements metadata.Durable.
func (f *flush) SyncWait() error {
	<-f.done
	return f.err
}

// doneFlush is the flush of a Ready that carried nothing.
var doneFlush = func() *flush { f := &flush{done: make(chan struct{})}; close(f.done); return f }()

// enqueue hands f to the dispatcher. Called under d.mu, so flushes queue in commit order.
func (d *Driver[C]) enqueue(f *flush) {
	d.pipeMu.Lock()
	d.pipe = append(d.pipe, f)
	d.pipeMu.Unlock()
	select {
	case d.pipeWake <- struct{}{}:
	default:
	}
}

// dispatchLoop is the dispatcher. On stop it finishes what is queued, so that a write applied
// before Close is still synced, sent and answered.
func (d *Driver[C]) dispatchLoop() {
	defer d.dispatchDone.Done()
	var items []*flush
	for {
		d.pipeMu.Lock()
		items, d.pipe = d.pipe, items[:0]
		d.pipeMu.Unlock()
		if len(items) == 0 {
			select {
			case <-d.pipeWake:
				continue
			case <-d.pipeStop:
				d.pipeMu.Lock()
				n := len(d.pipe)
				d.pipeMu.Unlock()
				if n == 0 {
					return
				}
				continue
			}
		}
		d.dispatch(items)
		clear(items)
	}
}

// dispatch syncs, sends and publishes items, in order.
func (d *Driver[C]) dispatch(items []*flush) {
	var last store.Batch
	for _, f := range items {
		if f.batch != nil {
			last = f.batch
		}
	}
	var err error
	if last != nil {
		if err = last.SyncWait(); err != nil {
			err = d.fail(err)
		}
	}
	for _, f := range items {
		if err == nil {
			for _, env := range f.sends {
				if serr := d.tr.Send(env.To, cluster.ChanMetadata, env.Data); serr != nil {
					// Lost like a dropped packet: the protocol's repair (lazy pushes,
					// anti-entropy) reaches the peer later.
					d.sendFailures.Add(1)
				}
			}
			for _, ev := range f.events {
				d.feed.Publish(ev)
			}
		}
		f.err = err
		close(f.done)
	}
}

// fail stops the node after a failed sync: the core's memory is ahead of the disk, and sending
// what was not persisted could spread a write (or a version) that a restart would lose.
func (d *Driver[C]) fail(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed == nil {
		d.failed = fmt.Errorf("%w: %w", d.errFailed, err)
		d.log.Error("storage sync failed; node stopped", "err", err)
	}
	return d.failed
}

// PutAsync is Put that returns once the write is applied, in the core and the engine, without
// waiting for its durability: a Get sees it at once, a crash of the process keeps it, and the
// Durable's SyncWait returns once it is as durable as the engine's policy requires (and sent
// to the peers). Writes of one caller keep their order.
func (d *Driver[C]) PutAsync(ctx context.Context, fp metadata.FullPrefix, key, val []byte) (metadata.Durable, error) {
	return d.doAsync(ctx, "put", fp, func(c sim.LocalAPI) error { return c.Put(fp, key, val) })
}

// DeleteAsync is Delete as PutAsync is Put.
func (d *Driver[C]) DeleteAsync(ctx context.Context, fp metadata.FullPrefix, key []byte) (metadata.Durable, error) {
	return d.doAsync(ctx, "delete", fp, func(c sim.LocalAPI) error { return c.Delete(fp, key) })
}

// doAsync runs one call on the core under the lock, bypassing the batcher: its effect must be
// visible to the next call at once.
func (d *Driver[C]) doAsync(ctx context.Context, op string, fp metadata.FullPrefix, fn func(sim.LocalAPI) error) (metadata.Durable, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, fp, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, fp, err)
	}
	err := fn(d.core)
	f, ferr := d.flushLocked()
	if ferr != nil {
		return nil, fmt.Errorf("%s %s: %w", op, fp, ferr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, fp, err)
	}
	return f, nil
}
