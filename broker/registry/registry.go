// Package registry routes messages. It keeps, per mountpoint, a subscription trie and an index
// of retained messages, both built from the replicated metadata (broker/metadata): local changes
// are applied at once and written to the metadata store; changes made on other nodes arrive as
// metadata events and are applied the same way, so every node can route alone and the same code
// serves one node or a cluster.
//
// Publish matches a topic against the trie without locks (the trie is read-mostly), merges
// overlapping subscriptions of one subscriber into one delivery with the highest QoS and every
// subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4], picks one member per shared
// subscription group, and hands deliveries to the subscribers' queues.
package registry

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/logging/ratelog"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

// SharedPolicy picks the member of a shared subscription group that receives a message.
type SharedPolicy string

// VerneMQ's shared subscription policies.
const (
	PreferLocal             SharedPolicy = "prefer_local"
	LocalOnly               SharedPolicy = "local_only"
	Random                  SharedPolicy = "random"
	PreferOnlineBeforeLocal SharedPolicy = "prefer_online_before_local"
)

func (p SharedPolicy) known() bool {
	switch p {
	case PreferLocal, LocalOnly, Random, PreferOnlineBeforeLocal:
		return true
	}
	return false
}

// Queues finds the local queue of a subscriber, and says whether its session is online.
type Queues interface {
	Queue(id queue.SubscriberID) *queue.Queue
	Online(id queue.SubscriberID) bool
}

// Options configure routing.
type Options struct {
	Node         string
	SharedPolicy SharedPolicy
	// UpgradeQoS delivers at the subscription's QoS even when the message was published lower
	// (VerneMQ's upgrade_outgoing_qos).
	UpgradeQoS bool
	// Transport, when set, connects the registry to the other nodes: messages matching their
	// subscribers are forwarded on cluster.ChanRouting (see forward.go).
	Transport cluster.Transport
	// Receipts, when set, makes a forwarded QoS 2 message exactly-once across a crash of this
	// node: its persistent queues record the peer's sequence number with the message (a
	// receipt), a resend skips the queues that have it, and the receipts go once the peer
	// resends nothing below them.
	Receipts ForwardReceipts
	// WaitToReceive makes the registry ignore (and not acknowledge) messages forwarded by peers
	// until AcceptForwarded is called: a node that starts restores its persistent sessions
	// after the registry, and a message for a session not restored yet would find no queue.
	WaitToReceive bool
	// Outbox, when set, stores the QoS 1/2 messages forwarded to peers until they acknowledge
	// them, so a crash of this node loses none that it acknowledged to a publisher.
	Outbox Outbox
	// HoldBytes bounds, per peer, the QoS 1/2 messages kept while the peer is unreachable or has
	// not acknowledged them (outgoing_clustering_buffer_size); 0 is 16 MiB.
	HoldBytes int
	// OnDrop is told about every message forwarding dropped (count it, call on_message_drop);
	// clientID is a subscriber it was meant for, when known.
	OnDrop func(m *message.Message, clientID, reason string)
	// OnMember, when set, sees every cluster member event the registry receives.
	OnMember func(cluster.MemberEvent)
	// What this node accepts while a peer is unreachable (allow_*_during_netsplit).
	AllowPublish, AllowSubscribe, AllowUnsubscribe bool
	// SubscribeWaitsForCluster makes Subscribe return only when every reachable peer's trie
	// holds the new subscriptions, or SubscribeWaitTimeout (0: 5s) passed
	// (subscribe_waits_for_cluster; see applied.go).
	SubscribeWaitsForCluster bool
	SubscribeWaitTimeout     time.Duration
	// LogInterval is how often the refusals that can come at message rate (a message another
	// node must get not stored, a peer's message not stored here) are summarised in the log
	// (log.refusal_interval); zero logs each.
	LogInterval time.Duration
}

// ErrNetsplit refuses an operation while a peer is unreachable, as the allow_*_during_netsplit
// settings ask.
var ErrNetsplit = errors.New("registry: cluster partitioned: a node is unreachable")

// partitioned reports whether a peer is unreachable and allow is off.
func (r *Registry) partitioned(allow bool) bool {
	return !allow && r.fwd != nil && len(r.fwd.unreachable()) > 0
}

// subKey identifies one subscription in a trie: the subscriber and the filter as subscribed.
type subKey struct {
	ID     queue.SubscriberID
	Filter string
}

// subValue is what routing needs of a subscription.
type subValue struct {
	Node         string
	QoS          byte
	NoLocal, RAP bool
	SubID        uint32
	Group        string
}

// tenant is the routing state of one mountpoint.
type tenant struct {
	subs     topic.Trie[subKey, subValue]
	retained topic.RetainedIndex[*message.Message]
}

// Registry routes messages and keeps subscriptions and retained messages.
type Registry struct {
	opts   Options
	meta   metadata.Store
	queues Queues
	log    *slog.Logger
	// notStored logs the messages refused at message rate, per cause (see Options.LogInterval).
	notStored *ratelog.Group

	mu      sync.Mutex // serializes subscription changes and guards current
	tenants sync.Map   // mountpoint -> *tenant
	// current mirrors the trie entries of each subscriber, so a new subscriber record can be
	// applied as a diff whether it was written here or arrived from another node.
	current map[queue.SubscriberID]map[string]subValue
	// applied, when not nil, is closed (and reset) at the next change of current: waitApplied
	// waits on it.
	applied chan struct{}

	// retMu serializes, per retained topic (striped), a local retained write with the refresh
	// of an event for the same key (see follow), without one lock for every retained publish.
	retMu [64]sync.Mutex

	entries sync.Pool
	fwd     *forwarder
	cancel  []func()
	wg      sync.WaitGroup
}

// New builds a registry over meta and loads the subscriptions and retained messages it holds.
func New(ctx context.Context, opts Options, meta metadata.Store, queues Queues, log *slog.Logger) (*Registry, error) {
	if opts.SharedPolicy == "" {
		opts.SharedPolicy = PreferLocal
	}
	r := &Registry{opts: opts, meta: meta, queues: queues, log: log, current: map[queue.SubscriberID]map[string]subValue{},
		notStored: ratelog.New(log, slog.LevelError, opts.LogInterval, "messages not stored")}
	r.entries.New = func() any { s := make([]topic.Entry[subKey, subValue], 0, 16); return &s }
	// Subscribe to changes before folding, so nothing written between the two is missed;
	// applying a record twice is harmless because records are applied as diffs.
	subEv, cancelSubs := meta.Subscribe(metadata.Subscribers, true)
	retEv, cancelRet := meta.Subscribe(metadata.Retained, true)
	r.cancel = []func(){cancelSubs, cancelRet}
	err := meta.Fold(ctx, metadata.Subscribers, func(k, v []byte) error {
		return r.applySubscriberBytes(k, v)
	})
	if err == nil {
		err = meta.Fold(ctx, metadata.Retained, func(k, v []byte) error {
			return r.applyRetainedBytes(k, v)
		})
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("registry: load metadata: %w", err)
	}
	if opts.Transport != nil {
		r.fwd = newForwarder(r, opts.Transport, opts.HoldBytes, opts.Outbox)
		r.fwd.accepting.Store(!opts.WaitToReceive)
		if opts.Outbox != nil {
			if err := r.fwd.restore(); err != nil {
				r.Close()
				return nil, fmt.Errorf("registry: cluster outbox: %w", err)
			}
		}
	}
	r.wg.Add(2)
	go r.follow(subEv, r.refreshSubscriber)
	go r.follow(retEv, r.refreshRetained)
	return r, nil
}

// AcceptForwarded starts delivering messages forwarded by peers (see Options.WaitToReceive);
// the ones ignored before come again, since they were not acknowledged.
func (r *Registry) AcceptForwarded() {
	if r.fwd != nil {
		r.fwd.accepting.Store(true)
	}
}

// Close stops following metadata events.
func (r *Registry) Close() {
	for _, c := range r.cancel {
		c()
	}
	r.wg.Wait()
	if r.fwd != nil {
		r.fwd.close()
	}
}

// follow applies changes made on other nodes. An event says what the key became when it
// committed, which may be older than what a local write applied since: the local write does
// not come back as an event (skipLocal), so applying the event's value would leave the index
// stale until the key changes again (a session taken over by this node was routed back to the
// node it left, when that node's last write arrived just before the takeover's). refresh
// therefore reads the key's current value, under the lock its local writers hold.
func (r *Registry) follow(ev <-chan metadata.Event, refresh func(k, fallback []byte) error) {
	defer r.wg.Done()
	for e := range ev {
		v := e.New
		if e.Deleted {
			v = nil
		}
		if err := refresh(e.Key, v); err != nil {
			r.log.Warn("ignoring undecodable metadata event", "prefix", e.FP.Sub, "error", err)
		}
	}
}

// currentValue reads key's value from the store, or returns fallback (the event's value) when the
// store cannot answer.
func (r *Registry) currentValue(fp metadata.FullPrefix, key, fallback []byte) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ok, err := r.meta.Get(ctx, fp, key)
	switch {
	case err != nil:
		r.log.Warn("cannot read metadata after an event; applying the event", "prefix", fp.Sub, "error", err)
		return fallback
	case !ok:
		return nil
	}
	return v
}

func (r *Registry) tenant(mountpoint string) *tenant {
	if t, ok := r.tenants.Load(mountpoint); ok {
		return t.(*tenant)
	}
	t, _ := r.tenants.LoadOrStore(mountpoint, &tenant{})
	return t.(*tenant)
}

// Subscriptions is the number of subscriptions over all mountpoints.
func (r *Registry) Subscriptions() int {
	n := 0
	r.tenants.Range(func(_, v any) bool { n += v.(*tenant).subs.Len(); return true })
	return n
}

// RetainedCount is the number of retained messages over all mountpoints.
func (r *Registry) RetainedCount() int {
	n := 0
	r.tenants.Range(func(_, v any) bool { n += v.(*tenant).retained.Len(); return true })
	return n
}

var _ session.Router = (*Registry)(nil)

// ErrStore reports that at least one persistent subscriber's queue could not store the
// message: the publisher must not be told it was delivered.
var ErrStore = errors.New("registry: message store write failed")

// Publish implements session.Router.
func (r *Registry) Publish(m *message.Message) (int, error) {
	var pend queue.Pending
	n, err := r.PublishNoWait(m, &pend)
	if werr := pend.Wait(); werr != nil && err == nil {
		err = ErrStore
	}
	return n, err
}

// PublishNoWait implements session.Router: Publish that leaves the wait for the stores' sync
// to pend.
func (r *Registry) PublishNoWait(m *message.Message, pend *queue.Pending) (int, error) {
	if r.partitioned(r.opts.AllowPublish) {
		return 0, ErrNetsplit
	}
	if m.Retain {
		r.storeRetained(m, pend)
	}
	return r.route(m, false, pend)
}

// remoteItem is what one publish forwards to one node.
type remoteItem struct {
	item   wireItem
	owners []string
}

// route delivers m to the matching local subscribers and, unless m came from a peer
// (forwarded), forwards one copy to each other node holding a match. Shared subscription
// groups are resolved on the publishing node only. The local stores' sync is left to pend:
// the caller waits on it before it acknowledges m.
func (r *Registry) route(m *message.Message, forwarded bool, pend *queue.Pending) (int, error) {
	t := r.tenant(m.Mountpoint)
	ep := r.entries.Get().(*[]topic.Entry[subKey, subValue])
	defer func() { *ep = (*ep)[:0]; r.entries.Put(ep) }()
	entries := t.subs.Match(m.Topic, (*ep)[:0])
	*ep = entries
	if len(entries) == 0 {
		return 0, nil
	}
	var failed bool
	matched := len(entries)
	var groups map[groupKey][]topic.Entry[subKey, subValue]
	var remote map[string]*remoteItem
	self := r.opts.Node
	addGroup := func(e topic.Entry[subKey, subValue]) {
		if forwarded {
			return // the publishing node chose the member
		}
		if groups == nil {
			groups = map[groupKey][]topic.Entry[subKey, subValue]{}
		}
		gk := groupKey{e.Value.Group, e.Key.Filter}
		groups[gk] = append(groups[gk], e)
	}
	// Non-shared entries are merged per subscriber: sort so one subscriber's entries are adjacent.
	if len(entries) > 1 {
		slices.SortFunc(entries, func(a, b topic.Entry[subKey, subValue]) int {
			if a.Key.ID.ClientID != b.Key.ID.ClientID {
				if a.Key.ID.ClientID < b.Key.ID.ClientID {
					return -1
				}
				return 1
			}
			return 0
		})
	}
	for i := 0; i < len(entries); {
		e := entries[i]
		// Merge this subscriber's overlapping non-shared subscriptions into one delivery.
		d := queue.Delivery{Msg: m}
		have := false
		var subQoS byte // the highest subscription QoS, for a session that upgrades
		j := i
		for ; j < len(entries) && entries[j].Key.ID == e.Key.ID; j++ {
			v := entries[j].Value
			if v.Group != "" {
				addGroup(entries[j])
				continue
			}
			if v.Node != self && v.Node != "" && !(forwarded && r.stillHere(e.Key.ID, v.Node)) {
				// (A forwarded message for a session that is moving or moved from here to
				// v.Node goes on below: the sender's table did not name the new owner yet. The
				// delivery lands in the queue the move drains, or finds no session here and
				// follows the redirect.)
				if !forwarded && r.fwd != nil {
					if remote == nil {
						remote = map[string]*remoteItem{}
					}
					ri := remote[v.Node]
					if ri == nil {
						ri = &remoteItem{}
						remote[v.Node] = ri
					}
					ri.item.Fanout = true
					if n := len(ri.owners); n == 0 || ri.owners[n-1] != e.Key.ID.ClientID {
						ri.owners = append(ri.owners, e.Key.ID.ClientID)
					}
				}
				continue
			}
			if v.NoLocal && e.Key.ID.ClientID == m.From {
				continue // [MQTT-3.8.3-3]
			}
			q := r.grantQoS(m.QoS, v.QoS)
			if !have || q > d.QoS {
				d.QoS = q
			}
			subQoS = max(subQoS, v.QoS)
			if v.RAP && m.Retain {
				d.Retain = true
			}
			if v.SubID != 0 {
				d.SubIDs = append(d.SubIDs, v.SubID)
			}
			have = true
		}
		if have {
			switch ok, gone := r.deliver(e.Key.ID, d, subQoS, pend); {
			case gone && r.fwd != nil:
				r.redirect(&remote, e.Key.ID, d, subQoS)
			case !ok:
				failed = true
			}
		}
		i = j
	}
	for _, members := range groups {
		if !r.deliverShared(m, members, &remote, pend) {
			failed = true
		}
	}
	for node, ri := range remote {
		if err := r.fwd.forward(node, ri.item, m, ri.owners, pend); err != nil {
			r.notStored.Log("for another node, refused to the publisher", "node", node, "error", err)
			failed = true
		}
	}
	if failed {
		return matched, ErrStore
	}
	return matched, nil
}

type groupKey struct{ group, filter string }

func (r *Registry) grantQoS(msgQoS, subQoS byte) byte {
	if r.opts.UpgradeQoS {
		return subQoS
	}
	return min(msgQoS, subQoS)
}

// upgradeFor is whether deliveries to q go at the subscription's QoS: the session's choice
// (the UpgradeQoS modifier of auth_on_register) or upgrade_outgoing_qos.
func (r *Registry) upgradeFor(q *queue.Queue) bool {
	if up, set := q.UpgradeQoS(); set {
		return up
	}
	return r.opts.UpgradeQoS
}

// deliver hands d to id's queue at the granted QoS, or at subQoS when the session upgrades;
// it reports ok false only when the queue's store failed, and gone when this node holds no
// session for id (any more). The store's sync is left to pend.
func (r *Registry) deliver(id queue.SubscriberID, d queue.Delivery, subQoS byte, pend *queue.Pending) (ok, gone bool) {
	q := r.queues.Queue(id)
	if q == nil {
		return true, true
	}
	if up, set := q.UpgradeQoS(); set {
		d.QoS = min(d.Msg.QoS, subQoS) // as published, capped by the subscriptions
		if up {
			d.QoS = subQoS
		}
	}
	_, reason := q.OfferPending(d, pend)
	return reason != queue.DropStoreError, reason == queue.Moved
}

// movedTo is implemented by a Queues that knows where sessions that left this node went.
type movedTo interface {
	MovedTo(id queue.SubscriberID) (node string, ok bool)
}

// stillHere reports whether a forwarded message for id, whose subscription this node's table
// already gives to node, is to be delivered here: the session moved from here to node (the
// redirect takes it on), or is still here on its way to node. The new owner claims the
// subscriptions before the old one hands over its last page, so for a moment the old owner's
// table names the new owner while the session is still here; a message its sender routed here
// then was skipped and lost (TestDurabilityRacingConnects, under load).
func (r *Registry) stillHere(id queue.SubscriberID, node string) bool {
	return r.movedTo(id, node) || r.queues.Queue(id) != nil
}

// movedTo reports whether id's session moved from this node to node.
func (r *Registry) movedTo(id queue.SubscriberID, node string) bool {
	mt, ok := r.queues.(movedTo)
	if !ok {
		return false
	}
	to, ok := mt.MovedTo(id)
	return ok && to == node
}

// redirect forwards d to the node id's session moved to, while this node still knows it: a
// node whose table does not name the new owner yet routed d here.
func (r *Registry) redirect(remote *map[string]*remoteItem, id queue.SubscriberID, d queue.Delivery, subQoS byte) {
	mt, ok := r.queues.(movedTo)
	if !ok {
		return
	}
	node, ok := mt.MovedTo(id)
	if !ok || node == r.opts.Node {
		return
	}
	t := sharedTarget{ClientID: id.ClientID, QoS: d.QoS, SubQoS: subQoS}
	if len(d.SubIDs) > 0 {
		t.SubID = d.SubIDs[0]
	}
	if *remote == nil {
		*remote = map[string]*remoteItem{}
	}
	ri := (*remote)[node]
	if ri == nil {
		ri = &remoteItem{}
		(*remote)[node] = ri
	}
	ri.item.Shared = append(ri.item.Shared, t)
	ri.owners = append(ri.owners, id.ClientID)
}

// deliverShared gives the message to one member of a shared subscription group, anywhere in
// the cluster, by the shared subscription policy. Online members are preferred so that an
// offline member does not pin messages: a remote member counts as online while its node is
// reachable (this node does not know its sessions' state). An offline member receives only
// when no member is online (its queue keeps QoS 1/2 for it). Members are tried in random
// order until one accepts, so a full queue or a full peer buffer re-dispatches.
//
//	local_only                  online local, else offline local
//	prefer_local                online local, else remote, else offline local
//	prefer_online_before_local  online local or remote alike, else offline local
//	random                      any online member, else any offline local
func (r *Registry) deliverShared(m *message.Message, members []topic.Entry[subKey, subValue], remote *map[string]*remoteItem, pend *queue.Pending) bool {
	policy := r.opts.SharedPolicy
	if p := SharedPolicy(m.SharedPolicy); p.known() {
		policy = p // the publisher's, from auth_on_register; an unknown name is ignored
	}
	var localOn, localOff, rem []topic.Entry[subKey, subValue]
	for _, e := range members {
		switch {
		case e.Value.Node != r.opts.Node && e.Value.Node != "":
			if r.fwd != nil && policy != LocalOnly {
				rem = append(rem, e)
			}
		case r.queues.Online(e.Key.ID):
			localOn = append(localOn, e)
		default:
			localOff = append(localOff, e)
		}
	}
	var tiers [][]topic.Entry[subKey, subValue]
	switch policy {
	case LocalOnly:
		tiers = append(tiers, localOn, localOff)
	case PreferLocal:
		tiers = append(tiers, localOn, rem, localOff)
	default: // random, prefer_online_before_local
		tiers = append(tiers, append(slices.Clip(localOn), rem...), localOff)
	}
	storeFailed := false
	for _, pool := range tiers {
		if len(pool) == 0 {
			continue
		}
		start := rand.IntN(len(pool))
		for k := range pool {
			e := pool[(start+k)%len(pool)]
			qos := r.grantQoS(m.QoS, e.Value.QoS)
			if node := e.Value.Node; node != r.opts.Node && node != "" {
				if !r.fwd.accepts(node, qos) {
					continue
				}
				if *remote == nil {
					*remote = map[string]*remoteItem{}
				}
				ri := (*remote)[node]
				if ri == nil {
					ri = &remoteItem{}
					(*remote)[node] = ri
				}
				ri.item.Shared = append(ri.item.Shared, sharedTarget{ClientID: e.Key.ID.ClientID, QoS: qos, SubID: e.Value.SubID, SubQoS: e.Value.QoS})
				ri.owners = append(ri.owners, e.Key.ID.ClientID)
				return true
			}
			q := r.queues.Queue(e.Key.ID)
			if q == nil {
				continue
			}
			if r.upgradeFor(q) {
				qos = e.Value.QoS
			} else {
				qos = min(m.QoS, e.Value.QoS)
			}
			d := queue.Delivery{Msg: m, QoS: qos}
			if e.Value.SubID != 0 {
				d.SubIDs = []uint32{e.Value.SubID}
			}
			if kept, reason := q.OfferPending(d, pend); kept {
				return true
			} else if reason == queue.DropStoreError {
				storeFailed = true
			}
		}
	}
	return !storeFailed
}

// Retained implements session.Router.
func (r *Registry) Retained(mountpoint, filter string, fn func(*message.Message)) {
	r.tenant(mountpoint).retained.Match(filter, func(_ string, m *message.Message) bool {
		fn(m)
		return true
	})
}

// retLock locks the stripe of retMu for the retained key k.
func (r *Registry) retLock(k []byte) *sync.Mutex {
	mu := &r.retMu[maphash.Bytes(retSeed, k)%uint64(len(r.retMu))]
	mu.Lock()
	return mu
}

// retSeed picks retLock's stripes; any fixed seed spreads topics.
var retSeed = maphash.MakeSeed()

// storeRetained sets or, for an empty payload, clears the retained message of m's topic
// [MQTT-3.3.1-6] [MQTT-3.3.1-7], locally at once and in the replicated metadata.
func (r *Registry) storeRetained(m *message.Message, pend *queue.Pending) {
	t := r.tenant(m.Mountpoint)
	key := metadata.RetainKey{Mountpoint: m.Mountpoint, Topic: m.Topic}.Encode()
	defer r.retLock(key).Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(m.Payload) == 0 {
		t.retained.Delete(m.Topic)
		d, err := r.deleteMeta(ctx, metadata.Retained, key)
		if err != nil {
			r.log.Warn("cannot delete retained message from metadata", "topic", m.Topic, "error", err)
		}
		pend.Add(d)
		return
	}
	stored := *m
	stored.Retain = true
	if err := t.retained.Set(m.Topic, &stored); err != nil {
		r.log.Warn("cannot index retained message", "topic", m.Topic, "error", err)
		return
	}
	val, err := metadata.EncodeRetainedMessage(toRetainedRecord(&stored))
	var d queue.Durable
	if err == nil {
		d, err = r.putMeta(ctx, metadata.Retained, key, val)
	}
	if err != nil {
		r.log.Warn("cannot store retained message in metadata", "topic", m.Topic, "error", err)
	}
	// The publisher's acknowledgement waits for the retained message's durability with the
	// rest of the publish: many retained publishes share one sync.
	pend.Add(d)
}

// refreshRetained applies the current value of the retained key k (see follow).
func (r *Registry) refreshRetained(k, fallback []byte) error {
	defer r.retLock(k).Unlock()
	return r.applyRetainedBytes(k, r.currentValue(metadata.Retained, k, fallback))
}

func (r *Registry) applyRetainedBytes(k, v []byte) error {
	key, err := metadata.DecodeRetainKey(k)
	if err != nil {
		return err
	}
	t := r.tenant(key.Mountpoint)
	if v == nil {
		t.retained.Delete(key.Topic)
		return nil
	}
	rec, err := metadata.DecodeRetainedMessage(v)
	if err != nil {
		return err
	}
	return t.retained.Set(key.Topic, fromRetainedRecord(key, rec))
}

func toRetainedRecord(m *message.Message) *metadata.RetainedMessage {
	rec := &metadata.RetainedMessage{Payload: m.Payload, QoS: m.QoS}
	p := &rec.Properties
	if m.Props.HasPayloadFmt {
		p.PayloadFormat = m.Props.PayloadFormat
	}
	p.ContentType, p.ResponseTopic, p.CorrelationData = m.Props.ContentType, m.Props.ResponseTopic, m.Props.CorrelationData
	for _, up := range m.Props.UserProperties {
		p.UserProperties = append(p.UserProperties, [2]string{up.Key, up.Value})
	}
	if m.Props.HasExpiry {
		p.MessageExpiry = m.Props.MessageExpiry
	}
	if !m.ExpiresAt.IsZero() {
		rec.ExpiresAt = m.ExpiresAt.Unix()
	}
	return rec
}

func fromRetainedRecord(k metadata.RetainKey, rec *metadata.RetainedMessage) *message.Message {
	m := &message.Message{ID: message.NextID(), Mountpoint: k.Mountpoint, Topic: k.Topic, Payload: rec.Payload, QoS: rec.QoS, Retain: true}
	p := rec.Properties
	if p.PayloadFormat != 0 {
		m.Props.PayloadFormat, m.Props.HasPayloadFmt = p.PayloadFormat, true
	}
	m.Props.ContentType, m.Props.ResponseTopic, m.Props.CorrelationData = p.ContentType, p.ResponseTopic, p.CorrelationData
	for _, up := range p.UserProperties {
		m.Props.UserProperties = append(m.Props.UserProperties, message.UserProperty{Key: up[0], Value: up[1]})
	}
	if p.MessageExpiry != 0 {
		m.Props.MessageExpiry, m.Props.HasExpiry = p.MessageExpiry, true
	}
	if rec.ExpiresAt != 0 {
		m.ExpiresAt = time.Unix(rec.ExpiresAt, 0)
	}
	return m
}
