// Package packet is the MQTT wire codec of Nautilus: every control packet of
// MQTT 3.1 (protocol "MQIsdp", level 3), 3.1.1 (level 4) and 5.0 (level 5),
// including the bridge levels 131 and 132, decoded from and encoded to bytes.
// It imports only the standard library and knows nothing of connections,
// sessions or topics beyond what the wire format says.
//
// # Reading
//
// A Reader wraps a stream. ReadPacket(v) returns the next packet; ReadRaw
// returns the fixed header and body so the session can send PUBLISH to
// DecodePublish, which decodes into a reused *Publish without allocating.
// For bytes already in memory, SplitPacket (or DecodeFixedHeader, which
// returns ErrIncomplete on short input) followed by Decode does the same.
//
// The maximum packet size is enforced from the fixed header, before any body
// byte is read or buffer allocated: an oversized packet yields an error
// carrying PacketTooLarge.
//
// # Versions
//
// Every decoder and encoder takes the connection's Version. Before CONNECT it
// is 0 and only CONNECT decodes; the CONNECT states its own version (and
// bridge bit), which the session then passes to every later call. Unknown
// protocol names and levels give a *VersionError (UnsupportedProtocolVersion).
// Encoding for 3.1/3.1.1 drops what those versions lack: properties, MQTT 5
// subscription options, and the reason codes of PUBACK, PUBREC, PUBREL,
// PUBCOMP, UNSUBACK and DISCONNECT; CONNACK and SUBACK codes are translated.
//
// # Aliasing
//
// Decoded packets alias the body they were decoded from: strings are built
// with unsafe.String over the body and byte slices are sub-slices (capped, so
// appending to them copies). Decoding therefore allocates nothing for
// strings and payloads. The caller must not modify the body while the packet
// is in use, and must copy whatever it keeps beyond that (a routed message's
// topic and payload, a client id): with a Reader, the packet is valid until
// the next read. Empty binary fields (payload, password, correlation data)
// decode as nil.
//
// # Errors and reason codes
//
// ReasonCode is the MQTT 5 reason code and implements error. Every decode
// error wraps one: *Error{Code, Msg} for violations, *VersionError for
// unsupported protocols, so ReasonOf(err) gives the code to put in CONNACK or
// DISCONNECT (for MQTT 5) before closing the connection, and errors.Is(err,
// MalformedPacket) works. The split follows the specification: bytes that
// cannot be parsed, reserved bits that are set and bad UTF-8 are
// MalformedPacket (0x81); well-formed packets that break a rule (duplicate
// properties, a property in the wrong packet, packet identifier 0, an empty
// SUBSCRIBE) are ProtocolError (0x82); a few rules have their own code
// (TopicNameInvalid for wildcards in a topic name, TopicAliasInvalid for
// alias 0, PacketTooLarge). ReasonCode.ForPacket is the single mapping of a
// reason onto an acknowledgement in a given version, including the 3.1.1
// CONNACK return codes 0x01-0x05 and SUBACK's 0x80.
//
// Each check in the decoders names the normative statement it enforces, as
// [MQTT-x.y.z-n]; where 3.1.1 and 5.0 number a rule differently both appear.
//
// # What the codec does not check
//
// Rules that need state or policy belong to the broker: a second CONNECT is
// caught here only through the version argument; topic alias ranges, receive
// maximum, the client id's length and characters, Subscription Identifiers
// sent by a client [MQTT-3.3.4-6], which side may send which packet, and
// whether a payload with Payload Format Indicator 1 is valid UTF-8 (costly,
// and optional for the receiver). Topic filter syntax (wildcard placement,
// shared subscription names) is left to the topic package; the codec only
// rejects empty filters and No Local on "$share/" filters.
//
// UTF-8 strings must be well-formed and free of U+0000 [MQTT-1.5.4-1]
// [MQTT-1.5.4-2]. The control characters U+0001-U+001F and U+007F-U+009F and
// the Unicode non-characters, which senders SHOULD NOT use and receivers MAY
// reject, are accepted: rejecting them would break clients for no safety
// gain inside a broker that never interprets them.
//
// Encoders do not re-validate string contents (the strings come from decoded
// packets or from the broker), but they do refuse structurally invalid
// packets: given valid strings, the codec never writes a packet its own
// decoder rejects (FuzzRoundTrip checks this).
package packet
