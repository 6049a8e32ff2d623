package registry

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Forwarding between nodes (ChanRouting). A publish reaches each remote node that holds at
// least one matching subscription as ONE item; the receiving node matches the topic in its own
// trie and delivers to its local subscribers with the same merge rules. Shared subscription
// members chosen by the publishing node travel in the same item as explicit targets.
//
// Each peer has a forwarder: items are queued in publish order and a goroutine sends what is
// queued as one batch frame, so a burst costs one frame. QoS 1/2 items carry a per-peer
// sequence number and stay queued until the peer acknowledges them (cumulative acks): when the
// peer is unreachable (unknown member, full link buffer) they wait, up to HoldBytes, and go out
// in order when it returns; frames lost with a broken link are sent again when no ack comes,
// and the receiver skips sequence numbers it has already delivered. Each batch names the
// oldest sequence number the sender still holds (Base), so a receiver that starts from nothing
// (it restarted, or first hears of this sender) begins there and not at the batch's first
// item: items sent into a link that died with the old process are still unacknowledged and
// come again, and they must not look delivered. A receiver that has to wait for such a resend
// says so in its ack (Gap), and the sender resends at once rather than after resendAfter.
// QoS 0 items are sent once: one that cannot be sent is dropped and counted. Items past the
// bound are dropped and reported through OnDrop, never silently.

const (
	frameBatch byte = 1
	frameAck   byte = 2

	// batchBytes bounds the payload bytes of one batch frame.
	batchBytes = 1 << 20
	// resendAfter is how long sent QoS 1/2 items wait for an ack before they are sent again.
	resendAfter = 2 * time.Second
	// tick is how often a forwarder retries held items and checks for missing acks.
	tick = 200 * time.Millisecond
)

// sharedTarget is a member of a shared subscription group the publishing node chose.
type sharedTarget struct {
	ClientID string
	QoS      byte
	SubID    uint32
	// SubQoS is the member's subscription QoS, for a session on the receiving node that
	// chose its own QoS upgrade (0 from a node that predates it: QoS is kept).
	SubQoS byte
}

type wireItem struct {
	Seq    uint64 // 0: QoS 0, not acknowledged
	Fanout bool   // deliver to the receiver's matching non-shared subscribers
	Shared []sharedTarget
	Msg    message.Wire
	// OrigEpoch and OrigSeq name an item that an earlier run of the sender sent first and
	// restored from its outbox: the receiver's QoS 2 receipts are keyed by that first identity,
	// so a message it stored before the sender's crash is recognised when it comes again. Zero
	// for an item of this run (and from older nodes).
	OrigEpoch uint64
	OrigSeq   uint64
}

// wireFrame is encoded as an array: new fields go at the end, where an older node skips them
// and an older node's frames leave them zero (wire.go).
type wireFrame struct {
	Kind  byte
	Epoch uint64
	Ack   uint64
	Items []wireItem
	// Base (batch): every sequence number below it is acknowledged; 0 from older nodes.
	Base uint64
	// Gap (ack): the receiver skipped items after Ack to wait for earlier ones.
	Gap bool
	// Restored (batch): the items up to this sequence number were restored from an earlier
	// run's outbox. The receiver keeps the receipts of the sender's earlier runs until they
	// are all acknowledged (Base above it).
	Restored uint64
}

// ForwardStats counts cluster forwarding on one node.
type ForwardStats struct {
	Forwarded uint64 // items sent to peers (first sends)
	Resent    uint64 // items sent again after a missing ack
	Received  uint64 // items delivered from peers
	Dropped   uint64 // items dropped: QoS 0 not sendable, or QoS 1/2 beyond the hold bound
	Held      int64  // QoS 1/2 items waiting for a peer or its ack now
}

// pending is one queued item: its message (encoded at send time) and, for drop reports, the
// subscribers it was meant for on that node.
type pending struct {
	item   wireItem
	m      *message.Message
	size   int
	owners []string
}

// peerFwd forwards to one peer.
type peerFwd struct {
	r    *Registry
	node string
	wake chan struct{}

	mu       sync.Mutex
	nextSeq  uint64
	restored uint64     // the last sequence number given to an item of an earlier run
	unsent   []*pending // in order; QoS 1/2 ones keep their Seq
	unacked  []*pending // sent QoS 1/2 items, oldest first
	bytes    int        // QoS 1/2 bytes held (unsent + unacked)
	progress time.Time  // last ack progress or first send since the last ack
	resent   time.Time  // last resend on a Gap ack, to resend once per round trip
}

// forwarder is a node's set of peer forwarders and its receiving side.
type forwarder struct {
	r      *Registry
	tr     cluster.Transport
	epoch  uint64
	hold   int
	outbox Outbox // nil: held items live in memory only
	// accepting: batches from peers are delivered (Registry.AcceptForwarded).
	accepting atomic.Bool

	mu    sync.Mutex
	peers map[string]*peerFwd
	recv  map[string]*recvState
	down  map[string]bool // peers reported failed and not back

	stats     struct{ forwarded, resent, received, dropped atomic.Uint64 }
	held      atomic.Int64
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type recvState struct {
	epoch uint64
	last  uint64
	// forgot: the receipts of the sender's earlier runs were dropped (every item it restored
	// from them was acknowledged).
	forgot bool
}

func newForwarder(r *Registry, tr cluster.Transport, hold int, outbox Outbox) *forwarder {
	if hold <= 0 {
		hold = 16 << 20
	}
	// The epoch increases from run to run, so the outbox returns earlier runs' items in order.
	f := &forwarder{r: r, tr: tr, epoch: uint64(time.Now().UnixNano()) | 1, hold: hold, outbox: outbox, peers: map[string]*peerFwd{},
		recv: map[string]*recvState{}, down: map[string]bool{}, stop: make(chan struct{})}
	tr.Handle(cluster.ChanRouting, cluster.HandlerFuncs{Message: f.handle, Request: f.handleRequest})
	ev, cancel := tr.Watch()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer cancel()
		for {
			select {
			case e, ok := <-ev:
				if !ok {
					return
				}
				f.memberEvent(e)
			case <-f.stop:
				return
			}
		}
	}()
	return f
}

func (f *forwarder) close() {
	f.closeOnce.Do(func() { close(f.stop) })
	f.wg.Wait()
}

func (f *forwarder) memberEvent(e cluster.MemberEvent) {
	f.mu.Lock()
	switch e.Kind {
	case "fail":
		f.down[e.Node] = true
	case "join", "update":
		delete(f.down, e.Node)
	case "leave", "reap":
		delete(f.down, e.Node)
	}
	p := f.peers[e.Node]
	f.mu.Unlock()
	if f.r.opts.OnMember != nil {
		f.r.opts.OnMember(e)
	}
	if p != nil && (e.Kind == "join" || e.Kind == "update") {
		p.signal()
	}
}

// Unreachable lists peers reported failed and not back (a netsplit as this node sees it).
func (f *forwarder) unreachable() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.down))
	for n := range f.down {
		out = append(out, n)
	}
	return out
}

func (f *forwarder) isDown(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down[node]
}

func (f *forwarder) peer(node string) *peerFwd {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.peers[node]
	if p == nil {
		p = &peerFwd{r: f.r, node: node, wake: make(chan struct{}, 1), nextSeq: 1}
		f.peers[node] = p
		f.wg.Add(1)
		go p.run(f)
	}
	return p
}

// accepts reports whether node would take a message of qos now (used to choose a shared
// subscription member that does not pin the message).
func (f *forwarder) accepts(node string, qos byte) bool {
	if f.isDown(node) {
		return false
	}
	p := f.peer(node)
	p.mu.Lock()
	defer p.mu.Unlock()
	return qos == 0 || p.bytes < f.hold
}

// forward queues an item for node. A QoS 1/2 item is stored in the outbox first, its sync
// left to pend; it returns an error only when that store failed (the publisher must not be
// acknowledged). An item the hold bound refuses is dropped and reported.
func (f *forwarder) forward(node string, it wireItem, m *message.Message, owners []string, pend *queue.Pending) error {
	p := f.peer(node)
	pd := &pending{item: it, m: m, size: m.Size(), owners: owners}
	p.mu.Lock()
	if m.QoS == 0 {
		if f.isDown(node) {
			p.mu.Unlock()
			f.dropped(pd, "cluster_peer_down")
			return nil
		}
	} else {
		if p.bytes+pd.size > f.hold {
			p.mu.Unlock()
			f.dropped(pd, "cluster_buffer_full")
			return nil
		}
		pd.item.Seq = p.nextSeq
		if f.outbox != nil {
			if err := f.store(p, pd, pend); err != nil {
				p.mu.Unlock()
				return err
			}
		}
		p.nextSeq++
		p.bytes += pd.size
		f.held.Add(1)
	}
	p.unsent = append(p.unsent, pd)
	p.mu.Unlock()
	p.signal()
	return nil
}

func (f *forwarder) dropped(pd *pending, reason string) {
	f.stats.dropped.Add(1)
	if f.r.opts.OnDrop == nil {
		return
	}
	if len(pd.owners) == 0 {
		f.r.opts.OnDrop(pd.m, "", reason)
	}
	for _, o := range pd.owners {
		f.r.opts.OnDrop(pd.m, o, reason)
	}
}

func (p *peerFwd) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peerFwd) run(f *forwarder) {
	defer f.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.wake:
		case <-t.C:
			p.checkResend(f)
		case <-f.stop:
			return
		}
		p.flush(f)
	}
}

// checkResend puts sent QoS 1/2 items back in front of the unsent ones when no ack came.
func (p *peerFwd) checkResend(f *forwarder) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.unacked) == 0 || time.Since(p.progress) < resendAfter {
		return
	}
	f.stats.resent.Add(uint64(len(p.unacked)))
	p.unsent = append(p.unacked, p.unsent...)
	p.unacked = nil
}

// flush sends every unsent item in batches, in order.
func (p *peerFwd) flush(f *forwarder) {
	now := time.Now()
	for {
		p.mu.Lock()
		if len(p.unsent) == 0 {
			p.mu.Unlock()
			return
		}
		n, size := 0, 0
		fr := wireFrame{Kind: frameBatch, Epoch: f.epoch, Base: p.baseLocked(), Restored: p.restored}
		for n < len(p.unsent) && (n == 0 || size < batchBytes) {
			pd := p.unsent[n]
			pd.item.Msg = message.ToWire(pd.m, now)
			fr.Items = append(fr.Items, pd.item)
			size += pd.size
			n++
		}
		b, err := marshal(&fr)
		if err == nil {
			err = f.tr.Send(p.node, cluster.ChanRouting, b)
		}
		batch := p.unsent[:n]
		if err != nil {
			// Peer unreachable or its buffer is full: QoS 1/2 items wait; QoS 0 is dropped.
			var drops []*pending
			kept := p.unsent[:0:0]
			for _, pd := range p.unsent {
				if pd.item.Seq == 0 {
					drops = append(drops, pd)
				} else {
					kept = append(kept, pd)
				}
			}
			p.unsent = kept
			p.mu.Unlock()
			for _, pd := range drops {
				f.dropped(pd, "cluster_peer_unreachable")
			}
			if !errors.Is(err, cluster.ErrUnknownNode) && !errors.Is(err, cluster.ErrBufferFull) {
				p.r.log.Warn("cannot forward to peer", "node", p.node, "error", err)
			}
			return
		}
		if len(p.unacked) == 0 {
			p.progress = now
		}
		for _, pd := range batch {
			if pd.item.Seq != 0 {
				p.unacked = append(p.unacked, pd)
			} else {
				pd.m = nil
			}
			f.stats.forwarded.Add(1)
		}
		p.unsent = append(p.unsent[:0:0], p.unsent[n:]...)
		p.mu.Unlock()
	}
}

// baseLocked is the oldest sequence number not yet acknowledged: unacked items are older
// than unsent ones.
func (p *peerFwd) baseLocked() uint64 {
	if len(p.unacked) > 0 {
		return p.unacked[0].item.Seq
	}
	for _, pd := range p.unsent {
		if pd.item.Seq != 0 {
			return pd.item.Seq
		}
	}
	return p.nextSeq
}

// ack drops the items the peer acknowledged; on a gap it sends the rest again now.
func (p *peerFwd) ack(f *forwarder, upTo uint64, gap bool) {
	var done []uint64
	defer func() {
		if f.outbox != nil && len(done) > 0 {
			if err := f.outbox.Delete(p.node, f.epoch, done); err != nil {
				p.r.log.Warn("cannot remove acknowledged messages from the cluster outbox; they may be sent again after a restart", "peer", p.node, "error", err)
			}
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		// Frames already on their way past the gap bring more gap acks: one resend covers
		// them all, so wait a tick before another.
		if gap && len(p.unacked) > 0 && time.Since(p.resent) >= tick {
			p.resent = time.Now()
			f.stats.resent.Add(uint64(len(p.unacked)))
			p.unsent = append(p.unacked, p.unsent...)
			p.unacked = nil
			p.signal()
		}
	}()
	i := 0
	for ; i < len(p.unacked) && p.unacked[i].item.Seq <= upTo; i++ {
		done = append(done, p.unacked[i].item.Seq)
		p.bytes -= p.unacked[i].size
		f.held.Add(-1)
	}
	if i > 0 {
		p.unacked = append(p.unacked[:0:0], p.unacked[i:]...)
		p.progress = time.Now()
	}
}

// handle receives a frame from a peer: a batch to deliver locally, or an ack.
func (f *forwarder) handle(from string, b []byte) {
	var fr wireFrame
	if err := msgpackdec.Unmarshal(b, &fr); err != nil {
		f.r.log.Warn("ignoring undecodable routing frame", "from", from, "error", err)
		return
	}
	if fr.Kind == frameAck {
		if fr.Epoch == f.epoch {
			f.peer(from).ack(f, fr.Ack, fr.Gap)
		}
		return
	}
	if !f.accepting.Load() {
		return // not acknowledged: the sender sends it again once this node is ready
	}
	var deliver []int
	f.mu.Lock()
	st := f.recv[from]
	fresh := st == nil || st.epoch != fr.Epoch
	if fresh {
		// A new sender (or one that restarted), or this node restarted: take the stream from
		// the oldest item the sender holds (from the first item, for a node without Base).
		st = &recvState{epoch: fr.Epoch}
		for _, it := range fr.Items {
			if it.Seq != 0 {
				st.last = it.Seq - 1
				break
			}
		}
		if fr.Base != 0 {
			st.last = fr.Base - 1
		}
		f.recv[from] = st
	}
	if !st.forgot && f.r.opts.Receipts != nil && (fr.Base > fr.Restored || fr.Base == 0) {
		// The receipts of the sender's earlier runs name nothing it will send any more: what it
		// restored from them (which carries their identity) is acknowledged. (A node without
		// Base restores nothing with an identity: forget at once, as before.)
		st.forgot = true
		if err := f.r.opts.Receipts.ForgetForwarded(from, fr.Epoch); err != nil {
			f.r.log.Warn("cannot drop the receipts of a peer's earlier run", "peer", from, "error", err)
		}
	}
	if fr.Base > st.last+1 {
		// The sender holds nothing older: items before Base were acknowledged to us.
		st.last = fr.Base - 1
	}
	gap := false
	first := st.last // the items after it are this frame's to deliver
	for i := range fr.Items {
		if seq := fr.Items[i].Seq; seq != 0 {
			if seq != st.last+1 {
				// seq <= last: already delivered (a resend); seq > last+1: an earlier item was
				// lost, so wait for the resend to keep the order.
				gap = gap || seq > st.last+1
				continue
			}
			st.last = seq
		}
		deliver = append(deliver, i)
	}
	f.mu.Unlock()
	last, ok := f.deliverFrame(from, fr.Epoch, fr.Items, deliver, first)
	if rc := f.r.opts.Receipts; rc != nil && fr.Base > 1 {
		if err := rc.ReleaseForwarded(from, fr.Epoch, fr.Base); err != nil {
			f.r.log.Warn("cannot drop the receipts of forwarded messages", "peer", from, "error", err)
		}
	}
	if !ok {
		// The store refused an item: it is not acknowledged, so the sender keeps it and this
		// frame's later items and sends them again after resendAfter (a store that fails,
		// fails for a while: no hurry).
		f.mu.Lock()
		if f.recv[from] == st {
			st.last = last
		}
		f.mu.Unlock()
	}
	ack, _ := marshal(&wireFrame{Kind: frameAck, Epoch: fr.Epoch, Ack: last, Gap: gap})
	f.tr.Send(from, cluster.ChanRouting, ack)
}

// deliverFrame delivers the items of one frame from a peer's stream (epoch), waits once for the
// store's sync of all of them,
// and returns the sequence up to which they are stored: first (the last sequence stored before
// this frame) if the sync fails, the item before the first refused one if one is refused. A
// sequenced item is QoS 1 or 2, and the sender drops it once acknowledged, so an
// acknowledgement must mean stored, as a PUBACK does.
func (f *forwarder) deliverFrame(from string, epoch uint64, items []wireItem, deliver []int, first uint64) (uint64, bool) {
	now := time.Now()
	var pend queue.Pending
	last := first
	for _, i := range deliver {
		it := &items[i]
		f.stats.received.Add(1)
		m := message.FromWire(&it.Msg, now)
		if it.Seq != 0 && m.QoS == 2 && f.r.opts.Receipts != nil {
			// After a crash of this node the peer sends again what it stored and had not yet
			// acknowledged, and after a crash of the peer it restores what it had not seen
			// acknowledged: the receipts keep those queues from storing it twice.
			r := &message.Receipt{Peer: from, Epoch: epoch, Seq: it.Seq}
			if it.OrigEpoch != 0 {
				r.Epoch, r.Seq = it.OrigEpoch, it.OrigSeq
			}
			m.Receipt, m.Resent = r, true
		}
		if !f.r.deliverForwarded(m, it, &pend) && it.Seq != 0 {
			f.r.notStored.Log("forwarded by a peer, for a persistent subscriber; the peer will send it again", "peer", from, "topic", it.Msg.Topic)
			pend.Wait()
			return last, false
		}
		if it.Seq != 0 {
			last = it.Seq
		}
	}
	if err := pend.Wait(); err != nil {
		f.r.notStored.Log("forwarded by a peer, not durable; the peer will send them again", "peer", from, "error", err)
		return first, false
	}
	return last, true
}

// deliverForwarded fans a message from a peer out to this node's subscribers; it reports
// false when a persistent subscriber's store refused it.
func (r *Registry) deliverForwarded(m *message.Message, it *wireItem, pend *queue.Pending) bool {
	ok := true
	if it.Fanout {
		if _, err := r.route(m, true, pend); err != nil {
			ok = false
		}
	}
	for _, s := range it.Shared {
		id := queue.SubscriberID{Mountpoint: m.Mountpoint, ClientID: s.ClientID}
		d := queue.Delivery{Msg: m, QoS: s.QoS}
		if s.SubID != 0 {
			d.SubIDs = []uint32{s.SubID}
		}
		reason := queue.DropSessionGone
		if q := r.queues.Queue(id); q != nil {
			if up, set := q.UpgradeQoS(); set && s.SubQoS > 0 {
				d.QoS = min(m.QoS, s.SubQoS)
				if up {
					d.QoS = s.SubQoS
				}
			}
			_, reason = q.OfferPending(d, pend)
			if reason == queue.DropStoreError {
				ok = false
			}
		}
		if reason == queue.DropSessionGone || reason == queue.Moved {
			// The session left this node after the sender chose it: it follows the session.
			var remote map[string]*remoteItem
			r.redirect(&remote, id, d, s.SubQoS)
			for node, ri := range remote {
				if err := r.fwd.forward(node, ri.item, m, ri.owners, pend); err != nil {
					ok = false
				}
			}
			if remote == nil && r.opts.OnDrop != nil {
				r.opts.OnDrop(m, s.ClientID, string(queue.DropSessionGone))
			}
		}
	}
	return ok
}

// ForwardStats returns the node's forwarding counters.
func (r *Registry) ForwardStats() ForwardStats {
	if r.fwd == nil {
		return ForwardStats{}
	}
	f := r.fwd
	return ForwardStats{Forwarded: f.stats.forwarded.Load(), Resent: f.stats.resent.Load(), Received: f.stats.received.Load(),
		Dropped: f.stats.dropped.Load(), Held: f.held.Load()}
}

// Unreachable lists the peers this node sees as failed (a netsplit), sorted by nothing.
func (r *Registry) Unreachable() []string {
	if r.fwd == nil {
		return nil
	}
	return r.fwd.unreachable()
}

// marshal encodes structs as msgpack arrays (compact, positional: append fields only).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	err := enc.Encode(v)
	return buf.Bytes(), err
}
