package swc_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// TestCutOffMemberHoldsGC is issue 15 in miniature, with the failure
// detector on: while n3 is cut off, both sides drop each other from their
// member lists (serf reports the other side failed). That must not count as
// a departure: a delete on either side stays a tombstone there (the other
// side may still hold the value, and may have set it again), the deletes
// cross when the partition heals, the later write of each key wins
// everywhere, and only then are the tombstones collected. A member that
// then leaves for good no longer holds collection back.
func TestCutOffMemberHoldsGC(t *testing.T) {
	nodes := nodeNames(3)
	s := newSim(t, 5, nodes...)
	s.SetFailureDetection(true)
	put := func(n, k, v string) {
		t.Helper()
		if err := s.Store(n).Put(bg, fpT, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	del := func(n, k string) {
		t.Helper()
		if err := s.Store(n).Delete(bg, fpT, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	same := func(want map[string]string, nodes ...string) func() bool {
		return func() bool {
			for _, n := range nodes {
				if fmt.Sprint(liveKeys(t, s, n)) != fmt.Sprint(want) {
					return false
				}
			}
			return true
		}
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		put("n1", k, "old")
	}
	if !s.Settle(same(map[string]string{"a": "old", "b": "old", "c": "old", "d": "old"}, nodes...)) {
		t.Fatal("no replication")
	}

	s.Partition([]string{"n1", "n2"}, []string{"n3"})
	del("n1", "a")      // cleared on the majority side only
	del("n3", "b")      // cleared on the cut-off side only
	put("n3", "c", "x") // set on the cut-off side, then cleared later on the other
	s.Wait(time.Second)
	del("n2", "c")
	del("n1", "d") // cleared, then set again later on the other side
	s.Wait(time.Second)
	put("n3", "d", "y")
	s.Wait(30 * time.Second) // many exchange and GC rounds on each side
	for n, want := range map[string]int{"n1": 3, "n2": 3, "n3": 1} {
		if st := coreStats(t, s, n); st.Tombstones != want {
			t.Fatalf("%s during the partition: %d tombstones, want %d (a cut-off member must hold collection back): %+v", n, st.Tombstones, want, st)
		}
	}

	s.Heal()
	want := map[string]string{"d": "y"}
	if !s.Settle(func() bool { return same(want, nodes...)() && collected(t, s, nodes) }) {
		for _, n := range nodes {
			t.Logf("%s: live %v stats %+v", n, liveKeys(t, s, n), coreStats(t, s, n))
		}
		t.Fatalf("after the heal: want %v everywhere, tombstones collected", want)
	}

	// n3 leaves for good: it holds nothing back any more.
	if err := s.Leave("n3"); err != nil {
		t.Fatal(err)
	}
	del("n1", "d")
	rest := nodes[:2]
	if !s.Settle(func() bool { return same(map[string]string{}, rest...)() && collected(t, s, rest) }) {
		t.Fatalf("a delete after n3 left was not collected: %+v", coreStats(t, s, "n1"))
	}
}

// TestDriverCutOffMemberHoldsGC: the same through the driver, over a hub
// whose failure detector reports the cut-off node failed ("fail" events and
// shorter member lists, as serf's) and whose Remove reports a leave: the
// driver must hand the core the difference.
func TestDriverCutOffMemberHoldsGC(t *testing.T) {
	c := newDriverCluster(t, 3)
	c.SetFailureDetection(true)
	fp := metadata.FullPrefix{Prefix: "vmq", Sub: "retain"}
	live := func(n string) string {
		out := map[string]string{}
		if err := c.Store(n).Fold(bg, fp, func(k, v []byte) error { out[string(k)] = string(v); return nil }); err != nil {
			return err.Error()
		}
		return fmt.Sprint(out)
	}
	for _, k := range []string{"a", "b"} {
		if err := c.Store("n1").Put(bg, fp, []byte(k), []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Settle(func() bool { return live("n3") == "map[a:old b:old]" }) {
		t.Fatal("no replication")
	}
	c.Partition([]string{"n1", "n2"}, []string{"n3"})
	if !c.Settle(func() bool { return len(c.node("n1").Members()) == 2 }) {
		t.Fatal("the hub did not report n3 failed")
	}
	if err := c.Store("n1").Delete(bg, fp, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := c.Store("n3").Delete(bg, fp, []byte("b")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // many exchange and GC rounds (fastConfig)
	for _, n := range c.Nodes() {
		if st := c.node(n).Stats(); st.Tombstones != 1 {
			t.Fatalf("%s during the partition: %+v; want one tombstone (n3 is cut off, not gone)", n, st.Stats)
		}
	}
	c.Heal()
	if !c.Settle(func() bool {
		for _, n := range c.Nodes() {
			if live(n) != "map[]" || c.node(n).Stats().Tombstones != 0 {
				return false
			}
		}
		return true
	}) {
		for _, n := range c.Nodes() {
			t.Logf("%s: %s %+v", n, live(n), c.node(n).Stats())
		}
		t.Fatal("deletes did not cross the healed partition, or were not collected")
	}
	if err := c.Leave("n3"); err != nil {
		t.Fatal(err)
	}
	if err := c.Store("n1").Put(bg, fp, []byte("c"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.Store("n2").Delete(bg, fp, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if !c.Settle(func() bool {
		return c.node("n1").Stats().Tombstones == 0 && c.node("n2").Stats().Tombstones == 0 &&
			live("n1") == "map[]" && live("n2") == "map[]"
	}) {
		t.Fatalf("a delete after n3 left was not collected: %+v", c.node("n1").Stats())
	}
}
