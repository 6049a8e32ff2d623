package sim

import (
	"container/heap"
	"fmt"
	"slices"
	"time"
)

// inflight is a message on the wire.
type inflight struct {
	at       time.Duration
	seq      uint64 // ties at one instant resolve in send order
	from, to string
	data     []byte
}

type inflightHeap []inflight

func (h inflightHeap) Len() int { return len(h) }
func (h inflightHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h inflightHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *inflightHeap) Push(x any)   { *h = append(*h, x.(inflight)) }
func (h *inflightHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = inflight{}
	*h = old[:len(old)-1]
	return x
}

// SetFaults sets the loss and duplication probabilities for messages sent
// from now on.
func (s *Sim) SetFaults(loss, dup float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Loss, s.cfg.Dup = loss, dup
}

// SetNetwork sets the loss and duplication probabilities and the delay
// range for messages sent from now on.
func (s *Sim) SetNetwork(loss, dup float64, minDelay, maxDelay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Loss, s.cfg.Dup = loss, dup
	if maxDelay > 0 {
		s.cfg.MinDelay, s.cfg.MaxDelay = min(minDelay, maxDelay), maxDelay
	}
}

// Partition splits the nodes into groups: messages between groups are
// dropped when they arrive. Nodes left out of every group form one more
// group together. With the failure detector on, each side also drops the
// other from its member list.
func (s *Sim) Partition(groups ...[]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = map[string]int{}
	for i, g := range groups {
		for _, name := range g {
			s.groups[name] = i + 1
		}
	}
	s.announceMembers()
}

// Heal ends the partition.
func (s *Sim) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = nil
	s.announceMembers()
}

// SetFailureDetection turns the simulated failure detector on or off. On,
// every node's member list (SetMembers) is the members it can reach: those
// that are up and on its side of the partition, the way a gossip membership
// layer (serf behind cluster.Transport.Members) reports a crashed, paused or
// cut-off member "failed" and drops it from the live list until it is back.
// Off (the default), every node lists every member however the network is
// cut and whoever is down, so only messages are lost. Either way a member
// that leaves (Leave) is reported to every core that implements Leaver.
func (s *Sim) SetFailureDetection(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detect = on
	s.announceMembers()
}

// InFlight returns the number of messages on the wire.
func (s *Sim) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *Sim) connected(a, b string) bool {
	return s.groups == nil || s.groups[a] == s.groups[b]
}

// send puts one message on the wire, applying loss, duplication and delay.
func (s *Sim) send(from *Node, env Envelope) {
	from.stats.MsgsSent++
	from.stats.BytesSent += uint64(len(env.Data))
	if s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss {
		s.dropped++
		return
	}
	copies := 1
	if s.cfg.Dup > 0 && s.rng.Float64() < s.cfg.Dup {
		copies = 2
	}
	for range copies {
		d := s.cfg.MinDelay
		if span := s.cfg.MaxDelay - s.cfg.MinDelay; span > 0 {
			d += time.Duration(s.rng.Int64N(int64(span) + 1))
		}
		s.seq++
		heap.Push(&s.queue, inflight{at: s.now + d, seq: s.seq, from: from.name, to: env.To, data: env.Data})
	}
}

// deliver hands a message to its destination if it can be delivered.
func (s *Sim) deliver(m inflight) {
	to := s.byName[m.to]
	if to == nil || to.core == nil || !s.connected(m.from, m.to) {
		s.dropped++
		return
	}
	to.stats.MsgsReceived++
	to.stats.BytesReceived += uint64(len(m.data))
	if err := to.core.Step(m.from, m.data); err != nil {
		s.fail(fmt.Errorf("sim: %s stepping a message from %s at %v: %w", m.to, m.from, s.now, err))
	}
	s.process(to)
}

// process carries out a node's Ready: persist, then send, then events.
func (s *Sim) process(n *Node) {
	if n.core == nil {
		return
	}
	rd := n.core.Ready()
	if rd.Empty() {
		return
	}
	if err := Commit(n.eng, rd.Persist); err != nil {
		s.fail(fmt.Errorf("sim: %s: %w", n.name, err))
		return
	}
	for _, env := range rd.Send {
		s.send(n, env)
	}
	for _, ev := range rd.Events {
		n.feed.Publish(ev)
	}
}

// step runs the next thing due: a tick of every node or one delivery. It
// does not advance past limit and reports whether it did anything.
func (s *Sim) step(limit time.Duration) bool {
	if len(s.queue) > 0 && s.queue[0].at < s.tickAt {
		if s.queue[0].at > limit {
			return false
		}
		m := heap.Pop(&s.queue).(inflight)
		s.now = m.at
		s.deliver(m)
		return true
	}
	if s.tickAt > limit {
		return false
	}
	s.now = s.tickAt
	s.tickAt += s.cfg.Tick
	for _, n := range s.nodes {
		if n.core != nil {
			n.core.Tick()
			s.process(n)
		}
	}
	return true
}

// Run advances virtual time by d.
func (s *Sim) Run(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.now + d
	for s.err == nil && s.step(limit) {
	}
	if s.err == nil {
		s.now = limit
	}
	return s.err
}

// RunUntil advances virtual time in steps of every until cond holds (it is
// checked before the first step and after each, without the simulation
// lock, so it may use the Store views) or max has elapsed. It reports
// whether cond held.
func (s *Sim) RunUntil(cond func() bool, every, max time.Duration) (bool, error) {
	start := s.Now()
	for {
		if cond() {
			return true, s.Err()
		}
		if s.Now()-start >= max {
			return false, s.Err()
		}
		if err := s.Run(every); err != nil {
			return false, err
		}
	}
}

// Wait advances virtual time by d, like Run; a failure inside the
// simulation is kept for Err.
func (s *Sim) Wait(d time.Duration) { _ = s.Run(d) }

// Settle runs the simulation until cond holds, checking it every five
// ticks, for at most five virtual minutes (ample: with the backends'
// simulation settings a healed cluster converges in seconds). It returns
// false on a failure inside the simulation (see Err).
func (s *Sim) Settle(cond func() bool) bool {
	ok, err := s.RunUntil(cond, 5*s.cfg.Tick, 5*time.Minute)
	return ok && err == nil
}

// Crash stops a node: its core and everything in memory are lost, its
// engine's storage is kept. Messages to it are dropped until it restarts.
func (s *Sim) Crash(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	if n == nil || n.core == nil {
		return fmt.Errorf("sim: crash %s: %w", name, ErrDown)
	}
	s.down(n)
	s.announceMembers()
	return nil
}

func (s *Sim) down(n *Node) {
	if n.eng != nil {
		if err := n.eng.Close(); err != nil {
			s.fail(fmt.Errorf("sim: close %s: %w", n.name, err))
		}
	}
	n.core, n.eng, n.view = nil, nil, nil
}

// Restart boots a crashed node from its persisted state.
func (s *Sim) Restart(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	if n == nil || n.removed {
		return fmt.Errorf("sim: restart %s: no such member", name)
	}
	if n.core != nil {
		return fmt.Errorf("sim: restart %s: it is up", name)
	}
	if err := s.boot(n); err != nil {
		return err
	}
	s.announceMembers()
	// The members that left while it was down are gone for good.
	if l, ok := n.core.(Leaver); ok {
		for _, o := range s.nodes {
			if o.removed {
				l.MemberLeft(o.name)
			}
		}
		s.process(n)
	}
	return s.err
}

// Up reports whether the named node is running.
func (s *Sim) Up(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	return n != nil && n.core != nil
}

// Join adds an empty node and makes it a member everywhere.
func (s *Sim) Join(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.addNode(name); err != nil {
		return err
	}
	s.members = append(s.members, name)
	slices.Sort(s.members)
	s.announceMembers()
	return s.err
}

// Leave removes a node from the cluster: the others forget it and it stops
// for good.
func (s *Sim) Leave(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	i, ok := slices.BinarySearch(s.members, name)
	if n == nil || !ok {
		return fmt.Errorf("sim: leave %s: not a member", name)
	}
	s.members = slices.Delete(s.members, i, i+1)
	s.down(n)
	n.removed = true
	s.announceMembers()
	for _, o := range s.nodes {
		if l, ok := o.core.(Leaver); ok {
			l.MemberLeft(name)
			s.process(o)
		}
	}
	return s.err
}

// announceMembers gives every up node whose member list changed the new
// one.
func (s *Sim) announceMembers() {
	for _, n := range s.nodes {
		if n.core == nil {
			continue
		}
		view := s.view(n)
		if n.view != nil && slices.Equal(view, n.view) {
			continue
		}
		n.view = view
		n.core.SetMembers(view)
		s.process(n)
	}
}

// view is n's member list: every member, or with the failure detector on
// the members n can reach (itself, and those up on its side).
func (s *Sim) view(n *Node) []string {
	if !s.detect {
		return slices.Clone(s.members)
	}
	out := make([]string, 0, len(s.members))
	for _, m := range s.members {
		if o := s.byName[m]; m == n.name || (o != nil && o.core != nil && s.connected(n.name, m)) {
			out = append(out, m)
		}
	}
	return out
}
