package packet

// Connect is the CONNECT packet (spec §3.1). ProtocolVersion is the level
// without the bridge bit; Bridge is that bit (levels 131 and 132, the
// mosquitto/VerneMQ bridge convention, 3.1 and 3.1.1 only).
type Connect struct {
	ProtocolName    string // "MQIsdp" for V31, "MQTT" otherwise; "" encodes the right one
	ProtocolVersion Version
	Bridge          bool
	CleanStart      bool // Clean Session in 3.1/3.1.1
	KeepAlive       uint16
	ClientID        string
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
	Will            *Will // nil when the Will Flag is 0
	Properties      Properties
}

// Will is the will message announced in CONNECT.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties Properties // MQTT 5 will properties
}

// Connack is the CONNACK packet (spec §3.2). ReasonCode uses MQTT 5 names in
// every version: a 3.1.1 return code decodes to its MQTT 5 equivalent and
// encodes back through ReasonCode.ForPacket.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

const (
	nameMQTT   = "MQTT"
	nameMQIsdp = "MQIsdp"
)

func protocolName(v Version) string {
	if v == V31 {
		return nameMQIsdp
	}
	return nameMQTT
}

// parseLevel checks the protocol name and level pair: "MQIsdp" goes only with
// 3 and "MQTT" with 4 or 5; 3 and 4 may carry the bridge bit.
func parseLevel(name []byte, level byte) (Version, bool, bool) {
	v, bridge := Version(level&0x7f), level&0x80 != 0
	switch {
	case string(name) == nameMQIsdp && v == V31:
	case string(name) == nameMQTT && v == V311:
	case string(name) == nameMQTT && v == V5 && !bridge:
	default:
		return 0, false, false
	}
	return v, bridge, true
}

// ConnectVersion returns the protocol version a CONNECT body announces,
// without decoding the rest. The broker uses it to choose the CONNACK format
// when DecodeConnect fails after the version was known (MQTT 5 may answer a
// malformed CONNECT with CONNACK 0x81; 3.1.1 just closes).
func ConnectVersion(body []byte) (Version, bool) {
	c := cursor{b: body}
	name, err := c.binary()
	if err != nil {
		return 0, false
	}
	level, err := c.byte()
	if err != nil {
		return 0, false
	}
	v, _, ok := parseLevel(name, level)
	return v, ok
}

const (
	connFlagReserved   = 0x01
	connFlagClean      = 0x02
	connFlagWill       = 0x04
	connFlagWillRetain = 0x20
	connFlagPassword   = 0x40
	connFlagUsername   = 0x80
)

// DecodeConnect decodes a CONNECT body, whatever its version. An unknown
// protocol name or level gives a *VersionError. The result aliases body.
func DecodeConnect(body []byte) (*Connect, error) {
	c := cursor{b: body}
	name, err := c.binary()
	if err != nil {
		return nil, err
	}
	level, err := c.byte()
	if err != nil {
		return nil, err
	}
	v, bridge, ok := parseLevel(name, level)
	if !ok {
		// [MQTT-3.1.2-1] [MQTT-3.1.2-2]
		return nil, &VersionError{ProtocolName: string(name), Level: level}
	}
	p := &Connect{ProtocolName: protocolName(v), ProtocolVersion: v, Bridge: bridge}
	flags, err := c.byte()
	if err != nil {
		return nil, err
	}
	if err := checkConnectFlags(v, flags); err != nil {
		return nil, err
	}
	p.CleanStart = flags&connFlagClean != 0
	p.UsernameFlag = flags&connFlagUsername != 0
	p.PasswordFlag = flags&connFlagPassword != 0
	if p.KeepAlive, err = c.uint16(); err != nil {
		return nil, err
	}
	if v == V5 {
		if err := p.Properties.decode(&c, CONNECT); err != nil {
			return nil, err
		}
		if err := checkAuthProps(&p.Properties); err != nil {
			return nil, err
		}
	}
	// [MQTT-3.1.3-3] the Client Identifier is always present, first;
	// [MQTT-3.1.3-4] it is a UTF-8 string. Length and character set are the
	// broker's call (it answers CONNACK 0x02/0x85, [MQTT-3.1.3-8]).
	if p.ClientID, err = c.str(); err != nil {
		return nil, err
	}
	if flags&connFlagWill != 0 {
		// [MQTT-3.1.2-9] Will Properties, Will Topic and Will Payload follow.
		w := &Will{QoS: flags >> 3 & 3, Retain: flags&connFlagWillRetain != 0}
		if v == V5 {
			if err := w.Properties.decode(&c, willProps); err != nil {
				return nil, err
			}
		}
		// [MQTT-3.1.3-11] (5.0) / [MQTT-3.1.3-10] (3.1.1): a UTF-8 string.
		if w.Topic, err = c.str(); err != nil {
			return nil, err
		}
		if err := checkWillTopic(w.Topic); err != nil {
			return nil, err
		}
		if w.Payload, err = c.binary(); err != nil {
			return nil, err
		}
		p.Will = w
	}
	if p.UsernameFlag {
		// Present: [MQTT-3.1.2-17] (5.0), [MQTT-3.1.2-19] (3.1.1).
		// UTF-8: [MQTT-3.1.3-12] (5.0), [MQTT-3.1.3-11] (3.1.1).
		if p.Username, err = c.str(); err != nil {
			return nil, err
		}
	}
	if p.PasswordFlag {
		// [MQTT-3.1.2-19] (5.0), [MQTT-3.1.2-21] (3.1.1)
		if p.Password, err = c.binary(); err != nil {
			return nil, err
		}
	}
	// Nothing may follow what the flags announce: [MQTT-3.1.2-16]
	// [MQTT-3.1.2-18] (5.0), [MQTT-3.1.2-18] [MQTT-3.1.2-20] (3.1.1).
	return p, c.end()
}

func checkConnectFlags(v Version, flags byte) error {
	if flags&connFlagReserved != 0 {
		// [MQTT-3.1.2-3]
		return malformed("CONNECT reserved flag is set")
	}
	willQoS := flags >> 3 & 3
	if flags&connFlagWill == 0 && (willQoS != 0 || flags&connFlagWillRetain != 0) {
		// [MQTT-3.1.2-11] [MQTT-3.1.2-13] (5.0); [MQTT-3.1.2-11]
		// [MQTT-3.1.2-13] [MQTT-3.1.2-15] (3.1.1)
		return malformed("will QoS or will retain set without the will flag")
	}
	if willQoS == 3 {
		// [MQTT-3.1.2-12] (5.0), [MQTT-3.1.2-14] (3.1.1)
		return malformed("will QoS 3")
	}
	if v != V5 && flags&connFlagPassword != 0 && flags&connFlagUsername == 0 {
		// [MQTT-3.1.2-22] (3.1.1). MQTT 3.1 says the same in prose; MQTT 5
		// dropped the rule so a password can carry a token alone.
		return malformed("password flag without user name flag")
	}
	return nil
}

// checkWillTopic applies the topic name rules to the will topic, which is
// published as one: at least one character [MQTT-4.7.3-1], no wildcards
// [MQTT-3.3.2-2]. TopicNameInvalid is a valid CONNACK reason (§3.2.2.2).
func checkWillTopic(t string) error {
	if t == "" {
		return errf(TopicNameInvalid, "empty will topic")
	}
	if hasWildcard(t) {
		return errf(TopicNameInvalid, "will topic contains a wildcard")
	}
	return nil
}

// checkAuthProps: Authentication Data without an Authentication Method is a
// Protocol Error (§3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3).
func checkAuthProps(p *Properties) error {
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		return protocolError("Authentication Data without Authentication Method")
	}
	return nil
}

type connectPlan struct {
	rl, props, will int
}

func (p *Connect) plan() (connectPlan, error) {
	var pl connectPlan
	v := p.ProtocolVersion
	if !v.valid() {
		return pl, errf(UnsupportedProtocolVersion, "CONNECT with unknown protocol version")
	}
	if p.ProtocolName != "" && p.ProtocolName != protocolName(v) {
		return pl, errf(UnsupportedProtocolVersion, "protocol name does not match the version")
	}
	if p.Bridge && v == V5 {
		return pl, errf(UnsupportedProtocolVersion, "bridge flag with MQTT 5")
	}
	if (!p.UsernameFlag && p.Username != "") || (!p.PasswordFlag && len(p.Password) > 0) {
		return pl, malformed("user name or password set without its flag")
	}
	if v != V5 && p.PasswordFlag && !p.UsernameFlag {
		return pl, malformed("password flag without user name flag")
	}
	rl := 2 + len(protocolName(v)) + 1 + 1 + 2 + 2 + len(p.ClientID)
	if err := checkLen(len(p.ClientID), "client identifier"); err != nil {
		return pl, err
	}
	if v == V5 {
		n, err := p.Properties.check(CONNECT)
		if err != nil {
			return pl, err
		}
		if err := checkAuthProps(&p.Properties); err != nil {
			return pl, err
		}
		pl.props = n
		rl += vbiLen(n) + n
	}
	if w := p.Will; w != nil {
		if w.QoS > 2 {
			return pl, malformed("will QoS 3")
		}
		if err := checkWillTopic(w.Topic); err != nil {
			return pl, err
		}
		if err := checkLen(len(w.Topic), "will topic"); err != nil {
			return pl, err
		}
		if err := checkLen(len(w.Payload), "will payload"); err != nil {
			return pl, err
		}
		rl += 4 + len(w.Topic) + len(w.Payload)
		if v == V5 {
			n, err := w.Properties.check(willProps)
			if err != nil {
				return pl, err
			}
			pl.will = n
			rl += vbiLen(n) + n
		}
	}
	if p.UsernameFlag {
		if err := checkLen(len(p.Username), "user name"); err != nil {
			return pl, err
		}
		rl += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		if err := checkLen(len(p.Password), "password"); err != nil {
			return pl, err
		}
		rl += 2 + len(p.Password)
	}
	pl.rl = rl
	return pl, checkRemaining(rl)
}

func (p *Connect) appendTo(dst []byte, pl connectPlan) []byte {
	v := p.ProtocolVersion
	dst = appendHeader(dst, CONNECT, 0, pl.rl)
	dst = appendString(dst, protocolName(v))
	level := byte(v)
	if p.Bridge {
		level |= 0x80
	}
	var flags byte
	if p.CleanStart {
		flags |= connFlagClean
	}
	if w := p.Will; w != nil {
		flags |= connFlagWill | w.QoS<<3
		if w.Retain {
			flags |= connFlagWillRetain
		}
	}
	if p.PasswordFlag {
		flags |= connFlagPassword
	}
	if p.UsernameFlag {
		flags |= connFlagUsername
	}
	dst = append(dst, level, flags)
	dst = appendUint16(dst, p.KeepAlive)
	if v == V5 {
		dst = p.Properties.appendTo(dst, pl.props)
	}
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		if v == V5 {
			dst = w.Properties.appendTo(dst, pl.will)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if p.UsernameFlag {
		dst = appendString(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBinary(dst, p.Password)
	}
	return dst
}

func decodeConnack(v Version, body []byte) (*Connack, error) {
	c := cursor{b: body}
	p := &Connack{}
	flags, err := c.byte()
	if err != nil {
		return nil, err
	}
	// [MQTT-3.2.2-1]: bits 7-1 are reserved (3.1.1 §3.2.2.1 too). In 3.1 the
	// whole byte is reserved: Session Present arrived with 3.1.1.
	if flags&^1 != 0 || (v == V31 && flags != 0) {
		return nil, malformed("CONNACK reserved flags are set")
	}
	p.SessionPresent = flags == 1
	code, err := c.byte()
	if err != nil {
		return nil, err
	}
	if v == V5 {
		p.ReasonCode = ReasonCode(code)
		if !p.ReasonCode.ValidFor(CONNACK) {
			// [MQTT-3.2.2-8]
			return nil, protocolError("reason code not valid in CONNACK")
		}
		if err := p.Properties.decode(&c, CONNACK); err != nil {
			return nil, err
		}
		if err := checkAuthProps(&p.Properties); err != nil {
			return nil, err
		}
	} else {
		rc, ok := connackFromV3(code)
		if !ok {
			return nil, malformed("reserved CONNACK return code")
		}
		p.ReasonCode = rc
	}
	if p.SessionPresent && p.ReasonCode != Success {
		// [MQTT-3.2.2-6] (5.0), [MQTT-3.2.2-4] (3.1.1)
		return nil, protocolError("session present with a refusal")
	}
	return p, c.end()
}

func (p *Connack) plan(v Version) (rl, pn int, err error) {
	if _, ok := p.ReasonCode.ForPacket(CONNACK, v); !ok {
		return 0, 0, protocolError("reason code " + p.ReasonCode.String() + " cannot be sent in a " + v.String() + " CONNACK")
	}
	if p.SessionPresent && (p.ReasonCode != Success || v == V31) {
		return 0, 0, protocolError("session present with a refusal, or in MQTT 3.1")
	}
	if v != V5 {
		return 2, 0, nil
	}
	if pn, err = p.Properties.check(CONNACK); err != nil {
		return 0, 0, err
	}
	if err := checkAuthProps(&p.Properties); err != nil {
		return 0, 0, err
	}
	rl = 2 + vbiLen(pn) + pn
	return rl, pn, checkRemaining(rl)
}

func (p *Connack) appendTo(dst []byte, v Version, rl, pn int) []byte {
	dst = appendHeader(dst, CONNACK, 0, rl)
	var flags byte
	if p.SessionPresent {
		flags = 1
	}
	code, _ := p.ReasonCode.ForPacket(CONNACK, v)
	dst = append(dst, flags, code)
	if v == V5 {
		dst = p.Properties.appendTo(dst, pn)
	}
	return dst
}
