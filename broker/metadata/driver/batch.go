package driver

import (
	"context"
	"fmt"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

// writeOp is one queued write: apply runs it on the core; done receives
// the outcome once the batch holding it is committed.
type writeOp struct {
	apply func(sim.LocalAPI) error
	done  chan error
}

// batchLoop is the batcher: it takes every queued write up to BatchSize,
// applies them in order and commits them as one batch.
func (d *Driver[C]) batchLoop() {
	defer d.done.Done()
	batch := make([]*writeOp, 0, d.batchSize)
	for {
		select {
		case <-d.stop:
			return
		case op := <-d.writes:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < d.batchSize {
			select {
			case op := <-d.writes:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		d.applyBatch(batch)
		clear(batch)
	}
}

func (d *Driver[C]) applyBatch(batch []*writeOp) {
	d.mu.Lock()
	if err := d.usableLocked(); err != nil {
		d.mu.Unlock()
		for _, op := range batch {
			op.done <- err
		}
		return
	}
	errs := make([]error, len(batch))
	for i, op := range batch {
		errs[i] = op.apply(d.core)
	}
	f, ferr := d.flushLocked()
	d.mu.Unlock()
	ops := slices.Clone(batch)
	// The next batch applies while this one waits for its sync: both share it or the next.
	go func() {
		if ferr == nil {
			ferr = f.SyncWait()
		}
		for i, op := range ops {
			if ferr != nil {
				errs[i] = ferr
			}
			op.done <- errs[i]
		}
	}()
}

// write queues one write for the batcher and waits for its commit.
func (d *Driver[C]) write(ctx context.Context, op string, fp metadata.FullPrefix, fn func(sim.LocalAPI) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	w := &writeOp{apply: fn, done: make(chan error, 1)}
	select {
	case d.writes <- w:
	case <-d.stop:
		return fmt.Errorf("%s %s: %w", op, fp, metadata.ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", op, fp, ctx.Err())
	}
	select {
	case err := <-w.done:
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, fp, err)
		}
		return nil
	case <-d.stop:
		// The batcher may still have committed it; the caller cannot know,
		// as with any write cut short by a shutdown.
		return fmt.Errorf("%s %s: %w", op, fp, metadata.ErrClosed)
	}
}
