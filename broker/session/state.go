package session

import (
	"sort"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Subscription is one subscription of a session, with its MQTT 5 options.
type Subscription struct {
	// Filter is the filter as the client sent it, including any $share/<group>/ prefix.
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubID             uint32
}

// inflight is one outgoing QoS 1 or 2 message the client has not finished acknowledging.
type inflight struct {
	id  uint16
	d   queue.Delivery
	rel bool // PUBREC received and PUBREL sent: only PUBCOMP is awaited
	// sent is when the PUBLISH or PUBREL last went out, for retry_interval.
	sent time.Time
	// owner is the connection the message went out on; nil once that connection is gone and
	// until the next one resends it. Packet identifiers are unique across all connections of
	// a session, so one map serves several connections (allow_multiple_sessions).
	owner *Conn
}

// State is the part of a session that outlives its connections: the queue, the subscriptions,
// the unacknowledged messages in both directions and the expiry. It is owned by the Table and
// guarded by its own mutex; a connection attaches to it while it is online.
type State struct {
	ID    queue.SubscriberID
	Queue *queue.Queue

	mu sync.Mutex
	// fanMu serialises the takes of a session shared in fanout mode: a connection's take from
	// its own queue and from the session's, and the copies it makes for the others, are one
	// step, so every connection receives the session's messages in their order.
	fanMu    sync.Mutex
	subs     map[string]Subscription
	out      map[uint16]*inflight
	outOrder []uint16
	// inQoS2 holds the packet ids of QoS 2 messages received and routed but not yet released by
	// PUBREL, so a resent PUBLISH with the same id is not routed twice [MQTT-4.3.3-10].
	inQoS2 map[uint16]struct{}
	lastID uint16
	// expiry is how long the state lives after its connection ends; negative means never,
	// zero means it ends with the connection.
	expiry time.Duration
	conn   *Conn
	// others are further connections sharing the session (allow_multiple_sessions); never
	// set while conn is nil.
	others      []*Conn
	attachGen   uint64
	expiryTimer *time.Timer
	willTimer   *time.Timer
	pendingWill func()
	// ending is set once the session is being ended for good; ended is closed when it is.
	ending bool
	ended  chan struct{}
	// version is the protocol of the last connection, for hook calls once offline.
	username string
}

func newState(id queue.SubscriberID, q *queue.Queue) *State {
	return &State{ID: id, Queue: q, subs: map[string]Subscription{}, out: map[uint16]*inflight{}, inQoS2: map[uint16]struct{}{}}
}

// Subscriptions returns a copy of the session's subscriptions, sorted by filter.
func (s *State) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, sub)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Filter < out[j].Filter })
	return out
}

// Online reports whether a connection is attached.
func (s *State) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// ConnInfo describes the connection attached to a session.
type ConnInfo struct {
	// Peer is the client's address as hooks see it (hooks.Client.Peer): the address from a
	// PROXY protocol header or X-Forwarded-For when the listener resolves one, else the socket's.
	Peer string
	// Listener is the listener the connection came through, listener.<type>.<name>.
	Listener string
	// Connections is how many connections are attached (several with allow_multiple_sessions;
	// Peer and Listener are the first one's).
	Connections int
}

// Connection returns the attached connection's peer and listener; online is false (and info
// empty) when no connection is attached.
func (s *State) Connection() (info ConnInfo, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return ConnInfo{}, false
	}
	// c.client is complete before the connection attaches (under s.mu) and not changed after.
	return ConnInfo{Peer: s.conn.client.Peer, Listener: s.conn.client.Listener, Connections: 1 + len(s.others)}, true
}

// nextPacketIDLocked returns a free outgoing packet id, or 0 when all 65535 are in flight.
func (s *State) nextPacketIDLocked() uint16 {
	for range 65535 {
		s.lastID++
		if s.lastID == 0 {
			s.lastID = 1
		}
		if _, used := s.out[s.lastID]; !used {
			return s.lastID
		}
	}
	return 0
}

func (s *State) addInflightLocked(f *inflight) {
	s.out[f.id] = f
	s.outOrder = append(s.outOrder, f.id)
	if f.owner != nil {
		f.owner.inflightN++
	}
}

func (s *State) removeInflightLocked(id uint16) *inflight {
	f, ok := s.out[id]
	if !ok {
		return nil
	}
	if f.owner != nil {
		f.owner.inflightN--
	}
	delete(s.out, id)
	for i, v := range s.outOrder {
		if v == id {
			s.outOrder = append(s.outOrder[:i], s.outOrder[i+1:]...)
			break
		}
	}
	return f
}

// connsLocked returns every connection attached to s.
func (s *State) connsLocked() []*Conn {
	if s.conn == nil {
		return nil
	}
	return append([]*Conn{s.conn}, s.others...)
}

// Table is the node's set of session states by subscriber id.
type Table struct {
	mu sync.Mutex
	m  map[queue.SubscriberID]*State
	// moved are sessions that moved to another node, for a while: messages still routed here
	// for them (by a node whose table names this one yet) are forwarded there.
	moved map[queue.SubscriberID]movedTo
	// busy are ids whose stored state is being removed (ifAbsent): no session is created for
	// them until it is done.
	busy map[queue.SubscriberID]chan struct{}
}

type movedTo struct {
	node  string
	until time.Time
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{m: map[queue.SubscriberID]*State{}, moved: map[queue.SubscriberID]movedTo{}}
}

// MovedTo returns the node id's session moved to, while this node still forwards to it.
func (t *Table) MovedTo(id queue.SubscriberID) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	mv, ok := t.moved[id]
	if !ok {
		return "", false
	}
	if time.Now().After(mv.until) {
		delete(t.moved, id)
		return "", false
	}
	return mv.node, true
}

// moveAway removes s, which moved to node, and makes MovedTo name node for ttl, in one step:
// a message routed here finds either the session or the redirect, never neither.
func (t *Table) moveAway(id queue.SubscriberID, s *State, node string, ttl time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[id] == s {
		delete(t.m, id)
	}
	now := time.Now()
	if len(t.moved) > 1024 {
		for k, mv := range t.moved {
			if now.After(mv.until) {
				delete(t.moved, k)
			}
		}
	}
	t.moved[id] = movedTo{node: node, until: now.Add(ttl)}
}

// Get returns the state for id, or nil.
func (t *Table) Get(id queue.SubscriberID) *State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

// Queue returns the queue of id's session, or nil when the node holds no such session; the
// router uses it to deliver.
func (t *Table) Queue(id queue.SubscriberID) *queue.Queue {
	if s := t.Get(id); s != nil {
		return s.Queue
	}
	return nil
}

// Len is the number of sessions, online and offline.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Each calls fn for a snapshot of the states.
func (t *Table) Each(fn func(*State)) {
	t.mu.Lock()
	states := make([]*State, 0, len(t.m))
	for _, s := range t.m {
		states = append(states, s)
	}
	t.mu.Unlock()
	for _, s := range states {
		fn(s)
	}
}

func (t *Table) getOrCreate(id queue.SubscriberID, mk func() *State) (s *State, existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.busy[id] != nil {
		done := t.busy[id]
		t.mu.Unlock()
		<-done
		t.mu.Lock()
	}
	if s, ok := t.m[id]; ok {
		return s, true
	}
	s = mk()
	t.m[id] = s
	delete(t.moved, id) // the session is here again
	return s, false
}

// ifAbsent runs fn if no session for id is in the table, and no session for id is created
// until fn returns (getOrCreate waits for it): fn may remove what such a session would store.
func (t *Table) ifAbsent(id queue.SubscriberID, fn func()) {
	t.mu.Lock()
	if t.m[id] != nil {
		t.mu.Unlock()
		return
	}
	done := make(chan struct{})
	if t.busy == nil {
		t.busy = map[queue.SubscriberID]chan struct{}{}
	}
	t.busy[id] = done
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.busy, id)
		t.mu.Unlock()
		close(done)
	}()
	fn()
}

// remove deletes id's entry if it is still s.
func (t *Table) remove(id queue.SubscriberID, s *State) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[id] == s {
		delete(t.m, id)
		return true
	}
	return false
}

// Online reports whether id's session is on this node with a connection attached.
func (t *Table) Online(id queue.SubscriberID) bool {
	s := t.Get(id)
	return s != nil && s.Online()
}

// markEndingLocked marks s as ending and reports whether this caller did (and so must finish
// it); false means someone else is ending it already.
func (s *State) markEndingLocked() bool {
	if s.ending {
		return false
	}
	s.ending = true
	s.ended = make(chan struct{})
	return true
}
