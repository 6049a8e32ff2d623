package packet

// Publish is the PUBLISH packet (spec §3.3).
//
// A decoded Publish aliases the body it came from: Topic, Payload and the
// string and binary properties point into it.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty in MQTT 5 when Properties carry a Topic Alias
	PacketID   uint16 // 0 for QoS 0; ignored when encoding QoS 0 [MQTT-2.2.1-2]
	Properties Properties
	Payload    []byte
}

const (
	pubFlagRetain = 0x01
	pubFlagDup    = 0x08
)

// DecodePublish decodes a PUBLISH body into p, reusing p's slices
// (Properties.UserProperties and SubscriptionIDs), so a broker that keeps one
// Publish per connection decodes without allocating. fh must come from
// DecodeFixedHeader (or Reader.ReadRaw) for the same body. On error p holds a
// partial result.
func DecodePublish(v Version, fh FixedHeader, body []byte, p *Publish) error {
	if err := checkBody(v, fh, body); err != nil {
		return err
	}
	if fh.Type != PUBLISH {
		return protocolError("DecodePublish given a " + fh.Type.String())
	}
	p.Dup = fh.Flags&pubFlagDup != 0
	p.QoS = fh.Flags >> 1 & 3
	p.Retain = fh.Flags&pubFlagRetain != 0
	p.PacketID = 0
	p.Properties.Reset()

	c := cursor{b: body}
	topic, err := c.binary()
	if err != nil {
		return err
	}
	// [MQTT-3.3.2-1]: the topic name is a UTF-8 string.
	if err := validUTF8(topic); err != nil {
		return err
	}
	p.Topic = aliasString(topic)
	if hasWildcard(p.Topic) {
		// [MQTT-3.3.2-2]. TopicNameInvalid is what a v5 broker answers
		// (DISCONNECT 0x90); a 3.1.1 broker closes the connection.
		return errf(TopicNameInvalid, "topic name contains a wildcard")
	}
	if p.QoS > 0 {
		if p.PacketID, err = c.uint16(); err != nil {
			return err
		}
		if p.PacketID == 0 {
			// [MQTT-2.2.1-3] (5.0), [MQTT-2.3.1-1] (3.1.1)
			return protocolError("PUBLISH with QoS > 0 and packet identifier 0")
		}
	}
	if v == V5 {
		if err := p.Properties.decode(&c, PUBLISH); err != nil {
			return err
		}
	}
	if p.Topic == "" && !p.Properties.Has(PropTopicAlias) {
		// MQTT 5 §3.3.4: a zero-length Topic Name without a Topic Alias is a
		// Protocol Error; 3.1.1 has no aliases [MQTT-4.7.3-1].
		return protocolError("empty topic name")
	}
	p.Payload = c.rest()
	return nil
}

// AppendPublish appends p encoded for version v to dst. It allocates nothing
// when dst has room (Size tells how much). Properties are dropped for 3.1 and
// 3.1.1. Topic and string properties are not re-validated: the broker sends
// what it decoded and checked, so the hot path does not pay twice.
func AppendPublish(dst []byte, v Version, p *Publish) ([]byte, error) {
	rl, pn, err := p.plan(v)
	if err != nil {
		return dst, err
	}
	return p.appendTo(dst, v, rl, pn), nil
}

func (p *Publish) plan(v Version) (rl, pn int, err error) {
	if !v.valid() {
		return 0, 0, errf(UnsupportedProtocolVersion, "unknown protocol version")
	}
	if p.QoS > 2 {
		return 0, 0, malformed("PUBLISH with QoS 3")
	}
	if p.QoS == 0 && p.Dup {
		return 0, 0, malformed("PUBLISH with QoS 0 and DUP set")
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return 0, 0, protocolError("PUBLISH with QoS > 0 and packet identifier 0")
	}
	if err := checkLen(len(p.Topic), "topic name"); err != nil {
		return 0, 0, err
	}
	if p.Topic == "" && (v != V5 || !p.Properties.Has(PropTopicAlias)) {
		return 0, 0, protocolError("empty topic name")
	}
	rl = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		rl += 2
	}
	if v == V5 {
		if pn, err = p.Properties.check(PUBLISH); err != nil {
			return 0, 0, err
		}
		rl += vbiLen(pn) + pn
	}
	return rl, pn, checkRemaining(rl)
}

func (p *Publish) appendTo(dst []byte, v Version, rl, pn int) []byte {
	flags := p.QoS << 1
	if p.Dup {
		flags |= pubFlagDup
	}
	if p.Retain {
		flags |= pubFlagRetain
	}
	dst = appendHeader(dst, PUBLISH, flags, rl)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Properties.appendTo(dst, pn)
	}
	return append(dst, p.Payload...)
}

// checkBody holds the checks every decoder starts with.
func checkBody(v Version, fh FixedHeader, body []byte) error {
	if !v.valid() {
		if v == 0 {
			// [MQTT-3.1.0-1]: the first packet must be CONNECT.
			return protocolError(fh.Type.String() + " before CONNECT")
		}
		return errf(UnsupportedProtocolVersion, "unknown protocol version")
	}
	if len(body) != fh.RemainingLength {
		return malformed("body length differs from the remaining length")
	}
	return checkFlags(fh.Type, fh.Flags)
}
