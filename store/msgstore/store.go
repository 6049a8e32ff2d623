package msgstore

import (
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// Store is the offline message store over one engine. Safe for concurrent use.
type Store struct {
	e          store.Engine
	sweepBatch int

	// mu orders every mutation: the in-memory state below and the order batches are applied
	// in always agree. Durability is waited for after mu is released.
	mu        sync.Mutex
	queues    map[QueueID]*queueState
	refs      map[uint64]uint32 // message id -> entries pointing at it
	entries   int
	minExpiry int64 // lower bound of ExpiresAt over entries that expire; 0 = none expire
	enqMin    int64 // smallest ExpiresAt enqueued since the current Sweep started
	openStats Stats
	// floor is the largest message id the store held at Open. Ids at or below it were issued
	// by an earlier run: Enqueue refuses to let a new message with such an id share a stored
	// payload (see checkID), and the broker issues ids above it (MaxID).
	floor uint64

	// The pending set (pending.go): writes not applied to the engine yet, keyed by what they
	// write; the window they belong to; how to revert their count changes.
	pend map[pendKey]pendOp
	// applying is the window being written (its writes are in neither pend nor the engine
	// for that time); writeMu orders the writes of windows and of direct batches.
	applying map[pendKey]pendOp
	writeMu  sync.Mutex
	spare    map[pendKey]pendOp // the previous pending map, cleared, for the next window
	cur      *window
	undo     []undo
	last     Durability // the last batch applied
	timer    *time.Timer
	cache    map[string][]byte // index entries applied recently (pending.go)
	// syncing: a waiter applied a window and waits for its sync; synced (L: mu) is broadcast
	// when it returns.
	syncing bool
	synced  sync.Cond
}

type queueState struct {
	n    int    // entries
	next uint64 // next sequence; kept while the queue is empty so sequences never repeat
}

// Open loads the store's in-memory state from e: one scan of the queue index (O(entries),
// reading only the small index values) rebuilds queue lengths, sequences and reference
// counts; one scan of the messages keyspace (O(payload bytes)) finds payloads without
// references and entries without payloads, and deletes them.
func Open(e store.Engine, o Options) (*Store, error) {
	if o.SweepBatch <= 0 {
		o.SweepBatch = 1024
	}
	s := &Store{e: e, sweepBatch: o.SweepBatch, queues: map[QueueID]*queueState{}, refs: map[uint64]uint32{},
		pend: map[pendKey]pendOp{}, cur: &window{}, cache: map[string][]byte{}}
	s.synced.L = &s.mu
	s.timer = time.AfterFunc(time.Hour, func() {
		s.mu.Lock()
		s.applyLocked(nil) // a failure reaches the window's waiters
		s.mu.Unlock()
	})
	s.timer.Stop()
	if err := s.loadIndex(); err != nil {
		return nil, err
	}
	if err := s.checkPayloads(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) loadIndex() error {
	it, err := s.e.NewIterator(store.QueueIndex, nil, nil)
	if err != nil {
		return fmt.Errorf("msgstore: open: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		q, seq, err := parseIndexKey(it.Key())
		if err != nil {
			return fmt.Errorf("msgstore: open: %w", err)
		}
		ev, err := decodeEntry(it.Value(), false)
		if err != nil {
			return fmt.Errorf("msgstore: open: queue %q seq %d: %w", q, seq, err)
		}
		qs := s.queues[q]
		if qs == nil {
			qs = &queueState{}
			s.queues[q] = qs
		}
		qs.n++
		qs.next = seq + 1 // keys come in sequence order
		s.refs[ev.msgID]++
		s.floor = max(s.floor, ev.msgID)
		s.entries++
		s.noteExpiry(ev.expiresAt)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("msgstore: open: scan queue index: %w", err)
	}
	return nil
}

// checkPayloads walks the messages keyspace alongside the sorted referenced ids.
func (s *Store) checkPayloads() error {
	ids := make([]uint64, 0, len(s.refs))
	for id := range s.refs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	it, err := s.e.NewIterator(store.Messages, nil, nil)
	if err != nil {
		return fmt.Errorf("msgstore: open: %w", err)
	}
	var orphans [][]byte
	missing := map[uint64]bool{}
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 8 {
			orphans = append(orphans, slices.Clone(k))
			continue
		}
		id := beUint64(k)
		s.floor = max(s.floor, id)
		for i < len(ids) && ids[i] < id {
			missing[ids[i]] = true
			i++
		}
		if i < len(ids) && ids[i] == id {
			i++
		} else {
			orphans = append(orphans, slices.Clone(k))
		}
	}
	for ; i < len(ids); i++ {
		missing[ids[i]] = true
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return fmt.Errorf("msgstore: open: scan messages: %w", err)
	}
	for chunk := range slices.Chunk(orphans, s.sweepBatch) {
		b := s.e.NewBatch()
		for _, k := range chunk {
			b.Delete(store.Messages, k)
		}
		if err := b.Commit(); err != nil {
			return fmt.Errorf("msgstore: open: delete orphan payloads: %w", err)
		}
	}
	s.openStats.OrphansRemoved = len(orphans)
	if len(missing) > 0 {
		n, err := s.dropDangling(missing)
		s.openStats.DanglingRemoved = n
		if err != nil {
			return err
		}
	}
	return nil
}

// dropDangling deletes entries whose payload is missing: nothing could be delivered from them.
func (s *Store) dropDangling(missing map[uint64]bool) (int, error) {
	it, err := s.e.NewIterator(store.QueueIndex, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("msgstore: open: %w", err)
	}
	type ref struct {
		q   QueueID
		seq uint64
	}
	var drop []ref
	for ok := it.First(); ok; ok = it.Next() {
		ev, err := decodeEntry(it.Value(), false)
		if err == nil && missing[ev.msgID] {
			q, seq, _ := parseIndexKey(it.Key())
			drop = append(drop, ref{q, seq})
		}
	}
	it.Close()
	for _, r := range drop {
		if _, err := s.Delete(r.q, r.seq); err != nil {
			return 0, fmt.Errorf("msgstore: open: drop entries without payload: %w", err)
		}
	}
	return len(drop), nil
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// noteExpiry lowers the expiry bound; mu held (or during Open).
func (s *Store) noteExpiry(exp int64) {
	if exp == 0 {
		return
	}
	if s.minExpiry == 0 || exp < s.minExpiry {
		s.minExpiry = exp
	}
	if s.enqMin == 0 || exp < s.enqMin {
		s.enqMin = exp
	}
}

// MaxID is the largest message id the store held when it was opened (0 for an empty store).
// Message ids must be issued above it: an id that repeats one of an earlier run would make a
// new message and a stored one the same payload.
func (s *Store) MaxID() uint64 { return s.floor }

// Len returns the number of entries in q, from memory.
func (s *Store) Len(q QueueID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if qs := s.queues[q]; qs != nil {
		return qs.n
	}
	return 0
}

// Queues yields the queues that hold entries, in no particular order: the broker calls it
// at start-up to recreate offline queues. It iterates over a copy taken when called.
func (s *Store) Queues() iter.Seq[QueueID] {
	s.mu.Lock()
	qs := make([]QueueID, 0, len(s.queues))
	for q, st := range s.queues {
		if st.n > 0 {
			qs = append(qs, q)
		}
	}
	s.mu.Unlock()
	return slices.Values(qs)
}

// Stats returns counts from memory.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.openStats
	st.Entries, st.Messages = s.entries, len(s.refs)
	for _, q := range s.queues {
		if q.n > 0 {
			st.Queues++
		}
	}
	return st
}

func expired(exp int64, now time.Time) bool { return exp != 0 && exp <= now.UnixMilli() }

// expires reports whether the entry is to be dropped for its message's expiry at now. A QoS 2
// entry already sent (marked dup) is kept: once the PUBLISH went out the exchange must finish
// whatever the expiry [MQTT-4.3.3-7], also after a restart.
func (e entryValue) expires(now time.Time) bool {
	return expired(e.expiresAt, now) && !(e.qos == 2 && e.dup)
}
