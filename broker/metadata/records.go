package metadata

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// The value codecs use msgpack maps with short field names rather than
// positional arrays: a node decoding a record written by a newer version
// skips fields it does not know, and one decoding an older record gets zero
// values for the missing ones, so a rolling upgrade can add fields. Field
// names are the wire format: never rename or reuse one. Encoding is
// deterministic (struct fields in declaration order), which LWW's bytes
// tie-break relies on only in theory but tests rely on in practice.

// SubscriberRecord is the value of a Subscribers key: for one client id,
// the sessions on each node that holds one (normally one entry; two during a
// takeover or after concurrent connects on both sides of a netsplit).
type SubscriberRecord []NodeSubscriptions

// NodeSubscriptions is one node's session for a client id: the node holds
// the client's queue, and Subs are the session's subscriptions.
type NodeSubscriptions struct {
	Node         string         `msgpack:"n"`
	CleanSession bool           `msgpack:"c,omitempty"`
	Subs         []Subscription `msgpack:"s,omitempty"`
}

// Subscription is one topic filter with its MQTT 5 subscription options.
type Subscription struct {
	Filter            string `msgpack:"f"`
	QoS               byte   `msgpack:"q,omitempty"`
	NoLocal           bool   `msgpack:"nl,omitempty"`
	RetainAsPublished bool   `msgpack:"rap,omitempty"`
	RetainHandling    byte   `msgpack:"rh,omitempty"` // 0, 1 or 2 (MQTT 5 §3.8.3.1)
	SubID             uint32 `msgpack:"id,omitempty"` // subscription identifier, 0 = none
	Share             string `msgpack:"g,omitempty"`  // shared subscription group, "" = not shared
}

// RetainedMessage is the value of a Retained key.
type RetainedMessage struct {
	Payload    []byte           `msgpack:"p"`
	QoS        byte             `msgpack:"q,omitempty"`
	Properties RetainProperties `msgpack:"pr,omitempty"`
	// ExpiresAt is the unix time in seconds after which the message is no
	// longer delivered, 0 for never. It is absolute so that every node
	// expires the message at the same moment, whoever stored it.
	ExpiresAt int64 `msgpack:"e,omitempty"`
}

// RetainProperties are the MQTT 5 PUBLISH properties kept with a retained
// message and sent again on delivery.
type RetainProperties struct {
	PayloadFormat   byte        `msgpack:"pf,omitempty"`
	ContentType     string      `msgpack:"ct,omitempty"`
	ResponseTopic   string      `msgpack:"rt,omitempty"`
	CorrelationData []byte      `msgpack:"cd,omitempty"`
	UserProperties  [][2]string `msgpack:"up,omitempty"`
	// MessageExpiry is the interval the publisher asked for, in seconds;
	// ExpiresAt is what the broker acts on.
	MessageExpiry uint32 `msgpack:"me,omitempty"`
}

// Expired reports whether m has expired at unix time now (seconds).
func (m *RetainedMessage) Expired(now int64) bool {
	return m.ExpiresAt != 0 && now >= m.ExpiresAt
}

// EncodeSubscriberRecord encodes r for the Subscribers table.
func EncodeSubscriberRecord(r SubscriberRecord) ([]byte, error) {
	b, err := encode(r)
	if err != nil {
		return nil, fmt.Errorf("encode subscriber record: %w", err)
	}
	return b, nil
}

// DecodeSubscriberRecord decodes a value of the Subscribers table. It
// rejects trailing bytes and out-of-range QoS or retain handling.
func DecodeSubscriberRecord(b []byte) (SubscriberRecord, error) {
	var r SubscriberRecord
	if err := decode(b, &r); err != nil {
		return nil, fmt.Errorf("decode subscriber record: %w", err)
	}
	for _, ns := range r {
		for _, s := range ns.Subs {
			if s.QoS > 2 || s.RetainHandling > 2 {
				return nil, fmt.Errorf("decode subscriber record: %w: filter %q: qos %d, retain handling %d",
					ErrMalformedValue, s.Filter, s.QoS, s.RetainHandling)
			}
		}
	}
	return r, nil
}

// EncodeRetainedMessage encodes m for the Retained table.
func EncodeRetainedMessage(m *RetainedMessage) ([]byte, error) {
	b, err := encode(m)
	if err != nil {
		return nil, fmt.Errorf("encode retained message: %w", err)
	}
	return b, nil
}

// DecodeRetainedMessage decodes a value of the Retained table. It rejects
// trailing bytes and a QoS above 2.
func DecodeRetainedMessage(b []byte) (*RetainedMessage, error) {
	m := new(RetainedMessage)
	if err := decode(b, m); err != nil {
		return nil, fmt.Errorf("decode retained message: %w", err)
	}
	if m.QoS > 2 {
		return nil, fmt.Errorf("decode retained message: %w: qos %d", ErrMalformedValue, m.QoS)
	}
	return m, nil
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decode unmarshals exactly one msgpack value from b, with every declared length vetted
// (a corrupt record must not make the node allocate what it declares).
func decode(b []byte, v any) error {
	if err := msgpackdec.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedValue, err)
	}
	return nil
}
