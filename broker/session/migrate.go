package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Sessions across nodes (ChanSession). A client that connects to node B while its session lives
// on node A takes it over: B asks every other live node to give the session up; A closes the
// old connection (MQTT 5: DISCONNECT 0x8E), and answers with the session's subscriptions,
// expiry and every unacknowledged and queued message, in order, in pages; B appends them to its
// own queue, makes the subscriber table name B as the owner (Claim), and asks A for whatever
// arrived meanwhile ("done"), after which A forgets the session without reporting its messages
// as dropped and forwards to B, for max_drain_time, whatever is still routed to A for it (a
// node whose table does not name B yet). A deletes its stored copy only when B says it stored
// everything ("ack"), so a crash of either node on the way loses nothing. A move that breaks
// off refuses the CONNECT (the client tries again); a second takeover of a session whose move
// is under way takes over that move's messages too. Two connects of one client id racing on
// two nodes are decided by their connect time (then node name): the older one is refused, so
// exactly one session lives.

// ClusterRouter is what takeover needs of the router besides Router.
type ClusterRouter interface {
	// LocalSubscriptions returns this node's subscriptions of id from the subscriber table.
	LocalSubscriptions(id queue.SubscriberID) ([]Subscription, error)
	// Claim makes this node the owner of id's record, adding subs.
	Claim(id queue.SubscriberID, subs []Subscription) error
}

// ClusterOptions configure sessions across nodes.
type ClusterOptions struct {
	Transport cluster.Transport
	// AllowRegister admits a client while a node is unreachable (allow_register_during_netsplit);
	// off, such a CONNECT is refused with Server unavailable, since the client's session may
	// live on the node this one cannot reach.
	AllowRegister bool
	// Unreachable lists peers seen failed and not back.
	Unreachable func() []string
	// DrainTime is how long the old node forwards messages still routed to it for a session
	// that moved away (max_drain_time).
	DrainTime time.Duration
	// Policy bounds the queues of sessions taken from a leaving node, which arrive without a
	// connection to take bounds from (the node's defaults, as for restored sessions).
	Policy queue.Policy
}

const (
	opTakeover byte = 1
	opMore     byte = 2
	opDone     byte = 3
	opAdopt    byte = 4 // a leaving node asks this one to take a session from it (handoff.go)
	opAck      byte = 5 // the taker stored every message of a move: the old node drops its copy

	statusNone    byte = 0
	statusMoved   byte = 1
	statusRefused byte = 2

	pageBytes = 1 << 20
)

type migReq struct {
	Op         byte
	Mountpoint string
	ClientID   string
	Clean      bool
	Stamp      int64
	Token      uint64
}

type migItem struct {
	Msg    message.Wire
	QoS    byte
	Retain bool
	SubIDs []uint32
	Dup    bool
}

type migResp struct {
	Status byte
	Expiry int64 // ns; negative never
	Subs   []Subscription
	Items  []migItem
	More   bool
	Token  uint64
}

// move is a session being handed to another node.
type move struct {
	s     *State
	to    string
	items []queue.Delivery
	timer *time.Timer
}

// attachment is a connect of this node between its first request to peers and its attach (or
// refusal); done is closed then.
type attachment struct {
	stamp int64
	done  chan struct{}
}

// clusterSessions is the node's side of takeovers.
type clusterSessions struct {
	env  *Env
	opts ClusterOptions

	mu        sync.Mutex
	attaching map[queue.SubscriberID]*attachment // connects of this node for each client id, until attached
	moving    map[uint64]*move
	nextToken uint64
	// moved are finished moves whose taker has not yet said it stored everything (opAck).
	moved map[uint64]*move
}

// EnableCluster connects the node's sessions to its peers; call before serving clients.
func (e *Env) EnableCluster(o ClusterOptions) {
	if o.DrainTime <= 0 {
		o.DrainTime = time.Minute
	}
	cs := &clusterSessions{env: e, opts: o, attaching: map[queue.SubscriberID]*attachment{}, moving: map[uint64]*move{}, moved: map[uint64]*move{}}
	e.cluster = cs
	o.Transport.Handle(cluster.ChanSession, cluster.HandlerFuncs{Request: cs.handle})
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	err := enc.Encode(v)
	return buf.Bytes(), err
}

// newer reports whether connect (a, an) wins over (b, bn): later stamp, then larger node name.
func newer(a int64, an string, b int64, bn string) bool {
	if a != b {
		return a > b
	}
	return an > bn
}

func (cs *clusterSessions) handle(ctx context.Context, from string, b []byte) ([]byte, error) {
	var req migReq
	if err := msgpackdec.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	var resp migResp
	switch req.Op {
	case opTakeover:
		resp = cs.giveUp(from, &req)
	case opMore, opDone:
		resp = cs.page(req.Token, req.Op == opDone)
	case opAck:
		cs.acked(req.Token)
	case opAdopt:
		resp = cs.adopt(ctx, from, &req)
	default:
		return nil, errors.New("unknown session operation")
	}
	return marshal(&resp)
}

// giveUp hands id's session to the node from, unless this node has a newer connect for it.
func (cs *clusterSessions) giveUp(from string, req *migReq) migResp {
	e := cs.env
	id := queue.SubscriberID{Mountpoint: req.Mountpoint, ClientID: req.ClientID}
	self := cs.opts.Transport.Self()
	cs.mu.Lock()
	at, ok := cs.attaching[id]
	cs.mu.Unlock()
	if ok {
		if newer(at.stamp, self, req.Stamp, from) {
			return migResp{Status: statusRefused}
		}
		// An older connect of this node is under way: let it attach (or be refused, which the
		// newer connect's node does) before giving the session up, so that the session is not
		// moved away while that connect is still bringing it here and claiming its
		// subscriptions. Only the older side waits, so two nodes never wait for each other.
		select {
		case <-at.done:
		case <-time.After(30 * time.Second):
			e.Log.Warn("an older connect of this client id did not finish in time", "client_id", id.ClientID)
		}
	}
	s := e.Sessions.Get(id)
	if s == nil {
		return migResp{Status: statusNone}
	}
	s.mu.Lock()
	conns := s.connsLocked()
	s.mu.Unlock()
	if len(conns) > 0 {
		if newer(conns[0].stamp, self, req.Stamp, from) {
			return migResp{Status: statusRefused}
		}
		// Sharing a session (allow_multiple_sessions) is local to a node: a connection on
		// another node takes it from every connection here.
		e.kickAll(conns, req.Clean, 5*time.Second, func() {
			e.Log.Warn("connection taken over by another node did not close in time", "client_id", id.ClientID)
		})
	}
	s = e.Sessions.Get(id)
	if s == nil {
		return migResp{Status: statusNone} // it ended with its connection (clean session)
	}
	if req.Clean {
		// [MQTT-3.1.2-4] a clean start anywhere ends the session everywhere.
		e.endSession(s, queue.DropSessionGone)
		return migResp{Status: statusNone}
	}
	s.mu.Lock()
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
		s.expiryTimer = nil
	}
	if s.willTimer != nil {
		// The session goes on elsewhere: a delayed will is not sent [MQTT-3.1.3-9].
		s.willTimer.Stop()
		s.willTimer, s.pendingWill = nil, nil
	}
	expiry := s.expiry
	var items []queue.Delivery
	for _, pid := range s.outOrder {
		if f := s.out[pid]; !f.rel {
			d := f.d
			d.Dup, d.Seq = true, 0
			items = append(items, d)
		}
	}
	s.out, s.outOrder = map[uint16]*inflight{}, nil
	s.mu.Unlock()
	items = append(cs.takeMoves(s), items...)
	items = drainQueue(s.Queue, items)
	var subs []Subscription
	if cr, ok := e.Router.(ClusterRouter); ok {
		var err error
		if subs, err = cr.LocalSubscriptions(id); err != nil {
			e.Log.Warn("cannot read subscriptions of a session moving away", "client_id", id.ClientID, "error", err)
		}
	}
	cs.mu.Lock()
	cs.nextToken++
	tok := cs.nextToken
	mv := &move{s: s, to: from, items: items}
	cs.moving[tok] = mv
	// A taker that never finishes leaves the session here, offline, with what it had.
	mv.timer = time.AfterFunc(time.Minute, func() { cs.abandon(tok) })
	cs.mu.Unlock()
	e.Log.Info("session moving to another node", "client_id", id.ClientID, "to", from, "messages", len(items))
	resp := cs.page(tok, false)
	resp.Status, resp.Expiry, resp.Subs, resp.Token = statusMoved, int64(expiry), subs, tok
	return resp
}

func drainQueue(q *queue.Queue, items []queue.Delivery) []queue.Delivery {
	for {
		n := len(items)
		items = q.Take(items, 1000, time.Now())
		if len(items) == n {
			return items
		}
	}
}

// takeMoves ends the moves of s still under way (their taker broke off, or is slower than a
// second takeover) and returns their messages, oldest first, for the move that replaces them.
func (cs *clusterSessions) takeMoves(s *State) []queue.Delivery {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var items []queue.Delivery
	for tok, mv := range cs.moving {
		if mv.s == s {
			mv.timer.Stop()
			delete(cs.moving, tok)
			items = append(items, mv.items...)
		}
	}
	return items
}

// page returns the next page of a move; done (the taker owns the session now) forgets the
// session, with a redirect of late messages to the taker, and hands over what arrived since the
// last page.
func (cs *clusterSessions) page(tok uint64, done bool) migResp {
	cs.mu.Lock()
	mv := cs.moving[tok]
	if done && mv != nil {
		delete(cs.moving, tok)
		mv.timer.Stop()
		cs.moved[tok] = mv
		// A taker that never acknowledges leaves the stored copy until this node restarts
		// (it then comes back as a session here): a duplicate, never a loss.
		time.AfterFunc(time.Hour, func() { cs.mu.Lock(); delete(cs.moved, tok); cs.mu.Unlock() })
	}
	cs.mu.Unlock()
	if mv == nil {
		return migResp{Status: statusNone}
	}
	if done {
		// From here a message for the session finds the redirect, or the queue before it is
		// sealed (and so drained below), never neither.
		cs.env.Sessions.moveAway(mv.s.ID, mv.s, mv.to, cs.opts.DrainTime)
		mv.s.Queue.Seal()
		mv.items = drainQueue(mv.s.Queue, mv.items)
	}
	var resp migResp
	now := time.Now()
	size := 0
	n := 0
	for ; n < len(mv.items) && (done || size < pageBytes); n++ {
		d := mv.items[n]
		resp.Items = append(resp.Items, migItem{Msg: message.ToWire(d.Msg, now), QoS: d.QoS, Retain: d.Retain, SubIDs: d.SubIDs, Dup: d.Dup})
		size += d.Msg.Size()
	}
	mv.items = mv.items[n:]
	resp.More = !done && len(mv.items) > 0
	resp.Status = statusMoved
	return resp
}

// acked drops the stored copy of a session its taker now holds in full. A session of the same
// client id created here meanwhile (the client came back at once) keeps the store: it holds
// those messages too, and a duplicate is better than a loss.
func (cs *clusterSessions) acked(tok uint64) {
	cs.mu.Lock()
	mv := cs.moved[tok]
	delete(cs.moved, tok)
	cs.mu.Unlock()
	e := cs.env
	if mv == nil || e.Persist == nil || !mv.s.Queue.Persistent() {
		return
	}
	// Under the table's lock: a session of the same id created here meanwhile writes to the
	// same stored queue, and the delete must not take its messages.
	e.Sessions.ifAbsent(mv.s.ID, func() {
		if err := e.Persist.DeleteSession(mv.s.ID); err != nil {
			e.Log.Error("cannot delete the stored copy of a session that moved", "client_id", mv.s.ID.ClientID, "error", err)
		}
	})
}

// abandon puts back a move whose taker went away: the session stays here, offline.
func (cs *clusterSessions) abandon(tok uint64) {
	cs.mu.Lock()
	mv := cs.moving[tok]
	delete(cs.moving, tok)
	cs.mu.Unlock()
	if mv != nil {
		mv.s.Queue.PushFront(mv.items)
		cs.env.Log.Warn("session takeover by another node did not finish; the session stays here", "client_id", mv.s.ID.ClientID)
	}
}

// takeover runs before a connection attaches: it asks the other nodes to give up the client's
// session and brings it here. It returns a reason code other than Success to refuse the CONNECT,
// and release, which the caller calls once the connection attached or was refused: until then
// a newer connect elsewhere waits for it rather than taking a session still on its way here.
func (cs *clusterSessions) takeover(c *Conn, id queue.SubscriberID, clean bool, policy queue.Policy, expiry time.Duration) (rc packet.ReasonCode, why string, release func()) {
	tr := cs.opts.Transport
	self := tr.Self()
	if !cs.opts.AllowRegister && cs.opts.Unreachable != nil && len(cs.opts.Unreachable()) > 0 {
		return packet.ServerUnavailable, "cluster partitioned (allow_register_during_netsplit = off)", func() {}
	}
	at := &attachment{stamp: c.stamp, done: make(chan struct{})}
	cs.mu.Lock()
	cs.attaching[id] = at
	cs.mu.Unlock()
	release = func() {
		cs.mu.Lock()
		if cs.attaching[id] == at {
			delete(cs.attaching, id)
		}
		cs.mu.Unlock()
		close(at.done)
	}
	req, _ := marshal(&migReq{Op: opTakeover, Mountpoint: id.Mountpoint, ClientID: id.ClientID, Clean: clean, Stamp: c.stamp})
	type answer struct {
		node string
		resp migResp
		err  error
	}
	var peers []string
	for _, m := range tr.Members() {
		if m != self {
			peers = append(peers, m)
		}
	}
	answers := make(chan answer, len(peers))
	for _, p := range peers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := tr.Request(ctx, p, cluster.ChanSession, req)
			var resp migResp
			if err == nil {
				err = msgpackdec.Unmarshal(b, &resp)
			}
			answers <- answer{p, resp, err}
		}()
	}
	var moved []answer
	refused := false
	var unreachable error
	for range peers {
		a := <-answers
		switch {
		case a.err != nil:
			unreachable = a.err
			c.logger().Warn("cannot ask a node about this client's session", "node", a.node, "error", a.err)
		case a.resp.Status == statusRefused:
			refused = true
		case a.resp.Status == statusMoved:
			moved = append(moved, a)
		}
	}
	// Whatever moved comes here first, so nothing is lost whatever this connect's fate. A
	// move that broke off refuses the connect: the rest is still on the other node, and the
	// client's next attempt brings it.
	var broken error
	for _, a := range moved {
		if _, err := cs.receive(c.logger(), id, a.node, &a.resp, policy, expiry); err != nil {
			broken = err // logged inside
		}
	}
	if broken != nil {
		return packet.ServerUnavailable, "the session's move from another node broke off; try again", release
	}
	if unreachable != nil && !cs.opts.AllowRegister {
		return packet.ServerUnavailable, "a cluster node did not answer (allow_register_during_netsplit = off)", release
	}
	if refused {
		return packet.ServerUnavailable, "a newer connection of this client id is being set up on another node", release
	}
	return packet.Success, "", release
}

// receive builds the local session from a move's pages.
func (cs *clusterSessions) receive(log *slog.Logger, id queue.SubscriberID, node string, first *migResp, policy queue.Policy, expiry time.Duration) (*State, error) {
	e := cs.env
	s, _ := e.Sessions.getOrCreate(id, func() *State { return newState(id, e.newQueue(id, policy)) })
	s.mu.Lock()
	if first.Expiry != 0 && s.expiry == 0 {
		s.expiry = time.Duration(first.Expiry)
	}
	for _, sub := range first.Subs {
		s.subs[sub.Filter] = sub
	}
	s.mu.Unlock()
	if expiry != 0 && e.Persist != nil && !s.Queue.Persistent() {
		s.Queue.SetBacking(e.Persist.Backing(id))
	}
	n := 0
	// A page is stored with one wait for the sync (the old node keeps its copy until opAck).
	add := func(items []migItem) error {
		now := time.Now()
		var pend queue.Pending
		refused := false
		for i := range items {
			it := &items[i]
			d := queue.Delivery{Msg: message.FromWire(&it.Msg, now), QoS: it.QoS, Retain: it.Retain, SubIDs: it.SubIDs, Dup: it.Dup}
			if _, reason := s.Queue.OfferPending(d, &pend); reason == queue.DropStoreError {
				refused = true
			}
			n++
		}
		err := pend.Wait()
		if err == nil && refused {
			err = errors.New("the message store refused a message")
		}
		if err != nil {
			log.Error("session migration: messages not stored; the old node keeps its copy", "node", node, "error", err)
			return fmt.Errorf("session migration from %s: store: %w", node, err)
		}
		return nil
	}
	if err := add(first.Items); err != nil {
		return s, err
	}
	resp := first
	for resp.More {
		b, err := cs.request(node, opMore, first.Token)
		if err != nil {
			log.Error("session migration interrupted; messages left on the old node", "node", node, "error", err)
			return s, fmt.Errorf("session migration from %s interrupted: %w", node, err)
		}
		resp = b
		if err := add(resp.Items); err != nil {
			return s, err
		}
	}
	if cr, ok := e.Router.(ClusterRouter); ok {
		if err := cr.Claim(id, first.Subs); err != nil {
			log.Error("cannot take over the subscriptions of a session from another node", "node", node, "error", err)
		}
	}
	last, err := cs.request(node, opDone, first.Token)
	if err != nil {
		log.Error("session migration: last page lost", "node", node, "error", err)
		return s, fmt.Errorf("session migration from %s: last page lost: %w", node, err)
	}
	if err := add(last.Items); err != nil {
		return s, err
	}
	// Every message is stored here: the old node may drop its copy.
	if _, err := cs.request(node, opAck, first.Token); err != nil {
		log.Warn("session migration: the old node did not hear that everything is stored; it keeps its copy", "node", node, "error", err)
	}
	log.Info("session taken over from another node", "node", node, "messages", n)
	return s, nil
}

func (cs *clusterSessions) request(node string, op byte, tok uint64) (*migResp, error) {
	req, _ := marshal(&migReq{Op: op, Token: tok})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := cs.opts.Transport.Request(ctx, node, cluster.ChanSession, req)
	if err != nil {
		return nil, err
	}
	var resp migResp
	if err := msgpackdec.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
