package session

import (
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/queue"
)

// TestIfAbsentHoldsOffNewSessions: while the stored copy of a session that moved away is being
// deleted, a session of the same client id is not created, so the delete cannot take messages
// the new session stores under the same queue (the racing-connects test through the real
// binary lost bursts of acknowledged messages when the old node's late delete did).
func TestIfAbsentHoldsOffNewSessions(t *testing.T) {
	tab := NewTable()
	id := queue.SubscriberID{ClientID: "c"}
	deleting, release := make(chan struct{}), make(chan struct{})
	go tab.ifAbsent(id, func() {
		close(deleting)
		<-release
	})
	<-deleting
	created := make(chan struct{})
	go func() {
		tab.getOrCreate(id, func() *State { return newState(id, queue.New(queue.Policy{}, nil)) })
		close(created)
	}()
	select {
	case <-created:
		t.Fatal("a session was created while its stored copy was being deleted")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-created:
	case <-time.After(5 * time.Second):
		t.Fatal("the session was not created once the delete was done")
	}
	ran := false
	tab.ifAbsent(id, func() { ran = true })
	if ran {
		t.Fatal("ifAbsent ran although a session for the id exists")
	}
}
