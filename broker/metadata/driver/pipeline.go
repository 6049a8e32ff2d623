package driver

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// The pipeline carries out a core's Ready outside the core's lock. Under the lock the core
// changes (in memory, where reads find it) and its Ready joins the queue. The dispatcher, one
// goroutine, takes the queue in order: it applies the writes of every flush it took as one
// engine batch without waiting for its sync (a crash of the process keeps them from then on);
// before it sends any message to a peer it waits for that batch's sync (the engine's group
// commit); then it sends the flushes' messages and publishes their events, in commit order.
// So nothing reaches a peer before it is durable, as before, while the core's lock is held
// neither through an fsync nor through an engine write: concurrent writers change the core one
// after the other in microseconds and share a write and a sync. A flush with nothing to send
// costs no sync until someone waits for it (SyncWait): a clean session's subscription, which
// nobody waits for, is never synced on its own.

// flush is one Ready on its way through the pipeline. It is a metadata.Durable: SyncWait
// returns once its writes are durable and its messages sent.
type flush struct {
	writes []sim.Write
	batch  store.Batch // the engine batch that applied writes; nil when there were none
	sends  []sim.Envelope
	events []metadata.Event
	done   chan struct{}
	err    error
}

// SyncWait implements metadata.Durable.
func (f *flush) SyncWait() error {
	<-f.done
	if f.err != nil || f.batch == nil {
		return f.err
	}
	return f.batch.SyncWait() // at once when the dispatcher's sync covered it
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

// dispatch applies, syncs (when it has messages for peers), sends and publishes items, in order.
func (d *Driver[C]) dispatch(items []*flush) {
	var writes []sim.Write
	sends := false
	for _, f := range items {
		writes = append(writes, f.writes...)
		sends = sends || len(f.sends) > 0
	}
	b, err := sim.Apply(d.eng, writes)
	if err != nil {
		err = d.fail(err)
	} else if b != nil {
		d.commits.Add(1)
		if sends {
			if err = b.SyncWait(); err != nil {
				err = d.fail(err)
			}
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
			// Events follow the apply (a reader sees the write already); they need not wait for
			// the sync, as nothing leaves the node with them.
			for _, ev := range f.events {
				d.feed.Publish(ev)
			}
		}
		if len(f.writes) > 0 {
			f.batch = b
		}
		f.err = err
		close(f.done)
	}
}

// fail stops the node after a failed write or sync: the core's memory is ahead of the disk, and
// sending what was not persisted could spread a write (or a version) that a restart would lose.
func (d *Driver[C]) fail(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed == nil {
		d.failed = fmt.Errorf("%w: %w", d.errFailed, err)
		d.log.Error("storage commit failed; node stopped", "err", err)
	}
	return d.failed
}

// PutAsync is Put that returns once the write is in the core, without waiting for the engine:
// a Get sees it at once, and the Durable's SyncWait returns once it is applied to the engine,
// as durable as the engine's policy requires and sent to the peers. Writes keep their order.
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
