package swc

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/linxGnu/grocksdb"

	"github.com/nautilus-mq/nautilus/store"
)

// TestChurnRocksDB is VerneMQ's pain with random client ids: many keys
// created and deleted across 3 nodes on RocksDB. It must end with no
// tombstone, no object and no dot-key entry on any node, and a database
// that shrinks back after compaction. NAUTILUS_SWC_CHURN sets the key
// count (default 3000; 100000 is the scenario).
func TestChurnRocksDB(t *testing.T) {
	keys := 3000
	if v := os.Getenv("NAUTILUS_SWC_CHURN"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("NAUTILUS_SWC_CHURN=%q: %v", v, err)
		}
		keys = n
	}
	dirs := map[string]string{}
	open := func(name string) (store.Engine, error) {
		if dirs[name] == "" {
			dirs[name] = t.TempDir()
		}
		db, err := store.Open(store.Options{Dir: dirs[name], Sync: store.SyncOff, ExtraKeyspaces: Keyspaces})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	cfg := SimConfig()
	cfg.ExchangeBatchSize = 1000
	h := newHarness(t, cfg, open, "n1", "n2", "n3")
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, keys)
	for i := range ids {
		ids[i] = fmt.Sprintf("client-%016x", r.Uint64())
	}
	for i, id := range ids {
		h.do(h.names[i%3], func(c *Core) error { return c.Put(fpH, []byte(id), make([]byte, 64)) })
		if i%100 == 99 {
			h.deliver()
		}
	}
	h.deliver()
	if !h.settle(1000, func() bool { return len(h.live("n3")) == keys }) {
		t.Fatalf("n3 has %d of %d keys", len(h.live("n3")), keys)
	}
	full := compactedSize(t, h, dirs)
	for i, id := range ids {
		h.do(h.names[(i+1)%3], func(c *Core) error { return c.Delete(fpH, []byte(id)) })
		if i%100 == 99 {
			h.deliver()
		}
	}
	h.deliver()
	var peak int
	for _, n := range h.names {
		peak = max(peak, h.nodes[n].core.Stats().Tombstones)
	}
	ok := h.settle(5000, func() bool {
		for _, n := range h.names {
			if st := h.nodes[n].core.Stats(); st.Tombstones+st.Objects+st.DKM != 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("tombstones left: %+v", h.nodes["n1"].core.Stats())
	}
	empty := compactedSize(t, h, dirs)
	t.Logf("%d keys: compacted database %d bytes with every key live, %d bytes after delete+GC (peak tombstones per node %d)",
		keys, full, empty, peak)
	if empty*2 > full {
		t.Fatalf("database did not shrink back: %d bytes live, %d after deleting everything", full, empty)
	}
	for _, n := range h.names { // and the disk agrees with memory after a restart
		h.crash(n)
		h.boot(n)
		if st := h.nodes[n].core.Stats(); st.Objects+st.DKM+st.Tombstones != 0 {
			t.Fatalf("%s restored %+v", n, st)
		}
	}
}

// compactedSize stops every node, compacts its database (store.DB has no
// compaction call, so grocksdb opens the directory directly), sums the
// directories' sizes and restarts the nodes.
func compactedSize(t *testing.T, h *harness, dirs map[string]string) int64 {
	t.Helper()
	var total int64
	for _, n := range h.names {
		h.crash(n)
		compact(t, dirs[n])
		total += dirSize(t, dirs[n])
		h.boot(n)
	}
	return total
}

func compact(t *testing.T, dir string) {
	t.Helper()
	opts := grocksdb.NewDefaultOptions()
	defer opts.Destroy()
	names, err := grocksdb.ListColumnFamilies(opts, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfOpts := make([]*grocksdb.Options, len(names))
	for i := range cfOpts {
		cfOpts[i] = opts
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(opts, dir, names, cfOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, cf := range handles {
		db.CompactRangeCF(cf, grocksdb.Range{})
	}
	fo := grocksdb.NewDefaultFlushOptions()
	fo.SetWait(true)
	for _, cf := range handles {
		if err := db.FlushCF(cf, fo); err != nil {
			t.Fatal(err)
		}
		db.CompactRangeCF(cf, grocksdb.Range{})
	}
	fo.Destroy()
	for _, cf := range handles {
		cf.Destroy()
	}
	db.Close()
}

// dirSize sums the table and log files (RocksDB's OPTIONS and LOG files are
// bookkeeping of fixed size).
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext == ".sst" || ext == ".log" {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
