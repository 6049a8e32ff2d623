package sim

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// RunFunc runs one local API call on a core and carries out the resulting
// Ready, wrapping any error with op and fp. write marks the calls that only
// change the core (Put, Delete, PutRaw), which a driver may batch; reads
// can write back too, so they also need their Ready carried out.
type RunFunc func(ctx context.Context, op string, fp metadata.FullPrefix, write bool, fn func(LocalAPI) error) error

// SubscribeFunc is metadata.Store's Subscribe.
type SubscribeFunc func(fp metadata.FullPrefix, skipLocal bool) (<-chan metadata.Event, func())

// LocalStore is metadata.Store over a core's LocalAPI. It holds the API's
// plumbing that does not depend on who runs the core (the simulator, a
// backend's driver): only how a call reaches the core and how events are
// subscribed to do, so they are the two functions it is built from.
type LocalStore struct {
	run       RunFunc
	subscribe SubscribeFunc
}

// NewLocalStore returns the metadata.Store that runs each call through run
// and subscribes through subscribe.
func NewLocalStore(run RunFunc, subscribe SubscribeFunc) *LocalStore {
	return &LocalStore{run: run, subscribe: subscribe}
}

var _ metadata.Store = (*LocalStore)(nil)

// Put implements metadata.Store.
func (s *LocalStore) Put(ctx context.Context, fp metadata.FullPrefix, key, val []byte) error {
	return s.run(ctx, "put", fp, true, func(c LocalAPI) error { return c.Put(fp, key, val) })
}

// Delete implements metadata.Store.
func (s *LocalStore) Delete(ctx context.Context, fp metadata.FullPrefix, key []byte) error {
	return s.run(ctx, "delete", fp, true, func(c LocalAPI) error { return c.Delete(fp, key) })
}

// PutRaw implements metadata.Store.
func (s *LocalStore) PutRaw(ctx context.Context, fp metadata.FullPrefix, key []byte, v metadata.Value, cc metadata.Context) error {
	return s.run(ctx, "put raw", fp, true, func(c LocalAPI) error { return c.PutRaw(fp, key, v, cc) })
}

// Get implements metadata.Store.
func (s *LocalStore) Get(ctx context.Context, fp metadata.FullPrefix, key []byte) (val []byte, ok bool, err error) {
	err = s.run(ctx, "get", fp, false, func(c LocalAPI) (err error) {
		val, ok, err = c.Get(fp, key)
		return err
	})
	return val, ok, err
}

// GetRaw implements metadata.Store.
func (s *LocalStore) GetRaw(ctx context.Context, fp metadata.FullPrefix, key []byte) (sibs []metadata.Value, cc metadata.Context, err error) {
	err = s.run(ctx, "get raw", fp, false, func(c LocalAPI) (err error) {
		sibs, cc, err = c.GetRaw(fp, key)
		return err
	})
	return sibs, cc, err
}

// foldChunk is how many keys Fold reads per call on the core: it bounds how
// long writers wait for the core, and fn runs between calls so that it may
// call the store.
const foldChunk = 256

// Fold implements metadata.Store.
func (s *LocalStore) Fold(ctx context.Context, fp metadata.FullPrefix, fn func(key, val []byte) error) error {
	type pair struct{ key, val []byte }
	buf := make([]pair, 0, foldChunk)
	var after []byte
	for {
		buf = buf[:0]
		var done bool
		err := s.run(ctx, "fold", fp, false, func(c LocalAPI) (err error) {
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
func (s *LocalStore) Subscribe(fp metadata.FullPrefix, skipLocal bool) (<-chan metadata.Event, func()) {
	return s.subscribe(fp, skipLocal)
}

// Store returns the named node as a metadata.Store. Each call runs the
// operation on the node's core under the simulation lock and carries out
// the resulting Ready at once (persist, put messages on the wire, publish
// events), as a driver would. The view survives crashes and restarts of
// the node; while it is down, operations fail with ErrDown.
func (s *Sim) Store(name string) metadata.Store {
	ns := &nodeStore{s: s, name: name}
	return NewLocalStore(ns.run, ns.subscribe)
}

type nodeStore struct {
	s    *Sim
	name string
}

// run runs fn on the node's core with the simulation locked. The simulator
// has no batcher: writes run at once like reads.
func (ns *nodeStore) run(ctx context.Context, op string, fp metadata.FullPrefix, _ bool, fn func(LocalAPI) error) error {
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

func (ns *nodeStore) subscribe(fp metadata.FullPrefix, skipLocal bool) (<-chan metadata.Event, func()) {
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
