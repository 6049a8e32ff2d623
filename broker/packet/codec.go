package packet

// Decode decodes the body of any packet whose fixed header is fh.
//
// v is the version the connection negotiated, or 0 before CONNECT: with 0
// only CONNECT is accepted [MQTT-3.1.0-1], and with a version set a CONNECT is
// a Protocol Error [MQTT-3.1.0-2]. A CONNECT carries its own version, which
// the returned *Connect reports.
//
// The packet aliases body (strings and byte slices point into it): body must
// not change while the packet is in use, and whatever outlives it must be
// copied. Errors carry a ReasonCode (see ReasonOf).
func Decode(v Version, fh FixedHeader, body []byte) (Packet, error) {
	if fh.Type == CONNECT {
		if v != 0 {
			return nil, protocolError("second CONNECT")
		}
		if len(body) != fh.RemainingLength {
			return nil, malformed("body length differs from the remaining length")
		}
		if err := checkFlags(CONNECT, fh.Flags); err != nil {
			return nil, err
		}
		return DecodeConnect(body)
	}
	if err := checkBody(v, fh, body); err != nil {
		return nil, err
	}
	switch fh.Type {
	case CONNACK:
		return decodeConnack(v, body)
	case PUBLISH:
		p := &Publish{}
		if err := DecodePublish(v, fh, body, p); err != nil {
			return nil, err
		}
		return p, nil
	case PUBACK:
		p := &Puback{}
		return p, p.fields().decode(v, PUBACK, body)
	case PUBREC:
		p := &Pubrec{}
		return p, p.fields().decode(v, PUBREC, body)
	case PUBREL:
		p := &Pubrel{}
		return p, p.fields().decode(v, PUBREL, body)
	case PUBCOMP:
		p := &Pubcomp{}
		return p, p.fields().decode(v, PUBCOMP, body)
	case SUBSCRIBE:
		return decodeSubscribe(v, body)
	case SUBACK:
		return decodeSuback(v, body)
	case UNSUBSCRIBE:
		return decodeUnsubscribe(v, body)
	case UNSUBACK:
		return decodeUnsuback(v, body)
	case PINGREQ:
		if len(body) != 0 {
			return nil, malformed("PINGREQ with a body")
		}
		return &Pingreq{}, nil
	case PINGRESP:
		if len(body) != 0 {
			return nil, malformed("PINGRESP with a body")
		}
		return &Pingresp{}, nil
	case DISCONNECT:
		p := &Disconnect{}
		return p, p.fields().decode(v, DISCONNECT, body)
	case AUTH:
		if v != V5 {
			// 3.1.1 §2.2.1: type 15 is reserved.
			return nil, malformed("reserved packet type 15")
		}
		p := &Auth{}
		return p, p.fields().decode(v, AUTH, body)
	}
	return nil, malformed("reserved packet type 0")
}

// Encode appends p, encoded for version v, to dst and returns the extended
// slice. It allocates nothing when dst has enough capacity (see Size).
//
// A *Connect is encoded for its own ProtocolVersion and v is ignored. For 3.1
// and 3.1.1, fields those versions lack are dropped (properties, MQTT 5
// subscription options, reason codes of PUBACK-like packets and UNSUBACK),
// and CONNACK and SUBACK codes are converted with ReasonCode.ForPacket.
//
// Encode checks what would make the packet unreadable or illegal on the wire
// (QoS range, packet identifiers, reason codes the packet cannot carry,
// properties the packet cannot carry or values out of range, string and
// packet length limits) and returns an *Error without writing. It does not
// re-validate the UTF-8 of strings: they come from decoded, validated
// packets or from the broker itself.
func Encode(dst []byte, v Version, p Packet) ([]byte, error) {
	if c, ok := p.(*Connect); ok {
		pl, err := c.plan()
		if err != nil {
			return dst, err
		}
		return c.appendTo(dst, pl), nil
	}
	rl, pn, err := plan(v, p)
	if err != nil {
		return dst, err
	}
	switch p := p.(type) {
	case *Connack:
		return p.appendTo(dst, v, rl, pn), nil
	case *Publish:
		return p.appendTo(dst, v, rl, pn), nil
	case *Puback:
		return p.fields().appendTo(dst, PUBACK, rl, pn), nil
	case *Pubrec:
		return p.fields().appendTo(dst, PUBREC, rl, pn), nil
	case *Pubrel:
		return p.fields().appendTo(dst, PUBREL, rl, pn), nil
	case *Pubcomp:
		return p.fields().appendTo(dst, PUBCOMP, rl, pn), nil
	case *Subscribe:
		return p.appendTo(dst, v, rl, pn), nil
	case *Suback:
		return p.appendTo(dst, v, rl, pn), nil
	case *Unsubscribe:
		return p.appendTo(dst, v, rl, pn), nil
	case *Unsuback:
		return p.appendTo(dst, v, rl, pn), nil
	case *Pingreq:
		return append(dst, byte(PINGREQ)<<4, 0), nil
	case *Pingresp:
		return append(dst, byte(PINGRESP)<<4, 0), nil
	case *Disconnect:
		return p.fields().appendTo(dst, DISCONNECT, rl, pn), nil
	case *Auth:
		return p.fields().appendTo(dst, AUTH, rl, pn), nil
	}
	return dst, nil // unreachable: plan rejected the type
}

// Size returns the number of bytes Encode would write for p (fixed header
// included), which is what MQTT 5's Maximum Packet Size limits
// [MQTT-3.1.2-24]. It returns 0 when Encode would fail.
func Size(v Version, p Packet) int {
	rl, _, err := plan(v, p)
	if err != nil {
		return 0
	}
	return 1 + vbiLen(rl) + rl
}

// plan validates p for version v and computes its Remaining Length and the
// length of its (main) property block.
func plan(v Version, p Packet) (rl, pn int, err error) {
	switch p := p.(type) {
	case *Connect:
		pl, err := p.plan()
		return pl.rl, pl.props, err
	case *Connack:
		return p.plan(v)
	case *Publish:
		return p.plan(v)
	case *Puback:
		return p.fields().plan(v, PUBACK)
	case *Pubrec:
		return p.fields().plan(v, PUBREC)
	case *Pubrel:
		return p.fields().plan(v, PUBREL)
	case *Pubcomp:
		return p.fields().plan(v, PUBCOMP)
	case *Subscribe:
		return p.plan(v)
	case *Suback:
		return p.plan(v)
	case *Unsubscribe:
		return p.plan(v)
	case *Unsuback:
		return p.plan(v)
	case *Pingreq, *Pingresp:
		if !v.valid() {
			return 0, 0, errf(UnsupportedProtocolVersion, "unknown protocol version")
		}
		return 0, 0, nil
	case *Disconnect:
		return p.fields().plan(v, DISCONNECT)
	case *Auth:
		return p.fields().plan(v, AUTH)
	}
	return 0, 0, errf(ImplementationSpecificError, "not a packet of this package")
}
