package packet

import (
	"math/bits"
	"strconv"
)

// PropID is an MQTT 5 property identifier (spec §2.2.2.2).
type PropID byte

// The 27 MQTT 5 properties.
const (
	PropPayloadFormat        PropID = 0x01 // byte; PUBLISH, will
	PropMessageExpiry        PropID = 0x02 // four byte integer; PUBLISH, will
	PropContentType          PropID = 0x03 // string; PUBLISH, will
	PropResponseTopic        PropID = 0x08 // string; PUBLISH, will
	PropCorrelationData      PropID = 0x09 // binary; PUBLISH, will
	PropSubscriptionID       PropID = 0x0B // variable byte integer; PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry        PropID = 0x11 // four byte integer; CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID     PropID = 0x12 // string; CONNACK
	PropServerKeepAlive      PropID = 0x13 // two byte integer; CONNACK
	PropAuthMethod           PropID = 0x15 // string; CONNECT, CONNACK, AUTH
	PropAuthData             PropID = 0x16 // binary; CONNECT, CONNACK, AUTH
	PropRequestProblemInfo   PropID = 0x17 // byte; CONNECT
	PropWillDelay            PropID = 0x18 // four byte integer; will
	PropRequestResponseInfo  PropID = 0x19 // byte; CONNECT
	PropResponseInfo         PropID = 0x1A // string; CONNACK
	PropServerReference      PropID = 0x1C // string; CONNACK, DISCONNECT
	PropReasonString         PropID = 0x1F // string; acks, DISCONNECT, AUTH
	PropReceiveMaximum       PropID = 0x21 // two byte integer; CONNECT, CONNACK
	PropTopicAliasMaximum    PropID = 0x22 // two byte integer; CONNECT, CONNACK
	PropTopicAlias           PropID = 0x23 // two byte integer; PUBLISH
	PropMaximumQoS           PropID = 0x24 // byte; CONNACK
	PropRetainAvailable      PropID = 0x25 // byte; CONNACK
	PropUserProperty         PropID = 0x26 // string pair; every packet with properties (repeatable)
	PropMaximumPacketSize    PropID = 0x27 // four byte integer; CONNECT, CONNACK
	PropWildcardSubAvailable PropID = 0x28 // byte; CONNACK
	PropSubIDAvailable       PropID = 0x29 // byte; CONNACK
	PropSharedSubAvailable   PropID = 0x2A // byte; CONNACK
)

type propKind uint8

const (
	kByte propKind = iota + 1
	kUint16
	kUint32
	kVBI
	kString
	kBinary
	kPair
)

// willProps is the pseudo packet type used to look up which properties a
// will may carry; type 0 is reserved on the wire, so it cannot collide.
const willProps Type = 0

type propSpec struct {
	name string
	kind propKind
	in   []Type
}

var acks = []Type{CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH}

var propSpecs = [...]propSpec{
	PropPayloadFormat:        {"Payload Format Indicator", kByte, []Type{PUBLISH, willProps}},
	PropMessageExpiry:        {"Message Expiry Interval", kUint32, []Type{PUBLISH, willProps}},
	PropContentType:          {"Content Type", kString, []Type{PUBLISH, willProps}},
	PropResponseTopic:        {"Response Topic", kString, []Type{PUBLISH, willProps}},
	PropCorrelationData:      {"Correlation Data", kBinary, []Type{PUBLISH, willProps}},
	PropSubscriptionID:       {"Subscription Identifier", kVBI, []Type{PUBLISH, SUBSCRIBE}},
	PropSessionExpiry:        {"Session Expiry Interval", kUint32, []Type{CONNECT, CONNACK, DISCONNECT}},
	PropAssignedClientID:     {"Assigned Client Identifier", kString, []Type{CONNACK}},
	PropServerKeepAlive:      {"Server Keep Alive", kUint16, []Type{CONNACK}},
	PropAuthMethod:           {"Authentication Method", kString, []Type{CONNECT, CONNACK, AUTH}},
	PropAuthData:             {"Authentication Data", kBinary, []Type{CONNECT, CONNACK, AUTH}},
	PropRequestProblemInfo:   {"Request Problem Information", kByte, []Type{CONNECT}},
	PropWillDelay:            {"Will Delay Interval", kUint32, []Type{willProps}},
	PropRequestResponseInfo:  {"Request Response Information", kByte, []Type{CONNECT}},
	PropResponseInfo:         {"Response Information", kString, []Type{CONNACK}},
	PropServerReference:      {"Server Reference", kString, []Type{CONNACK, DISCONNECT}},
	PropReasonString:         {"Reason String", kString, acks},
	PropReceiveMaximum:       {"Receive Maximum", kUint16, []Type{CONNECT, CONNACK}},
	PropTopicAliasMaximum:    {"Topic Alias Maximum", kUint16, []Type{CONNECT, CONNACK}},
	PropTopicAlias:           {"Topic Alias", kUint16, []Type{PUBLISH}},
	PropMaximumQoS:           {"Maximum QoS", kByte, []Type{CONNACK}},
	PropRetainAvailable:      {"Retain Available", kByte, []Type{CONNACK}},
	PropUserProperty:         {"User Property", kPair, append([]Type{CONNECT, PUBLISH, willProps, SUBSCRIBE, UNSUBSCRIBE}, acks...)},
	PropMaximumPacketSize:    {"Maximum Packet Size", kUint32, []Type{CONNECT, CONNACK}},
	PropWildcardSubAvailable: {"Wildcard Subscription Available", kByte, []Type{CONNACK}},
	PropSubIDAvailable:       {"Subscription Identifier Available", kByte, []Type{CONNACK}},
	PropSharedSubAvailable:   {"Shared Subscription Available", kByte, []Type{CONNACK}},
}

// allowedProps[t] has bit id set when property id may appear in packet type
// t (index 0: will properties).
var allowedProps = func() (a [16]uint64) {
	for id, s := range propSpecs {
		for _, t := range s.in {
			a[t] |= 1 << id
		}
	}
	return a
}()

// multiValued are the properties kept in slices, whose presence is the
// slice's length rather than a Present bit.
const multiValued = 1<<PropUserProperty | 1<<PropSubscriptionID

func (id PropID) String() string {
	if int(id) < len(propSpecs) && propSpecs[id].kind != 0 {
		return propSpecs[id].name
	}
	return "property 0x" + strconv.FormatUint(uint64(id), 16)
}

func (id PropID) known() bool { return int(id) < len(propSpecs) && propSpecs[id].kind != 0 }

// UserProperty is one User Property name/value pair.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5 properties of one packet (or of a will).
//
// A single-valued property is present when its bit (1 << id) is set in
// Present; its field is meaningful only then. Present bits have no pointer
// fields to allocate, and a zero Properties means "no properties". The two
// repeatable properties live in slices and are present when non-empty:
// SubscriptionIDs (several only in PUBLISH) and UserProperties, whose order
// is kept as the spec requires [MQTT-3.3.2-18].
type Properties struct {
	Present uint64

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	UserProperties       []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool {
	switch id {
	case PropUserProperty:
		return len(p.UserProperties) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	}
	return id < 64 && p.Present&(1<<id) != 0
}

// SetPresent marks single-valued property id as present; set its field too.
// For the slice-valued properties it does nothing: append to the slice.
func (p *Properties) SetPresent(id PropID) {
	if id < 64 && (1<<id)&multiValued == 0 {
		p.Present |= 1 << id
	}
}

// Clear removes property id: the Present bit for single-valued properties,
// the slice contents for the repeatable ones.
func (p *Properties) Clear(id PropID) {
	switch id {
	case PropUserProperty:
		p.UserProperties = p.UserProperties[:0]
	case PropSubscriptionID:
		p.SubscriptionIDs = p.SubscriptionIDs[:0]
	default:
		if id < 64 {
			p.Present &^= 1 << id
		}
	}
}

// Reset clears every property but keeps the slices' capacity, so a
// Properties reused across decodes stops allocating once warmed up.
func (p *Properties) Reset() {
	up, ids := p.UserProperties[:0], p.SubscriptionIDs[:0]
	*p = Properties{UserProperties: up, SubscriptionIDs: ids}
}

// Size is the number of bytes the properties add to a packet: the Property
// Length prefix and the properties. The broker uses it to decide what to
// leave out to respect the peer's Maximum Packet Size ([MQTT-3.4.2-2] etc.).
func (p *Properties) Size() int {
	n := p.size()
	return vbiLen(n) + n
}

func (p *Properties) u8(id PropID) *byte {
	switch id {
	case PropPayloadFormat:
		return &p.PayloadFormat
	case PropRequestProblemInfo:
		return &p.RequestProblemInfo
	case PropRequestResponseInfo:
		return &p.RequestResponseInfo
	case PropMaximumQoS:
		return &p.MaximumQoS
	case PropRetainAvailable:
		return &p.RetainAvailable
	case PropWildcardSubAvailable:
		return &p.WildcardSubAvailable
	case PropSubIDAvailable:
		return &p.SubIDAvailable
	}
	return &p.SharedSubAvailable
}

func (p *Properties) u16(id PropID) *uint16 {
	switch id {
	case PropServerKeepAlive:
		return &p.ServerKeepAlive
	case PropReceiveMaximum:
		return &p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return &p.TopicAliasMaximum
	}
	return &p.TopicAlias
}

func (p *Properties) u32(id PropID) *uint32 {
	switch id {
	case PropMessageExpiry:
		return &p.MessageExpiry
	case PropSessionExpiry:
		return &p.SessionExpiry
	case PropWillDelay:
		return &p.WillDelay
	}
	return &p.MaximumPacketSize
}

func (p *Properties) str(id PropID) *string {
	switch id {
	case PropContentType:
		return &p.ContentType
	case PropResponseTopic:
		return &p.ResponseTopic
	case PropAssignedClientID:
		return &p.AssignedClientID
	case PropAuthMethod:
		return &p.AuthMethod
	case PropResponseInfo:
		return &p.ResponseInfo
	case PropServerReference:
		return &p.ServerReference
	}
	return &p.ReasonString
}

func (p *Properties) bin(id PropID) *[]byte {
	if id == PropCorrelationData {
		return &p.CorrelationData
	}
	return &p.AuthData
}

func where(t Type) string {
	if t == willProps {
		return "will properties"
	}
	return t.String()
}

// decode reads a Property Length and the properties after it from c, for
// packet type t (willProps for a will). p must be empty (new or Reset).
func (p *Properties) decode(c *cursor, t Type) error {
	n, err := c.vbi()
	if err != nil {
		return err
	}
	if n > c.left() {
		return malformed("property length exceeds the packet")
	}
	end := c.off + n
	pc := cursor{b: c.b[:end], off: c.off}
	c.off = end
	for pc.off < end {
		v, err := pc.vbi()
		if err != nil {
			return err
		}
		id := PropID(v)
		if v >= len(propSpecs) || !id.known() {
			return malformed("unknown property identifier " + strconv.Itoa(v))
		}
		if allowedProps[t]&(1<<id) == 0 {
			// The spec lists for each property the packets it may appear in
			// (§2.2.2.2); anything else is a Protocol Error.
			return protocolError(id.String() + " is not allowed in " + where(t))
		}
		if err := p.decodeOne(&pc, id, t); err != nil {
			return err
		}
		if err := p.checkValue(id); err != nil {
			return err
		}
	}
	return nil
}

func (p *Properties) decodeOne(c *cursor, id PropID, t Type) error {
	bit := uint64(1) << id
	switch id {
	case PropUserProperty:
		k, err := c.str()
		if err != nil {
			return err
		}
		v, err := c.str()
		if err != nil {
			return err
		}
		p.UserProperties = append(p.UserProperties, UserProperty{k, v})
		return nil
	case PropSubscriptionID:
		// Several Subscription Identifiers are normal in a PUBLISH to a
		// client matched by several subscriptions (§3.3.2.3.8); in SUBSCRIBE
		// a second one is a Protocol Error (§3.8.2.1.2).
		if t != PUBLISH && len(p.SubscriptionIDs) > 0 {
			return protocolError("duplicate Subscription Identifier")
		}
		v, err := c.vbi()
		if err != nil {
			return err
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		return nil
	}
	if p.Present&bit != 0 {
		// §2.2.2.2: including any other property more than once is a
		// Protocol Error.
		return protocolError("duplicate " + id.String())
	}
	p.Present |= bit
	var err error
	switch propSpecs[id].kind {
	case kByte:
		*p.u8(id), err = c.byte()
	case kUint16:
		*p.u16(id), err = c.uint16()
	case kUint32:
		*p.u32(id), err = c.uint32()
	case kString:
		*p.str(id), err = c.str()
	case kBinary:
		*p.bin(id), err = c.binary()
	}
	return err
}

// checkValue applies the value rules of §3 to one decoded or to-be-encoded
// property.
func (p *Properties) checkValue(id PropID) error {
	switch id {
	case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
		PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
		// Each of these is a 0/1 flag; other values are a Protocol Error
		// (§3.1.2.11.6, §3.1.2.11.7, §3.2.2.3.4, §3.2.2.3.5, §3.2.2.3.11-13).
		// Payload Format Indicator has no such sentence, but only 0 and 1
		// are defined (§3.3.2.3.2).
		if *p.u8(id) > 1 {
			return protocolError(id.String() + " must be 0 or 1")
		}
	case PropReceiveMaximum, PropMaximumPacketSize:
		// §3.1.2.11.3, §3.1.2.11.4: a value of 0 is a Protocol Error.
		if (id == PropReceiveMaximum && p.ReceiveMaximum == 0) || (id == PropMaximumPacketSize && p.MaximumPacketSize == 0) {
			return protocolError(id.String() + " of 0")
		}
	case PropTopicAlias:
		if p.TopicAlias == 0 {
			// [MQTT-3.3.2-8]; §3.3.2.3.4 names Topic Alias invalid as the
			// receiver's reason.
			return errf(TopicAliasInvalid, "Topic Alias of 0")
		}
	case PropResponseTopic:
		if hasWildcard(p.ResponseTopic) {
			// [MQTT-3.3.2-14]
			return protocolError("Response Topic contains a wildcard")
		}
	case PropSubscriptionID:
		v := p.SubscriptionIDs[len(p.SubscriptionIDs)-1]
		if v == 0 || v > MaxRemainingLength {
			// §3.3.2.3.8: 0 is a Protocol Error; the range is 1..268435455.
			return protocolError("Subscription Identifier out of range")
		}
	}
	return nil
}

// check validates properties before encoding them into packet type t: only
// allowed properties, legal values, strings within 65535 bytes. It returns
// the encoded size of the property list (without the length prefix).
func (p *Properties) check(t Type) (int, error) {
	single := p.Present &^ multiValued
	if bad := single &^ allowedProps[t]; bad != 0 {
		return 0, protocolError(PropID(bits.TrailingZeros64(bad)).String() + " is not allowed in " + where(t))
	}
	if len(p.UserProperties) > 0 && allowedProps[t]&(1<<PropUserProperty) == 0 {
		return 0, protocolError("User Property is not allowed in " + where(t))
	}
	if n := len(p.SubscriptionIDs); n > 0 {
		if allowedProps[t]&(1<<PropSubscriptionID) == 0 || (n > 1 && t != PUBLISH) {
			return 0, protocolError("Subscription Identifier not allowed (or repeated) in " + where(t))
		}
		for i := range p.SubscriptionIDs {
			if v := p.SubscriptionIDs[i]; v == 0 || v > MaxRemainingLength {
				return 0, protocolError("Subscription Identifier out of range")
			}
		}
	}
	for m := single; m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if err := p.checkValue(id); err != nil {
			return 0, err
		}
		switch propSpecs[id].kind {
		case kString:
			if err := checkLen(len(*p.str(id)), id.String()); err != nil {
				return 0, err
			}
		case kBinary:
			if err := checkLen(len(*p.bin(id)), id.String()); err != nil {
				return 0, err
			}
		}
	}
	for i := range p.UserProperties {
		u := &p.UserProperties[i]
		if len(u.Key) > maxStringLen || len(u.Value) > maxStringLen {
			return 0, malformed("User Property longer than 65535 bytes")
		}
	}
	return p.size(), nil
}

// size is the encoded length of the property list, without its prefix.
func (p *Properties) size() int {
	n := 0
	for m := p.Present &^ multiValued; m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if !id.known() {
			continue
		}
		switch propSpecs[id].kind {
		case kByte:
			n += 2
		case kUint16:
			n += 3
		case kUint32:
			n += 5
		case kString:
			n += 3 + len(*p.str(id))
		case kBinary:
			n += 3 + len(*p.bin(id))
		}
	}
	for _, v := range p.SubscriptionIDs {
		n += 1 + vbiLen(int(v))
	}
	for i := range p.UserProperties {
		n += 5 + len(p.UserProperties[i].Key) + len(p.UserProperties[i].Value)
	}
	return n
}

// appendTo writes the Property Length n (from check or size) and the
// properties: single-valued ones in identifier order, then Subscription
// Identifiers, then User Properties in their original order.
func (p *Properties) appendTo(dst []byte, n int) []byte {
	dst = appendVBI(dst, n)
	for m := p.Present &^ multiValued; m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if !id.known() {
			continue
		}
		dst = append(dst, byte(id))
		switch propSpecs[id].kind {
		case kByte:
			dst = append(dst, *p.u8(id))
		case kUint16:
			dst = appendUint16(dst, *p.u16(id))
		case kUint32:
			dst = appendUint32(dst, *p.u32(id))
		case kString:
			dst = appendString(dst, *p.str(id))
		case kBinary:
			dst = appendBinary(dst, *p.bin(id))
		}
	}
	for _, v := range p.SubscriptionIDs {
		dst = append(dst, byte(PropSubscriptionID))
		dst = appendVBI(dst, int(v))
	}
	for i := range p.UserProperties {
		dst = append(dst, byte(PropUserProperty))
		dst = appendString(dst, p.UserProperties[i].Key)
		dst = appendString(dst, p.UserProperties[i].Value)
	}
	return dst
}
