package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/linxGnu/grocksdb"

	"github.com/nautilus-mq/nautilus/bench/stats"
	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
)

// Real-node scenario names.
const (
	RealBurst   = "burst"  // wall-clock convergence and CPU of a write burst
	RealDelete  = "delete" // … of deleting every key, until tombstones settle
	RealDisk    = "disk"   // bytes on disk per live and per deleted key, restart times
	RealIdle    = "idle"   // CPU of steady-state anti-entropy
	RealMemory  = "memory" // peak RSS of this process (every node runs in it)
	realWriters = 8
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// RealOptions size the real-node runs.
type RealOptions struct {
	Nodes int
	// BurstKeys are the sizes of successive write bursts (distinct keys); every key written is
	// then deleted.
	BurstKeys []int
	// AEPeriod is both backends' anti-entropy period (see PlumtreeRealConfig, SWCRealConfig).
	AEPeriod time.Duration
	// Idle is how long steady-state CPU is measured.
	Idle time.Duration
	// Timeout bounds each wait for convergence.
	Timeout   time.Duration
	ValueSize int
	// Dir holds the nodes' data directories (a temporary directory when empty); it is removed.
	Dir string
	Log func(string, ...any) `json:"-"`
}

// DefaultRealOptions is the default (quick) real-node run.
func DefaultRealOptions() RealOptions {
	return RealOptions{Nodes: 3, BurstKeys: []int{2000, 5000, 10000}, AEPeriod: 500 * time.Millisecond, Idle: 3 * time.Second,
		Timeout: 2 * time.Minute, ValueSize: 64}
}

func (o RealOptions) withDefaults() RealOptions {
	d := DefaultRealOptions()
	if o.Nodes <= 0 {
		o.Nodes = d.Nodes
	}
	if len(o.BurstKeys) == 0 {
		o.BurstKeys = d.BurstKeys
	}
	if o.AEPeriod <= 0 {
		o.AEPeriod = d.AEPeriod
	}
	if o.Idle <= 0 {
		o.Idle = d.Idle
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.ValueSize <= 0 {
		o.ValueSize = d.ValueSize
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	return o
}

// realCluster is n in-process nodes of one backend: cluster.Nodes (serf gossip and TCP peer
// links on loopback) and RocksDB engines. A restart reopens the engine and the backend on the
// running transport: what it times is the backend's rebuild (Plumtree's trees, SWC's dot-key
// map), not serf's.
type realCluster struct {
	b     Backend
	o     RealOptions
	dir   string
	names []string
	cls   map[string]*cluster.Node
	engs  map[string]*store.DB
	nodes map[string]RealNode
}

func fastSerf() *serf.Config {
	c := serf.DefaultConfig()
	ml := memberlist.DefaultLocalConfig()
	ml.ProbeInterval = 100 * time.Millisecond
	ml.ProbeTimeout = 50 * time.Millisecond
	ml.GossipInterval = 20 * time.Millisecond
	ml.SuspicionMult = 2
	c.MemberlistConfig = ml
	c.LeavePropagateDelay = 100 * time.Millisecond
	c.ReapInterval = time.Second
	return c
}

func startRealCluster(ctx context.Context, b Backend, o RealOptions) (_ *realCluster, err error) {
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "nautilus-bench-replication-"); err != nil {
			return nil, err
		}
	}
	c := &realCluster{b: b, o: o, dir: dir, cls: map[string]*cluster.Node{}, engs: map[string]*store.DB{}, nodes: map[string]RealNode{}}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var seeds []string
	for i := range o.Nodes {
		name := nodeName(i)
		c.names = append(c.names, name)
		cl, err := cluster.New(cluster.Options{Name: name, LinkAddr: "127.0.0.1:0", Serf: fastSerf(), Logger: quietLog(), Secret: []byte("nautilus-bench-cluster-secret"),
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		if err := cl.Start(ctx); err != nil {
			cl.Close()
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		c.cls[name] = cl
		if len(seeds) > 0 {
			if err := cl.Join(seeds...); err != nil {
				return nil, fmt.Errorf("join %s: %w", name, err)
			}
		}
		seeds = append(seeds, cl.GossipAddr())
	}
	if err := c.waitFor(ctx, "membership", func() bool {
		for _, cl := range c.cls {
			if len(cl.Members()) != o.Nodes {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	for _, name := range c.names {
		if _, err := c.open(name); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *realCluster) path(name string) string { return filepath.Join(c.dir, name) }

// open opens name's engine and backend and returns how long that took.
func (c *realCluster) open(name string) (time.Duration, error) {
	start := time.Now()
	eng, err := store.Open(store.Options{Dir: c.path(name), Sync: store.SyncOff, ExtraKeyspaces: c.b.Keyspaces})
	if err != nil {
		return 0, err
	}
	n, err := c.b.Open(c.cls[name], eng, c.o.AEPeriod)
	if err != nil {
		eng.Close()
		return 0, fmt.Errorf("open %s %s: %w", c.b.Name, name, err)
	}
	d := time.Since(start)
	c.engs[name], c.nodes[name] = eng, n
	return d, nil
}

func (c *realCluster) stop(name string) error {
	var errs []error
	if n := c.nodes[name]; n != nil {
		errs = append(errs, n.Close())
	}
	if e := c.engs[name]; e != nil {
		errs = append(errs, e.Close())
	}
	delete(c.nodes, name)
	delete(c.engs, name)
	return errors.Join(errs...)
}

func (c *realCluster) close() {
	for _, name := range c.names {
		_ = c.stop(name)
	}
	for _, cl := range c.cls {
		cl.Close()
	}
	if c.o.Dir == "" {
		os.RemoveAll(c.dir)
	}
}

func (c *realCluster) waitFor(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(c.o.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s: not reached after %v", c.b.Name, what, c.o.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// write puts keys[i] = vals[i] (or deletes the keys, when vals is nil) from realWriters
// goroutines spread over the nodes.
func (c *realCluster) write(ctx context.Context, keys, vals [][]byte) error {
	var wg sync.WaitGroup
	errs := make([]error, realWriters)
	for w := range realWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(keys); i += realWriters {
				n := c.nodes[c.names[i%len(c.names)]]
				var err error
				if vals == nil {
					err = n.Delete(ctx, metadata.Subscribers, keys[i])
				} else {
					err = n.Put(ctx, metadata.Subscribers, keys[i], vals[i])
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *realCluster) allStats(pred func(BackendStats) bool) bool {
	for _, name := range c.names {
		if !pred(c.nodes[name].BackendStats()) {
			return false
		}
	}
	return true
}

func (c *realCluster) liveCounts() ([]int, error) {
	var out []int
	for _, name := range c.names {
		n := 0
		err := c.nodes[name].Fold(bg, metadata.Subscribers, func(k, v []byte) error { n++; return nil })
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// compactedSize restarts every node with a compaction in between and returns the bytes of
// table and log files over all nodes and the mean restart (engine + backend open) time.
func (c *realCluster) compactedSize() (int64, time.Duration, error) {
	var total int64
	var restart time.Duration
	for _, name := range c.names {
		if err := c.stop(name); err != nil {
			return 0, 0, err
		}
		if err := compact(c.path(name)); err != nil {
			return 0, 0, err
		}
		n, err := dirSize(c.path(name))
		if err != nil {
			return 0, 0, err
		}
		total += n
		d, err := c.open(name)
		if err != nil {
			return 0, 0, err
		}
		restart += d
	}
	return total, restart / time.Duration(len(c.names)), nil
}

// compact flushes and compacts every column family of the RocksDB database in dir (store.DB
// has no compaction call, so grocksdb opens the closed directory directly).
func compact(dir string) error {
	opts := grocksdb.NewDefaultOptions()
	defer opts.Destroy()
	names, err := grocksdb.ListColumnFamilies(opts, dir)
	if err != nil {
		return err
	}
	cfOpts := make([]*grocksdb.Options, len(names))
	for i := range cfOpts {
		cfOpts[i] = opts
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(opts, dir, names, cfOpts)
	if err != nil {
		return err
	}
	fo := grocksdb.NewDefaultFlushOptions()
	fo.SetWait(true)
	for _, cf := range handles {
		if err = db.FlushCF(cf, fo); err != nil {
			break
		}
		db.CompactRangeCF(cf, grocksdb.Range{})
	}
	fo.Destroy()
	for _, cf := range handles {
		cf.Destroy()
	}
	db.Close()
	return err
}

// dirSize sums the table and log files under dir (RocksDB's OPTIONS, MANIFEST and LOG files
// are bookkeeping of about fixed size).
func dirSize(dir string) (int64, error) {
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
	return n, err
}

func selfCPU() time.Duration {
	d, err := stats.ProcessCPU(os.Getpid())
	if err != nil {
		return stats.SelfCPU()
	}
	return d
}

// RunReal runs the real-node scenarios for one backend: a baseline of empty nodes (disk,
// restart), write bursts of each size (convergence time and CPU), the disk per live key and
// restart time with every key live, idle CPU, deletion of every key until the tombstones
// settle (Plumtree: one per deleted key on every node; SWC: none left), then the disk per
// deleted key and restart time. CPU is this process's (/proc/self/stat): the nodes run in it,
// one backend at a time.
//
// Memory: the nodes share this process, so there is no per-node RSS to report. The process's
// peak RSS (VmHWM) is reset before the cluster starts (after returning freed memory to the
// OS) and read at the end: the peak of all the nodes together plus the harness.
func RunReal(ctx context.Context, b Backend, o RealOptions) ([]*Result, error) {
	o = o.withDefaults()
	debug.FreeOSMemory()
	rss0, rssErr := stats.ProcessRSS(os.Getpid())
	if rssErr == nil {
		rssErr = stats.ResetSelfPeakRSS()
	}
	c, err := startRealCluster(ctx, b, o)
	if err != nil {
		return nil, err
	}
	defer c.close()
	mk := func(scenario string, keys int) *Result {
		return &Result{Mode: "real", Scenario: scenario, Backend: b.Name, Nodes: o.Nodes, Keys: keys, Date: time.Now().UTC()}
	}
	var out []*Result
	base, restart0, err := c.compactedSize()
	if err != nil {
		return nil, err
	}
	o.Log("%s: %d empty nodes: %d B on disk, restart %v", b.Name, o.Nodes, base, restart0)
	// Random values: RocksDB compresses its tables, and a repeated value would make the
	// per-key disk figures meaningless.
	rng := rand.New(rand.NewPCG(1, 2))
	var all [][]byte
	for bi, k := range o.BurstKeys {
		keys, vals := make([][]byte, k), make([][]byte, k)
		for i := range keys {
			keys[i] = clientKey(fmt.Sprintf("real%d", bi), i)
			vals[i] = make([]byte, o.ValueSize)
			for j := range vals[i] {
				vals[i][j] = byte(rng.Uint32())
			}
		}
		want := len(all) + k
		cpu0, t0 := selfCPU(), time.Now()
		if err := c.write(ctx, keys, vals); err != nil {
			return out, err
		}
		wrote := time.Since(t0)
		if err := c.waitFor(ctx, "burst convergence", func() bool {
			return c.allStats(func(s BackendStats) bool { return s.Objects-s.Tombstones >= want })
		}); err != nil {
			return out, err
		}
		dt, cpu := time.Since(t0), selfCPU()-cpu0
		all = append(all, keys...)
		if counts, err := c.liveCounts(); err != nil {
			return out, err
		} else {
			for i, n := range counts {
				if n != len(all) {
					return out, fmt.Errorf("%s: %s holds %d live keys after the burst, want %d", b.Name, c.names[i], n, len(all))
				}
			}
		}
		r := mk(RealBurst, k)
		r.Add("converge", dt.Seconds(), "s")
		r.Add("writes done", wrote.Seconds(), "s")
		r.Add("CPU", cpu.Seconds(), "s")
		r.Add("CPU/1k writes", cpu.Seconds()*1000/float64(k), "s")
		out = append(out, r)
		o.Log("%s: burst of %d keys converged in %v (CPU %v)", b.Name, k, dt, cpu)
	}
	live := len(all)
	liveSize, restartLive, err := c.compactedSize()
	if err != nil {
		return out, err
	}
	// idle: steady-state anti-entropy, nothing to repair
	time.Sleep(o.AEPeriod)
	cpu0, t0 := selfCPU(), time.Now()
	time.Sleep(o.Idle)
	idleCPU := (selfCPU() - cpu0).Seconds() / time.Since(t0).Seconds()

	cpu0, t0 = selfCPU(), time.Now()
	if err := c.write(ctx, all, nil); err != nil {
		return out, err
	}
	settled := func(s BackendStats) bool {
		if b.Name == Plumtree {
			return s.Tombstones >= live && s.Objects == s.Tombstones
		}
		return s.Objects == 0 && s.Tombstones == 0 && s.DKM == 0
	}
	if err := c.waitFor(ctx, "deletes settled", func() bool { return c.allStats(settled) }); err != nil {
		return out, err
	}
	delTime, delCPU := time.Since(t0), selfCPU()-cpu0
	if counts, err := c.liveCounts(); err != nil {
		return out, err
	} else {
		for i, n := range counts {
			if n != 0 {
				return out, fmt.Errorf("%s: %s holds %d live keys after deleting all", b.Name, c.names[i], n)
			}
		}
	}
	var tomb int
	for _, name := range c.names {
		tomb += c.nodes[name].BackendStats().Tombstones
	}
	r := mk(RealDelete, live)
	r.Add("settle", delTime.Seconds(), "s")
	r.Add("CPU", delCPU.Seconds(), "s")
	r.Add("tombstones/node", float64(tomb)/float64(o.Nodes), "")
	out = append(out, r)
	o.Log("%s: %d deletes settled in %v (CPU %v)", b.Name, live, delTime, delCPU)

	deadSize, restartDead, err := c.compactedSize()
	if err != nil {
		return out, err
	}
	n := float64(o.Nodes)
	d := mk(RealDisk, live)
	d.Add("disk/live key/node", float64(liveSize-base)/n/float64(live), "B")
	d.Add("disk/deleted key/node", float64(deadSize-base)/n/float64(live), "B")
	d.Add("restart, empty", restart0.Seconds(), "s")
	d.Add("restart, keys live", restartLive.Seconds(), "s")
	d.Add("restart, keys deleted", restartDead.Seconds(), "s")
	out = append(out, d)
	idle := mk(RealIdle, live)
	idle.Add("CPU, keys live", idleCPU*100, "% of a core")
	out = append(out, idle)
	if rssErr == nil {
		peak, err := stats.ProcessPeakRSS(os.Getpid())
		if err == nil {
			mem := mk(RealMemory, live)
			mem.Add("process peak RSS", float64(peak)/(1<<20), "MiB")
			mem.Add("process RSS before start", float64(rss0)/(1<<20), "MiB")
			mem.Add("peak growth/node", float64(peak-rss0)/(1<<20)/n, "MiB")
			out = append(out, mem)
		} else {
			o.Log("%s: %v", b.Name, err)
		}
	} else {
		o.Log("%s: peak RSS not measured: %v", b.Name, rssErr)
	}
	return out, nil
}
