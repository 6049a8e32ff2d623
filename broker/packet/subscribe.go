package packet

import "strings"

// Subscribe is the SUBSCRIBE packet (spec §3.8).
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // MQTT 5: at most one Subscription Identifier, User Properties
	Subscriptions []Subscription
}

// Subscription is one topic filter and its options. In 3.1 and 3.1.1 only
// QoS is on the wire; the MQTT 5 options are dropped when encoding.
type Subscription struct {
	Filter            string
	QoS               byte // maximum QoS requested
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only for new subscriptions, 2 never
}

// Suback is the SUBACK packet (spec §3.9): one reason code per subscription,
// in order. 3.1/3.1.1 return codes decode to GrantedQoS0..2 and
// UnspecifiedError (0x80).
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet (spec §3.10).
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet (spec §3.11). 3.1 and 3.1.1 carry no reason
// codes: ReasonCodes is dropped when encoding and decodes as nil.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

const (
	subOptQoS            = 0x03
	subOptNoLocal        = 0x04
	subOptRetainAsPub    = 0x08
	subOptRetainHandling = 0x30
	subOptReserved       = 0xc0
	sharePrefix          = "$share/"
)

// packetID reads a packet identifier that must not be 0 [MQTT-2.2.1-3]
// (5.0), [MQTT-2.3.1-1] (3.1.1), and which acknowledgements repeat
// [MQTT-2.2.1-6].
func packetID(c *cursor, t Type) (uint16, error) {
	id, err := c.uint16()
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, protocolError(t.String() + " with packet identifier 0")
	}
	return id, nil
}

// filter reads a topic filter: a UTF-8 string [MQTT-3.8.3-1]
// [MQTT-3.10.3-1] of at least one character [MQTT-4.7.3-1]. Wildcard
// placement is checked by the topic package, not here.
func filter(c *cursor) (string, error) {
	f, err := c.str()
	if err != nil {
		return "", err
	}
	if f == "" {
		return "", protocolError("empty topic filter")
	}
	return f, nil
}

func decodeSubscribe(v Version, body []byte) (*Subscribe, error) {
	c := cursor{b: body}
	p := &Subscribe{}
	var err error
	if p.PacketID, err = packetID(&c, SUBSCRIBE); err != nil {
		return nil, err
	}
	if v == V5 {
		if err := p.Properties.decode(&c, SUBSCRIBE); err != nil {
			return nil, err
		}
	}
	if c.left() == 0 {
		// [MQTT-3.8.3-2] (5.0, "a SUBSCRIBE packet with no Payload is a
		// Protocol Error"), [MQTT-3.8.3-3] (3.1.1)
		return nil, protocolError("SUBSCRIBE without topic filters")
	}
	for c.left() > 0 {
		var s Subscription
		if s.Filter, err = filter(&c); err != nil {
			return nil, err
		}
		opts, err := c.byte()
		if err != nil {
			return nil, err
		}
		if err := s.setOptions(v, opts); err != nil {
			return nil, err
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return p, nil
}

func (s *Subscription) setOptions(v Version, opts byte) error {
	s.QoS = opts & subOptQoS
	if v != V5 {
		if opts&^subOptQoS != 0 || s.QoS == 3 {
			// [MQTT-3.8.3-4] (3.1.1): reserved bits set or QoS 3 is malformed.
			return malformed("SUBSCRIBE requested QoS byte has reserved bits or QoS 3")
		}
		return nil
	}
	if opts&subOptReserved != 0 {
		// [MQTT-3.8.3-5]
		return malformed("SUBSCRIBE options reserved bits are set")
	}
	if s.QoS == 3 {
		// §3.8.3.1: Maximum QoS 3 is a Protocol Error.
		return protocolError("SUBSCRIBE with maximum QoS 3")
	}
	s.NoLocal = opts&subOptNoLocal != 0
	s.RetainAsPublished = opts&subOptRetainAsPub != 0
	s.RetainHandling = opts & subOptRetainHandling >> 4
	if s.RetainHandling == 3 {
		// §3.8.3.1: Retain Handling 3 is a Protocol Error.
		return protocolError("SUBSCRIBE with retain handling 3")
	}
	if s.NoLocal && strings.HasPrefix(s.Filter, sharePrefix) {
		// [MQTT-3.8.3-4] (5.0). Checked here because it is visible in the
		// packet alone; the broker need not repeat it.
		return protocolError("No Local on a shared subscription")
	}
	return nil
}

func (s *Subscription) options(v Version) byte {
	o := s.QoS
	if v == V5 {
		if s.NoLocal {
			o |= subOptNoLocal
		}
		if s.RetainAsPublished {
			o |= subOptRetainAsPub
		}
		o |= s.RetainHandling << 4
	}
	return o
}

func (p *Subscribe) plan(v Version) (rl, pn int, err error) {
	if p.PacketID == 0 {
		return 0, 0, protocolError("SUBSCRIBE with packet identifier 0")
	}
	if len(p.Subscriptions) == 0 {
		return 0, 0, protocolError("SUBSCRIBE without topic filters")
	}
	rl = 2
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if s.Filter == "" {
			return 0, 0, protocolError("empty topic filter")
		}
		if err := checkLen(len(s.Filter), "topic filter"); err != nil {
			return 0, 0, err
		}
		if s.QoS > 2 {
			return 0, 0, protocolError("SUBSCRIBE with maximum QoS 3")
		}
		if v == V5 {
			if s.RetainHandling > 2 {
				return 0, 0, protocolError("SUBSCRIBE with retain handling 3")
			}
			if s.NoLocal && strings.HasPrefix(s.Filter, sharePrefix) {
				return 0, 0, protocolError("No Local on a shared subscription")
			}
		}
		rl += 3 + len(s.Filter)
	}
	if rl, pn, err = withProps(v, SUBSCRIBE, &p.Properties, rl); err != nil {
		return 0, 0, err
	}
	return rl, pn, checkRemaining(rl)
}

func (p *Subscribe) appendTo(dst []byte, v Version, rl, pn int) []byte {
	dst = appendHeader(dst, SUBSCRIBE, fixedFlags(SUBSCRIBE), rl)
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = p.Properties.appendTo(dst, pn)
	}
	for i := range p.Subscriptions {
		dst = appendString(dst, p.Subscriptions[i].Filter)
		dst = append(dst, p.Subscriptions[i].options(v))
	}
	return dst
}

// withProps adds the property block of an MQTT 5 packet to rl.
func withProps(v Version, t Type, props *Properties, rl int) (int, int, error) {
	if !v.valid() {
		return 0, 0, errf(UnsupportedProtocolVersion, "unknown protocol version")
	}
	if v != V5 {
		return rl, 0, nil
	}
	pn, err := props.check(t)
	if err != nil {
		return 0, 0, err
	}
	return rl + vbiLen(pn) + pn, pn, nil
}

// decodeCodes reads the reason codes that fill the rest of a SUBACK or an
// MQTT 5 UNSUBACK: one per filter of the request, so at least one
// [MQTT-3.9.3-1] [MQTT-3.11.3-1].
func decodeCodes(c *cursor, v Version, t Type) ([]ReasonCode, error) {
	if c.left() == 0 {
		return nil, protocolError(t.String() + " without reason codes")
	}
	codes := make([]ReasonCode, c.left())
	for i, b := range c.b[c.off:] {
		rc := ReasonCode(b)
		if v != V5 && b == 0x80 {
			rc = UnspecifiedError // 3.1.1 "Failure"
		} else if v != V5 && b > 2 {
			// [MQTT-3.9.3-2] (3.1.1): other return codes are reserved.
			return nil, protocolError("reserved SUBACK return code")
		}
		if !rc.ValidFor(t) {
			// [MQTT-3.9.3-2] [MQTT-3.11.3-2] (5.0)
			return nil, protocolError("reason code not valid in " + t.String())
		}
		codes[i] = rc
	}
	c.off = len(c.b)
	return codes, nil
}

func decodeSuback(v Version, body []byte) (*Suback, error) {
	c := cursor{b: body}
	p := &Suback{}
	var err error
	if p.PacketID, err = packetID(&c, SUBACK); err != nil {
		return nil, err
	}
	if v == V5 {
		if err := p.Properties.decode(&c, SUBACK); err != nil {
			return nil, err
		}
	}
	if p.ReasonCodes, err = decodeCodes(&c, v, SUBACK); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Suback) plan(v Version) (rl, pn int, err error) {
	if p.PacketID == 0 {
		return 0, 0, protocolError("SUBACK with packet identifier 0")
	}
	if len(p.ReasonCodes) == 0 {
		return 0, 0, protocolError("SUBACK without reason codes")
	}
	for _, rc := range p.ReasonCodes {
		if _, ok := rc.ForPacket(SUBACK, v); !ok {
			return 0, 0, protocolError("reason code " + rc.String() + " not valid in SUBACK")
		}
	}
	if rl, pn, err = withProps(v, SUBACK, &p.Properties, 2+len(p.ReasonCodes)); err != nil {
		return 0, 0, err
	}
	return rl, pn, checkRemaining(rl)
}

func (p *Suback) appendTo(dst []byte, v Version, rl, pn int) []byte {
	dst = appendHeader(dst, SUBACK, 0, rl)
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = p.Properties.appendTo(dst, pn)
	}
	for _, rc := range p.ReasonCodes {
		b, _ := rc.ForPacket(SUBACK, v)
		dst = append(dst, b)
	}
	return dst
}

func decodeUnsubscribe(v Version, body []byte) (*Unsubscribe, error) {
	c := cursor{b: body}
	p := &Unsubscribe{}
	var err error
	if p.PacketID, err = packetID(&c, UNSUBSCRIBE); err != nil {
		return nil, err
	}
	if v == V5 {
		if err := p.Properties.decode(&c, UNSUBSCRIBE); err != nil {
			return nil, err
		}
	}
	if c.left() == 0 {
		// [MQTT-3.10.3-2]
		return nil, protocolError("UNSUBSCRIBE without topic filters")
	}
	for c.left() > 0 {
		f, err := filter(&c)
		if err != nil {
			return nil, err
		}
		p.Filters = append(p.Filters, f)
	}
	return p, nil
}

func (p *Unsubscribe) plan(v Version) (rl, pn int, err error) {
	if p.PacketID == 0 {
		return 0, 0, protocolError("UNSUBSCRIBE with packet identifier 0")
	}
	if len(p.Filters) == 0 {
		return 0, 0, protocolError("UNSUBSCRIBE without topic filters")
	}
	rl = 2
	for _, f := range p.Filters {
		if f == "" {
			return 0, 0, protocolError("empty topic filter")
		}
		if err := checkLen(len(f), "topic filter"); err != nil {
			return 0, 0, err
		}
		rl += 2 + len(f)
	}
	if rl, pn, err = withProps(v, UNSUBSCRIBE, &p.Properties, rl); err != nil {
		return 0, 0, err
	}
	return rl, pn, checkRemaining(rl)
}

func (p *Unsubscribe) appendTo(dst []byte, v Version, rl, pn int) []byte {
	dst = appendHeader(dst, UNSUBSCRIBE, fixedFlags(UNSUBSCRIBE), rl)
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = p.Properties.appendTo(dst, pn)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func decodeUnsuback(v Version, body []byte) (*Unsuback, error) {
	c := cursor{b: body}
	p := &Unsuback{}
	var err error
	if p.PacketID, err = packetID(&c, UNSUBACK); err != nil {
		return nil, err
	}
	if v != V5 {
		// 3.1.1 §3.11.1: the remaining length is exactly 2.
		return p, c.end()
	}
	if err := p.Properties.decode(&c, UNSUBACK); err != nil {
		return nil, err
	}
	if p.ReasonCodes, err = decodeCodes(&c, v, UNSUBACK); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Unsuback) plan(v Version) (rl, pn int, err error) {
	if p.PacketID == 0 {
		return 0, 0, protocolError("UNSUBACK with packet identifier 0")
	}
	if v != V5 {
		return withProps(v, UNSUBACK, &p.Properties, 2)
	}
	if len(p.ReasonCodes) == 0 {
		return 0, 0, protocolError("UNSUBACK without reason codes")
	}
	for _, rc := range p.ReasonCodes {
		if !rc.ValidFor(UNSUBACK) {
			return 0, 0, protocolError("reason code " + rc.String() + " not valid in UNSUBACK")
		}
	}
	if rl, pn, err = withProps(v, UNSUBACK, &p.Properties, 2+len(p.ReasonCodes)); err != nil {
		return 0, 0, err
	}
	return rl, pn, checkRemaining(rl)
}

func (p *Unsuback) appendTo(dst []byte, v Version, rl, pn int) []byte {
	dst = appendHeader(dst, UNSUBACK, 0, rl)
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = p.Properties.appendTo(dst, pn)
		for _, rc := range p.ReasonCodes {
			dst = append(dst, byte(rc))
		}
	}
	return dst
}
