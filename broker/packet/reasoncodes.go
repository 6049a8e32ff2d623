package packet

import "strconv"

// ReasonCode is an MQTT 5 reason code (spec §2.4). It implements error so
// that validation can return the wire reason directly and callers can use
// errors.Is / errors.As on it. Codes below 0x80 report success; 0x80 and above
// report failure (Failure).
//
// For 3.1 and 3.1.1 connections the broker still thinks in MQTT 5 codes and
// converts at the edge with ForPacket, so there is one vocabulary inside.
type ReasonCode byte

// MQTT 5 reason codes. 0x00 has several names, one per packet it appears in.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWillMessage           ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

var reasonNames = map[ReasonCode]string{
	Success:                             "success",
	GrantedQoS1:                         "granted QoS 1",
	GrantedQoS2:                         "granted QoS 2",
	DisconnectWithWillMessage:           "disconnect with will message",
	NoMatchingSubscribers:               "no matching subscribers",
	NoSubscriptionExisted:               "no subscription existed",
	ContinueAuthentication:              "continue authentication",
	ReAuthenticate:                      "re-authenticate",
	UnspecifiedError:                    "unspecified error",
	MalformedPacket:                     "malformed packet",
	ProtocolError:                       "protocol error",
	ImplementationSpecificError:         "implementation specific error",
	UnsupportedProtocolVersion:          "unsupported protocol version",
	ClientIdentifierNotValid:            "client identifier not valid",
	BadUserNameOrPassword:               "bad user name or password",
	NotAuthorized:                       "not authorized",
	ServerUnavailable:                   "server unavailable",
	ServerBusy:                          "server busy",
	Banned:                              "banned",
	ServerShuttingDown:                  "server shutting down",
	BadAuthenticationMethod:             "bad authentication method",
	KeepAliveTimeout:                    "keep alive timeout",
	SessionTakenOver:                    "session taken over",
	TopicFilterInvalid:                  "topic filter invalid",
	TopicNameInvalid:                    "topic name invalid",
	PacketIdentifierInUse:               "packet identifier in use",
	PacketIdentifierNotFound:            "packet identifier not found",
	ReceiveMaximumExceeded:              "receive maximum exceeded",
	TopicAliasInvalid:                   "topic alias invalid",
	PacketTooLarge:                      "packet too large",
	MessageRateTooHigh:                  "message rate too high",
	QuotaExceeded:                       "quota exceeded",
	AdministrativeAction:                "administrative action",
	PayloadFormatInvalid:                "payload format invalid",
	RetainNotSupported:                  "retain not supported",
	QoSNotSupported:                     "QoS not supported",
	UseAnotherServer:                    "use another server",
	ServerMoved:                         "server moved",
	SharedSubscriptionsNotSupported:     "shared subscriptions not supported",
	ConnectionRateExceeded:              "connection rate exceeded",
	MaximumConnectTime:                  "maximum connect time",
	SubscriptionIdentifiersNotSupported: "subscription identifiers not supported",
	WildcardSubscriptionsNotSupported:   "wildcard subscriptions not supported",
}

func (rc ReasonCode) String() string {
	if s, ok := reasonNames[rc]; ok {
		return s
	}
	return "reason code 0x" + strconv.FormatUint(uint64(rc), 16)
}

// Error implements error.
func (rc ReasonCode) Error() string { return rc.String() }

// Failure reports whether rc is an error code (0x80 or above), after which
// MQTT 5 closes the connection when sent in CONNACK or DISCONNECT
// [MQTT-4.13.2-1].
func (rc ReasonCode) Failure() bool { return rc >= 0x80 }

// reasonSet is a 256-bit set of reason codes.
type reasonSet [4]uint64

func (s *reasonSet) has(rc ReasonCode) bool { return s[rc>>6]&(1<<(rc&63)) != 0 }

func newReasonSet(codes ...ReasonCode) reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

// validReasons[t] is the set of codes MQTT 5 allows in packet type t
// (spec §3.2.2.2, §3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.9.3, §3.11.3,
// §3.14.2.1, §3.15.2.1). Packets without a reason code have the empty set.
var validReasons = func() (v [16]reasonSet) {
	pubAck := []ReasonCode{Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid}
	v[CONNACK] = newReasonSet(Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
		UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUserNameOrPassword, NotAuthorized, ServerUnavailable,
		ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved, ConnectionRateExceeded)
	v[PUBACK] = newReasonSet(pubAck...)
	v[PUBREC] = newReasonSet(pubAck...)
	v[PUBREL] = newReasonSet(Success, PacketIdentifierNotFound)
	v[PUBCOMP] = newReasonSet(Success, PacketIdentifierNotFound)
	v[SUBACK] = newReasonSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded, SharedSubscriptionsNotSupported,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	v[UNSUBACK] = newReasonSet(Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	v[DISCONNECT] = newReasonSet(NormalDisconnection, DisconnectWithWillMessage, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown, KeepAliveTimeout,
		SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded, TopicAliasInvalid,
		PacketTooLarge, MessageRateTooHigh, QuotaExceeded, AdministrativeAction, PayloadFormatInvalid,
		RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported,
		ConnectionRateExceeded, MaximumConnectTime, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported)
	v[AUTH] = newReasonSet(Success, ContinueAuthentication, ReAuthenticate)
	return v
}()

// ValidFor reports whether MQTT 5 allows rc in a packet of type t.
func (rc ReasonCode) ValidFor(t Type) bool { return t < 16 && validReasons[t].has(rc) }

// 3.1/3.1.1 CONNACK return codes (3.1.1 §3.2.2.3).
const (
	v3Accepted            = 0x00
	v3BadProtocolVersion  = 0x01
	v3IdentifierRejected  = 0x02
	v3ServerUnavailable   = 0x03
	v3BadUserNamePassword = 0x04
	v3NotAuthorized       = 0x05
)

// ForPacket is the one place that maps a reason onto the acknowledgement (or
// DISCONNECT/AUTH) of a given protocol version. It returns the byte to put on
// the wire and whether the packet can express rc at all.
//
// MQTT 5: the byte is rc itself; ok reports whether the spec allows rc in t.
//
// 3.1 and 3.1.1, where most packets carry no code:
//   - CONNACK: Success→0x00, UnsupportedProtocolVersion→0x01,
//     ClientIdentifierNotValid→0x02, ServerUnavailable and the other "try
//     later or elsewhere" codes (ServerBusy, UseAnotherServer, ServerMoved,
//     ConnectionRateExceeded, QuotaExceeded, UnspecifiedError,
//     ImplementationSpecificError)→0x03,
//     BadUserNameOrPassword and BadAuthenticationMethod→0x04, NotAuthorized,
//     Banned and the will refusals (QoSNotSupported, RetainNotSupported,
//     TopicNameInvalid, PayloadFormatInvalid)→0x05. MalformedPacket,
//     ProtocolError and PacketTooLarge give ok=false: 3.1.1 closes the
//     connection without a CONNACK for those.
//   - SUBACK: GrantedQoS0/1/2 as themselves, every MQTT 5 SUBACK failure as
//     0x80 (3.1.1 "Failure"; MQTT 3.1 has no failure code, but 0x80 is what
//     brokers send to 3.1 clients too).
//   - PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: no code on the wire (the byte
//     is 0). ok is true for success codes only: for a failure the 3.1.1 spec
//     leaves the broker two choices, acknowledge positively or close the
//     connection [MQTT-3.3.5-2].
//   - DISCONNECT: only NormalDisconnection is expressible (and only from the
//     client; a 3.1.1 server closes the connection instead).
//   - AUTH and packets without reason codes: ok=false.
func (rc ReasonCode) ForPacket(t Type, v Version) (byte, bool) {
	if !rc.ValidFor(t) {
		return 0, false
	}
	if v == V5 {
		return byte(rc), true
	}
	switch t {
	case CONNACK:
		switch rc {
		case Success:
			return v3Accepted, true
		case UnsupportedProtocolVersion:
			return v3BadProtocolVersion, true
		case ClientIdentifierNotValid:
			return v3IdentifierRejected, true
		case ServerUnavailable, ServerBusy, UseAnotherServer, ServerMoved, ConnectionRateExceeded, QuotaExceeded,
			UnspecifiedError, ImplementationSpecificError:
			return v3ServerUnavailable, true
		case BadUserNameOrPassword, BadAuthenticationMethod:
			return v3BadUserNamePassword, true
		case NotAuthorized, Banned, QoSNotSupported, RetainNotSupported, TopicNameInvalid, PayloadFormatInvalid:
			return v3NotAuthorized, true
		}
		return 0, false // MalformedPacket, ProtocolError, PacketTooLarge
	case SUBACK:
		if rc.Failure() {
			return 0x80, true
		}
		return byte(rc), true
	case PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK:
		return 0, !rc.Failure()
	case DISCONNECT:
		return 0, rc == NormalDisconnection
	}
	return 0, false
}

// connackFromV3 maps a 3.1/3.1.1 CONNACK return code to its MQTT 5 name;
// ForPacket maps these back to the same byte. Codes 6-255 are reserved.
func connackFromV3(b byte) (ReasonCode, bool) {
	switch b {
	case v3Accepted:
		return Success, true
	case v3BadProtocolVersion:
		return UnsupportedProtocolVersion, true
	case v3IdentifierRejected:
		return ClientIdentifierNotValid, true
	case v3ServerUnavailable:
		return ServerUnavailable, true
	case v3BadUserNamePassword:
		return BadUserNameOrPassword, true
	case v3NotAuthorized:
		return NotAuthorized, true
	}
	return 0, false
}
