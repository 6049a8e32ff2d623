package message

import (
	"testing"
	"time"
)

func TestExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := &Message{}
	if m.Expired(now) {
		t.Fatal("message without expiry reported expired")
	}
	if _, ok := m.RemainingExpiry(now); ok {
		t.Fatal("message without expiry reports an interval")
	}
	m.ExpiresAt = now.Add(10 * time.Second)
	if got, ok := m.RemainingExpiry(now.Add(2500 * time.Millisecond)); !ok || got != 8 {
		t.Fatalf("RemainingExpiry = %d, %v; want 8 (rounded up), true", got, ok)
	}
	if m.Expired(now.Add(9 * time.Second)) {
		t.Fatal("expired one second early")
	}
	if !m.Expired(now.Add(10 * time.Second)) {
		t.Fatal("not expired at the deadline")
	}
}

func TestNextIDIsUnique(t *testing.T) {
	seen := map[uint64]bool{}
	for range 1000 {
		id := NextID()
		if seen[id] {
			t.Fatalf("id %d issued twice", id)
		}
		seen[id] = true
	}
}
