package swc_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/swc"
)

var fpT = metadata.FullPrefix{Prefix: "vmq", Sub: "subscriber"}

func coreStats(t testing.TB, s *sim.Sim, name string) swc.Stats {
	t.Helper()
	var st swc.Stats
	if err := s.WithCore(name, func(c sim.Core) { st = c.(*swc.Core).Stats() }); err != nil {
		t.Fatal(err)
	}
	return st
}

// liveKeys folds fp on node (writing siblings back, as the broker's reads do).
func liveKeys(t testing.TB, s *sim.Sim, node string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.Store(node).Fold(bg, fpT, func(k, v []byte) error { out[string(k)] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// collected reports whether every node holds exactly its live keys: no
// tombstone, one object and one dot-key entry per live key.
func collected(t testing.TB, s *sim.Sim, nodes []string) bool {
	for _, n := range nodes {
		live := len(liveKeys(t, s, n))
		st := coreStats(t, s, n)
		if st.Tombstones != 0 || st.Objects != live || st.DKM != live {
			return false
		}
	}
	return true
}

// TestGCProperty: random writes and deletes under random partitions,
// crashes and restarts, then heal: every node converges to the model (no
// deleted key comes back), and once all members synced, tombstone count and
// dot-key map size fall to the live key count.
func TestGCProperty(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runGCSeed(t, seed, swc.SimConfig(), false) })
	}
}

// TestGCPropertyFailureDetection is TestGCProperty with the simulator's
// failure detector on: a cut-off or crashed member leaves the others'
// member lists until it is back, as serf reports it in production. It must
// still hold collection back (no delete lost, no value resurrected), and
// collection must complete once it is back.
func TestGCPropertyFailureDetection(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runGCSeed(t, seed, swc.SimConfig(), true) })
	}
}

func runGCSeed(t *testing.T, seed uint64, cfg swc.Config, detect bool) map[string]string {
	r := rand.New(rand.NewPCG(seed, 77))
	nodes := nodeNames(3 + r.IntN(2))
	s := newSimCfg(t, cfg, seed, nodes...)
	s.SetFailureDetection(detect)
	model := metadata.NewMemory("model", nil)
	defer model.Close()
	down := map[string]bool{}
	var log []string
	for i := range 60 {
		var up []string
		for _, n := range nodes {
			if !down[n] {
				up = append(up, n)
			}
		}
		n := up[r.IntN(len(up))]
		k := fmt.Sprintf("client-%d", r.IntN(12))
		switch x := r.IntN(100); {
		case x < 40:
			log = append(log, "put "+n+" "+k)
			if err := s.Store(n).Put(bg, fpT, []byte(k), fmt.Appendf(nil, "%s@%d", n, i)); err != nil {
				t.Fatal(err)
			}
			record(t, s, model, n, k)
		case x < 70:
			log = append(log, "delete "+n+" "+k)
			if err := s.Store(n).Delete(bg, fpT, []byte(k)); err != nil {
				t.Fatal(err)
			}
			record(t, s, model, n, k)
		case x < 85:
			s.Wait(time.Duration(r.IntN(2000)) * time.Millisecond)
		case x < 90:
			cut := 1 + r.IntN(len(nodes)-1)
			log = append(log, fmt.Sprintf("partition %v|%v", nodes[:cut], nodes[cut:]))
			s.Partition(nodes[:cut], nodes[cut:])
		case x < 94:
			s.Heal()
		case x < 97:
			if len(up) > 1 {
				log = append(log, "crash "+n)
				if err := s.Crash(n); err != nil {
					t.Fatal(err)
				}
				down[n] = true
			}
		default:
			for _, d := range nodes {
				if down[d] {
					log = append(log, "restart "+d)
					if err := s.Restart(d); err != nil {
						t.Fatal(err)
					}
					down[d] = false
					break
				}
			}
		}
	}
	s.Heal()
	for _, d := range nodes {
		if down[d] {
			if err := s.Restart(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]string{}
	if err := model.Fold(bg, fpT, func(k, v []byte) error { want[string(k)] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	ok := s.Settle(func() bool {
		for _, n := range nodes {
			if fmt.Sprint(liveKeys(t, s, n)) != fmt.Sprint(want) {
				return false
			}
		}
		return collected(t, s, nodes)
	})
	if !ok {
		for _, l := range log {
			t.Log(l)
		}
		for _, n := range nodes {
			t.Logf("%s: live %v stats %+v", n, liveKeys(t, s, n), coreStats(t, s, n))
			_ = s.WithCore(n, func(c sim.Core) { t.Log(dump(c)) })
		}
		t.Fatalf("did not converge to %v with tombstones collected (sim err %v)", want, s.Err())
	}
	return want
}

func record(t *testing.T, s *sim.Sim, model *metadata.Memory, node, k string) {
	t.Helper()
	sibs, _, err := s.Store(node).GetRaw(bg, fpT, []byte(k))
	if err != nil || len(sibs) != 1 {
		t.Fatalf("after a write on %s, %q has %v (%v)", node, k, sibs, err)
	}
	if err := model.PutRaw(bg, fpT, []byte(k), sibs[0], nil); err != nil {
		t.Fatal(err)
	}
}

// TestDownMemberHoldsGC: a delete stays a tombstone while a member is down
// (it may still hold the old value), and is collected once it is back;
// whether the others still list the member (detect=false) or their
// membership layer reports it failed (detect=true, as serf does).
func TestDownMemberHoldsGC(t *testing.T) {
	for _, detect := range []bool{false, true} {
		t.Run(fmt.Sprintf("detect=%t", detect), func(t *testing.T) { testDownMemberHoldsGC(t, detect) })
	}
}

func testDownMemberHoldsGC(t *testing.T, detect bool) {
	nodes := nodeNames(3)
	s := newSim(t, 3, nodes...)
	s.SetFailureDetection(detect)
	put := func(n, k string) {
		if err := s.Store(n).Put(bg, fpT, []byte(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	put("n1", "a")
	put("n2", "b")
	if !s.Settle(func() bool { return len(liveKeys(t, s, "n3")) == 2 }) {
		t.Fatal("no replication")
	}
	if err := s.Crash("n3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Store("n1").Delete(bg, fpT, []byte("a")); err != nil {
		t.Fatal(err)
	}
	s.Wait(30 * time.Second)
	for _, n := range nodes[:2] {
		if st := coreStats(t, s, n); st.Tombstones != 1 {
			t.Fatalf("%s collected a delete a down member has not seen: %+v", n, st)
		}
	}
	if err := s.Restart("n3"); err != nil {
		t.Fatal(err)
	}
	if !s.Settle(func() bool { return collected(t, s, nodes) && len(liveKeys(t, s, "n3")) == 1 }) {
		t.Fatalf("not collected after the member came back: %+v", coreStats(t, s, "n1"))
	}
}

// TestReplacedNodeNoResurrection: a member leaves while others delete, a
// new empty node joins; no deleted key comes back and GC completes.
func TestReplacedNodeNoResurrection(t *testing.T) {
	nodes := nodeNames(3)
	s := newSim(t, 4, nodes...)
	for i := range 20 {
		if err := s.Store(nodes[i%3]).Put(bg, fpT, fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Settle(func() bool { return len(liveKeys(t, s, "n3")) == 20 }) {
		t.Fatal("no replication")
	}
	s.Partition([]string{"n3"})
	for i := range 10 {
		if err := s.Store("n1").Delete(bg, fpT, fmt.Appendf(nil, "k%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Wait(5 * time.Second)
	if err := s.Leave("n3"); err != nil { // n3 still holds the deleted keys
		t.Fatal(err)
	}
	s.Heal()
	if err := s.Join("n4"); err != nil {
		t.Fatal(err)
	}
	all := []string{"n1", "n2", "n4"}
	if !s.Settle(func() bool {
		for _, n := range all {
			if len(liveKeys(t, s, n)) != 10 {
				return false
			}
		}
		return collected(t, s, all)
	}) {
		t.Fatalf("n4 has %d keys; stats %+v", len(liveKeys(t, s, "n4")), coreStats(t, s, "n1"))
	}
}

// TestOneGroupContract: a 1-group node behaves as the 10-group default to
// the contract (fewer seeds: the same code paths with one clock).
func TestOneGroupContract(t *testing.T) {
	cfg := swc.SimConfig()
	cfg.Groups = 1
	metadatatest.RunCluster(t, func(t *testing.T, c metadatatest.ClusterConfig) metadatatest.Cluster {
		return newSimCfg(t, cfg, c.Seed, nodeNames(c.Nodes)...)
	}, metadatatest.WithSeeds(propertySeeds/4))
}

// TestGroupsSameOutcome: the same random run on 1 and 10 groups ends in the
// same live keys and values.
func TestGroupsSameOutcome(t *testing.T) {
	one := swc.SimConfig()
	one.Groups = 1
	for seed := range uint64(10) {
		var a, b map[string]string
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			a = runGCSeed(t, seed, one, false)
			b = runGCSeed(t, seed, swc.SimConfig(), false)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("1 group: %v; 10 groups: %v", a, b)
			}
		})
	}
}
