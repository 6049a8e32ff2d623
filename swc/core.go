package swc

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
	"github.com/nautilus-mq/nautilus/store"
)

// Core is the SWC replication state machine of one node. It implements
// sim.Core; see that interface for the calling rules (not safe for
// concurrent use; persist each Ready before sending it).
//
// Every object is held in memory (as plumtree does: the core may keep no
// database handle) and mirrored in ObjectKeyspace; the dot-key maps, node
// clocks and watermarks are mirrored in DKMKeyspace and MetaKeyspace, all
// through the Ready's one atomic batch.
type Core struct {
	name  string
	self  ID // this incarnation's replica id
	cfg   Config
	clock func() int64
	rng   *rand.Rand

	groups []*group
	objs   map[string]*object // by store key
	tables map[metadata.FullPrefix]*table

	members []string // reachable members, sorted, this node included
	// actors maps every member that has not left, reachable or not, to its
	// current replica id ("" until heard from), self included.
	actors map[string]ID

	fresh       bool // first boot: the actor id is not persisted yet
	actorsDirty bool
	ticks       uint64
	exSeq       uint64
	out         sim.Ready
	stats       Stats
}

var (
	_ sim.Core   = (*Core)(nil)
	_ sim.Leaver = (*Core)(nil)
)

// Stats are a core's counters, summed over groups.
type Stats struct {
	// Objects is the number of keys stored; Tombstones how many of them read
	// as deleted (kept until every member has seen the delete); DKM the
	// number of indexed dots.
	Objects, Tombstones, DKM int
	// Collected counts deletes garbage-collected (object, ⊥ and dot-key
	// entries removed from disk); Pruned those dropped because their writer
	// left the cluster.
	Collected, Pruned uint64
	// Broadcasts received; Repaired objects changed by anti-entropy.
	Broadcasts, Repaired uint64
	// Exchanges started, completed and abandoned on a timeout; InitSyncs
	// counts the key-order streams an empty group started its exchange with,
	// InitObjects the objects they brought.
	ExchangesStarted, ExchangesCompleted, ExchangesTimedOut, InitSyncs, InitObjects uint64
	// Ignored counts messages from non-members or stale incarnations.
	Ignored uint64
}

// object is one key.
type object struct {
	skey string // metadata.EncodeKey(fp, key)
	fp   metadata.FullPrefix
	key  []byte // aliases a copy of skey
	g    *group
	dcc  DCC // stripped
	dead bool
}

// New returns an empty core for node name (a first boot): it makes a new
// replica id from env's clock and randomness.
func New(name string, cfg Config, env sim.Env) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Clock == nil || env.Rand == nil {
		return nil, errors.New("swc: core needs a clock and a random source")
	}
	cfg = cfg.withDefaults()
	c := &Core{
		name:   name,
		cfg:    cfg,
		clock:  env.Clock,
		rng:    env.Rand,
		objs:   map[string]*object{},
		tables: map[metadata.FullPrefix]*table{},
		actors: map[string]ID{},
		fresh:  true,
	}
	c.self = fmt.Sprintf("%s#%x.%08x", name, env.Clock(), env.Rand.Uint32())
	for i := range cfg.Groups {
		c.groups = append(c.groups, newGroup(i))
	}
	for _, g := range c.groups {
		c.scheduleSync(g)
		g.nextGC = c.cfg.ticks(c.cfg.GCInterval)
	}
	c.actors[name] = c.self
	c.members = []string{name}
	return c, nil
}

// Factory adapts Restore to the simulator.
func Factory(cfg Config) sim.Factory {
	return func(name string, r store.Reader, env sim.Env) (sim.Core, error) {
		return Restore(name, cfg, env, r)
	}
}

// Name returns the node name; Actor its replica id.
func (c *Core) Name() string { return c.name }

// Actor returns this incarnation's replica id.
func (c *Core) Actor() ID { return c.self }

// Stats returns the counters.
func (c *Core) Stats() Stats {
	s := c.stats
	s.Objects = len(c.objs)
	for _, g := range c.groups {
		s.Tombstones += len(g.gc)
		s.DKM += g.dkm.Len()
	}
	return s
}

// HasHistory reports whether the node holds any data or has seen any
// write: such a node refuses to join another cluster unless
// AllowNonemptyJoin (prevent_nonempty_join).
func (c *Core) HasHistory() bool {
	if len(c.objs) > 0 {
		return true
	}
	for _, g := range c.groups {
		for _, e := range g.clock {
			if e.Base > 0 || len(e.Bits) > 0 {
				return true
			}
		}
	}
	return false
}

// groupOf returns the group of a store key: FNV-1a of the key mod Groups.
func (c *Core) groupOf(skey string) *group {
	if len(c.groups) == 1 {
		return c.groups[0]
	}
	h := fnv.New32a()
	h.Write([]byte(skey))
	return c.groups[h.Sum32()%uint32(len(c.groups))]
}

// Ready implements sim.Core: the writes of everything done since the last
// call (objects and dot-key entries as they happened, then each changed
// group's clock and watermark), the broadcasts of the groups' write
// batches, and the events.
func (c *Core) Ready() sim.Ready {
	if c.fresh {
		c.fresh = false
		c.persistMeta(metaActor, []byte(c.self))
		c.persistMeta(metaGroups, appendUvarint(nil, uint64(len(c.groups))))
	}
	if c.actorsDirty {
		c.actorsDirty = false
		c.persistMeta(metaActors, encodeActors(c.actors))
	}
	for _, g := range c.groups {
		if g.dirty {
			g.dirty = false
			c.persistMeta(clockKey(g.idx), appendBVV(nil, g.clock))
			c.persistMeta(wmKey(g.idx), appendWatermark(nil, g.wm))
		}
		if len(g.bcast) > 0 {
			c.broadcast(g)
		}
	}
	rd := c.out
	c.out = sim.Ready{}
	return rd
}

func (c *Core) persist(ks store.Keyspace, key, val []byte) {
	c.out.Persist = append(c.out.Persist, sim.Write{Keyspace: ks, Key: key, Value: val})
}

func (c *Core) persistDelete(ks store.Keyspace, key []byte) {
	c.out.Persist = append(c.out.Persist, sim.Write{Keyspace: ks, Key: key, Delete: true})
}

func (c *Core) persistMeta(key string, val []byte) { c.persist(MetaKeyspace, []byte(key), val) }

func (c *Core) send(to string, msg []byte) {
	c.out.Send = append(c.out.Send, sim.Envelope{To: to, Data: msg})
}

// peers returns the members other than this node, sorted.
func (c *Core) peers() []string {
	out := make([]string, 0, len(c.members))
	for _, m := range c.members {
		if m != c.name {
			out = append(out, m)
		}
	}
	return out
}

func (c *Core) isMember(name string) bool {
	_, ok := slices.BinarySearch(c.members, name)
	return ok
}

// Tick implements sim.Core: exchange timeouts and starts, periodic GC.
func (c *Core) Tick() {
	c.ticks++
	for _, g := range c.groups {
		c.exchangeTick(g)
		if !c.cfg.DisablePeriodicGC && c.ticks >= g.nextGC {
			g.nextGC = c.ticks + c.cfg.ticks(c.cfg.GCInterval)
			c.collect(g)
		}
	}
}
