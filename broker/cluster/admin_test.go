package cluster

import (
	"errors"
	"slices"
	"testing"
)

func memberStatus(n *Node, name string) string {
	for _, m := range n.MemberList() {
		if m.Node == name {
			return m.Status
		}
	}
	return ""
}

// TestRemoveFailed: a live member cannot be removed; once it fails it can, every node sees it
// leave, and it disappears from the member list.
func TestRemoveFailed(t *testing.T) {
	nodes := startCluster(t, "a", "b", "c")
	a, c := nodes[0], nodes[2]
	waitLinked(t, a, c)
	ml := a.MemberList()
	if len(ml) != 3 || !ml[0].Self || ml[0].Node != "a" || ml[2].Status != "alive" || ml[2].Link == "" || ml[2].Gossip != c.GossipAddr() {
		t.Fatalf("member list: %+v", ml)
	}
	waitFor(t, "a's link to c is reported up", func() bool { return a.MemberList()[2].LinkUp })
	if err := a.RemoveFailed("c"); !errors.Is(err, ErrMemberAlive) {
		t.Fatalf("removing a live member: %v", err)
	}
	if err := a.RemoveFailed("nobody"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("removing an unknown member: %v", err)
	}
	if err := a.RemoveFailed("a"); err == nil {
		t.Fatal("a removed itself")
	}

	events, stop := nodes[1].Watch()
	defer stop()
	_ = c.Close() // a crash as the others see it
	waitFor(t, "a sees c failed", func() bool { return memberStatus(a, "c") == "failed" })
	if err := a.RemoveFailed("c"); err != nil {
		t.Fatal(err)
	}
	watchUntil(t, events, "c", "leave")
	for _, n := range nodes[:2] {
		waitFor(t, n.Self()+" forgets c", func() bool { return memberStatus(n, "c") == "" })
		if got := n.Members(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%s members: %v", n.Self(), got)
		}
	}
}
