package session

import (
	"sort"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Persister keeps persistent sessions across restarts: their queues' stored part and a record
// of each session (expiry, QoS 2 receive state). A node without one keeps sessions in memory.
type Persister interface {
	Backing(id queue.SubscriberID) queue.Backing
	SaveSession(rec Record) error
	// SaveSessionNoWait is SaveSession that returns once the write is applied, leaving the
	// wait for its durability to the caller.
	SaveSessionNoWait(rec Record) (queue.Durable, error)
	DeleteSession(id queue.SubscriberID) error
	// Release forgets which queues took the QoS 2 message r names, once its publisher
	// released it; it returns when that is durable.
	Release(r *message.Receipt) error
}

// Record is the persisted part of a session besides its queue and subscriptions.
type Record struct {
	ID       queue.SubscriberID
	Username string
	// Expiry is how long the session lives offline; negative is never.
	Expiry time.Duration
	// Deadline is when an offline session expires; zero while online or when it never does.
	Deadline time.Time
	InQoS2   []uint16
}

// persistent reports whether s outlives its connection and so belongs on disk.
func (s *State) persistentLocked() bool { return s.expiry != 0 }

// recordLocked describes s for the Persister.
func (s *State) recordLocked(deadline time.Time) Record {
	r := Record{ID: s.ID, Username: s.username, Expiry: s.expiry, Deadline: deadline}
	for id := range s.inQoS2 {
		r.InQoS2 = append(r.InQoS2, id)
	}
	sort.Slice(r.InQoS2, func(i, j int) bool { return r.InQoS2[i] < r.InQoS2[j] })
	return r
}

// save writes s's record when the session is persistent. Errors are logged: the session goes on
// in memory, and the operator sees why it may not survive a restart.
func (e *Env) save(s *State, deadline time.Time) {
	e.saveInto(s, deadline, nil)
}

// saveInto is save that, with pend, leaves the wait for durability to pend.
func (e *Env) saveInto(s *State, deadline time.Time, pend *queue.Pending) {
	if e.Persist == nil {
		return
	}
	s.mu.Lock()
	if !s.persistentLocked() {
		s.mu.Unlock()
		return
	}
	rec := s.recordLocked(deadline)
	s.mu.Unlock()
	var err error
	if pend == nil {
		err = e.Persist.SaveSession(rec)
	} else {
		var d queue.Durable
		if d, err = e.Persist.SaveSessionNoWait(rec); err == nil {
			pend.Add(d)
		}
	}
	if err != nil {
		e.Log.Error("cannot persist session; it will not survive a restart", "client_id", s.ID.ClientID, "error", err)
	}
}

// Restore recreates an offline session from its record at start-up: its queue pages stored
// messages in when the client returns, its QoS 2 receive state is back, and its expiry timer
// runs from the stored deadline (a session whose deadline passed during the downtime ends now).
func (e *Env) Restore(rec Record, policy queue.Policy) {
	s := newState(rec.ID, e.newQueue(rec.ID, policy))
	s.Queue.SetBacking(e.Persist.Backing(rec.ID))
	s.expiry, s.username = rec.Expiry, rec.Username
	for _, id := range rec.InQoS2 {
		s.inQoS2[id] = struct{}{}
	}
	e.Sessions.mu.Lock()
	e.Sessions.m[rec.ID] = s
	e.Sessions.mu.Unlock()
	if rec.Expiry < 0 || rec.Deadline.IsZero() {
		return
	}
	left := time.Until(rec.Deadline)
	if left <= 0 {
		e.endSession(s, queue.DropSessionGone)
		return
	}
	s.mu.Lock()
	gen := s.attachGen
	s.expiryTimer = time.AfterFunc(left, func() { e.expire(s, gen) })
	s.mu.Unlock()
}
