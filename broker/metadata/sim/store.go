package sim

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// Store returns the named node as a metadata.Store. Each call runs the
// operation on the node's core under the simulation lock and carries out
// the resulting Ready at once (persist, put messages on the wire, publish
// events), as a driver would. The view survives crashes and restarts of
// the node; while it is down, operations fail with ErrDown.
func (s *Sim) Store(name string) metadata.Store {
	return &nodeStore{s: s, name: name}
}

type nodeStore struct {
	s    *Sim
	name string
}

var _ metadata.Store = (*nodeStore)(nil)

// do runs fn on the node's core with the simulation locked.
func (ns *nodeStore) do(ctx context.Context, op string, fp metadata.FullPrefix, fn func(Core) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, fp, err)
	}
	s := ns.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[ns.name]
	if n == nil || n.core == nil {
		return fmt.Errorf("%s %s on %s: %w", op, fp, ns.name, ErrDown)
	}
	err := fn(n.core)
	s.process(n)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", op, fp, ns.name, err)
	}
	return nil
}

func (ns *nodeStore) Put(ctx context.Context, fp metadata.FullPrefix, key, val []byte) error {
	return ns.do(ctx, "put", fp, func(c Core) error { return c.Put(fp, key, val) })
}

func (ns *nodeStore) Delete(ctx context.Context, fp metadata.FullPrefix, key []byte) error {
	return ns.do(ctx, "delete", fp, func(c Core) error { return c.Delete(fp, key) })
}

func (ns *nodeStore) Get(ctx context.Context, fp metadata.FullPrefix, key []byte) (val []byte, ok bool, err error) {
	err = ns.do(ctx, "get", fp, func(c Core) (err error) {
		val, ok, err = c.Get(fp, key)
		return err
	})
	return val, ok, err
}

func (ns *nodeStore) GetRaw(ctx context.Context, fp metadata.FullPrefix, key []byte) (sibs []metadata.Value, cc metadata.Context, err error) {
	err = ns.do(ctx, "get raw", fp, func(c Core) (err error) {
		sibs, cc, err = c.GetRaw(fp, key)
		return err
	})
	return sibs, cc, err
}

func (ns *nodeStore) PutRaw(ctx context.Context, fp metadata.FullPrefix, key []byte, v metadata.Value, cc metadata.Context) error {
	return ns.do(ctx, "put raw", fp, func(c Core) error { return c.PutRaw(fp, key, v, cc) })
}

// foldChunk is how many keys Fold reads per lock acquisition; fn runs
// without the lock so that it may call the store.
const foldChunk = 256

type pair struct{ key, val []byte }

func (ns *nodeStore) Fold(ctx context.Context, fp metadata.FullPrefix, fn func(key, val []byte) error) error {
	var after []byte
	buf := make([]pair, 0, foldChunk)
	for {
		buf = buf[:0]
		var done bool
		err := ns.do(ctx, "fold", fp, func(c Core) (err error) {
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

func (ns *nodeStore) Subscribe(fp metadata.FullPrefix, skipLocal bool) (<-chan metadata.Event, func()) {
	ns.s.mu.Lock()
	n := ns.s.byName[ns.name]
	ns.s.mu.Unlock()
	if n == nil {
		ch := make(chan metadata.Event)
		close(ch)
		return ch, func() {}
	}
	return n.feed.Subscribe(fp, skipLocal)
}
