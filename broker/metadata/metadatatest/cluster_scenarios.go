package metadatatest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

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

// testPartitionedSetsAndDeletes is issue 15's retained-message scenario,
// over many seeds: one node of three is cut off for about 25 seconds while
// both sides keep setting and clearing the same keys, as MQTT clients set
// and clear retained messages: several writes per key on each side, deletes
// after sets and sets after deletes, and reads in between (the broker reads
// a key on every change event, which writes the LWW winner back). Where the
// cluster has a failure detector it is on, so each side also drops the
// other from its member list, as serf does with a cut-off or paused node.
//
// After the heal every node must hold, for every key, the greatest write by
// the contract's order (metadata.Compare: the later timestamp wins, a
// delete as much as a value): a clear made on one side reaches the other,
// a later clear beats an earlier set from the other side and a later set an
// earlier clear. SWC lost both while a cut-off member counted as departed.
func (cs *clusterSuite) testPartitionedSetsAndDeletes(t *testing.T) {
	cs.runSeeds(t, max(1, cs.cfg.seeds/4), cs.runPartitionedSetsAndDeletes)
}

// retainedKeys are the keys of testPartitionedSetsAndDeletes.
var retainedKeys = []string{"r0", "r1", "r2", "r3", "r4"}

func (cs *clusterSuite) runPartitionedSetsAndDeletes(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x72657461696e6564))
	c := cs.newCluster(t, ClusterConfig{Nodes: 3, Seed: seed})
	p := newPropRun(t, c, r, retainedKeys)
	defer p.model.Close()
	if fd, ok := c.(FailureDetector); ok {
		fd.SetFailureDetection(true)
		p.logf("failure detection on")
	}
	wait := func(d time.Duration) {
		if w, ok := c.(Waiter); ok {
			p.logf("wait %v", d)
			w.Wait(d)
		}
	}
	write := func(node, key string, set bool) {
		if set {
			val := fmt.Sprintf("%s@%d", node, len(p.log))
			p.logf("put %s %s=%s", node, key, val)
			put(t, c.Store(node), fpA, key, val)
		} else {
			p.logf("delete %s %s", node, key)
			del(t, c.Store(node), fpA, key)
		}
		p.record(node, fpA, key)
	}

	// Every key set and replicated before the cut.
	for i, k := range p.keys {
		write(p.nodes[i%len(p.nodes)], k, true)
	}
	p.converge()

	cut := p.pick(p.nodes)
	var rest []string
	for _, n := range p.nodes {
		if n != cut {
			rest = append(rest, n)
		}
	}
	p.logf("partition %v | %v", rest, []string{cut})
	c.Partition(rest, []string{cut})
	sides := [][]string{rest, {cut}}
	// Each side alternates each key between set and clear, from what it
	// last did: several writes per key on each side, in both orders. The
	// majority side starts with a clear, the cut-off side with either (a
	// set over a set replaces a retained message). Rounds are 1-4 s apart,
	// about 25 s in all, so that exchanges and garbage collection run on
	// both sides meanwhile.
	live := []map[string]bool{{}, {}}
	for _, k := range p.keys {
		live[0][k], live[1][k] = true, r.IntN(2) == 0
	}
	for range 10 {
		for si, side := range sides {
			for _, k := range p.keys {
				if r.IntN(3) == 0 {
					continue
				}
				write(p.pick(side), k, !live[si][k])
				live[si][k] = !live[si][k]
			}
			node, k := p.pick(side), p.pick(p.keys)
			v, ok := get(t, c.Store(node), fpA, k)
			p.logf("get %s %s -> %q %t", node, k, v, ok)
		}
		wait(time.Duration(1000+r.IntN(3000)) * time.Millisecond)
	}
	c.Heal()
	p.logf("heal")
	p.converge()
}
