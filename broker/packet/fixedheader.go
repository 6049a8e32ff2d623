package packet

// FixedHeader is the first 2 to 5 bytes of every packet (spec §2.1).
type FixedHeader struct {
	Type            Type
	Flags           byte // low nibble of byte 1; for PUBLISH: DUP, QoS, RETAIN
	RemainingLength int  // bytes that follow the fixed header
}

// PacketSize is the size of the whole packet, header included: the quantity
// MQTT 5's Maximum Packet Size limits (§3.1.2.11.4).
func (fh FixedHeader) PacketSize() int { return 1 + vbiLen(fh.RemainingLength) + fh.RemainingLength }

// DecodeFixedHeader reads a fixed header from the start of b. It returns the
// header and its length in bytes (2 to 5). If b ends before the header does,
// it returns ErrIncomplete, so a caller fed by a stream can wait for more.
//
// It validates what the header alone can show: a known packet type, the
// reserved flag bits, and a minimal Remaining Length encoding of at most four
// bytes. It does not know the protocol version, so AUTH in a 3.1.1 connection
// is rejected later, by Decode.
func DecodeFixedHeader(b []byte) (FixedHeader, int, error) {
	if len(b) == 0 {
		return FixedHeader{}, 0, ErrIncomplete
	}
	// The first byte is checked as soon as it is here, like Reader does, so
	// garbage is refused without waiting for more of it.
	fh := FixedHeader{Type: Type(b[0] >> 4), Flags: b[0] & 0x0f}
	if err := checkFlags(fh.Type, fh.Flags); err != nil {
		return FixedHeader{}, 0, err
	}
	rl, n, err := decodeVBI(b[1:])
	if err != nil {
		return FixedHeader{}, 0, err
	}
	if n == 0 {
		return FixedHeader{}, 0, ErrIncomplete
	}
	fh.RemainingLength = rl
	return fh, 1 + n, nil
}

// SplitPacket finds the first whole packet in b, for callers that hold bytes
// rather than a stream (a WebSocket frame, a test). It returns the header, the
// body (aliasing b) and the total bytes the packet used. It returns
// ErrIncomplete while b holds only part of the packet, and PacketTooLarge as
// soon as the header shows the packet exceeds maxPacketSize (<= 0 means no
// limit beyond the protocol's).
func SplitPacket(b []byte, maxPacketSize int) (FixedHeader, []byte, int, error) {
	fh, n, err := DecodeFixedHeader(b)
	if err != nil {
		return FixedHeader{}, nil, 0, err
	}
	if maxPacketSize > 0 && n+fh.RemainingLength > maxPacketSize {
		return FixedHeader{}, nil, 0, errf(PacketTooLarge, "packet exceeds the maximum packet size")
	}
	end := n + fh.RemainingLength
	if len(b) < end {
		return FixedHeader{}, nil, 0, ErrIncomplete
	}
	return fh, b[n:end:end], end, nil
}

// checkFlags validates the flag nibble against the table in spec §2.1.3
// (3.1.1 §2.2.2).
func checkFlags(t Type, flags byte) error {
	switch t {
	case 0:
		return malformed("reserved packet type 0")
	case PUBLISH:
		qos := flags >> 1 & 3
		if qos == 3 {
			// [MQTT-3.3.1-4]
			return malformed("PUBLISH with QoS 3")
		}
		if qos == 0 && flags&0x08 != 0 {
			// [MQTT-3.3.1-2]
			return malformed("PUBLISH with QoS 0 and DUP set")
		}
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if flags != 0x02 {
			// [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
			return malformed("reserved flags of " + t.String() + " must be 0010")
		}
	default:
		if flags != 0 {
			// [MQTT-2.1.3-1] (5.0), [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1),
			// [MQTT-3.14.1-1] DISCONNECT, [MQTT-3.15.1-1] AUTH
			return malformed("reserved flags of " + t.String() + " must be 0000")
		}
	}
	return nil
}

// fixedFlags is the flag nibble every non-PUBLISH packet carries.
func fixedFlags(t Type) byte {
	if t == PUBREL || t == SUBSCRIBE || t == UNSUBSCRIBE {
		return 0x02
	}
	return 0
}

// appendHeader writes a fixed header; rl has been checked against
// MaxRemainingLength by the caller.
func appendHeader(dst []byte, t Type, flags byte, rl int) []byte {
	dst = append(dst, byte(t)<<4|flags)
	return appendVBI(dst, rl)
}

func checkRemaining(rl int) error {
	if rl > MaxRemainingLength {
		return errf(PacketTooLarge, "remaining length exceeds 268435455")
	}
	return nil
}
