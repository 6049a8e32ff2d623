package packet

import "strconv"

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types. 0 is reserved in every version; AUTH (15) exists only
// in MQTT 5, where 3.1.1 marks 15 as reserved.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [16]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

func (t Type) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Version is the protocol level a connection speaks. The zero value means
// "no CONNECT seen yet" to Decode and Reader.ReadPacket.
type Version byte

// Protocol levels as carried in CONNECT. A bridge sets bit 7 on top of V31 or
// V311 (131, 132); Connect.Bridge carries that bit so Version never holds it.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// valid reports whether v is a level this codec speaks.
func (v Version) valid() bool { return v == V31 || v == V311 || v == V5 }

// Packet is any decoded or encodable control packet. Every implementation is
// a pointer to one of the structs in this package.
type Packet interface {
	Type() Type
}

// Type implements Packet.
func (*Connect) Type() Type { return CONNECT }

// Type implements Packet.
func (*Connack) Type() Type { return CONNACK }

// Type implements Packet.
func (*Publish) Type() Type { return PUBLISH }

// Type implements Packet.
func (*Puback) Type() Type { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() Type { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() Type { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Type implements Packet.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Type implements Packet.
func (*Suback) Type() Type { return SUBACK }

// Type implements Packet.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Type implements Packet.
func (*Unsuback) Type() Type { return UNSUBACK }

// Type implements Packet.
func (*Pingreq) Type() Type { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() Type { return PINGRESP }

// Type implements Packet.
func (*Disconnect) Type() Type { return DISCONNECT }

// Type implements Packet.
func (*Auth) Type() Type { return AUTH }
