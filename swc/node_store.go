package swc

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// writeOp is one queued write: apply runs it on the core; done receives
// the outcome once the batch holding it is committed.
type writeOp struct {
	apply func(*Core) error
	done  chan error
}

// batchLoop is the batcher: it takes every queued write up to BatchSize,
// applies them in order and commits them as one batch.
func (n *Node) batchLoop() {
	defer n.done.Done()
	batch := make([]*writeOp, 0, n.cfg.BatchSize)
	for {
		select {
		case <-n.stop:
			return
		case op := <-n.writes:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < n.cfg.BatchSize {
			select {
			case op := <-n.writes:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		n.applyBatch(batch)
		clear(batch)
	}
}

func (n *Node) applyBatch(batch []*writeOp) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usableLocked(); err != nil {
		for _, op := range batch {
			op.done <- err
		}
		return
	}
	errs := make([]error, len(batch))
	for i, op := range batch {
		errs[i] = op.apply(n.core)
	}
	if err := n.flushLocked(); err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	for i, op := range batch {
		op.done <- errs[i]
	}
}

func (n *Node) usableLocked() error {
	switch {
	case n.closed:
		return metadata.ErrClosed
	case n.failed != nil:
		return n.failed
	}
	return nil
}

// write queues one write for the batcher and waits for its commit.
func (n *Node) write(ctx context.Context, op string, fp metadata.FullPrefix, fn func(*Core) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	w := &writeOp{apply: fn, done: make(chan error, 1)}
	select {
	case n.writes <- w:
	case <-n.stop:
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
	case <-n.stop:
		// The batcher may still have committed it; the caller cannot know,
		// as with any write cut short by a shutdown.
		return fmt.Errorf("%s %s: %w", op, fp, metadata.ErrClosed)
	}
}

// do runs one read on the core and carries out its Ready (a read may write
// siblings back).
func (n *Node) do(ctx context.Context, op string, fp metadata.FullPrefix, fn func(*Core) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usableLocked(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	err := fn(n.core)
	if ferr := n.flushLocked(); ferr != nil {
		return fmt.Errorf("%s %s: %w", op, fp, ferr)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	return nil
}

// Put implements metadata.Store.
func (n *Node) Put(ctx context.Context, fp metadata.FullPrefix, key, val []byte) error {
	return n.write(ctx, "put", fp, func(c *Core) error { return c.Put(fp, key, val) })
}

// Delete implements metadata.Store.
func (n *Node) Delete(ctx context.Context, fp metadata.FullPrefix, key []byte) error {
	return n.write(ctx, "delete", fp, func(c *Core) error { return c.Delete(fp, key) })
}

// PutRaw implements metadata.Store.
func (n *Node) PutRaw(ctx context.Context, fp metadata.FullPrefix, key []byte, v metadata.Value, cc metadata.Context) error {
	return n.write(ctx, "put raw", fp, func(c *Core) error { return c.PutRaw(fp, key, v, cc) })
}

// Get implements metadata.Store.
func (n *Node) Get(ctx context.Context, fp metadata.FullPrefix, key []byte) (val []byte, ok bool, err error) {
	err = n.do(ctx, "get", fp, func(c *Core) (err error) {
		val, ok, err = c.Get(fp, key)
		return err
	})
	return val, ok, err
}

// GetRaw implements metadata.Store.
func (n *Node) GetRaw(ctx context.Context, fp metadata.FullPrefix, key []byte) (sibs []metadata.Value, cc metadata.Context, err error) {
	err = n.do(ctx, "get raw", fp, func(c *Core) (err error) {
		sibs, cc, err = c.GetRaw(fp, key)
		return err
	})
	return sibs, cc, err
}

// foldChunk is how many keys Fold reads per lock hold: it bounds how long
// writers wait, and fn runs unlocked so that it may call the store.
const foldChunk = 256

// Fold implements metadata.Store.
func (n *Node) Fold(ctx context.Context, fp metadata.FullPrefix, fn func(key, val []byte) error) error {
	type pair struct{ key, val []byte }
	buf := make([]pair, 0, foldChunk)
	var after []byte
	for {
		buf = buf[:0]
		var done bool
		err := n.do(ctx, "fold", fp, func(c *Core) (err error) {
			after, done, err = c.FoldChunk(fp, after, foldChunk, func(k, v []byte) {
				buf = append(buf, pair{k, v})
			})
			return err
		})
		if err != nil {
			return err
		}
		for _, p := range buf {
			if err := fn(p.key, p.val); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// Subscribe implements metadata.Store.
func (n *Node) Subscribe(fp metadata.FullPrefix, skipLocal bool) (<-chan metadata.Event, func()) {
	return n.feed.Subscribe(fp, skipLocal)
}
