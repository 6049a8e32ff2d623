package metadata

import (
	"context"
	"errors"
)

// Store is the replicated key-value contract. Implementations are safe for
// concurrent use. See the package doc for the consistency guarantees.
type Store interface {
	// Put writes val under (fp, key), replacing every version this node has
	// seen. It commits locally and returns without waiting for peers.
	Put(ctx context.Context, fp FullPrefix, key, val []byte) error
	// Get returns the last-writer-wins value of (fp, key); ok is false when
	// the key is absent or its winner is a tombstone. When the key has
	// siblings, Get writes the winner back so that they collapse.
	Get(ctx context.Context, fp FullPrefix, key []byte) (val []byte, ok bool, err error)
	// Delete writes a tombstone for (fp, key). Deleting an absent key is not
	// an error (and still writes the tombstone, which orders the delete
	// against concurrent writes elsewhere).
	Delete(ctx context.Context, fp FullPrefix, key []byte) error
	// Fold calls fn for each live key of fp in ascending bytes.Compare order
	// of the keys, with its last-writer-wins value, writing winners back
	// like Get. If fn returns an error, Fold stops and returns it unwrapped.
	// fn may call the Store. Each visited value was current at some point
	// during the Fold; keys written while it runs may or may not be visited.
	Fold(ctx context.Context, fp FullPrefix, fn func(key, val []byte) error) error
	// Subscribe returns a channel of the events of fp and a cancel function.
	// Events arrive in commit order; each subscription has its own
	// unbounded queue so that a slow reader never blocks a writer. With
	// skipLocal, events with Local set are not delivered. cancel stops
	// delivery, closes the channel and frees the queue; it is idempotent.
	Subscribe(fp FullPrefix, skipLocal bool) (ev <-chan Event, cancel func())
	// GetRaw returns every stored version (sibling) of (fp, key), tombstones
	// included, and the causal context covering them. It never writes.
	GetRaw(ctx context.Context, fp FullPrefix, key []byte) (sibs []Value, cc Context, err error)
	// PutRaw stores v as given (its TS and Node are not changed), replacing
	// the versions covered by cc and keeping the others as siblings. It is
	// the read-modify-write primitive and lets tests forge concurrent writes.
	// Its events are Local when v.Node is this node's name: a value written
	// under another node's name stands in for a replicated write.
	PutRaw(ctx context.Context, fp FullPrefix, key []byte, v Value, cc Context) error
}

// Event reports a change of the resolved view of one key: it went from
// absent to live, changed bytes, or went from live to absent. Writes that do
// not change the view (a Put of the bytes already stored, a Delete of an
// absent key, a sibling that loses LWW, a write-back by Get or Fold) produce
// no event, so a duplicate delivery of a replicated write never produces
// one either, and for each key, every event's Old equals the previous
// event's New.
type Event struct {
	// Deleted is true when the key became absent (New is nil).
	Deleted bool
	FP      FullPrefix
	Key     []byte
	// Old and New are the last-writer-wins values before and after the
	// change, nil when absent or a tombstone.
	Old, New []byte
	// Local is true when the change was caused by an API call on this node
	// (Put, Delete, or PutRaw of a value naming this node).
	Local bool
}

// Durable waits for a write that a backend applied without waiting for its durability (the
// drivers' PutAsync and DeleteAsync): SyncWait returns once it is durable, or the error that
// stopped the node.
type Durable interface{ SyncWait() error }

// Cluster is the membership side of a backend, used by the admin commands.
type Cluster interface {
	// Join makes this node a member of the cluster that seed belongs to.
	Join(seed string) error
	// Leave removes node from the cluster (this node or another one).
	Leave(node string) error
	// Members returns the member node names, sorted.
	Members() []string
}

// Errors returned by the package and by Memory. Backends may wrap them.
var (
	// ErrClosed is returned by every operation on a closed store.
	ErrClosed = errors.New("metadata: store closed")
	// ErrMalformedKey is returned when decoding a key that was not produced
	// by this package's encoders.
	ErrMalformedKey = errors.New("metadata: malformed key")
	// ErrMalformedValue is returned by the record decoders.
	ErrMalformedValue = errors.New("metadata: malformed value")
	// ErrBadContext is returned by PutRaw for a Context it did not produce.
	ErrBadContext = errors.New("metadata: bad causal context")
	// ErrSingleNode is returned by Memory's Join and Leave.
	ErrSingleNode = errors.New("metadata: single-node store has no peers")
	// ErrUnknownMember is returned by Leave for a node that is not a member.
	ErrUnknownMember = errors.New("metadata: unknown member")
)
