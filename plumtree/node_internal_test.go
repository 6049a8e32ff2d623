package plumtree

import "testing"

// TestDropIHaveUnderBacklog checks the drop_i_have_threshold guard: with
// more inbound messages queued than the threshold, i-haves are shed (they
// are re-sent every lazy tick) and everything else is still queued.
func TestDropIHaveUnderBacklog(t *testing.T) {
	n := &Node{cfg: Config{DropIHaveThreshold: 2}.withDefaults(), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	h := handler{n}
	ihave := appendAnnounce(nil, msgIHave, announce{skey: "k", root: "r"})
	prune := appendString([]byte{msgPrune}, "r")
	h.HandleMessage("p", ihave) // backlog 0: queued
	h.HandleMessage("p", prune)
	h.HandleMessage("p", prune) // backlog now 3
	h.HandleMessage("p", ihave) // shed
	h.HandleMessage("p", prune) // queued anyway
	if got := n.droppedIHaves.Load(); got != 1 {
		t.Fatalf("dropped %d i-haves; want 1", got)
	}
	if len(n.inbox) != 4 || n.backlog.Load() != 4 {
		t.Fatalf("queued %d (backlog %d); want 4", len(n.inbox), n.backlog.Load())
	}
	close(n.stop)
	h.HandleMessage("p", prune) // closed: not queued
	if len(n.inbox) != 4 {
		t.Fatalf("a closed node queued a message")
	}
}
