package packet

// Puback is the PUBACK packet (spec §3.4). In 3.1 and 3.1.1 only PacketID is
// on the wire: ReasonCode and Properties are dropped when encoding and decode
// as zero. The same holds for Pubrec, Pubrel and Pubcomp.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrec is the PUBREC packet (spec §3.5), the first answer to a QoS 2 PUBLISH.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrel is the PUBREL packet (spec §3.6).
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubcomp is the PUBCOMP packet (spec §3.7).
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pingreq is the PINGREQ packet (spec §3.12): a fixed header only.
type Pingreq struct{}

// Pingresp is the PINGRESP packet (spec §3.13): a fixed header only.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet (spec §3.14). In 3.1 and 3.1.1 it is a
// bare header sent by the client only; ReasonCode decodes as
// NormalDisconnection.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the MQTT 5 AUTH packet (spec §3.15) of enhanced authentication.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// pubAck is the shape shared by PUBACK, PUBREC, PUBREL and PUBCOMP.
type pubAck struct {
	id    *uint16
	rc    *ReasonCode
	props *Properties
}

func (p *Puback) fields() pubAck  { return pubAck{&p.PacketID, &p.ReasonCode, &p.Properties} }
func (p *Pubrec) fields() pubAck  { return pubAck{&p.PacketID, &p.ReasonCode, &p.Properties} }
func (p *Pubrel) fields() pubAck  { return pubAck{&p.PacketID, &p.ReasonCode, &p.Properties} }
func (p *Pubcomp) fields() pubAck { return pubAck{&p.PacketID, &p.ReasonCode, &p.Properties} }

func (a pubAck) decode(v Version, t Type, body []byte) error {
	c := cursor{b: body}
	id, err := c.uint16()
	if err != nil {
		return err
	}
	if id == 0 {
		// A PUBLISH never has packet identifier 0 ([MQTT-2.2.1-3]) and the
		// acknowledgement carries the same one [MQTT-2.2.1-5].
		return protocolError(t.String() + " with packet identifier 0")
	}
	*a.id = id
	if v != V5 {
		// 3.1.1 §3.4.1 etc.: the remaining length is exactly 2.
		return c.end()
	}
	// MQTT 5 §3.4.2.1: the Reason Code may be omitted when it is Success and
	// there are no properties; the Property Length may be omitted when there
	// are no properties.
	if c.left() == 0 {
		return nil
	}
	code, _ := c.byte()
	*a.rc = ReasonCode(code)
	if !a.rc.ValidFor(t) {
		// [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1]
		return protocolError("reason code not valid in " + t.String())
	}
	if c.left() == 0 {
		return nil
	}
	if err := a.props.decode(&c, t); err != nil {
		return err
	}
	return c.end()
}

func (a pubAck) plan(v Version, t Type) (rl, pn int, err error) {
	if *a.id == 0 {
		return 0, 0, protocolError(t.String() + " with packet identifier 0")
	}
	if v != V5 {
		if !v.valid() {
			return 0, 0, errf(UnsupportedProtocolVersion, "unknown protocol version")
		}
		return 2, 0, nil
	}
	if !a.rc.ValidFor(t) {
		return 0, 0, protocolError("reason code " + a.rc.String() + " not valid in " + t.String())
	}
	if pn, err = a.props.check(t); err != nil {
		return 0, 0, err
	}
	switch {
	case pn > 0:
		rl = 3 + vbiLen(pn) + pn
	case *a.rc != Success:
		rl = 3
	default:
		rl = 2
	}
	return rl, pn, checkRemaining(rl)
}

func (a pubAck) appendTo(dst []byte, t Type, rl, pn int) []byte {
	dst = appendHeader(dst, t, fixedFlags(t), rl)
	dst = appendUint16(dst, *a.id)
	if rl > 2 {
		dst = append(dst, byte(*a.rc))
	}
	if rl > 3 {
		dst = a.props.appendTo(dst, pn)
	}
	return dst
}

// reasonOnly is the shape shared by DISCONNECT and AUTH: an optional reason
// code and optional properties.
type reasonOnly struct {
	rc    *ReasonCode
	props *Properties
}

func (p *Disconnect) fields() reasonOnly { return reasonOnly{&p.ReasonCode, &p.Properties} }
func (p *Auth) fields() reasonOnly       { return reasonOnly{&p.ReasonCode, &p.Properties} }

func (r reasonOnly) decode(v Version, t Type, body []byte) error {
	c := cursor{b: body}
	if v != V5 {
		// 3.1.1 §3.14.1: DISCONNECT has no variable header or payload.
		return c.end()
	}
	// §3.14.2.1: a Remaining Length of 0 means Normal disconnection; below 2
	// there is no Property Length. AUTH (§3.15.2.1) states only the 0 case;
	// a 1-byte AUTH is read the same way rather than rejected.
	if c.left() == 0 {
		return r.checkAuth(t, 0)
	}
	code, _ := c.byte()
	*r.rc = ReasonCode(code)
	if !r.rc.ValidFor(t) {
		// [MQTT-3.14.2-1] [MQTT-3.15.2-1]
		return protocolError("reason code not valid in " + t.String())
	}
	if c.left() > 0 {
		if err := r.props.decode(&c, t); err != nil {
			return err
		}
		if err := c.end(); err != nil {
			return err
		}
	}
	return r.checkAuth(t, len(body))
}

// checkAuth: an AUTH other than the empty Success form must name its
// Authentication Method (§3.15.2.2.2) and may carry data only with it.
func (r reasonOnly) checkAuth(t Type, rl int) error {
	if t != AUTH {
		return nil
	}
	if rl > 0 && !r.props.Has(PropAuthMethod) {
		return protocolError("AUTH without Authentication Method")
	}
	return checkAuthProps(r.props)
}

func (r reasonOnly) plan(v Version, t Type) (rl, pn int, err error) {
	if v != V5 {
		if !v.valid() {
			return 0, 0, errf(UnsupportedProtocolVersion, "unknown protocol version")
		}
		if t == AUTH {
			return 0, 0, protocolError("AUTH exists only in MQTT 5")
		}
		return 0, 0, nil
	}
	if !r.rc.ValidFor(t) {
		return 0, 0, protocolError("reason code " + r.rc.String() + " not valid in " + t.String())
	}
	if pn, err = r.props.check(t); err != nil {
		return 0, 0, err
	}
	switch {
	case pn > 0:
		rl = 1 + vbiLen(pn) + pn
	case *r.rc != Success && t == AUTH:
		rl = 2 // §3.15.2.1 only allows omitting both, so keep the zero Property Length
	case *r.rc != Success:
		rl = 1
	}
	if err := r.checkAuth(t, rl); err != nil {
		return 0, 0, err
	}
	return rl, pn, checkRemaining(rl)
}

func (r reasonOnly) appendTo(dst []byte, t Type, rl, pn int) []byte {
	dst = appendHeader(dst, t, 0, rl)
	if rl > 0 {
		dst = append(dst, byte(*r.rc))
	}
	if rl > 1 {
		dst = r.props.appendTo(dst, pn)
	}
	return dst
}
