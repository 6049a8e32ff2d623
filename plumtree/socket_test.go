package plumtree_test

import (
	"testing"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
)

// openPlumtree starts a Plumtree node for the real-socket harness.
func openPlumtree(tr cluster.Transport, e store.Engine) (metadata.Store, func(), error) {
	n, err := plumtree.Open(plumtree.Options{Config: fastConfig(), Transport: tr, Engine: e})
	if err != nil {
		return nil, nil, err
	}
	return n, func() { n.Close() }, nil
}

func newSocketCluster(t *testing.T, n int) *metadatatest.SocketCluster {
	return metadatatest.NewSocketCluster(t, n, []store.Keyspace{plumtree.Keyspace}, openPlumtree)
}

// TestSocketClusterContract runs the unchanged multi-node contract over real sockets and
// RocksDB: serf membership, TCP peer links, persisted restarts.
func TestSocketClusterContract(t *testing.T) {
	if testing.Short() {
		t.Skip("real-network cluster test")
	}
	metadatatest.RunCluster(t, func(t *testing.T, cfg metadatatest.ClusterConfig) metadatatest.Cluster {
		return newSocketCluster(t, cfg.Nodes)
	}, metadatatest.WithSeeds(2))
}
