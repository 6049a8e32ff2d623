package plumtree

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// do runs one API call on the core and carries out its Ready.
func (n *Node) do(ctx context.Context, op string, fp metadata.FullPrefix, fn func(*Core) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return fmt.Errorf("%s %s: %w", op, fp, metadata.ErrClosed)
	case n.failed != nil:
		return fmt.Errorf("%s %s: %w", op, fp, n.failed)
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
	return n.do(ctx, "put", fp, func(c *Core) error { return c.Put(fp, key, val) })
}

// Delete implements metadata.Store.
func (n *Node) Delete(ctx context.Context, fp metadata.FullPrefix, key []byte) error {
	return n.do(ctx, "delete", fp, func(c *Core) error { return c.Delete(fp, key) })
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

// PutRaw implements metadata.Store.
func (n *Node) PutRaw(ctx context.Context, fp metadata.FullPrefix, key []byte, v metadata.Value, cc metadata.Context) error {
	return n.do(ctx, "put raw", fp, func(c *Core) error { return c.PutRaw(fp, key, v, cc) })
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
