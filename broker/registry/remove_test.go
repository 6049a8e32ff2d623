package registry

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// countingStore counts the deletes that reach the metadata store.
type countingStore struct {
	metadata.Store
	deletes atomic.Int64
}

func (s *countingStore) Delete(ctx context.Context, fp metadata.FullPrefix, key []byte) error {
	s.deletes.Add(1)
	return s.Store.Delete(ctx, fp, key)
}

// TestRemoveSubscriberWithoutRecord: a client that never subscribed leaves no subscriber
// record, and ending its session writes nothing to the metadata store (a tombstone per clean
// disconnect was a synced write under the registry lock); a subscriber's record is deleted
// and its route is gone.
func TestRemoveSubscriberWithoutRecord(t *testing.T) {
	net := cluster.NewLocalNetwork()
	n := &testNode{name: "n1", tr: net.Join("n1"), meta: metadata.NewMemory("n1", nil), queues: newTestQueues()}
	cs := &countingStore{Store: n.meta}
	r, err := New(context.Background(), Options{Node: "n1", Transport: n.tr, AllowPublish: true, AllowSubscribe: true, AllowUnsubscribe: true},
		cs, n.queues, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	r.RemoveSubscriber(queue.SubscriberID{ClientID: "never-subscribed"})
	if d := cs.deletes.Load(); d != 0 {
		t.Fatalf("%d deletes for a client without subscriptions; want none", d)
	}
	q := n.queues.add("sub", true)
	id := queue.SubscriberID{ClientID: "sub"}
	if _, err := r.Subscribe(id, []session.Subscription{{Filter: "rm/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	r.RemoveSubscriber(id)
	if d := cs.deletes.Load(); d != 1 {
		t.Fatalf("%d deletes for a subscriber; want 1", d)
	}
	if _, ok, _ := n.meta.Get(context.Background(), metadata.Subscribers, metadata.SubscriberKey{ClientID: "sub"}.Encode()); ok {
		t.Fatal("subscriber record still there")
	}
	pub(r, "rm/x", 1, "after")
	if q.Len() != 0 || r.Subscriptions() != 0 {
		t.Fatalf("after RemoveSubscriber: %d queued, %d subscriptions routed", q.Len(), r.Subscriptions())
	}
}
