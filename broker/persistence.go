package broker

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/persist"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
	"github.com/nautilus-mq/nautilus/store"
)

// openStore opens the node's RocksDB database under platform_data_dir/store with the
// configured sync policy and tuning.
func openStore(cfg *config.Config, extra []store.Keyspace, faults store.Injector) (*store.DB, error) {
	db, err := store.Open(store.Options{
		Dir:             filepath.Join(cfg.Node.PlatformDataDir, "store"),
		Sync:            store.SyncPolicy(cfg.Store.Sync),
		BlockCacheSize:  uint64(cfg.Store.BlockCacheSize),
		WriteBufferSize: uint64(cfg.Store.WriteBufferSize),
		Compression:     store.Compression(cfg.Store.Compression),
		ExtraKeyspaces:  append(append([]store.Keyspace(nil), persist.Keyspaces...), extra...),
		Injector:        faults,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return db, nil
}

// persister adapts persist.Store to what sessions need.
type persister struct {
	s   *persist.Store
	log *storeErrorLog
}

func (p persister) Backing(id queue.SubscriberID) queue.Backing {
	return loggedBacking{Backing: p.s.Backing(id), log: p.log}
}

// loggedBacking logs why the store refused a write: the queue only reports that it did
// (DropStoreError), and the operator needs the cause (disk full, or a failed fsync that stops
// the store until a restart).
type loggedBacking struct {
	queue.Backing
	log *storeErrorLog
}

func (b loggedBacking) Append(d queue.Delivery) (uint64, queue.Durable, error) {
	seq, w, err := b.Backing.Append(d)
	if err != nil {
		b.log.report(err)
	}
	// A failed sync is not wrapped here: it stops the engine, so the next write reports it,
	// and the publisher's acknowledgement logs it where it waits (session/acks.go).
	return seq, w, err
}

// storeErrorLog logs a store error when it differs from the last one logged, so a failing
// disk gives one line per kind of failure rather than one per message (each refused message
// has its own line already).
type storeErrorLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	last string
}

func (l *storeErrorLog) report(err error) {
	l.mu.Lock()
	same := err.Error() == l.last
	l.last = err.Error()
	l.mu.Unlock()
	if !same {
		l.log.Error("message store write failed", "error", err)
	}
}

func (p persister) DeleteSession(id queue.SubscriberID) error { return p.s.DeleteSession(id) }

func (p persister) Release(r *message.Receipt) error { return p.s.Release(r) }

func (p persister) SaveSession(r session.Record) error { return p.s.SaveSession(toRecord(r)) }

func (p persister) SaveSessionNoWait(r session.Record) (queue.Durable, error) {
	return p.s.SaveSessionNoWait(toRecord(r))
}

func toRecord(r session.Record) persist.Record {
	rec := persist.Record{Mountpoint: r.ID.Mountpoint, ClientID: r.ID.ClientID, Username: r.Username, InQoS2: r.InQoS2, Expiry: -1}
	if r.Expiry >= 0 {
		rec.Expiry = int64(r.Expiry / time.Second)
	}
	if !r.Deadline.IsZero() {
		rec.Deadline = r.Deadline.UnixMilli()
	}
	return rec
}

// restoreSessions brings back the persistent sessions of the last run, offline, and removes
// the subscriptions of sessions that ended with the run (clean sessions do not survive it).
func (b *Broker) restoreSessions(ctx context.Context, policy queue.Policy) error {
	recs, err := b.persist.LoadSessions()
	if err != nil {
		return err
	}
	for _, r := range recs {
		rec := session.Record{ID: queue.SubscriberID{Mountpoint: r.Mountpoint, ClientID: r.ClientID}, Username: r.Username, InQoS2: r.InQoS2, Expiry: -1}
		if r.Expiry >= 0 {
			rec.Expiry = time.Duration(r.Expiry) * time.Second
		}
		if r.Deadline != 0 {
			rec.Deadline = time.UnixMilli(r.Deadline)
		}
		b.env.Restore(rec, policy)
	}
	var stale []queue.SubscriberID
	err = b.meta.Fold(ctx, metadata.Subscribers, func(k, v []byte) error {
		key, err := metadata.DecodeSubscriberKey(k)
		if err != nil {
			return nil
		}
		rec, err := metadata.DecodeSubscriberRecord(v)
		if err != nil {
			return nil
		}
		id := queue.SubscriberID{Mountpoint: key.Mountpoint, ClientID: key.ClientID}
		for _, ns := range rec {
			if ns.Node == b.cfg.Node.Nodename && b.env.Sessions.Get(id) == nil {
				stale = append(stale, id)
			}
		}
		return nil
	})
	for _, id := range stale {
		b.reg.RemoveSubscriber(id)
	}
	if len(recs) > 0 || len(stale) > 0 {
		b.log.Info("sessions restored", "persistent", len(recs), "ended_with_last_run", len(stale))
	}
	return err
}

// sweepExpired removes expired stored messages in the background.
func (b *Broker) sweepExpired(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := b.persist.Messages().Sweep(time.Now()); err != nil {
				b.log.Warn("sweeping expired stored messages failed", "error", err)
			} else if n > 0 {
				b.counters.DroppedExpired.Add(int64(n))
				b.counters.Dropped.Add(int64(n))
			}
		}
	}
}
