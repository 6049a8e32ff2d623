package registry

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
)

// heldStore hands the registry events only when the test sends them, so a test can deliver
// an event after a local write that committed later than the event's own change.
type heldStore struct {
	metadata.Store
	mu    sync.Mutex
	chans map[metadata.FullPrefix]chan metadata.Event
}

func (s *heldStore) Subscribe(fp metadata.FullPrefix, _ bool) (<-chan metadata.Event, func()) {
	ch := make(chan metadata.Event)
	s.mu.Lock()
	s.chans[fp] = ch
	s.mu.Unlock()
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// deliver hands e to the registry and returns once the registry has finished with it: the
// channel is unbuffered, so the send of a second, unrelated event completes only after the
// follower has applied the first.
func (s *heldStore) deliver(t *testing.T, e metadata.Event) {
	t.Helper()
	s.mu.Lock()
	ch := s.chans[e.FP]
	s.mu.Unlock()
	for _, ev := range []metadata.Event{e, {FP: e.FP, Key: e.Key, New: e.New}} {
		select {
		case ch <- ev:
		case <-time.After(5 * time.Second):
			t.Fatal("registry does not follow events")
		}
	}
}

// TestStaleEventAfterLocalWrite: an event that committed before a local write but reaches
// the registry after it does not undo that write. A node that took a session over (Claim)
// kept routing it to the node it left when that node's last subscriber write arrived just
// before the claim; a retained message published here was replaced in the index by an older
// one from another node. The store held the right value both times.
func TestStaleEventAfterLocalWrite(t *testing.T) {
	ctx := context.Background()
	net := cluster.NewLocalNetwork()
	n := &testNode{name: "n2", tr: net.Join("n2"), meta: metadata.NewMemory("n2", nil), queues: newTestQueues()}
	net.Join("n1")
	hs := &heldStore{Store: n.meta, chans: map[metadata.FullPrefix]chan metadata.Event{}}
	r, err := New(ctx, Options{Node: "n2", Transport: n.tr, AllowPublish: true, AllowSubscribe: true, AllowUnsubscribe: true},
		hs, n.queues, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)

	// n1's subscriber record reaches the store; its event is held back.
	id := queue.SubscriberID{ClientID: "mover"}
	key := metadata.SubscriberKey{ClientID: "mover"}.Encode()
	old, err := metadata.EncodeSubscriberRecord(metadata.SubscriberRecord{{Node: "n1", Subs: []metadata.Subscription{{Filter: "mv/#", QoS: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Second).UnixNano()
	if err := n.meta.PutRaw(ctx, metadata.Subscribers, key, metadata.Value{TS: past, Node: "n1", Data: old}, nil); err != nil {
		t.Fatal(err)
	}
	// The session moves here, then the held event arrives.
	q := n.queues.add("mover", true)
	if err := r.Claim(id, []session.Subscription{{Filter: "mv/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	hs.deliver(t, metadata.Event{FP: metadata.Subscribers, Key: key, New: old})
	pub(r, "mv/x", 1, "here")
	if got := takeAll(t, q, 1); len(got) != 1 || got[0] != "here" {
		t.Fatalf("after a stale event for a claimed session: delivered here %q; want the message", got)
	}

	// The same for retained messages: n1's older retained message, then one published here.
	rkey := metadata.RetainKey{Topic: "rt/a"}.Encode()
	oldRet, err := metadata.EncodeRetainedMessage(toRetainedRecord(&message.Message{Topic: "rt/a", Payload: []byte("older"), QoS: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.meta.PutRaw(ctx, metadata.Retained, rkey, metadata.Value{TS: past, Node: "n1", Data: oldRet}, nil); err != nil {
		t.Fatal(err)
	}
	r.Publish(&message.Message{ID: message.NextID(), Topic: "rt/a", QoS: 1, Retain: true, Payload: []byte("newer")})
	hs.deliver(t, metadata.Event{FP: metadata.Retained, Key: rkey, New: oldRet})
	var got []string
	r.Retained("", "rt/#", func(m *message.Message) { got = append(got, string(m.Payload)) })
	if len(got) != 1 || got[0] != "newer" {
		t.Fatalf("retained after a stale event: %q; want [newer]", got)
	}
}
