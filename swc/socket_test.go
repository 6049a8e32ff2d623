package swc_test

import (
	"testing"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/swc"
)

// TestSocketClusterContract runs the unchanged multi-node contract over real sockets and
// RocksDB — serf membership, TCP peer links, persisted restarts — as it runs for Plumtree.
func TestSocketClusterContract(t *testing.T) {
	if testing.Short() {
		t.Skip("real-network cluster test")
	}
	open := func(tr cluster.Transport, e store.Engine) (metadata.Store, func(), error) {
		n, err := swc.Open(swc.Options{Config: fastConfig(), Transport: tr, Engine: e})
		if err != nil {
			return nil, nil, err
		}
		return n, func() { n.Close() }, nil
	}
	metadatatest.RunCluster(t, func(t *testing.T, cfg metadatatest.ClusterConfig) metadatatest.Cluster {
		return metadatatest.NewSocketCluster(t, cfg.Nodes, swc.Keyspaces, open)
	}, metadatatest.WithSeeds(2))
}
