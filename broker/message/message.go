// Package message holds the broker's application message: what a PUBLISH carries once the
// session has accepted it, independent of the packet that brought it and of the packets that will
// deliver it. A Message is immutable after it is built, so the router, every queue and the store
// share one copy however many subscribers receive it.
package message

import (
	"sync/atomic"
	"time"
)

// UserProperty is an MQTT 5 user property; order is significant and kept.
type UserProperty struct{ Key, Value string }

// Properties are the MQTT 5 properties that travel with an application message from publisher
// to subscriber [MQTT-3.3.2-4..-20]. Connection-scoped ones (topic alias, subscription
// identifiers) are not here: they belong to a delivery, not to the message.
type Properties struct {
	PayloadFormat   byte
	HasPayloadFmt   bool
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []UserProperty
	// MessageExpiry is the interval the publisher asked for; ExpiresAt is the absolute deadline
	// computed on arrival, so the remaining interval can be forwarded [MQTT-3.3.2-6].
	MessageExpiry uint32
	HasExpiry     bool
}

// Message is one application message inside the broker.
type Message struct {
	// ID is unique on its node across restarts (NextID, RaiseIDs); the message store uses it
	// as the payload key.
	ID uint64
	// Mountpoint is the tenant the message was published in; Topic excludes it.
	Mountpoint string
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Props      Properties
	// ExpiresAt is zero when the message never expires.
	ExpiresAt time.Time
	// From is the publishing client id, for no-local [MQTT-3.8.3-3]; empty for $SYS and wills
	// published by the broker itself when no client applies.
	From string
	// Arrived is when the broker accepted the message.
	Arrived time.Time
	// Receipt names a QoS 2 message from a persistent session until its publisher releases
	// it (PUBREL): the store records which queues took it, so that Resent, a resend of a
	// message the node may have stored in part before a crash, skips those queues.
	Receipt *Receipt
	Resent  bool
	// SharedPolicy is the publisher's shared_subscription_policy (VerneMQ's auth_on_register
	// modifier) for this message; empty means the node's. Only the publishing node chooses
	// among a group's members, so it does not travel to other nodes.
	SharedPolicy string
}

// Receipt names a QoS 2 message by who sent it: a publishing session and the packet
// identifier it used, or, with Peer set, a peer node's forwarding stream (its epoch) and the
// item's sequence number.
type Receipt struct {
	Mountpoint, ClientID string
	PacketID             uint16
	Peer                 string
	Epoch, Seq           uint64
}

var lastID atomic.Uint64

// NextID returns a new message id, unique for this process and above every floor RaiseIDs
// was given.
func NextID() uint64 { return lastID.Add(1) }

// RaiseIDs makes every later NextID larger than floor. The broker calls it with the largest id
// its message store holds before it accepts a client: a counter that started again at 0 after a
// restart would issue ids of stored messages to new ones. Ids are not persisted otherwise, so
// neither a clock change nor a crash that loses unsynced writes can make one repeat: a lost
// write takes its references with it (each store batch is atomic).
func RaiseIDs(floor uint64) {
	for {
		cur := lastID.Load()
		if cur >= floor || lastID.CompareAndSwap(cur, floor) {
			return
		}
	}
}

// Expired reports whether the message's expiry has passed at now.
func (m *Message) Expired(now time.Time) bool {
	return !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt)
}

// RemainingExpiry is the expiry interval to forward at now, rounded up so that a message
// delivered just before its deadline still carries at least one second, and whether the
// message carries an expiry at all.
func (m *Message) RemainingExpiry(now time.Time) (uint32, bool) {
	if m.ExpiresAt.IsZero() {
		return 0, false
	}
	d := m.ExpiresAt.Sub(now)
	if d <= 0 {
		return 0, true
	}
	secs := uint32((d + time.Second - 1) / time.Second)
	return secs, true
}

// Size is an estimate of the bytes a message holds, for queue and memory limits.
func (m *Message) Size() int {
	n := len(m.Topic) + len(m.Payload) + len(m.Mountpoint) + len(m.From) + 64
	n += len(m.Props.ContentType) + len(m.Props.ResponseTopic) + len(m.Props.CorrelationData)
	for _, up := range m.Props.UserProperties {
		n += len(up.Key) + len(up.Value)
	}
	return n
}
