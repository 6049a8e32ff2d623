package metadatatest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

func (cs *clusterSuite) testReplicates(t *testing.T) {
	c, nodes := cs.start(t, 3, 1)
	put(t, c.Store(nodes[0]), fpA, "k1", "v1")
	put(t, c.Store(nodes[1]), fpA, "k2", "v2")
	put(t, c.Store(nodes[2]), fpB, "k1", "b")
	settle(t, c, nodes, fpA, map[string]*string{"k1": str("v1"), "k2": str("v2")})
	settle(t, c, nodes, fpB, map[string]*string{"k1": str("b")})

	put(t, c.Store(nodes[2]), fpA, "k1", "v1'")
	del(t, c.Store(nodes[0]), fpA, "k2")
	settle(t, c, nodes, fpA, map[string]*string{"k1": str("v1'"), "k2": nil})
	for _, n := range nodes {
		if got := fold(t, c.Store(n), fpA); !slices.Equal(got, []kv{{"k1", "v1'"}}) {
			t.Fatalf("Fold on %s = %q; want only k1", n, got)
		}
		wantGet(t, c.Store(n), fpA, "k2", nil)
	}
}

func (cs *clusterSuite) testSiblings(t *testing.T) {
	c, nodes := cs.start(t, 3, 2)
	put(t, c.Store(nodes[0]), fpA, "k", "base")
	settle(t, c, nodes, fpA, map[string]*string{"k": str("base")})

	// Concurrent writes on two sides of a partition.
	c.Partition(nodes[:1], nodes[1:])
	put(t, c.Store(nodes[0]), fpA, "k", "left")
	put(t, c.Store(nodes[1]), fpA, "k", "right")
	c.Heal()
	twoSiblings := func() bool {
		for _, n := range nodes {
			sibs, _, err := c.Store(n).GetRaw(bg, fpA, []byte("k"))
			if err != nil || len(sibs) != 2 {
				return false
			}
		}
		return true
	}
	if !c.Settle(twoSiblings) {
		sibs, _ := getRaw(t, c.Store(nodes[2]), fpA, "k")
		t.Fatalf("concurrent writes did not become two siblings everywhere; %s has %s", nodes[2], fmtValues(sibs))
	}
	sibs, _ := getRaw(t, c.Store(nodes[2]), fpA, "k")
	winner, _ := metadata.Resolve(sibs)
	if d := string(winner.Data); d != "left" && d != "right" {
		t.Fatalf("winner %s is neither concurrent write", fmtValue(winner))
	}
	// Every node resolves the same winner, and a read collapses the
	// siblings cluster-wide.
	for _, n := range nodes {
		wantGet(t, c.Store(n), fpA, "k", str(string(winner.Data)))
	}
	oneSibling := func() bool {
		for _, n := range nodes {
			sibs, _, err := c.Store(n).GetRaw(bg, fpA, []byte("k"))
			if err != nil || len(sibs) != 1 || !sameValue(sibs[0], winner) {
				return false
			}
		}
		return true
	}
	if !c.Settle(oneSibling) {
		sibs, _ := getRaw(t, c.Store(nodes[1]), fpA, "k")
		t.Fatalf("write-back did not collapse siblings; %s has %s, want %s", nodes[1], fmtValues(sibs), fmtValue(winner))
	}

	// Writes on one node never sibling, even interleaved with replication.
	for i := range 5 {
		put(t, c.Store(nodes[1]), fpA, "same", fmt.Sprint(i))
	}
	sibs, _ = getRaw(t, c.Store(nodes[1]), fpA, "same")
	if len(sibs) != 1 || string(sibs[0].Data) != "4" {
		t.Fatalf("same-node writes left %s", fmtValues(sibs))
	}
}

func (cs *clusterSuite) testDeleteNoResurrection(t *testing.T) {
	c, nodes := cs.start(t, 3, 3)
	for _, k := range []string{"k1", "k2", "k3"} {
		put(t, c.Store(nodes[0]), fpA, k, "v")
	}
	settle(t, c, nodes, fpA, map[string]*string{"k1": str("v"), "k2": str("v"), "k3": str("v")})

	// nodes[0] is cut off holding the values; nodes[2] is down holding them.
	c.Partition(nodes[:1], nodes[1:])
	if err := c.Crash(nodes[2]); err != nil {
		t.Fatal(err)
	}
	del(t, c.Store(nodes[1]), fpA, "k1")
	del(t, c.Store(nodes[1]), fpA, "k2")
	// A write on the cut-off side to another key must survive the heal.
	put(t, c.Store(nodes[0]), fpA, "k3", "cut-off")
	// The deleting node restarts: the delete is durable.
	if err := c.Crash(nodes[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(nodes[1]); err != nil {
		t.Fatal(err)
	}
	wantGet(t, c.Store(nodes[1]), fpA, "k1", nil)
	c.Heal()
	if err := c.Restart(nodes[2]); err != nil {
		t.Fatal(err)
	}
	want := map[string]*string{"k1": nil, "k2": nil, "k3": str("cut-off")}
	settle(t, c, nodes, fpA, want)
	for _, n := range nodes {
		if got := fold(t, c.Store(n), fpA); !slices.Equal(got, []kv{{"k3", "cut-off"}}) {
			t.Fatalf("Fold on %s = %q; want only k3", n, got)
		}
	}
}

func (cs *clusterSuite) testEvents(t *testing.T) {
	c, nodes := cs.start(t, 3, 4)
	s0, s1, s2 := c.Store(nodes[0]), c.Store(nodes[1]), c.Store(nodes[2])
	local, cancel0 := s0.Subscribe(fpA, false)
	defer cancel0()
	remote, cancel1 := s1.Subscribe(fpA, false)
	defer cancel1()
	repaired, cancel2 := s2.Subscribe(fpA, true) // skipLocal: remote events still come
	defer cancel2()

	// Local, and broadcast.
	put(t, s0, fpA, "k", "v1")
	cs.su.expect(t, local, ev(fpA, "k", "", "v1", true))
	settle(t, c, nodes, fpA, map[string]*string{"k": str("v1")})
	cs.su.expect(t, remote, ev(fpA, "k", "", "v1", false))
	cs.su.expect(t, repaired, ev(fpA, "k", "", "v1", false))

	// Repaired: nodes[2] misses the writes and catches up after the heal.
	c.Partition(nodes[:2], nodes[2:])
	put(t, s0, fpA, "k", "v2")
	del(t, s0, fpA, "k")
	put(t, s0, fpA, "k2", "w")
	cs.su.expect(t, local,
		ev(fpA, "k", "v1", "v2", true),
		ev(fpA, "k", "v2", "", true),
		ev(fpA, "k2", "", "w", true))
	final := map[string]*string{"k": nil, "k2": str("w")}
	settle(t, c, nodes[:2], fpA, final)
	// Replicated writes may arrive in any order (a stale one then makes no
	// event), so only the chain of changes and the final state are fixed.
	start := map[string]string{"k": "v1"}
	cs.awaitFinal(t, remote, start, final)
	c.Heal()
	settle(t, c, nodes, fpA, final)
	cs.awaitFinal(t, repaired, start, final)

	// No duplicate events: the next event everywhere is the marker.
	put(t, s0, fpA, "marker", "m")
	cs.su.expect(t, local, ev(fpA, "marker", "", "m", true))
	settle(t, c, nodes, fpA, map[string]*string{"marker": str("m")})
	cs.su.expect(t, remote, ev(fpA, "marker", "", "m", false))
	cs.su.expect(t, repaired, ev(fpA, "marker", "", "m", false))
}

// awaitFinal reads remote events until every key of final reached its
// final value (nil: deleted), checking that each event is a real change
// whose Old is the previous event's New (start holds the values before).
func (cs *clusterSuite) awaitFinal(t *testing.T, ch <-chan metadata.Event, start map[string]string, final map[string]*string) {
	t.Helper()
	cur := map[string]*string{}
	for k, v := range start {
		cur[k] = str(v)
	}
	reached := func() bool {
		for k, w := range final {
			c := cur[k]
			if (c == nil) != (w == nil) || (c != nil && *c != *w) {
				return false
			}
		}
		return true
	}
	for !reached() {
		e := cs.su.next(t, ch)
		k := string(e.Key)
		prev := cur[k]
		badOld := (prev == nil) != (e.Old == nil) || (prev != nil && *prev != string(e.Old))
		noChange := (e.Old == nil && e.New == nil) || (e.Old != nil && e.New != nil && string(e.Old) == string(e.New))
		if e.Local || badOld || noChange || e.Deleted != (e.New == nil) {
			t.Fatalf("event %s does not follow %q's previous value %v", fmtEvent(e), k, prev)
		}
		if e.New == nil {
			cur[k] = nil
		} else {
			cur[k] = str(string(e.New))
		}
	}
}

func (cs *clusterSuite) testPartitions(t *testing.T) {
	c, nodes := cs.start(t, 5, 5)
	want := map[string]*string{}
	schedule := [][][]string{
		{nodes[:2], nodes[2:]},
		{nodes[:1], nodes[1:3], nodes[3:]},
		{{nodes[0], nodes[4]}, nodes[1:4]},
		{},
	}
	for round, groups := range schedule {
		if len(groups) == 0 {
			c.Heal()
		} else {
			c.Partition(groups...)
		}
		for i, n := range nodes {
			k := fmt.Sprintf("r%d-n%d", round, i)
			put(t, c.Store(n), fpA, k, n)
			want[k] = str(n)
			if i%2 == 1 { // delete something another node wrote earlier
				prev := fmt.Sprintf("r%d-n%d", max(round-1, 0), i-1)
				del(t, c.Store(n), fpA, prev)
				want[prev] = nil
			}
		}
	}
	c.Heal()
	settle(t, c, nodes, fpA, want)
}

func (cs *clusterSuite) testRestart(t *testing.T) {
	c, nodes := cs.start(t, 3, 6)
	put(t, c.Store(nodes[0]), fpA, "before", "1")
	settle(t, c, nodes, fpA, map[string]*string{"before": str("1")})
	if err := c.Crash(nodes[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Store(nodes[1]).Get(bg, fpA, []byte("before")); err == nil {
		t.Fatalf("Get on a crashed node succeeded")
	}
	put(t, c.Store(nodes[0]), fpA, "during", "2")
	del(t, c.Store(nodes[2]), fpA, "before")
	if err := c.Restart(nodes[1]); err != nil {
		t.Fatal(err)
	}
	// The restarted node kept what it had persisted...
	if sibs, _ := getRaw(t, c.Store(nodes[1]), fpA, "before"); len(sibs) == 0 {
		t.Fatalf("restarted node lost its data")
	}
	// ...and catches up with what it missed.
	settle(t, c, nodes, fpA, map[string]*string{"before": nil, "during": str("2")})
	put(t, c.Store(nodes[1]), fpA, "after", "3")
	settle(t, c, nodes, fpA, map[string]*string{"before": nil, "during": str("2"), "after": str("3")})
}

func (cs *clusterSuite) testJoin(t *testing.T) {
	c, nodes := cs.start(t, 3, 7)
	want := map[string]*string{}
	for i := range 30 {
		k := fmt.Sprintf("k%02d", i)
		put(t, c.Store(nodes[i%3]), fpA, k, "v")
		want[k] = str("v")
	}
	put(t, c.Store(nodes[0]), fpB, "other", "prefix")
	settle(t, c, nodes, fpA, want)
	for i := 0; i < 30; i += 5 { // tombstones must reach the new node too
		k := fmt.Sprintf("k%02d", i)
		del(t, c.Store(nodes[(i+1)%3]), fpA, k)
		want[k] = nil
	}
	settle(t, c, nodes, fpA, want)
	joiner := "joiner"
	if err := c.Join(joiner); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(nodes), joiner)
	settle(t, c, all, fpA, want)
	settle(t, c, all, fpB, map[string]*string{"other": str("prefix")})
	// The new member takes part in replication both ways.
	put(t, c.Store(joiner), fpA, "from-joiner", "j")
	want["from-joiner"] = str("j")
	settle(t, c, all, fpA, want)
}

func (cs *clusterSuite) testLeave(t *testing.T) {
	c, nodes := cs.start(t, 4, 8)
	put(t, c.Store(nodes[0]), fpA, "k", "v")
	settle(t, c, nodes, fpA, map[string]*string{"k": str("v")})
	if err := c.Leave(nodes[3]); err != nil {
		t.Fatal(err)
	}
	rest := nodes[:3]
	put(t, c.Store(nodes[1]), fpA, "k", "after-leave")
	put(t, c.Store(nodes[2]), fpA, "k2", "x")
	settle(t, c, rest, fpA, map[string]*string{"k": str("after-leave"), "k2": str("x")})
}
