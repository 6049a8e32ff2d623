package store

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Op is an I/O operation of the commit path that an Injector may fail.
type Op int

const (
	OpWrite Op = iota // applying a batch
	OpSync            // making applied batches durable
)

func (op Op) String() string {
	if op == OpSync {
		return "sync"
	}
	return "write"
}

// Injector decides whether an operation fails, like pebble's errorfs.Injector. The engines call
// it on the real commit path (including group commit), which a wrapper around Engine could not
// reach: the sync happens inside Commit. store/fault has ready-made injectors.
type Injector interface {
	MaybeError(op Op) error
}

// committer applies a SyncPolicy on top of an engine's two primitives: an atomic apply
// (optionally synced) and a sync of everything applied so far.
type committer struct {
	policy  SyncPolicy
	inj     Injector
	syncWAL func() error

	commits, syncs atomic.Uint64

	mu      sync.Mutex
	cond    sync.Cond
	applied uint64 // tickets handed out: one per apply, in completion order
	synced  uint64 // every ticket <= synced is durable
	syncing bool   // a leader is in syncWAL
	failed  error  // sticky: set by a failed sync
}

func (c *committer) init(policy SyncPolicy, inj Injector, syncWAL func() error) {
	c.policy, c.inj, c.syncWAL = policy, inj, syncWAL
	c.cond.L = &c.mu
}

func (c *committer) stats() Stats {
	return Stats{Commits: c.commits.Load(), Syncs: c.syncs.Load()}
}

func (c *committer) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		// After a failed fsync the kernel may have dropped the dirty pages, so which earlier
		// writes are durable is unknown (the PostgreSQL "fsyncgate" lesson). Refuse to go on.
		return fmt.Errorf("store: engine stopped after a failed sync; reopen it: %w", c.failed)
	}
	return nil
}

func (c *committer) inject(op Op) error {
	if c.inj == nil {
		return nil
	}
	if err := c.inj.MaybeError(op); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

// commit applies and waits per policy. write(sync) must apply the batch atomically.
func (c *committer) commit(write func(sync bool) error) error {
	if c.policy != SyncAlways {
		t, err := c.apply(write)
		if err != nil || c.policy == SyncOff {
			return err
		}
		return c.wait(t)
	}
	if err := c.check(); err != nil {
		return err
	}
	if err := c.inject(OpWrite); err != nil {
		return err
	}
	if err := c.inject(OpSync); err != nil {
		// An fsync that fails after the write: the batch is applied but its durability is
		// unknown, which is what a real failed sync leaves behind.
		if werr := write(false); werr != nil {
			return fmt.Errorf("store: write batch: %w", werr)
		}
		c.commits.Add(1)
		return c.fail(err)
	}
	if err := write(true); err != nil {
		return fmt.Errorf("store: write batch (synced): %w", err)
	}
	c.commits.Add(1)
	c.syncs.Add(1)
	return nil
}

// apply writes without syncing and returns the ticket to wait on.
func (c *committer) apply(write func(sync bool) error) (uint64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	if err := c.inject(OpWrite); err != nil {
		return 0, err
	}
	if err := write(false); err != nil {
		return 0, fmt.Errorf("store: write batch: %w", err)
	}
	c.commits.Add(1)
	c.mu.Lock()
	c.applied++
	t := c.applied
	c.mu.Unlock()
	return t, nil
}

// wait returns once ticket t is durable. Group commit: the first waiter to find no sync in
// progress becomes the leader and syncs everything applied so far; the others sleep and are
// woken when a sync covering them finishes. While a leader is in fsync, new committers pile
// up, and the next leader's single fsync covers all of them.
func (c *committer) wait(t uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.synced < t {
		if c.failed != nil {
			return fmt.Errorf("store: engine stopped after a failed sync; reopen it: %w", c.failed)
		}
		if c.syncing {
			c.cond.Wait()
			continue
		}
		c.syncing = true
		target := c.applied // every ticket <= target was applied before this sync starts
		c.mu.Unlock()
		err := c.inject(OpSync)
		if err == nil {
			err = c.syncWAL()
			c.syncs.Add(1)
		}
		c.mu.Lock()
		c.syncing = false
		if err != nil {
			c.failed = err
		} else if target > c.synced {
			c.synced = target
		}
		c.cond.Broadcast()
	}
	return nil
}

// waitOwn is SyncWait under SyncAlways: the batch gets an fsync of its own, started after it
// was applied, so "one fsync per batch" holds for split commits too.
func (c *committer) waitOwn() error {
	if err := c.check(); err != nil {
		return err
	}
	if err := c.inject(OpSync); err != nil {
		return c.fail(err)
	}
	c.syncs.Add(1)
	if err := c.syncWAL(); err != nil {
		return c.fail(err)
	}
	return nil
}

// syncWait dispatches SyncWait by policy.
func (c *committer) syncWait(t uint64) error {
	switch c.policy {
	case SyncOff:
		return nil
	case SyncAlways:
		return c.waitOwn()
	}
	return c.wait(t)
}

func (c *committer) fail(err error) error {
	c.mu.Lock()
	if c.failed == nil {
		c.failed = err
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return fmt.Errorf("store: sync failed, engine stopped: %w", err)
}
