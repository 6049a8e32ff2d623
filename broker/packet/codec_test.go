package packet

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// normalize returns a deep copy of p in which empty slices are nil, so that
// packets built by hand and decoded packets compare with reflect.DeepEqual.
func normalize(p any) any {
	v := reflect.ValueOf(p)
	out := reflect.New(v.Type()).Elem()
	normValue(out, v)
	return out.Interface()
}

func normValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		n := reflect.New(src.Elem().Type())
		normValue(n.Elem(), src.Elem())
		dst.Set(n)
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			normValue(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		n := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			normValue(n.Index(i), src.Index(i))
		}
		dst.Set(n)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		n := reflect.New(src.Elem().Type()).Elem()
		normValue(n, src.Elem())
		dst.Set(n)
	default:
		dst.Set(src)
	}
}

func equalPackets(a, b Packet) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

// decodeWire decodes one whole packet held in b, as the session would.
func decodeWire(v Version, b []byte) (Packet, error) {
	fh, body, n, err := SplitPacket(b, 0)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, errors.New("bytes after the packet")
	}
	return Decode(v, fh, body)
}

// decodeVersion is the version to pass to Decode for a packet of type t on a
// connection speaking v: 0 for CONNECT, which comes first.
func decodeVersion(t Type, v Version) Version {
	if t == CONNECT {
		return 0
	}
	return v
}

func TestVectorsDecode(t *testing.T) {
	for _, tc := range vectors {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeWire(decodeVersion(tc.pkt.Type(), tc.v), tc.wire)
			if err != nil {
				t.Fatalf("decode % x: %v", tc.wire, err)
			}
			if !equalPackets(got, tc.pkt) {
				t.Fatalf("decode % x:\n got  %+v\n want %+v", tc.wire, normalize(got), normalize(tc.pkt))
			}
		})
	}
}

func TestVectorsEncode(t *testing.T) {
	for _, tc := range vectors {
		if tc.decodeOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(nil, tc.v, tc.pkt)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(got, tc.wire) {
				t.Fatalf("encode:\n got  % x\n want % x", got, tc.wire)
			}
			if n := Size(tc.v, tc.pkt); n != len(tc.wire) {
				t.Fatalf("Size = %d, want %d", n, len(tc.wire))
			}
			// Appending keeps what dst held.
			got, err = Encode([]byte("prefix"), tc.v, tc.pkt)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), tc.wire...)) {
				t.Fatalf("encode after a prefix: % x, %v", got, err)
			}
		})
	}
}

func TestVectorsDecodePublishReuse(t *testing.T) {
	var p Publish
	// Dirty the struct first: DecodePublish must reset everything.
	p.Properties.UserProperties = []UserProperty{{"old", "old"}}
	p.Properties.SubscriptionIDs = []uint32{99}
	p.Properties.Present = ^uint64(0)
	p.PacketID, p.Dup, p.Topic = 77, true, "old"
	for _, tc := range vectors {
		want, ok := tc.pkt.(*Publish)
		if !ok {
			continue
		}
		fh, n, err := DecodeFixedHeader(tc.wire)
		if err != nil {
			t.Fatal(err)
		}
		if err := DecodePublish(tc.v, fh, tc.wire[n:], &p); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !equalPackets(&p, want) {
			t.Fatalf("%s:\n got  %+v\n want %+v", tc.name, normalize(&p), normalize(want))
		}
	}
}

func TestBadVectors(t *testing.T) {
	for _, tc := range badVectors {
		t.Run(tc.name, func(t *testing.T) {
			p, err := decodeWire(tc.v, tc.wire)
			if err == nil {
				t.Fatalf("decode % x = %+v, want error %v", tc.wire, p, tc.want)
			}
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("decode % x: %v: reason %v (0x%02x), want %v (0x%02x)", tc.wire, err, got, byte(got), tc.want, byte(tc.want))
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.want)
			}
		})
	}
}

func TestVersionError(t *testing.T) {
	_, err := decodeWire(0, raw(0x10, 13, 0, 4, "MQTT", 6, 2, 0, 60, 0, 1, "a"))
	var ve *VersionError
	if !errors.As(err, &ve) || ve.ProtocolName != "MQTT" || ve.Level != 6 {
		t.Fatalf("err = %#v, want *VersionError{MQTT 6}", err)
	}
	// The answer the broker sends: the 3.1.1 form, return code 1.
	b, err := Encode(nil, V311, &Connack{ReasonCode: ReasonOf(ve)})
	if err != nil || !bytes.Equal(b, raw(0x20, 2, 0, 1)) {
		t.Fatalf("CONNACK for an unsupported version = % x, %v", b, err)
	}
	b, err = Encode(nil, V5, &Connack{ReasonCode: ReasonOf(ve)})
	if err != nil || !bytes.Equal(b, raw(0x20, 3, 0, 0x84, 0)) {
		t.Fatalf("v5 CONNACK for an unsupported version = % x, %v", b, err)
	}
}

func TestConnectVersion(t *testing.T) {
	for _, tc := range vectors {
		if c, ok := tc.pkt.(*Connect); ok {
			fh, n, _ := DecodeFixedHeader(tc.wire)
			v, ok := ConnectVersion(tc.wire[n : n+fh.RemainingLength])
			if !ok || v != c.ProtocolVersion {
				t.Errorf("%s: ConnectVersion = %v, %v", tc.name, v, ok)
			}
		}
	}
	if _, ok := ConnectVersion(raw(0, 4, "MQTT", 7)); ok {
		t.Error("ConnectVersion accepted level 7")
	}
	if _, ok := ConnectVersion(raw(0, 4, "MQ")); ok {
		t.Error("ConnectVersion accepted a truncated body")
	}
}

func TestDecodeAliasesAndCaps(t *testing.T) {
	wire := raw(0x30, 7, 0, 3, "a/b", "hi")
	p, err := decodeWire(V311, wire)
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*Publish)
	if &pub.Payload[0] != &wire[7] {
		t.Error("payload was copied")
	}
	if cap(pub.Payload) != len(pub.Payload) {
		t.Error("payload capacity reaches past its end: an append would overwrite the body")
	}
}

func TestDecodeBodyLengthMismatch(t *testing.T) {
	_, err := Decode(V311, FixedHeader{Type: PINGREQ, RemainingLength: 1}, nil)
	if ReasonOf(err) != MalformedPacket {
		t.Fatalf("err = %v", err)
	}
	err = DecodePublish(V311, FixedHeader{Type: PUBACK, RemainingLength: 2}, []byte{0, 1}, &Publish{})
	if ReasonOf(err) != ProtocolError {
		t.Fatalf("DecodePublish of a PUBACK: %v", err)
	}
}

func TestDecodeFixedHeaderIncomplete(t *testing.T) {
	for _, b := range [][]byte{nil, {0x30}, {0x30}, {0x30, 0x80}, {0x30, 0x80, 0x80}, {0x30, 0xFF, 0xFF, 0xFF}} {
		if _, _, err := DecodeFixedHeader(b); err != ErrIncomplete {
			t.Errorf("% x: err = %v, want ErrIncomplete", b, err)
		}
	}
	fh, n, err := DecodeFixedHeader([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F})
	if err != nil || n != 5 || fh.RemainingLength != MaxRemainingLength || fh.PacketSize() != MaxPacketSize {
		t.Fatalf("max header: %+v %d %v", fh, n, err)
	}
	for _, tc := range []struct {
		b    []byte
		want int
	}{{raw(0x30, 0), 0}, {raw(0x30, 127), 127}, {raw(0x30, 0x80, 1), 128}, {raw(0x30, 0xFF, 0x7F), 16383},
		{raw(0x30, 0x80, 0x80, 1), 16384}, {raw(0x30, 0xFF, 0xFF, 0x7F), 2097151}, {raw(0x30, 0x80, 0x80, 0x80, 1), 2097152}} {
		fh, n, err := DecodeFixedHeader(tc.b)
		if err != nil || fh.RemainingLength != tc.want || n != len(tc.b) {
			t.Errorf("% x: %+v %d %v, want %d", tc.b, fh, n, err, tc.want)
		}
		if got := appendVBI(nil, tc.want); !bytes.Equal(got, tc.b[1:]) {
			t.Errorf("appendVBI(%d) = % x", tc.want, got)
		}
	}
}

func TestSplitPacket(t *testing.T) {
	stream := append(raw(0xC0, 0), raw(0x30, 7, 0, 3, "a/b", "hi")...)
	fh, body, n, err := SplitPacket(stream, 0)
	if err != nil || fh.Type != PINGREQ || len(body) != 0 || n != 2 {
		t.Fatalf("first: %+v %v %d %v", fh, body, n, err)
	}
	for i := 2; i < len(stream); i++ {
		if _, _, _, err := SplitPacket(stream[2:i], 0); err != ErrIncomplete {
			t.Fatalf("prefix %d: err = %v, want ErrIncomplete", i, err)
		}
	}
	fh, body, n, err = SplitPacket(stream[2:], 0)
	if err != nil || fh.Type != PUBLISH || string(body) != "\x00\x03a/bhi" || n != 9 {
		t.Fatalf("second: %+v %q %d %v", fh, body, n, err)
	}
	// The limit applies to the whole packet and is checked from the header.
	if _, _, _, err := SplitPacket(stream[2:4], 8); ReasonOf(err) != PacketTooLarge {
		t.Fatalf("oversize: %v", err)
	}
	if _, _, _, err := SplitPacket(stream[2:], 9); err != nil {
		t.Fatalf("exact size: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", 65536)
	alias := props(func(p *Properties) { p.TopicAlias = 0; p.SetPresent(PropTopicAlias) })
	cases := []struct {
		name string
		v    Version
		p    Packet
		want ReasonCode
	}{
		{"publish-qos3", V311, &Publish{Topic: "a", QoS: 3, PacketID: 1}, MalformedPacket},
		{"publish-dup-qos0", V311, &Publish{Topic: "a", Dup: true}, MalformedPacket},
		{"publish-id-0", V311, &Publish{Topic: "a", QoS: 1}, ProtocolError},
		{"publish-empty-topic-3.1.1", V311, &Publish{}, ProtocolError},
		{"publish-empty-topic-5", V5, &Publish{}, ProtocolError},
		{"publish-long-topic", V311, &Publish{Topic: long}, MalformedPacket},
		{"publish-alias-0", V5, &Publish{Topic: "a", Properties: alias}, TopicAliasInvalid},
		{"publish-session-expiry", V5, &Publish{Topic: "a", Properties: props(func(p *Properties) { p.SetPresent(PropSessionExpiry) })}, ProtocolError},
		{"publish-unknown-version", 6, &Publish{Topic: "a"}, UnsupportedProtocolVersion},
		{"publish-too-large", V311, &Publish{Topic: "a", Payload: make([]byte, MaxRemainingLength)}, PacketTooLarge},
		{"connect-no-version", V311, &Connect{}, UnsupportedProtocolVersion},
		{"connect-wrong-name", V311, &Connect{ProtocolVersion: V311, ProtocolName: "MQIsdp"}, UnsupportedProtocolVersion},
		{"connect-bridge-5", V5, &Connect{ProtocolVersion: V5, Bridge: true}, UnsupportedProtocolVersion},
		{"connect-password-3.1.1", V311, &Connect{ProtocolVersion: V311, PasswordFlag: true}, MalformedPacket},
		{"connect-username-without-flag", V311, &Connect{ProtocolVersion: V311, Username: "u"}, MalformedPacket},
		{"connect-will-qos3", V311, &Connect{ProtocolVersion: V311, Will: &Will{Topic: "t", QoS: 3}}, MalformedPacket},
		{"connect-will-wildcard", V311, &Connect{ProtocolVersion: V311, Will: &Will{Topic: "t/#"}}, TopicNameInvalid},
		{"connect-will-delay-in-connect", V5, &Connect{ProtocolVersion: V5, Properties: props(func(p *Properties) { p.SetPresent(PropWillDelay) })}, ProtocolError},
		{"connack-3.1.1-malformed", V311, &Connack{ReasonCode: MalformedPacket}, ProtocolError},
		{"connack-granted-qos1", V5, &Connack{ReasonCode: GrantedQoS1}, ProtocolError},
		{"connack-session-present-refused", V5, &Connack{SessionPresent: true, ReasonCode: NotAuthorized}, ProtocolError},
		{"connack-3.1-session-present", V31, &Connack{SessionPresent: true}, ProtocolError},
		{"puback-id-0", V5, &Puback{}, ProtocolError},
		{"puback-bad-code", V5, &Puback{PacketID: 1, ReasonCode: GrantedQoS2}, ProtocolError},
		{"subscribe-empty", V311, &Subscribe{PacketID: 1}, ProtocolError},
		{"subscribe-empty-filter", V311, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{}}}, ProtocolError},
		{"subscribe-rh3", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}, ProtocolError},
		{"subscribe-nolocal-shared", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/a/b", NoLocal: true}}}, ProtocolError},
		{"subscribe-two-sub-ids", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}},
			Properties: props(func(p *Properties) { p.SubscriptionIDs = []uint32{1, 2} })}, ProtocolError},
		{"suback-empty", V5, &Suback{PacketID: 1}, ProtocolError},
		{"suback-bad-code", V311, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NoSubscriptionExisted}}, ProtocolError},
		{"unsubscribe-empty", V5, &Unsubscribe{PacketID: 1}, ProtocolError},
		{"unsuback-5-empty", V5, &Unsuback{PacketID: 1}, ProtocolError},
		{"disconnect-bad-code", V5, &Disconnect{ReasonCode: ContinueAuthentication}, ProtocolError},
		{"auth-3.1.1", V311, &Auth{}, ProtocolError},
		{"auth-without-method", V5, &Auth{ReasonCode: ContinueAuthentication}, ProtocolError},
		{"user-property-too-long", V5, &Disconnect{Properties: Properties{UserProperties: []UserProperty{{long, ""}}}}, MalformedPacket},
		{"receive-maximum-0", V5, &Connack{Properties: props(func(p *Properties) { p.SetPresent(PropReceiveMaximum) })}, ProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := Encode(dst, tc.v, tc.p)
			if ReasonOf(err) != tc.want {
				t.Fatalf("Encode err = %v, want reason %v", err, tc.want)
			}
			if string(got) != "keep" {
				t.Fatalf("Encode wrote % x on error", got)
			}
			if Size(tc.v, tc.p) != 0 {
				t.Fatalf("Size of an unencodable packet is not 0")
			}
		})
	}
}

func TestEncodeDropsWhatV3Lacks(t *testing.T) {
	full := props(func(p *Properties) { p.ReasonString = "x"; p.SetPresent(PropReasonString) })
	cases := []struct {
		p    Packet
		want []byte
	}{
		{&Puback{PacketID: 1, ReasonCode: NotAuthorized, Properties: full}, raw(0x40, 2, 0, 1)},
		{&Pubrel{PacketID: 1, ReasonCode: PacketIdentifierNotFound}, raw(0x62, 2, 0, 1)},
		{&Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{NoSubscriptionExisted}, Properties: full}, raw(0xB0, 2, 0, 1)},
		{&Disconnect{ReasonCode: ServerShuttingDown, Properties: full}, raw(0xE0, 0)},
		{&Suback{PacketID: 1, ReasonCodes: []ReasonCode{NotAuthorized, GrantedQoS1, QuotaExceeded}}, raw(0x90, 5, 0, 1, 0x80, 1, 0x80)},
		{&Connack{ReasonCode: Banned, Properties: full}, raw(0x20, 2, 0, 5)},
		{&Connack{ReasonCode: ServerBusy}, raw(0x20, 2, 0, 3)},
		{&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainHandling: 2}}}, raw(0x82, 6, 0, 1, 0, 1, "a", 1)},
		{&Publish{Topic: "a", PacketID: 9, Properties: full}, raw(0x30, 3, 0, 1, "a")},
	}
	for _, tc := range cases {
		got, err := Encode(nil, V311, tc.p)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%T: % x, %v; want % x", tc.p, got, err, tc.want)
		}
	}
}

func TestForPacket(t *testing.T) {
	cases := []struct {
		rc   ReasonCode
		t    Type
		v    Version
		want byte
		ok   bool
	}{
		{Success, CONNACK, V311, 0, true},
		{UnsupportedProtocolVersion, CONNACK, V311, 1, true},
		{ClientIdentifierNotValid, CONNACK, V31, 2, true},
		{ServerUnavailable, CONNACK, V311, 3, true},
		{ServerBusy, CONNACK, V311, 3, true},
		{BadUserNameOrPassword, CONNACK, V311, 4, true},
		{NotAuthorized, CONNACK, V311, 5, true},
		{Banned, CONNACK, V311, 5, true},
		{MalformedPacket, CONNACK, V311, 0, false},
		{ProtocolError, CONNACK, V311, 0, false},
		{UnsupportedProtocolVersion, CONNACK, V5, 0x84, true},
		{MalformedPacket, CONNACK, V5, 0x81, true},
		{GrantedQoS1, CONNACK, V5, 0, false},
		{GrantedQoS2, SUBACK, V311, 2, true},
		{NotAuthorized, SUBACK, V311, 0x80, true},
		{NotAuthorized, SUBACK, V5, 0x87, true},
		{NoSubscriptionExisted, SUBACK, V311, 0, false},
		{Success, PUBACK, V311, 0, true},
		{NoMatchingSubscribers, PUBACK, V311, 0, true},
		{NotAuthorized, PUBACK, V311, 0, false},
		{NotAuthorized, PUBACK, V5, 0x87, true},
		{PacketIdentifierNotFound, PUBREL, V5, 0x92, true},
		{NotAuthorized, PUBREL, V5, 0, false},
		{NoSubscriptionExisted, UNSUBACK, V5, 0x11, true},
		{NoSubscriptionExisted, UNSUBACK, V311, 0, true},
		{SessionTakenOver, DISCONNECT, V5, 0x8E, true},
		{SessionTakenOver, DISCONNECT, V311, 0, false},
		{NormalDisconnection, DISCONNECT, V311, 0, true},
		{ReAuthenticate, AUTH, V5, 0x19, true},
		{ReAuthenticate, AUTH, V311, 0, false},
		{Success, PUBLISH, V5, 0, false},
	}
	for _, tc := range cases {
		got, ok := tc.rc.ForPacket(tc.t, tc.v)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%v.ForPacket(%v, %v) = 0x%02x, %v; want 0x%02x, %v", tc.rc, tc.t, tc.v, got, ok, tc.want, tc.ok)
		}
	}
	// Every 3.1.1 CONNACK return code survives decode and encode.
	for b := byte(0); b <= 5; b++ {
		rc, ok := connackFromV3(b)
		if got, ok2 := rc.ForPacket(CONNACK, V311); !ok || !ok2 || got != b {
			t.Errorf("CONNACK return code %d -> %v -> %d", b, rc, got)
		}
	}
}

func TestReasonOf(t *testing.T) {
	if ReasonOf(nil) != Success {
		t.Error("nil")
	}
	if ReasonOf(errors.New("x")) != UnspecifiedError || ReasonOf(ErrIncomplete) != UnspecifiedError {
		t.Error("plain errors")
	}
	if ReasonOf(QuotaExceeded) != QuotaExceeded {
		t.Error("bare code")
	}
	wrapped := errors.Join(errors.New("ctx"), &Error{Code: PacketTooLarge, Msg: "m"})
	if ReasonOf(wrapped) != PacketTooLarge || !errors.Is(wrapped, PacketTooLarge) {
		t.Error("wrapped *Error")
	}
	var rc ReasonCode
	if !errors.As(&Error{Code: Banned}, &rc) || rc != Banned {
		t.Error("errors.As")
	}
}

func TestStrings(t *testing.T) {
	for ty := Type(0); ty < 16; ty++ {
		if s := ty.String(); s == "" || strings.HasPrefix(s, "Type(") {
			t.Errorf("Type %d has no name", ty)
		}
	}
	if Type(16).String() != "Type(16)" || Version(9).String() != "Version(9)" || V311.String() != "3.1.1" {
		t.Error("fallback names")
	}
	n := 0
	for id := 0; id < 256; id++ {
		if PropID(id).known() {
			n++
			if strings.HasPrefix(PropID(id).String(), "property 0x") {
				t.Errorf("property %d has no name", id)
			}
		}
	}
	if n != 27 {
		t.Errorf("%d properties, want 27", n)
	}
	named := 0
	for rc := 0; rc < 256; rc++ {
		if !strings.HasPrefix(ReasonCode(rc).String(), "reason code 0x") {
			named++
		}
	}
	if named != 43 {
		t.Errorf("%d named reason codes, want 43", named)
	}
	if ReasonCode(0x03).Error() != "reason code 0x3" || MalformedPacket.Error() != "malformed packet" {
		t.Error("reason code text")
	}
	if !strings.Contains((&Error{Code: ProtocolError, Msg: "m"}).Error(), "protocol error") {
		t.Error("Error text")
	}
}

func TestPropertiesHelpers(t *testing.T) {
	var p Properties
	if p.Has(PropUserProperty) || p.Has(PropSubscriptionID) || p.Has(PropTopicAlias) || p.Size() != 1 {
		t.Fatal("zero Properties")
	}
	p.TopicAlias = 3
	p.SetPresent(PropTopicAlias)
	p.SetPresent(PropUserProperty) // no-op: presence is the slice
	p.UserProperties = append(p.UserProperties, UserProperty{"a", "b"})
	p.SubscriptionIDs = append(p.SubscriptionIDs, 1)
	if !p.Has(PropTopicAlias) || !p.Has(PropUserProperty) || !p.Has(PropSubscriptionID) {
		t.Fatal("Has")
	}
	if p.Size() != 1+3+7+2 {
		t.Fatalf("Size = %d", p.Size())
	}
	p.Clear(PropTopicAlias)
	p.Clear(PropUserProperty)
	p.Clear(PropSubscriptionID)
	if p.Has(PropTopicAlias) || p.Has(PropUserProperty) || p.Has(PropSubscriptionID) {
		t.Fatal("Clear")
	}
	p.UserProperties = append(p.UserProperties, UserProperty{"a", "b"})
	p.ContentType = "x"
	p.SetPresent(PropContentType)
	c := cap(p.UserProperties)
	p.Reset()
	if p.Present != 0 || p.ContentType != "" || len(p.UserProperties) != 0 || cap(p.UserProperties) != c {
		t.Fatal("Reset")
	}
}

// TestPropertyPlacement checks the allowed-packets table against every
// property in every packet type: decoding a minimal packet carrying property
// id must succeed exactly when the spec allows id there.
func TestPropertyPlacement(t *testing.T) {
	allowedIn := map[PropID][]Type{
		PropPayloadFormat: {PUBLISH}, PropMessageExpiry: {PUBLISH}, PropContentType: {PUBLISH},
		PropResponseTopic: {PUBLISH}, PropCorrelationData: {PUBLISH}, PropSubscriptionID: {PUBLISH, SUBSCRIBE},
		PropSessionExpiry: {CONNECT, CONNACK, DISCONNECT}, PropAssignedClientID: {CONNACK},
		PropServerKeepAlive: {CONNACK}, PropAuthMethod: {CONNECT, CONNACK, AUTH},
		PropAuthData: {CONNECT, CONNACK, AUTH}, PropRequestProblemInfo: {CONNECT}, PropWillDelay: {},
		PropRequestResponseInfo: {CONNECT}, PropResponseInfo: {CONNACK}, PropServerReference: {CONNACK, DISCONNECT},
		PropReasonString:   {CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH},
		PropReceiveMaximum: {CONNECT, CONNACK}, PropTopicAliasMaximum: {CONNECT, CONNACK}, PropTopicAlias: {PUBLISH},
		PropMaximumQoS: {CONNACK}, PropRetainAvailable: {CONNACK},
		PropUserProperty: {CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
			UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH},
		PropMaximumPacketSize: {CONNECT, CONNACK}, PropWildcardSubAvailable: {CONNACK}, PropSubIDAvailable: {CONNACK},
		PropSharedSubAvailable: {CONNACK},
	}
	value := func(id PropID) []byte {
		switch propSpecs[id].kind {
		case kByte:
			return []byte{1}
		case kUint16:
			return []byte{0, 1}
		case kUint32:
			return []byte{0, 0, 0, 1}
		case kVBI:
			return []byte{1}
		case kString, kBinary:
			return []byte{0, 1, 'x'}
		}
		return []byte{0, 1, 'k', 0, 1, 'v'}
	}
	for id, types := range allowedIn {
		prop := append([]byte{byte(id)}, value(id)...)
		// AUTH needs a method and auth data needs one; add it unless testing it.
		var method []byte
		if id != PropAuthMethod {
			method = raw(0x15, 0, 1, "m")
		}
		block := func(withMethod bool) []byte {
			b := append([]byte(nil), prop...)
			if withMethod {
				b = append(b, method...)
			}
			return append([]byte{byte(len(b))}, b...)
		}
		bodies := map[Type][]byte{
			CONNECT:     raw(0, 4, "MQTT", 5, 2, 0, 0, block(id == PropAuthData), 0, 1, "c"),
			CONNACK:     raw(0, 0, block(id == PropAuthData)),
			PUBLISH:     raw(0, 1, "t", block(false)),
			PUBACK:      raw(0, 1, 0, block(false)),
			PUBREC:      raw(0, 1, 0, block(false)),
			PUBREL:      raw(0, 1, 0, block(false)),
			PUBCOMP:     raw(0, 1, 0, block(false)),
			SUBSCRIBE:   raw(0, 1, block(false), 0, 1, "f", 0),
			SUBACK:      raw(0, 1, block(false), 0),
			UNSUBSCRIBE: raw(0, 1, block(false), 0, 1, "f"),
			UNSUBACK:    raw(0, 1, block(false), 0),
			DISCONNECT:  raw(0, block(false)),
			AUTH:        raw(0x18, block(true)),
		}
		for ty, body := range bodies {
			want := false
			for _, a := range types {
				want = want || a == ty
			}
			fh := FixedHeader{Type: ty, Flags: fixedFlags(ty), RemainingLength: len(body)}
			_, err := Decode(decodeVersion(ty, V5), fh, body)
			if want && err != nil {
				t.Errorf("%v in %v: %v", id, ty, err)
			}
			if !want && ReasonOf(err) != ProtocolError {
				t.Errorf("%v in %v: err = %v, want a protocol error", id, ty, err)
			}
		}
		// Will properties.
		willOK := map[PropID]bool{PropPayloadFormat: true, PropMessageExpiry: true, PropContentType: true,
			PropResponseTopic: true, PropCorrelationData: true, PropWillDelay: true, PropUserProperty: true}
		body := raw(0, 4, "MQTT", 5, 0x06, 0, 0, 0, 0, 1, "c", block(false), 0, 1, "t", 0, 0)
		_, err := Decode(0, FixedHeader{Type: CONNECT, RemainingLength: len(body)}, body)
		if willOK[id] != (err == nil) {
			t.Errorf("%v in will properties: %v", id, err)
		}
	}
}

// TestUTF8Policy pins the documented choice: U+0000 and ill-formed UTF-8 are
// refused; control characters and non-characters, which senders SHOULD NOT
// use, are accepted; a byte order mark is kept [MQTT-1.5.4-3].
func TestUTF8Policy(t *testing.T) {
	for _, topic := range []string{"a\tb", "\u0001", "\u007f\u0085\u009f", "\ufdd0\uffff", "\U0010FFFF", "\ufeffbom"} {
		wire, err := Encode(nil, V311, &Publish{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodeWire(V311, wire)
		if err != nil || p.(*Publish).Topic != topic {
			t.Errorf("%q: %v", topic, err)
		}
	}
	for _, bad := range []string{"\x00", "a\x00", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xc1\x81", "\xe0\x80\xaf", "\xff"} {
		wire, _ := Encode(nil, V311, &Publish{Topic: bad})
		if _, err := decodeWire(V311, wire); ReasonOf(err) != MalformedPacket {
			t.Errorf("%q: err = %v, want malformed", bad, err)
		}
	}
}
