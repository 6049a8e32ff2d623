package plumtree_test

import (
	"fmt"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
)

func newSimCluster(t *testing.T, cfg metadatatest.ClusterConfig) metadatatest.Cluster {
	names := make([]string, cfg.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return newSim(t, cfg.Seed, names...)
}

// TestClusterContract runs the multi-node contract, property test included,
// over the simulator.
func TestClusterContract(t *testing.T) {
	metadatatest.RunCluster(t, newSimCluster, metadatatest.WithSeeds(propertySeeds))
}
