package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Handoff on leave (nautilus admin cluster leave): a node that leaves the cluster gives each of
// its sessions to one of the remaining members, round-robin, so that no session and no queued
// message leaves with it. The taking node pulls the session with the takeover protocol of
// migrate.go, as if its client had connected there, and keeps it offline until the client
// reconnects, to it or to any node (which then takes it over as usual). The leaving node only
// asks (opAdopt); all state moves in the taker's pull, so the two paths cannot disagree.

// HandoffResult says what a Handoff did.
type HandoffResult struct {
	Moved  int // sessions now held by another node
	Ended  int // sessions ended here (every session, with kill)
	Failed int // sessions no member could take; they stay here
}

// handoffParallel bounds the sessions in flight at once: each move is a few requests, and a
// leave of a node with many sessions should not flood the links.
const handoffParallel = 8

// Handoff ends every connection (MQTT 5 clients get DISCONNECT 0x9C, Use another server) and
// then, with kill, ends every session here (as VerneMQ's --kill-sessions), or else hands each
// persistent session to another live member. The caller stops the listeners first, so no client
// attaches meanwhile. Sessions that could not be handed off stay here and are counted in Failed.
func (e *Env) Handoff(ctx context.Context, kill bool) (HandoffResult, error) {
	var res HandoffResult
	cs := e.cluster
	if cs == nil {
		return res, errors.New("session: handoff needs a cluster")
	}
	e.Shutdown(ctx, packet.UseAnotherServer)
	var sessions []*State
	e.Sessions.Each(func(s *State) {
		s.mu.Lock()
		if !s.ending {
			sessions = append(sessions, s)
		}
		s.mu.Unlock()
	})
	if kill {
		for _, s := range sessions {
			e.endSession(s, queue.DropSessionGone)
			res.Ended++
		}
		return res, nil
	}
	self := cs.opts.Transport.Self()
	var targets []string
	for _, m := range cs.opts.Transport.Members() {
		if m != self {
			targets = append(targets, m)
		}
	}
	if len(targets) == 0 && len(sessions) > 0 {
		return res, fmt.Errorf("session: no other cluster member to hand %d sessions to", len(sessions))
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, handoffParallel)
	)
	for i, s := range sessions {
		target := targets[i%len(targets)]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := cs.askAdopt(ctx, target, s.ID)
			mu.Lock()
			defer mu.Unlock()
			// Whatever the answer, what counts is whether the session is still here: gone means
			// another node holds it now (the taker, or the node its client reconnected to).
			if e.Sessions.Get(s.ID) != s {
				res.Moved++
				return
			}
			if err == nil {
				err = errors.New("the taking node answered, but the session is still here")
			}
			res.Failed++
			e.Log.Error("cannot hand a session to another node; it stays here", "client_id", s.ID.ClientID,
				"mountpoint", s.ID.Mountpoint, "to", target, "error", err)
		}()
	}
	wg.Wait()
	e.Log.Info("sessions handed off", "moved", res.Moved, "ended", res.Ended, "failed", res.Failed)
	return res, nil
}

// askAdopt asks target to take id's session from this node and waits until it did.
func (cs *clusterSessions) askAdopt(ctx context.Context, target string, id queue.SubscriberID) error {
	req, _ := marshal(&migReq{Op: opAdopt, Mountpoint: id.Mountpoint, ClientID: id.ClientID})
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := cs.opts.Transport.Request(ctx, target, cluster.ChanSession, req)
	if err != nil {
		return err
	}
	var resp migResp
	if err := msgpackdec.Unmarshal(b, &resp); err != nil {
		return err
	}
	if resp.Status == statusRefused {
		return errors.New("refused by the taking node")
	}
	return nil
}

// adopt takes id's session from the node from (which is leaving) and keeps it here, offline.
// It answers statusMoved once the session is here, statusNone when from had none.
func (cs *clusterSessions) adopt(ctx context.Context, from string, req *migReq) migResp {
	e := cs.env
	id := queue.SubscriberID{Mountpoint: req.Mountpoint, ClientID: req.ClientID}
	log := e.Log.With("client_id", id.ClientID, "mountpoint", id.Mountpoint, "from", from)
	if s := e.Sessions.Get(id); s != nil && s.Online() {
		// The client is already here (it reconnected first): its own connect took the session.
		return migResp{Status: statusNone}
	}
	tr := cs.opts.Transport
	take, _ := marshal(&migReq{Op: opTakeover, Mountpoint: id.Mountpoint, ClientID: id.ClientID, Stamp: time.Now().UnixNano()})
	b, err := tr.Request(ctx, from, cluster.ChanSession, take)
	if err != nil {
		log.Error("cannot take a session from a leaving node", "error", err)
		return migResp{Status: statusRefused}
	}
	var resp migResp
	if err := msgpackdec.Unmarshal(b, &resp); err != nil || resp.Status != statusMoved {
		return migResp{Status: resp.Status}
	}
	s, err := cs.receive(log, id, from, &resp, cs.opts.Policy, time.Duration(resp.Expiry))
	if err != nil {
		return migResp{Status: statusRefused}
	}
	e.park(s)
	return migResp{Status: statusMoved}
}

// park keeps a session that arrived without a connection offline, as detach does for one
// whose client went away: persisted, with its expiry running from now.
func (e *Env) park(s *State) {
	s.mu.Lock()
	if s.conn != nil {
		s.mu.Unlock()
		return // its client attached meanwhile
	}
	expiry, gen := s.expiry, s.attachGen
	s.mu.Unlock()
	switch {
	case expiry > 0:
		e.save(s, e.Now().Add(expiry))
		s.mu.Lock()
		if s.expiryTimer == nil && s.conn == nil && s.attachGen == gen {
			s.expiryTimer = time.AfterFunc(expiry, func() { e.expire(s, gen) })
		}
		s.mu.Unlock()
	case expiry < 0:
		e.save(s, time.Time{})
	}
}
