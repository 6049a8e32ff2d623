package plumtree_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
)

var bg = context.Background()

func newSim(t testing.TB, seed uint64, names ...string) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: seed, Keyspaces: []store.Keyspace{plumtree.Keyspace}},
		plumtree.Factory(plumtree.SimConfig()), names...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestSingleNodeContract runs the single-node contract over a one-node
// simulation: a Plumtree node with no peers behaves like metadata.Memory.
func TestSingleNodeContract(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		return newSim(t, 1, "n1").Store("n1")
	})
}

func TestBroadcastReachesAll(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	s := newSim(t, 7, names...)
	fp := metadata.FullPrefix{Prefix: "t", Sub: "x"}
	for i := range 20 {
		if err := s.Store(names[i%5]).Put(bg, fp, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Run(time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		var got int
		err := s.Store(n).Fold(bg, fp, func(k, v []byte) error { got++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if got != 20 {
			t.Errorf("%s has %d keys; want 20", n, got)
		}
	}
}
