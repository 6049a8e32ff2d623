package swc_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/swc"
)

func initSyncConfig() swc.Config {
	cfg := swc.SimConfig()
	cfg.InitSync = true
	cfg.ExchangeBatchSize = 7 // several rounds per group even for a few hundred keys
	return cfg
}

// TestInitSyncContract: with init sync on, the unchanged contract holds (its scenarios
// include an empty node joining and wiped restarts, which take the key-order path).
func TestInitSyncContract(t *testing.T) {
	metadatatest.RunCluster(t, func(t *testing.T, c metadatatest.ClusterConfig) metadatatest.Cluster {
		return newSimCfg(t, initSyncConfig(), c.Seed, nodeNames(c.Nodes)...)
	}, metadatatest.WithSeeds(propertySeeds/4))
}

// TestInitSyncEmptyJoiner: an empty node joins a cluster holding live keys and tombstones:
// it streams every group in key order, then pulls what the stream missed, and ends with
// exactly the live keys; a node holding data does not stream again. A second empty node
// joins while writes go on, some landing behind its cursor: it converges too.
func TestInitSyncEmptyJoiner(t *testing.T) {
	s := newSimCfg(t, initSyncConfig(), 7, "n1", "n2")
	for i := range 300 {
		k := []byte(fmt.Sprintf("client-%03d", i))
		if err := s.Store([]string{"n1", "n2"}[i%2]).Put(bg, fpT, k, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if err := s.Store("n1").Delete(bg, fpT, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Run(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	live := liveKeys(t, s, "n1")
	if len(live) >= 300 {
		t.Fatalf("no delete took effect (%d live keys): the scenario would test no tombstones", len(live))
	}
	// n1 and n2 started empty too and streamed once per group; holding data now, they never
	// stream again.
	n1Streams := coreStats(t, s, "n1").InitSyncs
	converged := func(nodes ...string) bool {
		for _, n := range nodes {
			if !maps.Equal(liveKeys(t, s, n), liveKeys(t, s, "n1")) {
				return false
			}
		}
		return true
	}

	if err := s.Join("n3"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RunUntil(func() bool { return converged("n2", "n3") }, 100*time.Millisecond, time.Minute); err != nil || !ok {
		t.Fatalf("n3 did not converge (err %v): %d keys, want %d", err, len(liveKeys(t, s, "n3")), len(live))
	}
	st := coreStats(t, s, "n3")
	if groups := uint64(swc.SimConfig().Groups); st.InitSyncs != groups {
		t.Fatalf("n3 streamed %d groups, want all %d", st.InitSyncs, groups)
	}
	if st.InitObjects < uint64(len(live)) {
		t.Fatalf("the streams brought %d objects; the %d live keys should have come that way", st.InitObjects, len(live))
	}

	if n := coreStats(t, s, "n1").InitSyncs; n != n1Streams {
		t.Fatalf("n1, holding data, streamed again (%d, was %d)", n, n1Streams)
	}

	if err := s.Join("n4"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		k := []byte(fmt.Sprintf("client-%03d", i*7))
		if err := s.Store("n2").Put(bg, fpT, k, fmt.Appendf(nil, "late%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Run(50 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.RunUntil(func() bool { return converged("n2", "n3", "n4") }, 100*time.Millisecond, time.Minute); err != nil || !ok {
		t.Fatalf("n4 did not converge with writes during its stream (err %v)", err)
	}
	if coreStats(t, s, "n4").InitSyncs == 0 {
		t.Fatal("n4 joined empty and never streamed")
	}
}
