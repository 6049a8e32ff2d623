package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// Simulator scenario names.
const (
	Burst     = "burst"     // messages and bytes to converge after a write burst
	Partition = "partition" // … after a partition heals, writes and deletes on both sides
	Join      = "join"      // an empty node joins a cluster of N keys
	Steady    = "steady"    // anti-entropy bytes per round with no divergence
	Churn     = "churn"     // tombstones and stored bytes after K client ids created and deleted
)

// SimScenarios are the simulator scenarios in run order.
var SimScenarios = []string{Burst, Partition, Steady, Join, Churn}

var bg = context.Background()

// SimOptions size the simulator runs. Zero fields take DefaultSimOptions' values.
type SimOptions struct {
	Seed  uint64
	Nodes int
	// BurstKeys are written at once, spread over the nodes (burst, partition preload).
	BurstKeys int
	// JoinKeys are the cluster sizes an empty node joins (join, steady).
	JoinKeys []int
	// ChurnKeys client ids connect and disconnect at ChurnRate per second, each session
	// lasting ChurnLifetime.
	ChurnKeys     int
	ChurnRate     int
	ChurnLifetime time.Duration
	// SteadyTime is how long (virtual) steady-state anti-entropy is measured.
	SteadyTime time.Duration
	// ValueSize is the bytes of every value (a subscriber record is about this size).
	ValueSize int
}

// DefaultSimOptions is the default (quick) simulator run.
func DefaultSimOptions() SimOptions {
	return SimOptions{Seed: 1, Nodes: 5, BurstKeys: 1000, JoinKeys: []int{1000, 3000, 10000}, ChurnKeys: 10000,
		ChurnRate: 1000, ChurnLifetime: time.Second, SteadyTime: 30 * time.Second, ValueSize: 64}
}

func (o SimOptions) withDefaults() SimOptions {
	d := DefaultSimOptions()
	if o.Nodes <= 0 {
		o.Nodes = d.Nodes
	}
	if o.BurstKeys <= 0 {
		o.BurstKeys = d.BurstKeys
	}
	if len(o.JoinKeys) == 0 {
		o.JoinKeys = d.JoinKeys
	}
	if o.ChurnKeys <= 0 {
		o.ChurnKeys = d.ChurnKeys
	}
	if o.ChurnRate <= 0 {
		o.ChurnRate = d.ChurnRate
	}
	if o.ChurnLifetime <= 0 {
		o.ChurnLifetime = d.ChurnLifetime
	}
	if o.SteadyTime <= 0 {
		o.SteadyTime = d.SteadyTime
	}
	if o.ValueSize <= 0 {
		o.ValueSize = d.ValueSize
	}
	return o
}

// sizedCore wraps a backend core and keeps the bytes it has persisted (keys plus values of
// every record in its keyspaces), read back from the engine at boot and updated from each
// Ready's writes: the simulator's engines are in memory and not otherwise measurable.
//
// It keeps no per-key sizes of its own (at a million keys on six nodes such a map cost more
// than half a gigabyte): the size a write replaces is looked up in the node's engine, which
// the simulator commits each Ready to only after Ready returns. The engine is the store.Reader
// the simulator boots the core from and stays open until the node crashes, when a restart
// builds a new sizedCore over the new engine; a real driver's reader need not live that long,
// which is why sim.Factory tells cores not to keep it.
type sizedCore struct {
	sim.Core
	eng   store.Reader
	total int64
}

func sizedFactory(f sim.Factory, keyspaces []store.Keyspace) sim.Factory {
	return func(name string, r store.Reader, env sim.Env) (sim.Core, error) {
		c, err := f(name, r, env)
		if err != nil {
			return nil, err
		}
		sc := &sizedCore{Core: c, eng: r}
		for _, ks := range keyspaces {
			it, err := r.NewIterator(ks, nil, nil)
			if err != nil {
				return nil, err
			}
			for ok := it.First(); ok; ok = it.Next() {
				sc.total += int64(len(it.Key()) + len(it.Value()))
			}
			err = it.Error()
			it.Close()
			if err != nil {
				return nil, err
			}
		}
		return sc, nil
	}
}

// storedSize is the bytes key takes in the engine now (0 when absent).
func (c *sizedCore) storedSize(ks store.Keyspace, key []byte) (int, error) {
	v, err := c.eng.Get(ks, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(key) + len(v), nil
}

func (c *sizedCore) Ready() sim.Ready {
	rd := c.Core.Ready()
	// A batch may write a key more than once; the engine holds the state before the batch.
	var inBatch map[string]int
	if len(rd.Persist) > 1 {
		inBatch = make(map[string]int, len(rd.Persist))
	}
	for _, w := range rd.Persist {
		var k string
		old, seen := 0, false
		if inBatch != nil {
			k = string(w.Keyspace) + "\x00" + string(w.Key)
			old, seen = inBatch[k]
		}
		if !seen {
			n, err := c.storedSize(w.Keyspace, w.Key)
			if err != nil {
				// The simulator's engines are in memory and open: a failed read is a bug.
				panic(fmt.Sprintf("replication: size of %q in %s: %v", w.Key, w.Keyspace, err))
			}
			old = n
		}
		cur := 0
		if !w.Delete {
			cur = len(w.Key) + len(w.Value)
		}
		c.total += int64(cur - old)
		if inBatch != nil {
			inBatch[k] = cur
		}
	}
	return rd
}

// simRun is one simulated cluster of one backend.
type simRun struct {
	b Backend
	s *sim.Sim
	// model is what every node must converge to: live key → pairHash(key, value), and
	// want the digest of it, kept up to date by put and del (a key's value itself is not
	// needed to compare digests, and at a million keys it would cost 64 MB or more).
	model map[string]uint64
	want  digest
	rng   *rand.Rand
	vsize int
}

func nodeName(i int) string { return fmt.Sprintf("n%d", i+1) }

func newSimRun(b Backend, seed uint64, nodes, vsize int) (*simRun, error) {
	names := make([]string, nodes)
	for i := range names {
		names[i] = nodeName(i)
	}
	s, err := sim.New(sim.Config{Seed: seed, Keyspaces: b.Keyspaces}, sizedFactory(b.SimFactory(), b.Keyspaces), names...)
	if err != nil {
		return nil, err
	}
	return &simRun{b: b, s: s, model: map[string]uint64{}, rng: rand.New(rand.NewPCG(seed, 0xbe4c)), vsize: vsize}, nil
}

func (r *simRun) value() []byte {
	v := make([]byte, r.vsize)
	for i := range v {
		v[i] = byte('a' + r.rng.IntN(26))
	}
	return v
}

func (r *simRun) put(node string, key []byte) error {
	v := r.value()
	r.setModel(key, pairHash(key, v), true)
	return r.s.Store(node).Put(bg, metadata.Subscribers, key, v)
}

func (r *simRun) del(node string, key []byte) error {
	r.setModel(key, 0, false)
	return r.s.Store(node).Delete(bg, metadata.Subscribers, key)
}

// clientKey is a subscriber-table key for a client id, as the broker writes it.
func clientKey(prefix string, i int) []byte {
	return metadata.SubscriberKey{ClientID: fmt.Sprintf("%s-%08x", prefix, i)}.Encode()
}

// setModel records key as live with pair hash h, or as deleted, in the model and its digest.
func (r *simRun) setModel(key []byte, h uint64, live bool) {
	if old, ok := r.model[string(key)]; ok {
		r.want.n--
		r.want.sum -= old
		delete(r.model, string(key))
	}
	if live {
		r.model[string(key)] = h
		r.want.n++
		r.want.sum += h
	}
}

// digest is an order-independent summary of a key → value set.
type digest struct {
	n   int
	sum uint64
}

func pairHash(k, v []byte) uint64 {
	h := fnv.New64a()
	h.Write(k)
	h.Write([]byte{0})
	h.Write(v)
	return h.Sum64()
}

// modelDigest recomputes the model's digest from the model (r.want is the same, kept
// incrementally; the test checks one against the other).
func (r *simRun) modelDigest() digest {
	var d digest
	for _, h := range r.model {
		d.n++
		d.sum += h
	}
	return d
}

func storeDigest(s metadata.Store) (digest, error) {
	var d digest
	err := s.Fold(bg, metadata.Subscribers, func(k, v []byte) error {
		d.n++
		d.sum += pairHash(k, v)
		return nil
	})
	return d, err
}

// converged reports whether the named nodes (all members when none) hold exactly the model.
// A node storing fewer objects than the model has live keys (a count the backends keep, so
// cheap to read) cannot hold it: only the others are folded, which makes frequent checks of
// a node still filling up cost nothing.
func (r *simRun) converged(names ...string) bool {
	if len(names) == 0 {
		names = r.s.Members()
	}
	want := r.want
	for _, n := range names {
		if st, _ := r.stats(n); st.Objects < want.n {
			return false
		}
	}
	for _, n := range names {
		d, err := storeDigest(r.s.Store(n))
		if err != nil || d != want {
			return false
		}
	}
	return true
}

// traffic sums the nodes' sent messages and bytes.
func (r *simRun) traffic() (msgs, bytes uint64) {
	for _, n := range r.s.Names() {
		st := r.s.Stats(n)
		msgs += st.MsgsSent
		bytes += st.BytesSent
	}
	return
}

func (r *simRun) stats(name string) (BackendStats, int64) {
	var bs BackendStats
	var size int64
	_ = r.s.WithCore(name, func(c sim.Core) {
		sc := c.(*sizedCore)
		bs, size = r.b.CoreStats(sc.Core), sc.total
	})
	return bs, size
}

// settle runs until the nodes hold the model, checking every check, for at most max.
// It returns the virtual time it took.
func (r *simRun) settle(check, max time.Duration, names ...string) (time.Duration, error) {
	start := r.s.Now()
	ok, err := r.s.RunUntil(func() bool { return r.converged(names...) }, check, max)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%s: not converged after %v (virtual)", r.b.Name, max)
	}
	return r.s.Now() - start, nil
}

// checkEvery is the convergence-check period: every tick (100 ms), at every size. A check
// folds a node only once it stores as many objects as the model has keys (see converged),
// so checking often costs little, and join times and traffic are measured to the tick
// (checks every keys/5000 ticks, as before, made the 100k join's time a multiple of 2 s and
// the 1M join's of 20 s, and counted the steady traffic of up to that long as join traffic).
func checkEvery(int) time.Duration { return 100 * time.Millisecond }

func (r *simRun) result(scenario string, nodes, keys int, seed uint64) *Result {
	return &Result{Mode: "sim", Scenario: scenario, Backend: r.b.Name, Nodes: nodes, Keys: keys, Seed: seed, Date: time.Now().UTC()}
}

// writeBurst writes keys [from, from+n) round-robin over the first nodes at the current instant.
func (r *simRun) writeBurst(prefix string, from, n, nodes int) error {
	for i := from; i < from+n; i++ {
		if err := r.put(nodeName(i%nodes), clientKey(prefix, i)); err != nil {
			return err
		}
	}
	return nil
}

// SimBurst writes BurstKeys at once, spread over the nodes, and measures what it takes until
// every node holds them all.
func SimBurst(b Backend, o SimOptions) (*Result, error) {
	o = o.withDefaults()
	r, err := newSimRun(b, o.Seed, o.Nodes, o.ValueSize)
	if err != nil {
		return nil, err
	}
	defer r.s.Close()
	if err := r.writeBurst("burst", 0, o.BurstKeys, o.Nodes); err != nil {
		return nil, err
	}
	t, err := r.settle(100*time.Millisecond, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	msgs, bytes := r.traffic()
	res := r.result(Burst, o.Nodes, o.BurstKeys, o.Seed)
	n, k := float64(o.Nodes), float64(o.BurstKeys)
	res.Add("converge", t.Seconds(), "virtual s")
	res.Add("msgs/node", float64(msgs)/n, "")
	res.Add("bytes/node", float64(bytes)/n, "B")
	res.Add("msgs/write", float64(msgs)/k, "")
	res.Add("bytes/write", float64(bytes)/k, "B")
	return res, nil
}

// SimPartition loads BurstKeys, splits the cluster in two ({n1,n2} | the rest) for 10 s
// (virtual), during which each side writes BurstKeys/10 new keys and deletes BurstKeys/10 of
// the loaded ones (the sides touch disjoint keys, so no siblings arise), then heals and
// measures the traffic until every node holds the same live keys.
func SimPartition(b Backend, o SimOptions) (*Result, error) {
	o = o.withDefaults()
	if o.Nodes < 2 {
		return nil, fmt.Errorf("partition needs 2 nodes or more")
	}
	r, err := newSimRun(b, o.Seed, o.Nodes, o.ValueSize)
	if err != nil {
		return nil, err
	}
	defer r.s.Close()
	if err := r.writeBurst("load", 0, o.BurstKeys, o.Nodes); err != nil {
		return nil, err
	}
	if _, err := r.settle(100*time.Millisecond, 5*time.Minute); err != nil {
		return nil, err
	}
	r.s.Wait(5 * time.Second) // let broadcast and anti-entropy go quiet
	names := r.s.Members()
	cut := max(1, o.Nodes/2)
	sideA, sideB := names[:cut], names[cut:]
	r.s.Partition(sideA, sideB)
	per := max(1, o.BurstKeys/10)
	// Spread each side's operations over 10 s: writes of new keys, deletes of loaded keys.
	const span = 10 * time.Second
	step := span / time.Duration(per)
	for i := range per {
		for si, side := range [][]string{sideA, sideB} {
			node := side[i%len(side)]
			if err := r.put(node, clientKey(fmt.Sprintf("side%d", si), i)); err != nil {
				return nil, err
			}
			// deletes: loaded keys i*2+si are disjoint between sides
			if err := r.del(node, clientKey("load", 2*i+si)); err != nil {
				return nil, err
			}
		}
		r.s.Wait(step)
	}
	m0, b0 := r.traffic()
	r.s.Heal()
	t, err := r.settle(100*time.Millisecond, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	m1, b1 := r.traffic()
	res := r.result(Partition, o.Nodes, o.BurstKeys, o.Seed)
	n := float64(o.Nodes)
	diverged := float64(4 * per)
	res.Add("converge after heal", t.Seconds(), "virtual s")
	res.Add("msgs/node", float64(m1-m0)/n, "")
	res.Add("bytes/node", float64(b1-b0)/n, "B")
	res.Add("bytes/diverged key", float64(b1-b0)/diverged, "B")
	return res, nil
}

// SimSteadyJoin loads keys into the cluster, measures steady-state anti-entropy over
// SteadyTime with nothing to repair, then joins an empty node and measures the traffic and
// virtual time until it holds every key. It returns the steady and the join result.
func SimSteadyJoin(b Backend, o SimOptions, keys int) (steady, join *Result, err error) {
	o = o.withDefaults()
	r, err := newSimRun(b, o.Seed, o.Nodes, o.ValueSize)
	if err != nil {
		return nil, nil, err
	}
	defer r.s.Close()
	// Load in chunks so that the simulator's queue stays small.
	const chunk = 5000
	for from := 0; from < keys; from += chunk {
		if err := r.writeBurst("key", from, min(chunk, keys-from), o.Nodes); err != nil {
			return nil, nil, err
		}
		r.s.Wait(time.Second)
	}
	if _, err := r.settle(checkEvery(keys), 10*time.Minute); err != nil {
		return nil, nil, err
	}
	r.s.Wait(5 * time.Second)

	// steady state
	ex0 := r.exchanges()
	m0, b0 := r.traffic()
	r.s.Wait(o.SteadyTime)
	m1, b1 := r.traffic()
	ex := r.exchanges() - ex0
	steady = r.result(Steady, o.Nodes, keys, o.Seed)
	n, secs := float64(o.Nodes), o.SteadyTime.Seconds()
	steady.Add("bytes/node/s", float64(b1-b0)/n/secs, "B")
	steady.Add("msgs/node/s", float64(m1-m0)/n/secs, "")
	steady.Add("rounds/node/s", float64(ex)/n/secs, "")
	perRound := float64(b1-b0) / max(float64(ex), 1)
	steady.Add("bytes/round", perRound, "B")
	steady.Add("bytes/node/s at default cadence", perRound*b.DefaultAERate, "B")

	// join
	m0, b0 = r.traffic()
	joiner := nodeName(o.Nodes)
	if err := r.s.Join(joiner); err != nil {
		return nil, nil, err
	}
	t, err := r.settle(checkEvery(keys), 30*time.Minute, joiner)
	if err != nil {
		return nil, nil, err
	}
	if joinedHook != nil {
		joinedHook()
	}
	m1, b1 = r.traffic()
	join = r.result(Join, o.Nodes+1, keys, o.Seed)
	join.Add("join time", t.Seconds(), "virtual s")
	join.Add("msgs", float64(m1-m0), "")
	join.Add("bytes", float64(b1-b0), "B")
	join.Add("bytes/key", float64(b1-b0)/float64(keys), "B")
	return steady, join, nil
}

// joinedHook, when set (by a profiling benchmark), runs once the joiner holds every key, or
// once the churn is over, while the cluster is still in memory.
var joinedHook func()

func (r *simRun) exchanges() uint64 {
	var n uint64
	for _, name := range r.s.Members() {
		st, _ := r.stats(name)
		n += st.Exchanges
	}
	return n
}

// SimChurn connects and disconnects ChurnKeys random client ids (clean sessions: the
// subscriber key is written on connect and deleted on disconnect, on the node the client is
// on) at ChurnRate per second, and samples tombstones, stored objects and stored bytes per
// node every virtual second until, after the last disconnect, the cluster holds no live key
// and the backend's tombstone count has settled (or 60 s have passed).
func SimChurn(b Backend, o SimOptions) (*Result, error) {
	o = o.withDefaults()
	r, err := newSimRun(b, o.Seed, o.Nodes, o.ValueSize)
	if err != nil {
		return nil, err
	}
	defer r.s.Close()
	names := r.s.Members()
	tick := 100 * time.Millisecond
	perTick := max(1, o.ChurnRate/10)
	type session struct {
		key  []byte
		node string
		end  time.Duration
	}
	var open []session
	res := r.result(Churn, o.Nodes, o.ChurnKeys, o.Seed)
	var peakBytes float64
	sample := func() Point {
		var p Point
		for _, n := range names {
			st, size := r.stats(n)
			p.Tombstones += float64(st.Tombstones)
			p.Objects += float64(st.Objects)
			p.Bytes += float64(size)
		}
		nn := float64(len(names))
		p.T = r.s.Now().Seconds()
		p.Tombstones /= nn
		p.Objects /= nn
		p.Bytes /= nn
		peakBytes = max(peakBytes, p.Bytes)
		return p
	}
	nextSample := time.Duration(0)
	created := 0
	m0, b0 := r.traffic()
	for created < o.ChurnKeys || len(open) > 0 {
		now := r.s.Now()
		for created < o.ChurnKeys && created < perTick*int(now/tick+1) {
			key := metadata.SubscriberKey{ClientID: fmt.Sprintf("%016x", r.rng.Uint64())}.Encode()
			node := names[r.rng.IntN(len(names))]
			if err := r.put(node, key); err != nil {
				return nil, err
			}
			open = append(open, session{key: key, node: node, end: now + o.ChurnLifetime})
			created++
		}
		for len(open) > 0 && open[0].end <= now {
			if err := r.del(open[0].node, open[0].key); err != nil {
				return nil, err
			}
			open = open[1:]
		}
		if now >= nextSample {
			res.Series = append(res.Series, sample())
			nextSample += time.Second
		}
		if err := r.s.Run(tick); err != nil {
			return nil, err
		}
	}
	churnEnd := r.s.Now()
	m1, b1 := r.traffic()
	// Afterwards: wait for convergence and for tombstones to stop changing.
	var last Point
	gcDone := time.Duration(-1)
	for r.s.Now()-churnEnd < 60*time.Second {
		if err := r.s.Run(time.Second); err != nil {
			return nil, err
		}
		last = sample()
		res.Series = append(res.Series, last)
		if !r.converged() {
			continue
		}
		if last.Tombstones == 0 && last.Objects == 0 {
			gcDone = r.s.Now() - churnEnd
			break
		}
		if b.Name == Plumtree && last.Tombstones >= float64(o.ChurnKeys) {
			// Plumtree never collects: every node holds every tombstone. A few more samples
			// for the plot, then stop.
			for range 5 {
				if err := r.s.Run(time.Second); err != nil {
					return nil, err
				}
				last = sample()
				res.Series = append(res.Series, last)
			}
			break
		}
	}
	if joinedHook != nil {
		joinedHook()
	}
	n := float64(o.Nodes)
	res.Add("tombstones/node at end", last.Tombstones, "")
	res.Add("objects/node at end", last.Objects, "")
	res.Add("stored bytes/node at end", last.Bytes, "B")
	res.Add("peak stored bytes/node", peakBytes, "B")
	res.Add("bytes/deleted key/node", last.Bytes/float64(o.ChurnKeys), "B")
	res.Add("msgs/node during churn", float64(m1-m0)/n, "")
	res.Add("bytes/node during churn", float64(b1-b0)/n, "B")
	if gcDone >= 0 {
		res.Add("all collected after", gcDone.Seconds(), "virtual s")
	}
	return res, nil
}
