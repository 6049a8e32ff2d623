package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

// Subscribe implements session.Router: SubscribeNoWait, then the wait for durability.
func (r *Registry) Subscribe(id queue.SubscriberID, subs []session.Subscription) ([]bool, error) {
	var pend queue.Pending
	isNew, err := r.SubscribeNoWait(id, subs, &pend)
	if werr := pend.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("registry: subscriber %q not durable: %w", id.ClientID, werr)
	}
	return isNew, err
}

// SubscribeNoWait implements session.Router: it adds subs to id's record in the subscriber
// table and to the local trie, and leaves the wait for the record's durability to pend. The
// trie holds the subscriptions when it returns: a PUBLISH read after the SUBSCRIBE, on any
// connection, is routed to them.
func (r *Registry) SubscribeNoWait(id queue.SubscriberID, subs []session.Subscription, pend *queue.Pending) ([]bool, error) {
	if r.partitioned(r.opts.AllowSubscribe) {
		return nil, ErrNetsplit
	}
	isNew := make([]bool, len(subs))
	err := r.update(id, pend, func(mine *metadata.NodeSubscriptions) {
		for i, s := range subs {
			ms := toRecordSub(s)
			found := false
			for j := range mine.Subs {
				if mine.Subs[j].Filter == s.Filter {
					mine.Subs[j] = ms // [MQTT-3.8.4-3] a repeated filter replaces the subscription
					found = true
					break
				}
			}
			if !found {
				mine.Subs = append(mine.Subs, ms)
			}
			isNew[i] = !found
		}
	})
	if err == nil && r.opts.SubscribeWaitsForCluster {
		r.waitCluster(id, subs)
	}
	return isNew, err
}

// Unsubscribe implements session.Router: UnsubscribeNoWait, then the wait for durability.
func (r *Registry) Unsubscribe(id queue.SubscriberID, filters []string) ([]bool, error) {
	var pend queue.Pending
	found, err := r.UnsubscribeNoWait(id, filters, &pend)
	if werr := pend.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("registry: subscriber %q not durable: %w", id.ClientID, werr)
	}
	return found, err
}

// UnsubscribeNoWait implements session.Router; as SubscribeNoWait, the trie no longer routes
// to the filters when it returns.
func (r *Registry) UnsubscribeNoWait(id queue.SubscriberID, filters []string, pend *queue.Pending) ([]bool, error) {
	if r.partitioned(r.opts.AllowUnsubscribe) {
		return nil, ErrNetsplit
	}
	found := make([]bool, len(filters))
	err := r.update(id, pend, func(mine *metadata.NodeSubscriptions) {
		for i, f := range filters {
			for j := range mine.Subs {
				if mine.Subs[j].Filter == f {
					mine.Subs = append(mine.Subs[:j], mine.Subs[j+1:]...)
					found[i] = true
					break
				}
			}
		}
	})
	return found, err
}

// RemoveSubscriber implements session.Router: the session is gone, so is its record. Nothing
// waits for the delete's durability: a record that a crash brings back names a session that
// is no more, which the stale-record sweep removes.
func (r *Registry) RemoveSubscriber(id queue.SubscriberID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := metadata.SubscriberKey{Mountpoint: id.Mountpoint, ClientID: id.ClientID}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Most clean clients never subscribe: without a record there is nothing to delete, and a
	// delete would still write (and sync) a tombstone for each of them. What this node has not
	// seen it must not delete anyway.
	if _, ok, err := r.meta.Get(ctx, metadata.Subscribers, key); err == nil && !ok {
		r.applyLocked(id, nil)
		return
	}
	r.applyLocked(id, nil)
	if _, err := r.deleteMeta(ctx, metadata.Subscribers, key); err != nil {
		r.log.Warn("cannot delete subscriber record", "client_id", id.ClientID, "error", err)
	}
}

// update changes this node's entry of id's subscriber record under the registry lock: the trie
// first, so that routing follows the packet order, then the record, applied to the metadata
// store before the lock is released (so records of one subscriber are written in order), its
// durability left to pend. A write the store refuses takes the change back out of the trie.
func (r *Registry) update(id queue.SubscriberID, pend *queue.Pending, change func(*metadata.NodeSubscriptions)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := metadata.SubscriberKey{Mountpoint: id.Mountpoint, ClientID: id.ClientID}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rec metadata.SubscriberRecord
	prev, ok, err := r.meta.Get(ctx, metadata.Subscribers, key)
	if err != nil {
		return fmt.Errorf("registry: read subscriber %q: %w", id.ClientID, err)
	} else if ok {
		if rec, err = metadata.DecodeSubscriberRecord(prev); err != nil {
			return fmt.Errorf("registry: subscriber %q: %w", id.ClientID, err)
		}
	}
	idx := -1
	for i := range rec {
		if rec[i].Node == r.opts.Node {
			idx = i
			break
		}
	}
	if idx < 0 {
		rec = append(rec, metadata.NodeSubscriptions{Node: r.opts.Node})
		idx = len(rec) - 1
	}
	change(&rec[idx])
	val, err := metadata.EncodeSubscriberRecord(rec)
	if err != nil {
		return fmt.Errorf("registry: encode subscriber %q: %w", id.ClientID, err)
	}
	r.applyLocked(id, rec)
	d, err := r.putMeta(ctx, metadata.Subscribers, key, val)
	if err != nil {
		// The store refused the change: the trie goes back to the record as it was (decoded
		// again here, on the rare failure, rather than copied on every change).
		old, _ := metadata.DecodeSubscriberRecord(prev)
		r.applyLocked(id, old)
		return fmt.Errorf("registry: write subscriber %q: %w", id.ClientID, err)
	}
	pend.Add(d)
	return nil
}

// asyncMeta is a metadata store that applies a write at once and leaves the wait for its
// durability to the caller (the backends' drivers): writes of many clients then share a sync
// instead of queueing behind the registry lock for one each.
type asyncMeta interface {
	PutAsync(ctx context.Context, fp metadata.FullPrefix, key, val []byte) (metadata.Durable, error)
	DeleteAsync(ctx context.Context, fp metadata.FullPrefix, key []byte) (metadata.Durable, error)
}

// putMeta writes through PutAsync where the store has it, else with Put (durable on return).
func (r *Registry) putMeta(ctx context.Context, fp metadata.FullPrefix, key, val []byte) (queue.Durable, error) {
	if a, ok := r.meta.(asyncMeta); ok {
		d, err := a.PutAsync(ctx, fp, key, val)
		if err != nil || d == nil {
			return nil, err
		}
		return d, nil
	}
	return nil, r.meta.Put(ctx, fp, key, val)
}

// deleteMeta is putMeta for a delete.
func (r *Registry) deleteMeta(ctx context.Context, fp metadata.FullPrefix, key []byte) (queue.Durable, error) {
	if a, ok := r.meta.(asyncMeta); ok {
		d, err := a.DeleteAsync(ctx, fp, key)
		if err != nil || d == nil {
			return nil, err
		}
		return d, nil
	}
	return nil, r.meta.Delete(ctx, fp, key)
}

// refreshSubscriber applies the current record of the subscriber key k (see follow).
func (r *Registry) refreshSubscriber(k, fallback []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applySubscriberLocked(k, r.currentValue(metadata.Subscribers, k, fallback))
}

func (r *Registry) applySubscriberBytes(k, v []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applySubscriberLocked(k, v)
}

func (r *Registry) applySubscriberLocked(k, v []byte) error {
	key, err := metadata.DecodeSubscriberKey(k)
	if err != nil {
		return err
	}
	var rec metadata.SubscriberRecord
	if v != nil {
		if rec, err = metadata.DecodeSubscriberRecord(v); err != nil {
			return err
		}
	}
	r.applyLocked(queue.SubscriberID{Mountpoint: key.Mountpoint, ClientID: key.ClientID}, rec)
	return nil
}

// applyLocked makes the trie hold exactly the subscriptions of rec for id.
func (r *Registry) applyLocked(id queue.SubscriberID, rec metadata.SubscriberRecord) {
	want := map[string]subValue{}
	for _, ns := range rec {
		for _, s := range ns.Subs {
			want[s.Filter] = subValue{Node: ns.Node, QoS: s.QoS, NoLocal: s.NoLocal, RAP: s.RetainAsPublished, SubID: s.SubID, Group: s.Share}
		}
	}
	have := r.current[id]
	t := r.tenant(id.Mountpoint)
	t.subs.Batch(func(b *topic.Batch[subKey, subValue]) {
		for f := range have {
			if _, ok := want[f]; !ok {
				b.Unsubscribe(trieFilter(f), subKey{ID: id, Filter: f})
			}
		}
		for f, v := range want {
			if old, ok := have[f]; ok && old == v {
				continue
			}
			if _, err := b.Subscribe(trieFilter(f), subKey{ID: id, Filter: f}, v); err != nil {
				r.log.Warn("ignoring invalid subscription in metadata", "client_id", id.ClientID, "filter", f, "error", err)
				delete(want, f)
			}
		}
	})
	if len(want) == 0 {
		delete(r.current, id)
	} else {
		r.current[id] = want
	}
	r.notifyAppliedLocked()
}

// trieFilter is the filter a subscription is matched by: a shared subscription matches on the
// filter after $share/<group>/.
func trieFilter(f string) string {
	if _, inner, shared, err := topic.ParseShared(f); err == nil && shared {
		return inner
	}
	return f
}

func toRecordSub(s session.Subscription) metadata.Subscription {
	group, _, _, _ := topic.ParseShared(s.Filter)
	return metadata.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubID: s.SubID, Share: group}
}

// LocalSubscriptions implements session.ClusterRouter: this node's subscriptions of id, from
// the subscriber table.
func (r *Registry) LocalSubscriptions(id queue.SubscriberID) ([]session.Subscription, error) {
	key := metadata.SubscriberKey{Mountpoint: id.Mountpoint, ClientID: id.ClientID}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ok, err := r.meta.Get(ctx, metadata.Subscribers, key)
	if err != nil || !ok {
		return nil, err
	}
	rec, err := metadata.DecodeSubscriberRecord(v)
	if err != nil {
		return nil, err
	}
	var out []session.Subscription
	for _, ns := range rec {
		if ns.Node != r.opts.Node {
			continue
		}
		for _, s := range ns.Subs {
			out = append(out, session.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished,
				RetainHandling: s.RetainHandling, SubID: s.SubID})
		}
	}
	return out, nil
}

// Claim implements session.ClusterRouter: id's session now lives on this node with subs (those
// it brought from the node it left, added to any it has here); every other node's entry in
// its record goes, so routing follows the session.
func (r *Registry) Claim(id queue.SubscriberID, subs []session.Subscription) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := metadata.SubscriberKey{Mountpoint: id.Mountpoint, ClientID: id.ClientID}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mine := metadata.NodeSubscriptions{Node: r.opts.Node}
	if v, ok, err := r.meta.Get(ctx, metadata.Subscribers, key); err != nil {
		return fmt.Errorf("registry: read subscriber %q: %w", id.ClientID, err)
	} else if ok {
		rec, err := metadata.DecodeSubscriberRecord(v)
		if err != nil {
			return fmt.Errorf("registry: subscriber %q: %w", id.ClientID, err)
		}
		for _, ns := range rec {
			if ns.Node == r.opts.Node {
				mine = ns
			}
		}
	}
	for _, s := range subs {
		ms := toRecordSub(s)
		found := false
		for j := range mine.Subs {
			if mine.Subs[j].Filter == s.Filter {
				found = true
			}
		}
		if !found {
			mine.Subs = append(mine.Subs, ms)
		}
	}
	rec := metadata.SubscriberRecord{mine}
	val, err := metadata.EncodeSubscriberRecord(rec)
	if err != nil {
		return err
	}
	if err := r.meta.Put(ctx, metadata.Subscribers, key, val); err != nil {
		return fmt.Errorf("registry: write subscriber %q: %w", id.ClientID, err)
	}
	r.applyLocked(id, rec)
	return nil
}
