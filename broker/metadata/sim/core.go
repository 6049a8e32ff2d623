package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
)

// Core is a replication backend's deterministic state machine: what the
// simulator (and a backend's own driver) needs of it. A Core owns no
// goroutine, socket, clock or database handle. Inputs are messages (Step),
// ticks (Tick), membership (SetMembers) and local API calls; every output is
// collected until Ready hands it over.
//
// The caller must, for each Ready, first commit Persist (atomically), then
// send Send, then publish Events: persist before send, so that a peer never
// learns of a write that a crash could still lose.
//
// A Core is not safe for concurrent use; the caller serializes all calls.
type Core interface {
	// Step handles one message from peer from. A malformed message is an
	// error and changes nothing.
	Step(from string, msg []byte) error
	// Tick advances the core's logical time by one tick (periodic work such
	// as lazy pushes and anti-entropy runs on tick counts).
	Tick()
	// SetMembers sets the cluster members this node can reach, itself
	// included (cluster.Transport.Members: a member that failed is missing
	// until it is back; see Leaver).
	SetMembers(members []string)
	// Ready returns the output accumulated since the last call and resets it.
	Ready() Ready

	LocalAPI
}

// Leaver is implemented by cores that must tell a member that left the
// cluster for good from one that is only unreachable for now (crashed,
// paused, cut off): SetMembers lists the members a node can currently
// reach, as cluster.Transport.Members does, and MemberLeft names a member
// that left (a "leave" member event: a graceful leave, or a failed member
// removed by the operator), after the SetMembers without it. A member that
// is missing from SetMembers without MemberLeft may come back with its
// data.
type Leaver interface {
	MemberLeft(name string)
}

// LocalAPI is metadata.Store without contexts, events (they leave through
// Ready) and subscriptions, run synchronously on the core.
type LocalAPI interface {
	Put(fp metadata.FullPrefix, key, val []byte) error
	Delete(fp metadata.FullPrefix, key []byte) error
	// Get resolves siblings by LWW and writes the winner back.
	Get(fp metadata.FullPrefix, key []byte) (val []byte, ok bool, err error)
	// FoldChunk calls fn for up to max live keys of fp after the key after
	// (from the first key when after is nil), in key order, writing winners
	// back. It returns the last key scanned and whether fp is exhausted. fn
	// must not call the core.
	FoldChunk(fp metadata.FullPrefix, after []byte, max int, fn func(key, val []byte)) (last []byte, done bool, err error)
	GetRaw(fp metadata.FullPrefix, key []byte) ([]metadata.Value, metadata.Context, error)
	PutRaw(fp metadata.FullPrefix, key []byte, v metadata.Value, cc metadata.Context) error
}

// Ready is one batch of a core's output.
type Ready struct {
	// Persist is committed as one atomic batch before anything is sent.
	Persist []Write
	// Send are one-way messages to peers, in order.
	Send []Envelope
	// Events are delivered to subscribers after Persist is committed.
	Events []metadata.Event
}

// Empty reports whether rd carries nothing.
func (rd Ready) Empty() bool {
	return len(rd.Persist) == 0 && len(rd.Send) == 0 && len(rd.Events) == 0
}

// Write is one storage operation of a Ready.
type Write struct {
	Keyspace   store.Keyspace
	Key, Value []byte
	Delete     bool
}

// Envelope is one message to a peer.
type Envelope struct {
	To   string
	Data []byte
}

// Env is what a core gets from whoever runs it: the injected clock and
// randomness that keep it deterministic.
type Env struct {
	// Clock returns the node's time in unix microseconds (LWW timestamps).
	Clock func() int64
	// Rand is the node's random source.
	Rand *rand.Rand
}

// Factory builds a core for node name from its persisted state, read from r
// (an empty engine for a new node). The core must not keep r.
type Factory func(name string, r store.Reader, env Env) (Core, error)

// Apply applies writes to eng as one atomic batch without waiting for durability: readers see
// them at once, and they survive a crash of the process; the batch's SyncWait returns once they
// are as durable as the engine's sync policy requires. nil when there is nothing to write.
func Apply(eng store.Engine, writes []Write) (store.Batch, error) {
	if len(writes) == 0 {
		return nil, nil
	}
	b := batchOf(eng, writes)
	if err := b.CommitNoSyncWait(); err != nil {
		return nil, fmt.Errorf("sim: apply %d writes: %w", len(writes), err)
	}
	return b, nil
}

// batchOf puts writes in a new batch of eng.
func batchOf(eng store.Engine, writes []Write) store.Batch {
	b := eng.NewBatch()
	for _, w := range writes {
		if w.Delete {
			b.Delete(w.Keyspace, w.Key)
		} else {
			b.Put(w.Keyspace, w.Key, w.Value)
		}
	}
	return b
}

// Commit applies writes to eng as one atomic batch.
func Commit(eng store.Engine, writes []Write) error {
	if len(writes) == 0 {
		return nil
	}
	if err := batchOf(eng, writes).Commit(); err != nil {
		return fmt.Errorf("sim: commit %d writes: %w", len(writes), err)
	}
	return nil
}
