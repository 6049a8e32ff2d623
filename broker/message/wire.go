package message

import (
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// Wire is a message as it travels between nodes (forwarded publishes, migrated queues). Expiry
// travels as the remaining time, so the nodes' clocks need not agree. Callers encode it (msgpack);
// fields are positional there: only append.
type Wire struct {
	Mountpoint  string
	Topic       string
	Payload     []byte
	QoS         byte
	Retain      bool
	From        string
	PayloadFmt  int16 // -1: absent
	ContentType string
	RespTopic   string
	CorrData    []byte
	UserProps   []string // key, value, key, value…
	MsgExpiry   int64    // -1: absent
	RemainingMs int64    // 0: never expires
}

// ToWire describes m for another node at now.
func ToWire(m *Message, now time.Time) Wire {
	w := Wire{Mountpoint: m.Mountpoint, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, From: m.From,
		PayloadFmt: -1, ContentType: m.Props.ContentType, RespTopic: m.Props.ResponseTopic, CorrData: m.Props.CorrelationData, MsgExpiry: -1}
	if m.Props.HasPayloadFmt {
		w.PayloadFmt = int16(m.Props.PayloadFormat)
	}
	for _, up := range m.Props.UserProperties {
		w.UserProps = append(w.UserProps, up.Key, up.Value)
	}
	if m.Props.HasExpiry {
		w.MsgExpiry = int64(m.Props.MessageExpiry)
	}
	if !m.ExpiresAt.IsZero() {
		w.RemainingMs = max(m.ExpiresAt.Sub(now).Milliseconds(), 1)
	}
	return w
}

// FromWire rebuilds a message received from another node; it gets a new local id.
func FromWire(w *Wire, now time.Time) *Message {
	m := &Message{ID: NextID(), Mountpoint: w.Mountpoint, Topic: w.Topic, Payload: w.Payload, QoS: w.QoS,
		Retain: w.Retain, From: w.From, Arrived: now}
	if w.PayloadFmt >= 0 {
		m.Props.PayloadFormat, m.Props.HasPayloadFmt = byte(w.PayloadFmt), true
	}
	m.Props.ContentType, m.Props.ResponseTopic, m.Props.CorrelationData = w.ContentType, w.RespTopic, w.CorrData
	for i := 0; i+1 < len(w.UserProps); i += 2 {
		m.Props.UserProperties = append(m.Props.UserProperties, UserProperty{Key: w.UserProps[i], Value: w.UserProps[i+1]})
	}
	if w.MsgExpiry >= 0 {
		m.Props.MessageExpiry, m.Props.HasExpiry = uint32(w.MsgExpiry), true
	}
	if w.RemainingMs > 0 {
		m.ExpiresAt = now.Add(time.Duration(w.RemainingMs) * time.Millisecond)
	}
	return m
}

// DecodeMsgpack reads a Wire by position, as the cluster's array-encoded frames carry it, so
// a node reads a Wire from a node one version apart (fields are only ever appended).
func (w *Wire) DecodeMsgpack(d *msgpack.Decoder) error { return msgpackdec.DecodeArray(d, w) }
