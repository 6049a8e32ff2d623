package metadatatest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// testProperty runs random operation sequences with random faults (loss,
// duplication, partitions, crashes and restarts) and then heals and waits:
// every node must then expose the same live keys and values as the model,
// a metadata.Memory fed every write the cluster accepted. Each write is
// read back from the node that made it (GetRaw right after the write shows
// it as the only sibling, with the timestamp that node gave it), so the
// model holds the exact values and resolves them by the same LWW order.
//
// Why the model's answer is the right one: a local write is stamped above
// every sibling it replaces and a read's write-back re-writes the winner,
// so a value is only ever superseded by a greater one. Whatever the
// network did, once everything has propagated, each key's winner is the
// greatest value ever written to it.
func (cs *clusterSuite) testProperty(t *testing.T) {
	cs.runSeeds(t, cs.cfg.seeds, func(t *testing.T, seed uint64) { cs.runSeed(t, seed, false) })
}

// testPropertyFailureDetection is the property test with the cluster's
// failure detector on (FailureDetector): a partition or a crash also drops
// the nodes each side cannot reach from its member list, as serf does, so a
// backend sees a cut-off member go and come back. Clusters without one
// skip it.
func (cs *clusterSuite) testPropertyFailureDetection(t *testing.T) {
	cs.runSeeds(t, max(1, cs.cfg.seeds/4), func(t *testing.T, seed uint64) { cs.runSeed(t, seed, true) })
}

// errNoDetector is the skip message of a seed whose cluster has no
// FailureDetector; runSeeds then skips the remaining seeds too.
const errNoDetector = "the cluster has no failure detector to turn on"

// runSeeds runs fn as one subtest per seed: the regression seeds, then
// 1..n (NAUTILUS_SIM_SEED=<n> runs only seed n). It stops after five
// failing seeds, or after a skipped one (all would be).
func (cs *clusterSuite) runSeeds(t *testing.T, n int, fn func(t *testing.T, seed uint64)) {
	seeds := make([]uint64, 0, n+len(cs.cfg.extraSeeds))
	seeds = append(seeds, cs.cfg.extraSeeds...)
	for i := range n {
		seeds = append(seeds, uint64(i+1))
	}
	if v := os.Getenv("NAUTILUS_SIM_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("NAUTILUS_SIM_SEED=%q: %v", v, err)
		}
		seeds = []uint64{n}
	}
	failures := 0
	for _, seed := range seeds {
		skipped := false
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			fn(t, seed)
		})
		if skipped {
			t.Skip(errNoDetector)
		}
		if !ok {
			failures++
			t.Errorf("seed %d failed; replay with NAUTILUS_SIM_SEED=%d and add it with WithRegressionSeeds", seed, seed)
			if failures >= 5 {
				t.Fatalf("stopping after %d failing seeds", failures)
			}
		}
	}
}

// propKeys is the key space of the property test: small, so that writes
// collide and siblings, deletes of live keys and resurrections happen.
var propKeys = []string{"k0", "k1", "k2", "k3", "k4", "k5"}

type propRun struct {
	t     *testing.T
	c     Cluster
	r     *rand.Rand
	model *metadata.Memory
	nodes []string
	keys  []string // the keys written, in fpA and fpB
	down  map[string]bool
	log   []string // operations, printed on failure
}

func newPropRun(t *testing.T, c Cluster, r *rand.Rand, keys []string) *propRun {
	return &propRun{t: t, c: c, r: r, model: metadata.NewMemory("metadatatest-model", nil),
		nodes: c.Nodes(), keys: keys, down: map[string]bool{}}
}

func (cs *clusterSuite) runSeed(t *testing.T, seed uint64, detect bool) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	n := 3 + r.IntN(2)
	c := cs.newCluster(t, ClusterConfig{Nodes: n, Seed: seed})
	p := newPropRun(t, c, r, propKeys)
	defer p.model.Close()
	if detect {
		fd, ok := c.(FailureDetector)
		if !ok {
			t.Skip(errNoDetector)
		}
		fd.SetFailureDetection(true)
		p.logf("failure detection on")
	}
	f, lossy := c.(Faults)
	if lossy {
		loss, dup := r.Float64()*0.3, r.Float64()*0.2
		f.SetFaults(loss, dup)
		p.logf("faults loss=%.2f dup=%.2f", loss, dup)
	}
	for i := 0; i < cs.cfg.ops; i++ {
		p.step()
	}
	// Heal everything and wait for convergence.
	c.Heal()
	if lossy {
		f.SetFaults(0, 0)
	}
	for _, node := range p.nodes {
		if p.down[node] {
			p.restart(node)
		}
	}
	p.logf("heal")
	p.converge()
}

// converge waits until every node holds the model's LWW winner of every
// key (absent for a delete), then checks that Fold agrees on every node.
func (p *propRun) converge() {
	t, c := p.t, p.c
	want := p.expected()
	fps := []metadata.FullPrefix{fpA, fpB}
	if !c.Settle(func() bool { return agree(c, p.nodes, fpA, want[fpA]) && agree(c, p.nodes, fpB, want[fpB]) }) {
		p.dump(want)
		reportErr(t, c)
		t.Fatalf("did not converge")
	}
	for _, fp := range fps {
		var wantFold []kv
		for _, k := range p.keys {
			if v := want[fp][k]; v != nil {
				wantFold = append(wantFold, kv{k, *v})
			}
		}
		for _, node := range p.nodes {
			if got := fold(t, c.Store(node), fp); !slices.Equal(got, wantFold) {
				p.dump(want)
				t.Fatalf("Fold(%s) on %s = %q; want %q", fp, node, got, wantFold)
			}
		}
	}
}

func (p *propRun) logf(format string, args ...any) {
	p.log = append(p.log, fmt.Sprintf(format, args...))
}

func (p *propRun) up() []string {
	var out []string
	for _, n := range p.nodes {
		if !p.down[n] {
			out = append(out, n)
		}
	}
	return out
}

func (p *propRun) pick(from []string) string { return from[p.r.IntN(len(from))] }

func (p *propRun) step() {
	t, c := p.t, p.c
	up := p.up()
	fp := fpA
	if p.r.IntN(4) == 0 {
		fp = fpB
	}
	key := p.pick(propKeys)
	switch x := p.r.IntN(100); {
	case x < 40:
		node := p.pick(up)
		val := fmt.Sprintf("%s@%d", node, len(p.log))
		p.logf("put %s %s %s=%s", node, fp, key, val)
		put(t, c.Store(node), fp, key, val)
		p.record(node, fp, key)
	case x < 60:
		node := p.pick(up)
		p.logf("delete %s %s %s", node, fp, key)
		del(t, c.Store(node), fp, key)
		p.record(node, fp, key)
	case x < 70:
		node := p.pick(up)
		v, ok := get(t, c.Store(node), fp, key)
		p.logf("get %s %s %s -> %q %t", node, fp, key, v, ok)
	case x < 82:
		if w, ok := c.(Waiter); ok {
			d := time.Duration(p.r.IntN(500)) * time.Millisecond
			p.logf("wait %v", d)
			w.Wait(d)
		}
	case x < 88:
		shuffled := slices.Clone(p.nodes)
		p.r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		cut := 1 + p.r.IntN(len(shuffled)-1)
		p.logf("partition %v | %v", shuffled[:cut], shuffled[cut:])
		c.Partition(shuffled[:cut], shuffled[cut:])
	case x < 92:
		p.logf("heal")
		c.Heal()
	case x < 96:
		if len(up) > 1 {
			node := p.pick(up)
			p.logf("crash %s", node)
			if err := c.Crash(node); err != nil {
				t.Fatalf("crash %s: %v", node, err)
			}
			p.down[node] = true
		}
	default:
		var down []string
		for _, n := range p.nodes {
			if p.down[n] {
				down = append(down, n)
			}
		}
		if len(down) > 0 {
			p.restart(p.pick(down))
		}
	}
}

func (p *propRun) restart(node string) {
	p.logf("restart %s", node)
	if err := p.c.Restart(node); err != nil {
		p.t.Fatalf("restart %s: %v", node, err)
	}
	p.down[node] = false
}

// record feeds the model the value a write just stored on node.
func (p *propRun) record(node string, fp metadata.FullPrefix, key string) {
	sibs, _ := getRaw(p.t, p.c.Store(node), fp, key)
	// Over a simulated network the write is the only sibling. Over real time a concurrent
	// write from another node can land between the write and this read and stand beside it
	// as a sibling; that write is recorded by its own node, so take this node's newest.
	var mine *metadata.Value
	for i := range sibs {
		if sibs[i].Node == node && (mine == nil || metadata.Less(*mine, sibs[i])) {
			mine = &sibs[i]
		}
	}
	if mine == nil {
		p.t.Fatalf("after a local write on %s, %s %q has siblings %s; want the write among them", node, fp, key, fmtValues(sibs))
	}
	putRaw(p.t, p.model, fp, key, *mine, nil)
}

// expected resolves the model: per prefix, key → LWW value (nil: absent).
func (p *propRun) expected() map[metadata.FullPrefix]map[string]*string {
	out := map[metadata.FullPrefix]map[string]*string{}
	for _, fp := range []metadata.FullPrefix{fpA, fpB} {
		out[fp] = map[string]*string{}
		for _, k := range p.keys {
			sibs, _ := getRaw(p.t, p.model, fp, k)
			if w, ok := metadata.Resolve(sibs); ok && !w.Tomb {
				out[fp][k] = str(string(w.Data))
			} else {
				out[fp][k] = nil
			}
		}
	}
	return out
}

func (p *propRun) dump(want map[metadata.FullPrefix]map[string]*string) {
	p.t.Helper()
	for _, l := range p.log {
		p.t.Log(l)
	}
	for fp, keys := range want {
		for _, k := range p.keys {
			w := "absent"
			if v := keys[k]; v != nil {
				w = *v
			}
			for _, node := range p.nodes {
				sibs, _, err := p.c.Store(node).GetRaw(bg, fp, []byte(k))
				p.t.Logf("%s %s %q: %s (err %v); want %s", node, fp, k, fmtValues(sibs), err, w)
			}
		}
	}
}
