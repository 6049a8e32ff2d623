package swc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// harness runs cores directly, with synchronous in-order delivery and
// manual ticks, over engines the test chooses (RocksDB, or memory with a
// fault injector): the scenarios the simulator cannot set up.
type harness struct {
	t     testing.TB
	cfg   Config
	names []string
	nodes map[string]*hnode
	q     []hmsg
	now   int64
	open  func(name string) (store.Engine, error)
}

type hnode struct {
	core *Core
	eng  store.Engine
	rng  *rand.Rand
}

type hmsg struct {
	from, to string
	data     []byte
}

func newHarness(t testing.TB, cfg Config, open func(string) (store.Engine, error), names ...string) *harness {
	h := &harness{t: t, cfg: cfg, names: names, nodes: map[string]*hnode{}, now: 1_700_000_000_000_000, open: open}
	for _, n := range names {
		h.boot(n)
	}
	t.Cleanup(func() {
		for _, n := range names {
			h.crash(n)
		}
	})
	return h
}

func (h *harness) boot(name string) {
	h.t.Helper()
	eng, err := h.open(name)
	if err != nil {
		h.t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(len(name)), uint64(h.now)))
	c, err := Restore(name, h.cfg, sim.Env{Clock: func() int64 { return h.now }, Rand: rng}, eng)
	if err != nil {
		h.t.Fatal(err)
	}
	h.nodes[name] = &hnode{core: c, eng: eng, rng: rng}
	c.SetMembers(h.names)
	h.flush(name)
}

func (h *harness) up(name string) bool { n := h.nodes[name]; return n != nil && n.core != nil }

// crash stops a node, keeping its engine's storage.
func (h *harness) crash(name string) {
	if n := h.nodes[name]; n != nil && n.core != nil {
		n.core = nil
		_ = n.eng.Close()
	}
}

// flush carries out a Ready; a failed commit crashes the node (nothing of
// that Ready is sent). It reports whether the commit succeeded.
func (h *harness) flush(name string) bool {
	n := h.nodes[name]
	rd := n.core.Ready()
	if err := sim.Commit(n.eng, rd.Persist); err != nil {
		h.crash(name)
		return false
	}
	for _, e := range rd.Send {
		h.q = append(h.q, hmsg{from: name, to: e.To, data: e.Data})
	}
	return true
}

func (h *harness) deliver() {
	for len(h.q) > 0 {
		m := h.q[0]
		h.q = h.q[1:]
		if !h.up(m.to) {
			continue
		}
		if err := h.nodes[m.to].core.Step(m.from, m.data); err != nil {
			h.t.Fatalf("%s stepping from %s: %v", m.to, m.from, err)
		}
		h.flush(m.to)
	}
}

func (h *harness) tick(n int) {
	for range n {
		h.now += int64(h.cfg.TickInterval / 1000)
		for _, name := range h.names {
			if h.up(name) {
				h.nodes[name].core.Tick()
				h.flush(name)
			}
		}
		h.deliver()
	}
}

// do runs an API call on a node and commits it; false if the node is down
// or crashed in the commit (the write was not acknowledged).
func (h *harness) do(name string, fn func(c *Core) error) bool {
	if !h.up(name) {
		return false
	}
	if err := fn(h.nodes[name].core); err != nil {
		h.t.Fatal(err)
	}
	return h.flush(name)
}

func (h *harness) live(name string) map[string]string {
	out := map[string]string{}
	c := h.nodes[name].core
	var after []byte
	for {
		last, done, err := c.FoldChunk(fpH, after, 1000, func(k, v []byte) { out[string(k)] = string(v) })
		if err != nil {
			h.t.Fatal(err)
		}
		h.flush(name)
		if done {
			return out
		}
		after = last
	}
}

// settle ticks until cond holds, at most max ticks.
func (h *harness) settle(max int, cond func() bool) bool {
	for range max {
		if cond() {
			return true
		}
		h.tick(1)
	}
	return cond()
}

var fpH = metadata.FullPrefix{Prefix: "vmq", Sub: "subscriber"}

// checkInvariants checks one core against itself: own entries gap-free,
// every indexed dot seen and held by its object, every value dot indexed,
// gc marks exactly the deleted objects.
func checkInvariants(t testing.TB, c *Core) {
	t.Helper()
	indexed := 0
	for _, g := range c.groups {
		if e := g.clock[c.self]; len(e.Bits) != 0 {
			t.Fatalf("%s group %d: own entry has gaps: %+v", c.name, g.idx, e)
		}
		for _, d := range g.dkm.Dots() {
			skey, _ := g.dkm.Key(d)
			o := c.objs[skey]
			if o == nil || !o.dcc.has(d) || !g.clock.Contains(d) {
				t.Fatalf("%s group %d: dot %v indexed for %q, object %v", c.name, g.idx, d, skey, o)
			}
		}
		indexed += g.dkm.Len()
	}
	vals := 0
	for skey, o := range c.objs {
		vals += len(o.dcc.Vals)
		_, marked := o.g.gc[skey]
		if marked == viewOf(o.dcc).live() || len(o.dcc.Vals) == 0 {
			t.Fatalf("%s: %q gc mark %v for %+v", c.name, skey, marked, o.dcc.Vals)
		}
	}
	if vals != indexed {
		t.Fatalf("%s: %d value dots, %d indexed", c.name, vals, indexed)
	}
}

// TestCrashBetweenWrites crashes a node at every commit of a workload (the
// fault injector fails that batch and everything after, as a dead process
// would), restarts it from what reached the engine and checks that nothing
// is lost, duplicated or reused: invariants hold after the restart, peers
// never hold a dot of the crashed node beyond what it persisted, and the
// cluster converges with every delete collected.
func TestCrashBetweenWrites(t *testing.T) {
	cfg := SimConfig()
	cfg.Groups = 3
	crashes := 0
	defer func() {
		if crashes < 30 {
			t.Errorf("the injector crashed n1 in only %d of 40 runs", crashes)
		}
	}()
	for crashAt := range 40 {
		t.Run(fmt.Sprint(crashAt), func(t *testing.T) {
			storages := map[string]*store.MemStorage{}
			inject := true
			open := func(name string) (store.Engine, error) {
				if storages[name] == nil {
					storages[name] = store.NewMemStorage()
				}
				o := store.Options{Sync: store.SyncOff, ExtraKeyspaces: Keyspaces}
				if name == "n1" && inject {
					o.Injector = faultCrashAt(crashAt)
				}
				return store.OpenMemory(storages[name], o)
			}
			h := newHarness(t, cfg, open, "n1", "n2", "n3")
			r := rand.New(rand.NewPCG(uint64(crashAt), 9))
			for i := range 60 {
				n := h.names[r.IntN(3)]
				k := []byte(fmt.Sprintf("c%d", r.IntN(8)))
				if r.IntN(3) == 0 {
					h.do(n, func(c *Core) error { return c.Delete(fpH, k) })
				} else {
					h.do(n, func(c *Core) error { return c.Put(fpH, k, fmt.Appendf(nil, "%s-%d", n, i)) })
				}
				h.deliver()
				if i%5 == 0 {
					h.tick(3)
				}
			}
			if h.up("n1") {
				h.crash("n1")
			} else {
				crashes++
			}
			inject = false
			peerMax := map[int]uint64{}
			h.boot("n1")
			n1 := h.nodes["n1"].core
			checkInvariants(t, n1)
			for _, p := range []string{"n2", "n3"} {
				for _, g := range h.nodes[p].core.groups {
					peerMax[g.idx] = max(peerMax[g.idx], g.clock[n1.self].Max())
				}
			}
			for _, g := range n1.groups {
				if own := g.clock[n1.self].Base; own < peerMax[g.idx] {
					t.Fatalf("group %d: peers saw n1's dot %d, n1 persisted only %d: it would reuse dots", g.idx, peerMax[g.idx], own)
				}
			}
			ok := h.settle(3000, func() bool {
				want := fmt.Sprint(h.live("n1"))
				for _, n := range h.names {
					st := h.nodes[n].core.Stats()
					if fmt.Sprint(h.live(n)) != want || st.Tombstones != 0 || st.DKM != st.Objects {
						return false
					}
				}
				return true
			})
			if !ok {
				t.Fatalf("no convergence after the crash: %v / %v", h.live("n1"), h.live("n2"))
			}
			for _, n := range h.names {
				checkInvariants(t, h.nodes[n].core)
			}
		})
	}
}
