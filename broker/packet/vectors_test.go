package packet

import "fmt"

// raw concatenates bytes for a wire vector: ints are single bytes (so each
// vector reads like the spec's byte tables) and strings are their bytes.
func raw(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			if p < 0 || p > 255 {
				panic(fmt.Sprintf("raw: %d is not a byte", p))
			}
			out = append(out, byte(p))
		case string:
			out = append(out, p...)
		case []byte:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("raw: %T", p))
		}
	}
	return out
}

// vector is one packet on the wire and as a struct. Encoding pkt for v gives
// exactly wire; decoding wire gives pkt. decodeOnly marks an alternative
// encoding the decoder accepts but the encoder never produces (it picks the
// shortest form).
type vector struct {
	name       string
	v          Version
	wire       []byte
	pkt        Packet
	decodeOnly bool
}

func props(f func(p *Properties)) Properties {
	var p Properties
	f(&p)
	return p
}

var vectors = []vector{
	// CONNECT (§3.1).
	{"connect/3.1", V31, raw(0x10, 17, 0, 6, "MQIsdp", 3, 0x02, 0, 60, 0, 3, "abc"),
		&Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, CleanStart: true, KeepAlive: 60, ClientID: "abc"}, false},
	{"connect/3.1.1-will-user-pass", V311,
		raw(0x10, 33, 0, 4, "MQTT", 4, 0xEE, 0, 10, 0, 2, "c1", 0, 3, "w/t", 0, 2, "by", 0, 4, "user", 0, 2, "pw"),
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 10, ClientID: "c1",
			Will:         &Will{Topic: "w/t", Payload: []byte("by"), QoS: 1, Retain: true},
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pw")}, false},
	{"connect/3.1.1-bridge", V311, raw(0x10, 14, 0, 4, "MQTT", 0x84, 0x00, 0, 0, 0, 2, "br"),
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V311, Bridge: true, ClientID: "br"}, false},
	{"connect/3.1-bridge-empty-id", V31, raw(0x10, 14, 0, 6, "MQIsdp", 0x83, 0x02, 0, 5, 0, 0),
		&Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, Bridge: true, CleanStart: true, KeepAlive: 5}, false},
	{"connect/5-props-will", V5,
		raw(0x10, 44, 0, 4, "MQTT", 5, 0x06, 0, 30,
			15, 0x11, 0, 0, 0, 60, 0x21, 0, 10, 0x26, 0, 1, "k", 0, 1, "v",
			0, 1, "x",
			7, 0x01, 1, 0x18, 0, 0, 0, 5,
			0, 1, "t", 0, 2, "hi"),
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 30, ClientID: "x",
			Properties: props(func(p *Properties) {
				p.SessionExpiry, p.ReceiveMaximum = 60, 10
				p.SetPresent(PropSessionExpiry)
				p.SetPresent(PropReceiveMaximum)
				p.UserProperties = []UserProperty{{"k", "v"}}
			}),
			Will: &Will{Topic: "t", Payload: []byte("hi"), Properties: props(func(p *Properties) {
				p.PayloadFormat, p.WillDelay = 1, 5
				p.SetPresent(PropPayloadFormat)
				p.SetPresent(PropWillDelay)
			})}}, false},
	{"connect/5-password-without-username", V5, raw(0x10, 18, 0, 4, "MQTT", 5, 0x42, 0, 0, 0, 0, 0, 0, 3, "sec"),
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, PasswordFlag: true, Password: []byte("sec")}, false},
	{"connect/5-auth", V5, raw(0x10, 25, 0, 4, "MQTT", 5, 0x00, 0, 0, 11, 0x15, 0, 3, "SCM", 0x16, 0, 2, 1, 2, 0, 1, "a"),
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, ClientID: "a", Properties: props(func(p *Properties) {
			p.AuthMethod, p.AuthData = "SCM", []byte{1, 2}
			p.SetPresent(PropAuthMethod)
			p.SetPresent(PropAuthData)
		})}, false},

	// CONNACK (§3.2).
	{"connack/3.1", V31, raw(0x20, 2, 0, 0), &Connack{}, false},
	{"connack/3.1.1-session-present", V311, raw(0x20, 2, 1, 0), &Connack{SessionPresent: true}, false},
	{"connack/3.1.1-bad-version", V311, raw(0x20, 2, 0, 1), &Connack{ReasonCode: UnsupportedProtocolVersion}, false},
	{"connack/3.1.1-id-rejected", V311, raw(0x20, 2, 0, 2), &Connack{ReasonCode: ClientIdentifierNotValid}, false},
	{"connack/3.1.1-unavailable", V311, raw(0x20, 2, 0, 3), &Connack{ReasonCode: ServerUnavailable}, false},
	{"connack/3.1.1-bad-credentials", V311, raw(0x20, 2, 0, 4), &Connack{ReasonCode: BadUserNameOrPassword}, false},
	{"connack/3.1.1-not-authorized", V311, raw(0x20, 2, 0, 5), &Connack{ReasonCode: NotAuthorized}, false},
	{"connack/5", V5, raw(0x20, 3, 0, 0, 0), &Connack{}, false},
	{"connack/5-refused", V5, raw(0x20, 3, 0, 0x87, 0), &Connack{ReasonCode: NotAuthorized}, false},
	{"connack/5-props", V5, raw(0x20, 12, 1, 0, 9, 0x12, 0, 3, "cid", 0x22, 0, 10),
		&Connack{SessionPresent: true, Properties: props(func(p *Properties) {
			p.AssignedClientID, p.TopicAliasMaximum = "cid", 10
			p.SetPresent(PropAssignedClientID)
			p.SetPresent(PropTopicAliasMaximum)
		})}, false},

	// PUBLISH (§3.3).
	{"publish/3.1.1-qos0", V311, raw(0x30, 7, 0, 3, "a/b", "hi"), &Publish{Topic: "a/b", Payload: []byte("hi")}, false},
	{"publish/3.1.1-qos1-dup-retain", V311, raw(0x3B, 8, 0, 3, "a/b", 0, 10, "x"),
		&Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 10, Payload: []byte("x")}, false},
	{"publish/3.1-qos2-empty-payload", V31, raw(0x34, 5, 0, 1, "t", 0x12, 0x34),
		&Publish{QoS: 2, Topic: "t", PacketID: 0x1234}, false},
	{"publish/5-qos0", V5, raw(0x30, 8, 0, 3, "a/b", 0, "hi"), &Publish{Topic: "a/b", Payload: []byte("hi")}, false},
	{"publish/5-qos1-props", V5,
		raw(0x32, 34, 0, 3, "a/b", 0, 7, 24,
			0x01, 1, 0x23, 0, 2, 0x0B, 5, 0x0B, 0x80, 0x01,
			0x26, 0, 1, "a", 0, 1, "b", 0x26, 0, 1, "a", 0, 1, "c", "hi"),
		&Publish{QoS: 1, Topic: "a/b", PacketID: 7, Payload: []byte("hi"), Properties: props(func(p *Properties) {
			p.PayloadFormat, p.TopicAlias = 1, 2
			p.SetPresent(PropPayloadFormat)
			p.SetPresent(PropTopicAlias)
			p.SubscriptionIDs = []uint32{5, 128}
			p.UserProperties = []UserProperty{{"a", "b"}, {"a", "c"}}
		})}, false},
	{"publish/5-alias-only", V5, raw(0x30, 7, 0, 0, 3, 0x23, 0, 1, "x"),
		&Publish{Payload: []byte("x"), Properties: props(func(p *Properties) {
			p.TopicAlias = 1
			p.SetPresent(PropTopicAlias)
		})}, false},
	{"publish/5-request-response", V5,
		raw(0x30, 28, 0, 1, "q", 22, 0x02, 0, 0, 0, 9, 0x03, 0, 4, "json", 0x08, 0, 2, "r/", 0x09, 0, 2, 0xCA, 0xFE, "{}"),
		&Publish{Topic: "q", Payload: []byte("{}"), Properties: props(func(p *Properties) {
			p.MessageExpiry, p.ContentType, p.ResponseTopic, p.CorrelationData = 9, "json", "r/", []byte{0xCA, 0xFE}
			p.SetPresent(PropMessageExpiry)
			p.SetPresent(PropContentType)
			p.SetPresent(PropResponseTopic)
			p.SetPresent(PropCorrelationData)
		})}, false},
	{"publish/3.1.1-unicode-topic", V311, raw(0x30, 8, 0, 6, "é/€"),
		&Publish{Topic: "é/€"}, false},

	// PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-3.7).
	// MQTT 3.1 acknowledgements have the 3.1.1 wire form: a two-byte
	// Message ID and nothing else; PUBREL carries QoS 1 in its fixed header
	// (flags 0010), as in 3.1.1.
	{"puback/3.1", V31, raw(0x40, 2, 0, 10), &Puback{PacketID: 10}, false},
	{"pubrec/3.1", V31, raw(0x50, 2, 0, 11), &Pubrec{PacketID: 11}, false},
	{"pubrel/3.1", V31, raw(0x62, 2, 0, 11), &Pubrel{PacketID: 11}, false},
	{"puback/3.1.1", V311, raw(0x40, 2, 0, 10), &Puback{PacketID: 10}, false},
	{"puback/5-success", V5, raw(0x40, 2, 0, 10), &Puback{PacketID: 10}, false},
	{"puback/5-code", V5, raw(0x40, 3, 0, 10, 0x10), &Puback{PacketID: 10, ReasonCode: NoMatchingSubscribers}, false},
	{"puback/5-props", V5, raw(0x40, 9, 0, 10, 0x87, 5, 0x1F, 0, 2, "no"),
		&Puback{PacketID: 10, ReasonCode: NotAuthorized, Properties: props(func(p *Properties) {
			p.ReasonString = "no"
			p.SetPresent(PropReasonString)
		})}, false},
	{"puback/5-long-success", V5, raw(0x40, 4, 0, 10, 0, 0), &Puback{PacketID: 10}, true},
	{"puback/5-success-no-props", V5, raw(0x40, 3, 0, 10, 0), &Puback{PacketID: 10}, true},
	{"pubrec/3.1.1", V311, raw(0x50, 2, 0, 11), &Pubrec{PacketID: 11}, false},
	{"pubrec/5", V5, raw(0x50, 3, 0, 11, 0x80), &Pubrec{PacketID: 11, ReasonCode: UnspecifiedError}, false},
	{"pubrel/3.1.1", V311, raw(0x62, 2, 0, 11), &Pubrel{PacketID: 11}, false},
	{"pubrel/5", V5, raw(0x62, 3, 0, 11, 0x92), &Pubrel{PacketID: 11, ReasonCode: PacketIdentifierNotFound}, false},
	{"pubcomp/3.1", V31, raw(0x70, 2, 0, 11), &Pubcomp{PacketID: 11}, false},
	{"pubcomp/3.1.1", V311, raw(0x70, 2, 0, 11), &Pubcomp{PacketID: 11}, false},
	{"pubcomp/5", V5, raw(0x70, 2, 0, 11), &Pubcomp{PacketID: 11}, false},

	// SUBSCRIBE, SUBACK (§3.8, §3.9).
	{"subscribe/3.1.1", V311, raw(0x82, 12, 0, 1, 0, 3, "a/b", 1, 0, 1, "#", 2),
		&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/b", QoS: 1}, {Filter: "#", QoS: 2}}}, false},
	{"subscribe/3.1", V31, raw(0x82, 6, 0, 2, 0, 1, "+", 0),
		&Subscribe{PacketID: 2, Subscriptions: []Subscription{{Filter: "+"}}}, false},
	{"subscribe/5-options", V5, raw(0x82, 24, 0, 1, 2, 0x0B, 7, 0, 3, "a/b", 0x2D, 0, 10, "$share/g/x", 0x12),
		&Subscribe{PacketID: 1, Properties: props(func(p *Properties) { p.SubscriptionIDs = []uint32{7} }),
			Subscriptions: []Subscription{
				{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/x", QoS: 2, RetainHandling: 1}}}, false},
	{"suback/3.1.1", V311, raw(0x90, 6, 0, 1, 0, 1, 2, 0x80),
		&Suback{PacketID: 1, ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError}}, false},
	// MQTT 3.1 SUBACK: one granted QoS (0..2) per topic; 3.1 defines no
	// failure code.
	{"suback/3.1", V31, raw(0x90, 5, 0, 2, 0, 1, 2),
		&Suback{PacketID: 2, ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2}}, false},
	// Not from the 3.1 spec: the codec's convention (ReasonCode.ForPacket)
	// sends and accepts 3.1.1's 0x80 "Failure" on 3.1 connections too, as
	// brokers do for 3.1 clients.
	{"suback/3.1-failure", V31, raw(0x90, 4, 0, 3, 1, 0x80),
		&Suback{PacketID: 3, ReasonCodes: []ReasonCode{GrantedQoS1, UnspecifiedError}}, false},
	{"suback/5", V5, raw(0x90, 10, 0, 1, 4, 0x1F, 0, 1, "r", 0x01, 0x87, 0xA2),
		&Suback{PacketID: 1, Properties: props(func(p *Properties) {
			p.ReasonString = "r"
			p.SetPresent(PropReasonString)
		}), ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized, WildcardSubscriptionsNotSupported}}, false},

	// UNSUBSCRIBE, UNSUBACK (§3.10, §3.11).
	{"unsubscribe/3.1.1", V311, raw(0xA2, 10, 0, 5, 0, 3, "a/b", 0, 1, "#"),
		&Unsubscribe{PacketID: 5, Filters: []string{"a/b", "#"}}, false},
	{"unsubscribe/3.1", V31, raw(0xA2, 7, 0, 6, 0, 3, "a/+"),
		&Unsubscribe{PacketID: 6, Filters: []string{"a/+"}}, false},
	{"unsubscribe/5", V5, raw(0xA2, 15, 0, 5, 7, 0x26, 0, 1, "k", 0, 1, "v", 0, 3, "a/b"),
		&Unsubscribe{PacketID: 5, Properties: props(func(p *Properties) { p.UserProperties = []UserProperty{{"k", "v"}} }),
			Filters: []string{"a/b"}}, false},
	{"unsuback/3.1", V31, raw(0xB0, 2, 0, 6), &Unsuback{PacketID: 6}, false},
	{"unsuback/3.1.1", V311, raw(0xB0, 2, 0, 5), &Unsuback{PacketID: 5}, false},
	{"unsuback/5", V5, raw(0xB0, 5, 0, 5, 0, 0x00, 0x11),
		&Unsuback{PacketID: 5, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}, false},

	// PINGREQ, PINGRESP (§3.12, §3.13).
	{"pingreq/3.1", V31, raw(0xC0, 0), &Pingreq{}, false},
	{"pingreq/3.1.1", V311, raw(0xC0, 0), &Pingreq{}, false},
	{"pingreq/5", V5, raw(0xC0, 0), &Pingreq{}, false},
	{"pingresp/3.1", V31, raw(0xD0, 0), &Pingresp{}, false},
	{"pingresp/3.1.1", V311, raw(0xD0, 0), &Pingresp{}, false},
	{"pingresp/5", V5, raw(0xD0, 0), &Pingresp{}, false},

	// DISCONNECT (§3.14).
	{"disconnect/3.1", V31, raw(0xE0, 0), &Disconnect{}, false},
	{"disconnect/3.1.1", V311, raw(0xE0, 0), &Disconnect{}, false},
	{"disconnect/5-normal", V5, raw(0xE0, 0), &Disconnect{}, false},
	{"disconnect/5-will", V5, raw(0xE0, 1, 0x04), &Disconnect{ReasonCode: DisconnectWithWillMessage}, false},
	{"disconnect/5-props", V5, raw(0xE0, 7, 0x8E, 5, 0x1F, 0, 2, "by"),
		&Disconnect{ReasonCode: SessionTakenOver, Properties: props(func(p *Properties) {
			p.ReasonString = "by"
			p.SetPresent(PropReasonString)
		})}, false},
	{"disconnect/5-long-normal", V5, raw(0xE0, 1, 0x00), &Disconnect{}, true},
	{"disconnect/5-longer-normal", V5, raw(0xE0, 2, 0x00, 0x00), &Disconnect{}, true},

	// AUTH (§3.15).
	{"auth/5-success", V5, raw(0xF0, 0), &Auth{}, false},
	{"auth/5-continue", V5, raw(0xF0, 13, 0x18, 11, 0x15, 0, 3, "SCM", 0x16, 0, 2, 1, 2),
		&Auth{ReasonCode: ContinueAuthentication, Properties: props(func(p *Properties) {
			p.AuthMethod, p.AuthData = "SCM", []byte{1, 2}
			p.SetPresent(PropAuthMethod)
			p.SetPresent(PropAuthData)
		})}, false},
}

// badVector is a packet the decoder must reject with the given reason.
type badVector struct {
	name string
	v    Version // 0 for packets decoded before CONNECT
	wire []byte
	want ReasonCode
}

var badVectors = []badVector{
	// Fixed header.
	{"type-0", V311, raw(0x00, 0), MalformedPacket},
	{"puback-flags", V311, raw(0x41, 2, 0, 1), MalformedPacket},
	{"connect-flags", 0, raw(0x11, 13, 0, 4, "MQTT", 4, 2, 0, 0, 0, 1, "a"), MalformedPacket},
	{"pubrel-flags-0000", V311, raw(0x60, 2, 0, 1), MalformedPacket},
	{"subscribe-flags-0000", V311, raw(0x80, 6, 0, 1, 0, 1, "a", 0), MalformedPacket},
	{"unsubscribe-flags-1010", V5, raw(0xAA, 6, 0, 1, 0, 0, 1, "a"), MalformedPacket},
	{"pingreq-flags", V5, raw(0xC1, 0), MalformedPacket},
	{"disconnect-flags", V5, raw(0xE8, 0), MalformedPacket},
	{"auth-flags", V5, raw(0xF1, 0), MalformedPacket},
	{"publish-qos3", V311, raw(0x36, 7, 0, 3, "a/b", 0, 1), MalformedPacket},
	{"publish-qos0-dup", V311, raw(0x38, 5, 0, 3, "a/b"), MalformedPacket},
	{"remaining-length-5-bytes", V311, raw(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), MalformedPacket},
	{"remaining-length-non-minimal", V311, raw(0xC0, 0x80, 0x00), MalformedPacket},
	{"remaining-length-non-minimal-3", V311, raw(0x30, 0x85, 0x80, 0x00, 0, 3, "a/b"), MalformedPacket},

	// UTF-8 [MQTT-1.5.4-1] [MQTT-1.5.4-2].
	{"topic-invalid-utf8", V311, raw(0x30, 5, 0, 3, "a", 0xFF, "b"), MalformedPacket},
	{"topic-surrogate", V311, raw(0x30, 5, 0, 3, 0xED, 0xA0, 0x80), MalformedPacket},
	{"topic-overlong", V311, raw(0x30, 4, 0, 2, 0xC0, 0xAF), MalformedPacket},
	{"topic-nul", V5, raw(0x30, 6, 0, 3, "a", 0, "b", 0), MalformedPacket},
	{"topic-truncated-rune", V311, raw(0x30, 4, 0, 2, "a", 0xE2), MalformedPacket},
	{"client-id-nul", 0, raw(0x10, 13, 0, 4, "MQTT", 4, 2, 0, 0, 0, 1, 0), MalformedPacket},
	{"user-property-invalid-utf8", V5, raw(0x30, 11, 0, 1, "a", 7, 0x26, 0, 1, 0xFF, 0, 1, "v"), MalformedPacket},

	// PUBLISH.
	{"topic-wildcard-hash", V311, raw(0x30, 5, 0, 3, "a/#"), TopicNameInvalid},
	{"topic-wildcard-plus", V5, raw(0x30, 6, 0, 3, "+/b", 0), TopicNameInvalid},
	{"topic-empty-3.1.1", V311, raw(0x30, 3, 0, 0, "x"), ProtocolError},
	{"topic-empty-5-no-alias", V5, raw(0x30, 3, 0, 0, 0), ProtocolError},
	{"publish-packet-id-0", V311, raw(0x32, 7, 0, 3, "a/b", 0, 0), ProtocolError},
	{"publish-string-past-end", V311, raw(0x30, 3, 0, 5, "a"), MalformedPacket},
	{"publish-missing-packet-id", V311, raw(0x32, 4, 0, 1, "a", 0), MalformedPacket},
	{"topic-alias-0", V5, raw(0x30, 7, 0, 1, "a", 3, 0x23, 0, 0), TopicAliasInvalid},
	{"response-topic-wildcard", V5, raw(0x30, 9, 0, 1, "a", 5, 0x08, 0, 2, "r#"), ProtocolError},
	{"payload-format-2", V5, raw(0x30, 6, 0, 1, "a", 2, 0x01, 2), ProtocolError},

	// Properties (§2.2.2).
	{"property-length-past-end", V5, raw(0x30, 6, 0, 1, "a", 5, 0x01, 1), MalformedPacket},
	{"property-value-past-end", V5, raw(0x30, 6, 0, 1, "a", 2, 0x02, 0), MalformedPacket},
	{"property-duplicate", V5, raw(0x30, 8, 0, 1, "a", 4, 0x01, 1, 0x01, 0), ProtocolError},
	{"property-not-allowed", V5, raw(0x30, 9, 0, 1, "a", 5, 0x11, 0, 0, 0, 1), ProtocolError},
	{"property-unknown", V5, raw(0x30, 6, 0, 1, "a", 2, 0x7F, 0), MalformedPacket},
	{"property-id-non-minimal", V5, raw(0x30, 7, 0, 1, "a", 3, 0x81, 0x00, 1), MalformedPacket},
	{"subscription-id-repeated-in-subscribe", V5, raw(0x82, 11, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, "a", 0), ProtocolError},
	{"subscription-id-0", V5, raw(0x82, 9, 0, 1, 2, 0x0B, 0, 0, 1, "a", 0), ProtocolError},
	{"receive-maximum-0", 0, raw(0x10, 17, 0, 4, "MQTT", 5, 2, 0, 0, 3, 0x21, 0, 0, 0, 1, "a"), ProtocolError},
	{"maximum-packet-size-0", V5, raw(0x20, 8, 0, 0, 5, 0x27, 0, 0, 0, 0), ProtocolError},
	{"maximum-qos-2", V5, raw(0x20, 5, 0, 0, 2, 0x24, 2), ProtocolError},
	{"auth-data-without-method", 0, raw(0x10, 18, 0, 4, "MQTT", 5, 2, 0, 0, 4, 0x16, 0, 1, 9, 0, 1, "a"), ProtocolError},
	{"will-property-in-connect", 0, raw(0x10, 19, 0, 4, "MQTT", 5, 2, 0, 0, 5, 0x18, 0, 0, 0, 1, 0, 1, "a"), ProtocolError},
	{"session-expiry-in-will", 0,
		raw(0x10, 25, 0, 4, "MQTT", 5, 0x06, 0, 0, 0, 0, 1, "a", 5, 0x11, 0, 0, 0, 1, 0, 1, "t", 0, 0), ProtocolError},

	// CONNECT (§3.1).
	{"connect-level-6", 0, raw(0x10, 13, 0, 4, "MQTT", 6, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect-name-mqtx", 0, raw(0x10, 13, 0, 4, "MQTX", 4, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect-mqisdp-level-4", 0, raw(0x10, 15, 0, 6, "MQIsdp", 4, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect-mqtt-level-3", 0, raw(0x10, 13, 0, 4, "MQTT", 3, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect-bridge-5", 0, raw(0x10, 14, 0, 4, "MQTT", 0x85, 2, 0, 60, 0, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect-reserved-flag", 0, raw(0x10, 13, 0, 4, "MQTT", 4, 0x03, 0, 60, 0, 1, "a"), MalformedPacket},
	{"connect-will-qos-without-will", 0, raw(0x10, 13, 0, 4, "MQTT", 4, 0x0A, 0, 60, 0, 1, "a"), MalformedPacket},
	{"connect-will-retain-without-will", 0, raw(0x10, 14, 0, 4, "MQTT", 5, 0x22, 0, 60, 0, 0, 1, "a"), MalformedPacket},
	{"connect-will-qos-3", 0, raw(0x10, 18, 0, 4, "MQTT", 4, 0x1E, 0, 60, 0, 1, "a", 0, 1, "t", 0, 0), MalformedPacket},
	{"connect-password-without-username-3.1.1", 0, raw(0x10, 17, 0, 4, "MQTT", 4, 0x42, 0, 60, 0, 1, "a", 0, 2, "pw"), MalformedPacket},
	{"connect-password-without-username-3.1", 0, raw(0x10, 19, 0, 6, "MQIsdp", 3, 0x42, 0, 60, 0, 1, "a", 0, 2, "pw"), MalformedPacket},
	{"connect-trailing", 0, raw(0x10, 14, 0, 4, "MQTT", 4, 2, 0, 60, 0, 1, "a", 0), MalformedPacket},
	{"connect-missing-password", 0, raw(0x10, 16, 0, 4, "MQTT", 4, 0xC2, 0, 60, 0, 1, "a", 0, 1, "u"), MalformedPacket},
	{"connect-missing-client-id", 0, raw(0x10, 10, 0, 4, "MQTT", 4, 2, 0, 60), MalformedPacket},
	{"connect-will-topic-wildcard", 0, raw(0x10, 18, 0, 4, "MQTT", 4, 0x06, 0, 60, 0, 1, "a", 0, 1, "#", 0, 0), TopicNameInvalid},
	{"connect-will-topic-empty", 0, raw(0x10, 17, 0, 4, "MQTT", 4, 0x06, 0, 60, 0, 1, "a", 0, 0, 0, 0), TopicNameInvalid},
	{"connect-after-connect", V311, raw(0x10, 13, 0, 4, "MQTT", 4, 2, 0, 60, 0, 1, "a"), ProtocolError},
	{"publish-before-connect", 0, raw(0x30, 7, 0, 3, "a/b", "hi"), ProtocolError},
	{"pingreq-before-connect", 0, raw(0xC0, 0), ProtocolError},

	// CONNACK (§3.2).
	{"connack-reserved-flags", V311, raw(0x20, 2, 0x02, 0), MalformedPacket},
	{"connack-3.1-session-present", V31, raw(0x20, 2, 0x01, 0), MalformedPacket},
	{"connack-session-present-refused", V311, raw(0x20, 2, 1, 5), ProtocolError},
	{"connack-return-code-6", V311, raw(0x20, 2, 0, 6), MalformedPacket},
	{"connack-5-invalid-code", V5, raw(0x20, 3, 0, 0x10, 0), ProtocolError},
	{"connack-5-missing-props", V5, raw(0x20, 2, 0, 0), MalformedPacket},
	{"connack-trailing", V311, raw(0x20, 3, 0, 0, 0), MalformedPacket},

	// Acknowledgements.
	{"puback-trailing-3.1.1", V311, raw(0x40, 3, 0, 1, 0), MalformedPacket},
	{"puback-short", V311, raw(0x40, 1, 0), MalformedPacket},
	{"puback-packet-id-0", V311, raw(0x40, 2, 0, 0), ProtocolError},
	{"puback-5-invalid-code", V5, raw(0x40, 3, 0, 1, 0x04), ProtocolError},
	{"pubrel-5-invalid-code", V5, raw(0x62, 3, 0, 1, 0x10), ProtocolError},
	{"puback-5-property-past-end", V5, raw(0x40, 5, 0, 1, 0, 3, 0x1F), MalformedPacket},
	{"pingreq-body", V311, raw(0xC0, 1, 0), MalformedPacket},
	{"pingresp-body", V5, raw(0xD0, 1, 0), MalformedPacket},
	{"disconnect-body-3.1.1", V311, raw(0xE0, 1, 0), MalformedPacket},
	{"disconnect-5-invalid-code", V5, raw(0xE0, 1, 0x18), ProtocolError},
	{"disconnect-5-not-allowed-property", V5, raw(0xE0, 5, 0, 3, 0x23, 0, 1), ProtocolError},
	{"auth-3.1.1", V311, raw(0xF0, 0), MalformedPacket},
	{"auth-5-invalid-code", V5, raw(0xF0, 2, 0x87, 0), ProtocolError},
	{"auth-5-without-method", V5, raw(0xF0, 2, 0x18, 0), ProtocolError},

	// SUBSCRIBE (§3.8).
	{"subscribe-no-filters-3.1.1", V311, raw(0x82, 2, 0, 1), ProtocolError},
	{"subscribe-no-filters-5", V5, raw(0x82, 3, 0, 1, 0), ProtocolError},
	{"subscribe-packet-id-0", V311, raw(0x82, 6, 0, 0, 0, 1, "a", 0), ProtocolError},
	{"subscribe-empty-filter", V311, raw(0x82, 5, 0, 1, 0, 0, 0), ProtocolError},
	{"subscribe-missing-options", V311, raw(0x82, 5, 0, 1, 0, 1, "a"), MalformedPacket},
	{"subscribe-reserved-bits-3.1.1", V311, raw(0x82, 6, 0, 1, 0, 1, "a", 0x04), MalformedPacket},
	{"subscribe-qos3-3.1.1", V311, raw(0x82, 6, 0, 1, 0, 1, "a", 0x03), MalformedPacket},
	{"subscribe-reserved-bits-5", V5, raw(0x82, 7, 0, 1, 0, 0, 1, "a", 0x40), MalformedPacket},
	{"subscribe-qos3-5", V5, raw(0x82, 7, 0, 1, 0, 0, 1, "a", 0x03), ProtocolError},
	{"subscribe-retain-handling-3", V5, raw(0x82, 7, 0, 1, 0, 0, 1, "a", 0x30), ProtocolError},
	{"subscribe-no-local-shared", V5, raw(0x82, 16, 0, 1, 0, 0, 10, "$share/g/a", 0x04), ProtocolError},
	{"subscribe-filter-invalid-utf8", V311, raw(0x82, 6, 0, 1, 0, 1, 0xFE, 0), MalformedPacket},

	// SUBACK, UNSUBSCRIBE, UNSUBACK (§3.9-3.11).
	{"suback-no-codes", V311, raw(0x90, 2, 0, 1), ProtocolError},
	{"suback-3.1.1-code-0x87", V311, raw(0x90, 3, 0, 1, 0x87), ProtocolError},
	{"suback-5-invalid-code", V5, raw(0x90, 4, 0, 1, 0, 0x11), ProtocolError},
	{"unsubscribe-no-filters", V311, raw(0xA2, 2, 0, 1), ProtocolError},
	{"unsubscribe-no-filters-5", V5, raw(0xA2, 3, 0, 1, 0), ProtocolError},
	{"unsubscribe-empty-filter", V5, raw(0xA2, 5, 0, 1, 0, 0, 0), ProtocolError},
	{"unsubscribe-packet-id-0", V311, raw(0xA2, 5, 0, 0, 0, 1, "a"), ProtocolError},
	{"unsubscribe-subscription-id", V5, raw(0xA2, 8, 0, 1, 2, 0x0B, 1, 0, 1, "a"), ProtocolError},
	{"unsuback-trailing-3.1.1", V311, raw(0xB0, 3, 0, 1, 0), MalformedPacket},
	{"unsuback-5-no-codes", V5, raw(0xB0, 3, 0, 1, 0), ProtocolError},
	{"unsuback-5-invalid-code", V5, raw(0xB0, 4, 0, 1, 0, 0x10), ProtocolError},
}
