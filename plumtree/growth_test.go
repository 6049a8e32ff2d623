package plumtree_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/plumtree"
)

// TestTombstonesAreForever measures what VerneMQ users meet with Plumtree: a client id that
// comes and goes leaves a tombstone on every node, for good. Three real nodes (serf, TCP,
// RocksDB) create and delete n subscriber keys; every node ends with n tombstones and no live
// key, and the data directories keep growing with n. The figures go to docs/replication.md.
func TestTombstonesAreForever(t *testing.T) {
	if testing.Short() {
		t.Skip("real-network measurement")
	}
	c := newSocketCluster(t, 3)
	ctx := context.Background()
	s := c.Store("n1")
	prevBytes := int64(0)
	total := 0
	for _, n := range []int{500, 2000} {
		for i := range n {
			k := metadata.SubscriberKey{ClientID: fmt.Sprintf("random-client-%d-%d", total, i)}.Encode()
			if err := s.Put(ctx, metadata.Subscribers, k, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, metadata.Subscribers, k); err != nil {
				t.Fatal(err)
			}
		}
		total += n
		ok := c.Settle(func() bool {
			for _, name := range c.Nodes() {
				if c.Node(name).(*plumtree.Node).Stats().Tombstones != total {
					return false
				}
			}
			return true
		})
		if !ok {
			for _, name := range c.Nodes() {
				t.Logf("%s: %+v", name, c.Node(name).(*plumtree.Node).Stats().Stats)
			}
			t.Fatalf("tombstones did not reach %d on every node", total)
		}
		live := 0
		s.Fold(ctx, metadata.Subscribers, func(k, v []byte) error { live++; return nil })
		if live != 0 {
			t.Fatalf("%d live keys after deleting them all", live)
		}
		var bytes int64
		for _, name := range c.Nodes() {
			bytes += dirSize(t, c.Dir(name))
		}
		t.Logf("after %d keys created and deleted: %d tombstones per node, %d bytes on disk over 3 nodes", total, total, bytes)
		if bytes <= prevBytes {
			t.Logf("note: the disk figure did not grow (RocksDB had not flushed)")
		}
		prevBytes = bytes
	}
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
