// Package persist keeps what a node must not lose in a restart: the offline part of every
// persistent session's queue (in the message store, one payload copy however many queues hold
// it), the session records (expiry deadline, QoS 2 receive state), and, for a node that runs
// without a replication backend, its metadata. It adapts store/ and store/msgstore to the
// interfaces the broker's packages define (queue.Backing, metadata.Store).
package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/msgstore"
)

// Sessions is the keyspace of session records.
const Sessions store.Keyspace = "sessions"

// Keyspaces are the keyspaces this package needs beyond store's defaults.
var Keyspaces = []store.Keyspace{Sessions, singleNodeMetadata, Outboxes}

// Store is the broker's persistent state on one node.
type Store struct {
	eng  store.Engine
	msgs *msgstore.Store

	outboxOnce sync.Once
	outbox     *Outbox

	props propsCache
}

// propsCache keeps the encoded properties of the message stored last: a publish reaching many
// persistent subscribers appends it to each of their queues in a row, and the encoding is the
// same for all of them.
type propsCache struct {
	mu  sync.Mutex
	msg *message.Message
	enc []byte
}

func (c *propsCache) encode(m *message.Message) ([]byte, error) {
	c.mu.Lock()
	if c.msg == m {
		enc := c.enc
		c.mu.Unlock()
		return enc, nil
	}
	c.mu.Unlock()
	sp := storedProps{CT: m.Props.ContentType, RT: m.Props.ResponseTopic, CD: m.Props.CorrelationData, UP: m.Props.UserProperties,
		MP: m.Mountpoint, Frm: m.From, Arr: m.Arrived.UnixMilli()}
	if m.Props.HasPayloadFmt {
		pf := m.Props.PayloadFormat
		sp.PF = &pf
	}
	if m.Props.HasExpiry {
		me := m.Props.MessageExpiry
		sp.ME = &me
	}
	enc, err := msgpack.Marshal(&sp)
	if err != nil {
		return nil, fmt.Errorf("persist: encode message %d: %w", m.ID, err)
	}
	c.mu.Lock()
	c.msg, c.enc = m, enc
	c.mu.Unlock()
	return enc, nil
}

// Open opens the message store on eng (which must have been opened with Keyspaces).
func Open(eng store.Engine) (*Store, error) {
	ms, err := msgstore.Open(eng, msgstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	return &Store{eng: eng, msgs: ms}, nil
}

// Close applies the writes the message store holds back and waits for their sync; the engine
// can be closed after it.
func (s *Store) Close() error {
	if err := s.msgs.Close(); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	return nil
}

// Messages exposes the message store, for sweeping and statistics.
func (s *Store) Messages() *msgstore.Store { return s.msgs }

func queueID(id queue.SubscriberID) msgstore.QueueID {
	return msgstore.QueueID(metadata.SubscriberKey{Mountpoint: id.Mountpoint, ClientID: id.ClientID}.Encode())
}

// Backing returns the stored queue of id.
func (s *Store) Backing(id queue.SubscriberID) queue.Backing {
	return &backing{s: s.msgs, q: queueID(id), props: &s.props}
}

// Record is what survives of a session besides its queue and subscriptions.
type Record struct {
	Mountpoint string `msgpack:"m"`
	ClientID   string `msgpack:"c"`
	Username   string `msgpack:"u,omitempty"`
	// Expiry is how long the session lives offline, in seconds; -1 is never.
	Expiry int64 `msgpack:"e"`
	// Deadline is when an offline session expires (unix ms); 0 while online or never.
	Deadline int64 `msgpack:"d,omitempty"`
	// InQoS2 are the packet ids of QoS 2 messages received but not released [MQTT-4.3.3-10].
	InQoS2 []uint16 `msgpack:"q,omitempty"`
}

// SaveSession writes rec and waits for the sync policy.
func (s *Store) SaveSession(rec Record) error {
	d, err := s.SaveSessionNoWait(rec)
	if err != nil {
		return err
	}
	if err := d.SyncWait(); err != nil {
		return fmt.Errorf("persist: save session %q: %w", rec.ClientID, err)
	}
	return nil
}

// SaveSessionNoWait writes rec and returns once the write is applied, with what to wait on
// for its durability.
func (s *Store) SaveSessionNoWait(rec Record) (queue.Durable, error) {
	v, err := msgpack.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("persist: encode session %q: %w", rec.ClientID, err)
	}
	// Through the message store's pending writes, so the record never gets ahead of the queue
	// entries of the messages it says were received (msgstore.WriteRecord).
	return s.msgs.WriteRecord(Sessions, []byte(queueID(queue.SubscriberID{Mountpoint: rec.Mountpoint, ClientID: rec.ClientID})), v), nil
}

// DeleteSession removes id's record and its stored queue.
func (s *Store) DeleteSession(id queue.SubscriberID) error {
	err := s.msgs.WriteRecord(Sessions, []byte(queueID(id)), nil).SyncWait()
	if _, qerr := s.msgs.DeleteQueue(queueID(id)); qerr != nil {
		err = errors.Join(err, qerr)
	}
	if rerr := s.msgs.ReleaseOwner(string(queueID(id))); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("persist: delete session %q: %w", id.ClientID, err)
	}
	return nil
}

// LoadSessions returns every session record.
func (s *Store) LoadSessions() ([]Record, error) {
	it, err := s.eng.NewIterator(Sessions, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("persist: read sessions: %w", err)
	}
	defer it.Close()
	var out []Record
	for ok := it.First(); ok; ok = it.Next() {
		var r Record
		if err := msgpackdec.Unmarshal(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("persist: session record %x: %w", it.Key(), err)
		}
		out = append(out, r)
	}
	return out, it.Error()
}

// backing is one queue of the message store.
type backing struct {
	s     *msgstore.Store
	q     msgstore.QueueID
	props *propsCache
}

// storedProps are the message properties kept with a stored message.
type storedProps struct {
	PF  *byte                  `msgpack:"pf,omitempty"`
	CT  string                 `msgpack:"ct,omitempty"`
	RT  string                 `msgpack:"rt,omitempty"`
	CD  []byte                 `msgpack:"cd,omitempty"`
	UP  []message.UserProperty `msgpack:"up,omitempty"`
	ME  *uint32                `msgpack:"me,omitempty"`
	MP  string                 `msgpack:"mp,omitempty"`
	Frm string                 `msgpack:"f,omitempty"`
	Arr int64                  `msgpack:"a,omitempty"`
}

func (b *backing) Append(d queue.Delivery) (uint64, queue.Durable, error) {
	m := d.Msg
	props, err := b.props.encode(m)
	if err != nil {
		return 0, nil, err
	}
	sm := msgstore.Message{ID: m.ID, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: d.Retain, Properties: props, Receipt: receipt(m.Receipt)}
	if !m.ExpiresAt.IsZero() {
		sm.ExpiresAt = m.ExpiresAt.UnixMilli()
	}
	seq, w, err := b.s.AppendNoSyncWait(sm, msgstore.Target{Queue: b.q, QoS: d.QoS, SubIDs: d.SubIDs})
	if err != nil {
		return 0, nil, err
	}
	return seq, w, nil
}

func (b *backing) Page(after, before uint64, n int, lifo bool, now time.Time) ([]queue.Delivery, int, error) {
	order := msgstore.FIFO
	if lifo {
		order = msgstore.LIFO
	}
	if now.IsZero() {
		now = time.Now()
	}
	// The queue serializes its calls, so what the read removed is what had expired.
	stored := b.s.Len(b.q)
	es, err := b.s.ReadRange(b.q, after, before, n, order, now)
	expired := stored - b.s.Len(b.q)
	if err != nil {
		return nil, expired, err
	}
	out := make([]queue.Delivery, 0, len(es))
	for _, e := range es {
		m := &message.Message{ID: e.Message.ID, Topic: e.Message.Topic, Payload: e.Message.Payload, QoS: e.Message.QoS}
		var sp storedProps
		if len(e.Message.Properties) > 0 {
			if err := msgpackdec.Unmarshal(e.Message.Properties, &sp); err != nil {
				return nil, expired, fmt.Errorf("persist: decode message %d: %w", m.ID, err)
			}
		}
		m.Mountpoint, m.From = sp.MP, sp.Frm
		if sp.Arr != 0 {
			m.Arrived = time.UnixMilli(sp.Arr)
		}
		m.Props = message.Properties{ContentType: sp.CT, ResponseTopic: sp.RT, CorrelationData: sp.CD, UserProperties: sp.UP}
		if sp.PF != nil {
			m.Props.PayloadFormat, m.Props.HasPayloadFmt = *sp.PF, true
		}
		if sp.ME != nil {
			m.Props.MessageExpiry, m.Props.HasExpiry = *sp.ME, true
		}
		if e.Message.ExpiresAt != 0 {
			m.ExpiresAt = time.UnixMilli(e.Message.ExpiresAt)
		}
		out = append(out, queue.Delivery{Msg: m, QoS: e.QoS, Retain: e.Message.Retain, SubIDs: e.SubIDs, Seq: e.Seq, Dup: e.Dup,
			PacketID: e.PacketID, Released: e.Released})
	}
	return out, expired, nil
}

func (b *backing) Remove(seqs ...uint64) error {
	_, _, err := b.s.DeleteNoSyncWait(b.q, seqs...)
	return err
}

// Received reports whether this queue took the message r names.
func (b *backing) Received(r *message.Receipt) (bool, error) {
	return b.s.Received(*receipt(r), b.q)
}

func receipt(r *message.Receipt) *msgstore.Receipt {
	switch {
	case r == nil:
		return nil
	case r.Peer != "":
		return &msgstore.Receipt{Owner: forwardOwner(r.Peer, r.Epoch), ID: r.Seq}
	}
	return &msgstore.Receipt{Owner: string(queueID(queue.SubscriberID{Mountpoint: r.Mountpoint, ClientID: r.ClientID})), ID: uint64(r.PacketID)}
}

// forwardOwner names a peer's forwarding stream as a receipt owner. The leading zero byte
// keeps it apart from session owners, which are encoded subscriber keys.
func forwardOwner(peer string, epoch uint64) string {
	return string(binary.BigEndian.AppendUint64([]byte(forwardPrefix(peer)), epoch))
}

func forwardPrefix(peer string) string { return "\x00fwd\x00" + peer + "\x00" }

// ReleaseForwarded forgets the receipts of a peer's stream below seq: the peer sends nothing
// below it again.
func (s *Store) ReleaseForwarded(peer string, epoch, below uint64) error {
	return s.msgs.ReleaseBelow(forwardOwner(peer, epoch), below)
}

// ForgetForwarded forgets the receipts of a peer's earlier streams (it restarted).
func (s *Store) ForgetForwarded(peer string, epoch uint64) error {
	p := forwardPrefix(peer)
	return s.msgs.ReleaseOthers(p, len(p)+8, forwardOwner(peer, epoch))
}

// Release forgets which queues took the message r names; its publisher released it.
func (s *Store) Release(r *message.Receipt) error { return s.msgs.Release(*receipt(r)) }

func (b *backing) MarkSent(sent ...queue.Sent) error {
	ms := make([]msgstore.Sent, len(sent))
	for i, s := range sent {
		ms[i] = msgstore.Sent(s)
	}
	return b.s.MarkSent(b.q, ms...)
}

func (b *backing) Len() int { return b.s.Len(b.q) }

func (b *backing) Clear() error {
	_, err := b.s.DeleteQueue(b.q)
	return err
}
