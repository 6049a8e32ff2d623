package plumtree_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
)

var fpT = metadata.FullPrefix{Prefix: "t", Sub: "x"}

func newSimCfg(t testing.TB, cfg plumtree.Config, seed uint64, names ...string) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: seed, Keyspaces: []store.Keyspace{plumtree.Keyspace}},
		plumtree.Factory(cfg), names...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%02d", i)
	}
	return out
}

func coreStats(t testing.TB, s *sim.Sim, name string) plumtree.Stats {
	t.Helper()
	var st plumtree.Stats
	if err := s.WithCore(name, func(c sim.Core) { st = c.(*plumtree.Core).Stats() }); err != nil {
		t.Fatal(err)
	}
	return st
}

func totalBroadcasts(t testing.TB, s *sim.Sim) uint64 {
	var n uint64
	for _, name := range s.Members() {
		n += coreStats(t, s, name).Broadcasts
	}
	return n
}

// TestPruneReshapesTree checks the Plumtree paper's claim: once prunes
// have removed redundant eager links, an update costs about N−1 eager
// messages (relative message redundancy near 0), far fewer than at first.
func TestPruneReshapesTree(t *testing.T) {
	cfg := plumtree.SimConfig()
	cfg.ExchangeTick = time.Hour // broadcast only
	names := nodeNames(10)
	s := newSimCfg(t, cfg, 11, names...)
	measure := func(i int) uint64 {
		before := totalBroadcasts(t, s)
		if err := s.Store(names[0]).Put(bg, fpT, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := s.Run(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		return totalBroadcasts(t, s) - before
	}
	var first uint64
	for i := range 30 {
		n := measure(i)
		if i == 0 {
			first = n
		}
	}
	last := measure(30)
	t.Logf("eager messages per update: first %d, after prunes %d (N-1 = %d)", first, last, len(names)-1)
	if last > uint64(len(names)-1)+2 {
		t.Fatalf("after prunes an update costs %d broadcasts; want about %d", last, len(names)-1)
	}
	for _, n := range names {
		if _, ok, _ := s.Store(n).Get(bg, fpT, []byte("k30")); !ok {
			t.Fatalf("%s missed the update", n)
		}
	}
}

// TestLazyPathRepairsDeadEagerPeer kills a node while broadcasts are in
// flight; with anti-entropy off, i-have/graft must still deliver every
// update to every live node, around the dead one.
func TestLazyPathRepairsDeadEagerPeer(t *testing.T) {
	cfg := plumtree.SimConfig()
	cfg.ExchangeTick = time.Hour
	names := nodeNames(8)
	s := newSimCfg(t, cfg, 5, names...)
	dead := names[3]
	var keys [][]byte
	for i := range 24 {
		origin := names[i%len(names)]
		if i >= 8 && origin == dead {
			continue
		}
		k := fmt.Appendf(nil, "k%d", i)
		keys = append(keys, k)
		if err := s.Store(origin).Put(bg, fpT, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if i == 8 {
			_ = s.Run(2 * time.Millisecond) // mid-broadcast
			if err := s.Crash(dead); err != nil {
				t.Fatal(err)
			}
		}
	}
	ok, err := s.RunUntil(func() bool {
		for _, n := range names {
			for _, k := range keys {
				if sibs, _, err := s.Store(n).GetRaw(bg, fpT, k); n != dead && (err != nil || len(sibs) == 0) {
					return false
				}
			}
		}
		return true
	}, 100*time.Millisecond, time.Minute)
	if err != nil || !ok {
		t.Fatalf("lazy path did not deliver every update (err %v)", err)
	}
	var grafts uint64
	for _, n := range names {
		if n != dead {
			grafts += coreStats(t, s, n).Grafts
		}
	}
	if grafts == 0 {
		t.Fatalf("no grafts: the lazy path was not exercised")
	}
}

// TestAntiEntropyAloneRepairs turns lazy pushes off (a lazy tick longer
// than the test) and drops every message for a while: only Merkle
// exchanges can converge the cluster, in both directions, including a full
// prefix that one side lacks entirely.
func TestAntiEntropyAloneRepairs(t *testing.T) {
	cfg := plumtree.SimConfig()
	cfg.LazyTick = time.Hour
	names := nodeNames(3)
	s := newSimCfg(t, cfg, 9, names...)
	s.SetFaults(1, 0)
	other := metadata.FullPrefix{Prefix: "t", Sub: "only-on-n00"}
	for i := range 40 {
		n := names[i%3]
		if err := s.Store(n).Put(bg, fpT, fmt.Appendf(nil, "k%02d", i), []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store(names[0]).Put(bg, other, []byte("lonely"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Store(names[1]).Delete(bg, fpT, []byte("k00")); err != nil {
		t.Fatal(err)
	}
	_ = s.Run(time.Second)
	s.SetFaults(0, 0)
	ok, err := s.RunUntil(func() bool {
		for _, n := range names {
			if sibs, _, _ := s.Store(n).GetRaw(bg, other, []byte("lonely")); len(sibs) != 1 {
				return false
			}
			for i := range 40 {
				sibs, _, _ := s.Store(n).GetRaw(bg, fpT, fmt.Appendf(nil, "k%02d", i))
				w, ok := metadata.Resolve(sibs)
				if !ok || (i == 0) != w.Tomb { // k00's delete did not see the put: siblings
					return false
				}
			}
		}
		return true
	}, 100*time.Millisecond, time.Minute)
	if err != nil || !ok {
		t.Fatalf("anti-entropy did not converge (err %v)", err)
	}
	var repaired, completed uint64
	for _, n := range names {
		st := coreStats(t, s, n)
		repaired += st.Repaired
		completed += st.ExchangesCompleted
	}
	if repaired == 0 || completed == 0 {
		t.Fatalf("no exchange repaired anything (%d completed)", completed)
	}
}

// TestRestartRebuildsTree checks that a restarted core holds the same
// objects and rebuilds the same Merkle tree (observed as: an exchange
// with an identical peer repairs nothing), and counts tombstones.
func TestRestartRebuildsTree(t *testing.T) {
	names := nodeNames(2)
	s := newSimCfg(t, plumtree.SimConfig(), 3, names...)
	for i := range 50 {
		if err := s.Store(names[0]).Put(bg, fpT, fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := s.Store(names[0]).Delete(bg, fpT, fmt.Appendf(nil, "k%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store(names[0]).Delete(bg, fpT, []byte("never-written")); err != nil {
		t.Fatal(err)
	}
	_ = s.Run(5 * time.Second)
	before := coreStats(t, s, names[1])
	if before.Objects != 51 || before.Tombstones != 11 {
		t.Fatalf("stats %+v; want 51 objects of which 11 tombstones (kept forever)", before)
	}
	if err := s.Crash(names[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(names[1]); err != nil {
		t.Fatal(err)
	}
	after := coreStats(t, s, names[1])
	if after.Objects != 51 || after.Tombstones != 11 {
		t.Fatalf("after restart: %+v", after)
	}
	repairedBefore := after.Repaired + coreStats(t, s, names[0]).Repaired
	_ = s.WithCore(names[1], func(c sim.Core) { c.(*plumtree.Core).StartExchange(names[0]) })
	_ = s.Run(5 * time.Second)
	st0, st1 := coreStats(t, s, names[0]), coreStats(t, s, names[1])
	if st1.ExchangesCompleted == 0 {
		t.Fatalf("no exchange completed after restart")
	}
	if st0.Repaired+st1.Repaired != repairedBefore {
		t.Fatalf("exchange between identical replicas repaired %d objects", st0.Repaired+st1.Repaired-repairedBefore)
	}
}

// TestOutstandingLimit checks the overload guard: a lazy peer that never
// answers is owed at most OutstandingLimit announcements.
func TestOutstandingLimit(t *testing.T) {
	cfg := plumtree.SimConfig()
	cfg.OutstandingLimit = 5
	cfg.ExchangeTick = time.Hour
	names := nodeNames(4)
	s := newSimCfg(t, cfg, 2, names...)
	for _, n := range names[1:] {
		if err := s.Crash(n); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		if err := s.Store(names[0]).Put(bg, fpT, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	st := coreStats(t, s, names[0])
	if st.Outstanding > 5 || st.OutstandingDropped == 0 {
		t.Fatalf("stats %+v; want at most 5 outstanding and some dropped", st)
	}
}

// TestHealedSplitConvergesAtJoin is a partition as serf reports it: the
// members on each side fail (SetMembers drops them) and join again at the
// heal. An exchange stuck with a peer that failed is abandoned instead of
// blocking anti-entropy until exchange_timeout, and a peer that joins gets an
// exchange at once, so an update broadcast while it was away (pushed to
// nobody there: it had left the trees) reaches it without waiting for
// exchange_tick. Both ticks are an hour here, so only the join can repair.
// Found by cmd/nautilus TestPartition over real namespaces.
func TestHealedSplitConvergesAtJoin(t *testing.T) {
	cfg := plumtree.SimConfig()
	cfg.ExchangeTick = time.Hour
	cfg.ExchangeTimeout = time.Hour
	names := nodeNames(3)
	s := newSimCfg(t, cfg, 11, names...)
	side, away := names[:2], names[2]
	setMembers := func(n string, ms []string) {
		t.Helper()
		if err := s.WithCore(n, func(c sim.Core) { c.SetMembers(ms) }); err != nil {
			t.Fatal(err)
		}
	}
	exchanging := func(n string) (x bool) {
		_ = s.WithCore(n, func(c sim.Core) { x = c.(*plumtree.Core).Exchanging() })
		return x
	}

	_ = s.Run(time.Second) // the exchanges of the first join end
	s.Partition(side, []string{away})
	// An exchange toward the far side starts before the failure is detected.
	started := false
	if err := s.WithCore(names[0], func(c sim.Core) { started = c.(*plumtree.Core).StartExchange(away) }); err != nil || !started {
		t.Fatalf("no exchange started (err %v)", err)
	}
	_ = s.Run(time.Second)
	if !exchanging(names[0]) {
		t.Fatal("the exchange across the cut ended by itself")
	}
	for _, n := range side {
		setMembers(n, side)
	}
	setMembers(away, []string{away})
	if exchanging(names[0]) {
		t.Fatal("an exchange with a failed peer is still running")
	}
	if err := s.Store(names[0]).Put(bg, fpT, []byte("split"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	_ = s.Run(time.Second)

	s.Heal()
	for _, n := range names {
		setMembers(n, names)
	}
	ok, err := s.RunUntil(func() bool {
		_, found, _ := s.Store(away).Get(bg, fpT, []byte("split"))
		return found
	}, 10*time.Millisecond, 10*time.Second)
	if err != nil || !ok {
		t.Fatalf("the update made during the split did not reach %s after the heal (err %v)", away, err)
	}
}
