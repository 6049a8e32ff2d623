package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// subscribe_waits_for_cluster: after a local subscription change, the subscribing node asks
// every reachable peer, with a request on ChanRouting, to answer once its trie holds the new
// subscriptions (they reach it asynchronously, as metadata events). SUBACK goes out when every
// peer answered or the timeout expired, so a publish on any node after SUBACK is routed to the
// subscriber unless a peer was too slow (then a warning is logged).

// reqApplied is the only request kind on ChanRouting (messages there are wireFrames).
const reqApplied byte = 1

// appliedFilter is one subscription a peer must hold: the filter and its QoS.
type appliedFilter struct {
	Filter string
	QoS    byte
}

type appliedReq struct {
	Kind       byte
	Mountpoint string
	ClientID   string
	Node       string // the node whose entry of the record holds the filters
	Filters    []appliedFilter
}

// DefaultSubscribeWaitTimeout bounds the wait for peers when Options.SubscribeWaitTimeout is 0.
const DefaultSubscribeWaitTimeout = 5 * time.Second

// holdsLocked reports whether the trie holds every filter of fs for id, owned by node.
func (r *Registry) holdsLocked(id queue.SubscriberID, node string, fs []appliedFilter) bool {
	have := r.current[id]
	for _, f := range fs {
		v, ok := have[f.Filter]
		if !ok || v.Node != node || v.QoS != f.QoS {
			return false
		}
	}
	return true
}

// waitApplied waits until the trie holds fs for id (owned by node) or ctx ends.
func (r *Registry) waitApplied(ctx context.Context, id queue.SubscriberID, node string, fs []appliedFilter) error {
	for {
		r.mu.Lock()
		if r.holdsLocked(id, node, fs) {
			r.mu.Unlock()
			return nil
		}
		if r.applied == nil {
			r.applied = make(chan struct{})
		}
		ch := r.applied
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyAppliedLocked wakes the waiters of waitApplied after a change of the trie.
func (r *Registry) notifyAppliedLocked() {
	if r.applied != nil {
		close(r.applied)
		r.applied = nil
	}
}

// handleRequest answers a peer's request on ChanRouting.
func (f *forwarder) handleRequest(ctx context.Context, from string, b []byte) ([]byte, error) {
	var req appliedReq
	if err := msgpackdec.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("registry: undecodable routing request: %w", err)
	}
	if req.Kind != reqApplied {
		return nil, fmt.Errorf("registry: unknown routing request kind %d", req.Kind)
	}
	id := queue.SubscriberID{Mountpoint: req.Mountpoint, ClientID: req.ClientID}
	if err := f.r.waitApplied(ctx, id, req.Node, req.Filters); err != nil {
		return nil, err
	}
	return []byte{}, nil
}

// waitCluster asks every reachable peer to confirm that its trie holds subs for id, and
// returns when all did or the timeout expired (logging the peers that did not answer).
func (r *Registry) waitCluster(id queue.SubscriberID, subs []session.Subscription) {
	if r.fwd == nil || len(subs) == 0 {
		return
	}
	req := appliedReq{Kind: reqApplied, Mountpoint: id.Mountpoint, ClientID: id.ClientID, Node: r.opts.Node}
	for _, s := range subs {
		req.Filters = append(req.Filters, appliedFilter{Filter: s.Filter, QoS: s.QoS})
	}
	b, err := marshal(&req)
	if err != nil {
		r.log.Warn("cannot encode subscribe wait request", "error", err)
		return
	}
	timeout := r.opts.SubscribeWaitTimeout
	if timeout <= 0 {
		timeout = DefaultSubscribeWaitTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tr := r.fwd.tr
	self := tr.Self()
	var wg sync.WaitGroup
	for _, node := range tr.Members() {
		if node == self || r.fwd.isDown(node) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tr.Request(ctx, node, cluster.ChanRouting, b); err != nil {
				level := "did not confirm the subscription in time"
				if !errors.Is(err, context.DeadlineExceeded) {
					level = "could not confirm the subscription"
				}
				r.log.Warn("subscribe_waits_for_cluster: peer "+level+"; SUBACK sent anyway",
					"node", node, "client_id", id.ClientID, "error", err)
			}
		}()
	}
	wg.Wait()
}
