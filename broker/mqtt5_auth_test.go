package broker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

const challengeMethod = "TEST-CHALLENGE"

// challengeAuth is a two-step enhanced authentication: the client opens with "hello", the
// broker challenges with "challenge", and the client must answer "response".
type challengeAuth struct{}

func (challengeAuth) OnAuthM5(_ context.Context, a *hooks.AuthRequest) hooks.AuthResult {
	if a.Method != challengeMethod {
		return hooks.AuthResult{Verdict: hooks.Next}
	}
	switch string(a.Data) {
	case "hello":
		return hooks.AuthResult{Continue: true, Data: []byte("challenge")}
	case "response":
		return hooks.AuthResult{Verdict: hooks.Allow, Data: []byte("welcome")}
	}
	return hooks.AuthResult{Verdict: hooks.Deny, Reason: packet.NotAuthorized}
}

// answerer is a paho.golang Auther that answers the challenge with reply.
type answerer struct {
	reply string
	seen  chan string
}

func (a *answerer) Authenticate(in *paho.Auth) *paho.Auth {
	select {
	case a.seen <- string(in.Properties.AuthData):
	default:
	}
	return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: challengeMethod, AuthData: []byte(a.reply)}}
}

func (a *answerer) Authenticated() {}

func dialChallenge(t *testing.T, addr, id, reply string) (*brokertest.Paho5, *paho.Connack, *answerer, error) {
	t.Helper()
	ans := &answerer{reply: reply, seen: make(chan string, 8)}
	c, ack, err := brokertest.DialPaho5(t, addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: props(func(p *paho.ConnectProperties) { p.AuthMethod, p.AuthData = challengeMethod, []byte("hello") })},
		&brokertest.Paho5Options{Config: func(cc *paho.ClientConfig) { cc.AuthHandler = ans }})
	return c, ack, ans, err
}

func TestMQTT5EnhancedAuth(t *testing.T) {
	n := brokertest.Start(t, nil, challengeAuth{})
	t.Run("challenge answered", func(t *testing.T) {
		c, ack, ans, err := dialChallenge(t, n.Addr, "auth-ok", "response")
		if err != nil {
			t.Fatalf("connect: %v (%+v)", err, ack)
		}
		if got := <-ans.seen; got != "challenge" {
			t.Fatalf("AUTH 0x18 carried %q", got)
		}
		if ack.ReasonCode != 0 || ack.Properties.AuthMethod != challengeMethod || string(ack.Properties.AuthData) != "welcome" {
			t.Fatalf("CONNACK 0x%02X method %q data %q [MQTT-4.12.0-5]", ack.ReasonCode, ack.Properties.AuthMethod, ack.Properties.AuthData)
		}
		// Re-authentication: AUTH 0x19 → AUTH 0x18 → AUTH 0x18 → AUTH 0x00.
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		r, err := c.Authenticate(ctx, &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: challengeMethod, AuthData: []byte("hello")}})
		if err != nil || !r.Success || r.ReasonCode != 0 {
			t.Fatalf("re-authentication: %v %+v", err, r)
		}
		// The connection still works.
		c.Sub(t, 0, sub("authed/#", 1))
		c.Pub(t, &paho.Publish{Topic: "authed/x", QoS: 1, Payload: []byte("ok")})
		c.Next(t, waitFor)
	})
	t.Run("wrong answer", func(t *testing.T) {
		_, ack, _, err := dialChallenge(t, n.Addr, "auth-bad", "guess")
		if err == nil || ack == nil || (ack.ReasonCode != byte(packet.NotAuthorized) && ack.ReasonCode != byte(packet.BadUserNameOrPassword)) {
			t.Fatalf("wrong response: CONNACK %+v err %v; want 0x87 or 0x86", ack, err)
		}
	})
	t.Run("unknown method", func(t *testing.T) {
		_, ack, err := brokertest.DialPaho5(t, n.Addr, &paho.Connect{ClientID: "auth-unknown", CleanStart: true,
			Properties: props(func(p *paho.ConnectProperties) { p.AuthMethod = "SCRAM-SHA-1" })}, nil)
		if err == nil || ack == nil || ack.ReasonCode < 0x80 {
			t.Fatalf("unknown method: CONNACK %+v err %v; want a refusal", ack, err)
		}
	})
	t.Run("failed re-authentication", func(t *testing.T) {
		c, ack, _, err := dialChallenge(t, n.Addr, "reauth-bad", "response")
		if err != nil {
			t.Fatalf("connect: %v (%+v)", err, ack)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		r, err := c.Authenticate(ctx, &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: challengeMethod, AuthData: []byte("nonsense")}})
		if err != nil || r.Success || r.ReasonCode != byte(packet.NotAuthorized) {
			t.Fatalf("failed re-authentication: %v %+v; want DISCONNECT 0x87", err, r)
		}
	})
	t.Run("raw exchange", func(t *testing.T) {
		raw := connectChallenged(t, n.Addr, "auth-raw")
		raw.Send(challengeAuthPacket(packet.ReAuthenticate, "hello"))
		if a := brokertest.ReadAs[*packet.Auth](t, raw); a.ReasonCode != packet.ContinueAuthentication {
			t.Fatalf("re-auth challenge %+v", a)
		}
		raw.Send(challengeAuthPacket(packet.ContinueAuthentication, "response"))
		if a := brokertest.ReadAs[*packet.Auth](t, raw); a.ReasonCode != packet.Success || a.Properties.AuthMethod != challengeMethod {
			t.Fatalf("re-auth result %+v; want AUTH 0x00", a)
		}
		// Re-authenticating with another method is a protocol error [MQTT-4.12.1-1].
		other := &packet.Auth{ReasonCode: packet.ReAuthenticate}
		other.Properties.AuthMethod = "OTHER"
		other.Properties.SetPresent(packet.PropAuthMethod)
		raw.Send(other)
		if rc := raw.ExpectDisconnect(); rc != packet.ProtocolError {
			t.Fatalf("re-auth with another method: DISCONNECT 0x%02X; want 0x82", byte(rc))
		}
	})
}

func TestMQTT5EnhancedAuthWithoutPlugin(t *testing.T) {
	n := brokertest.Start(t, nil)
	_, ack, err := brokertest.DialPaho5(t, n.Addr, &paho.Connect{ClientID: "no-plugin", CleanStart: true,
		Properties: props(func(p *paho.ConnectProperties) { p.AuthMethod, p.AuthData = challengeMethod, []byte("hello") })}, nil)
	if err == nil || ack == nil || ack.ReasonCode != byte(packet.BadAuthenticationMethod) {
		t.Fatalf("CONNACK %+v err %v; want 0x8C", ack, err)
	}
	if ack.Properties == nil || !strings.Contains(ack.Properties.ReasonString, challengeMethod) {
		t.Logf("reason string %q", ack.Properties.ReasonString)
	}
	// AUTH on a connection that did not authenticate with a method is a protocol error.
	raw, _ := brokertest.Connect(t, n.Addr, packet.V5, "auth-plain", nil)
	a := &packet.Auth{ReasonCode: packet.ReAuthenticate}
	a.Properties.AuthMethod = challengeMethod
	a.Properties.SetPresent(packet.PropAuthMethod)
	raw.Send(a)
	if rc := raw.ExpectDisconnect(); rc != packet.ProtocolError {
		t.Fatalf("DISCONNECT 0x%02X; want 0x82", byte(rc))
	}
}

// challengeAuthPacket is an AUTH of the test challenge method carrying data.
func challengeAuthPacket(rc packet.ReasonCode, data string) *packet.Auth {
	a := &packet.Auth{ReasonCode: rc}
	a.Properties.AuthMethod, a.Properties.AuthData = challengeMethod, []byte(data)
	a.Properties.SetPresent(packet.PropAuthMethod)
	a.Properties.SetPresent(packet.PropAuthData)
	return a
}

// connectChallenged connects with the raw client through the challenge exchange of
// challengeAuth (CONNECT "hello", AUTH "challenge", AUTH "response", CONNACK) and returns
// the connected client.
func connectChallenged(t *testing.T, addr, clientID string) *brokertest.Raw {
	t.Helper()
	raw := brokertest.Dial(t, addr, packet.V5)
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: clientID}
	cp.Properties.AuthMethod, cp.Properties.AuthData = challengeMethod, []byte("hello")
	cp.Properties.SetPresent(packet.PropAuthMethod)
	cp.Properties.SetPresent(packet.PropAuthData)
	raw.Send(cp)
	a := brokertest.ReadAs[*packet.Auth](t, raw)
	if a.ReasonCode != packet.ContinueAuthentication || a.Properties.AuthMethod != challengeMethod || string(a.Properties.AuthData) != "challenge" {
		t.Fatalf("first AUTH %+v", a)
	}
	raw.Send(challengeAuthPacket(packet.ContinueAuthentication, "response"))
	if ack := brokertest.ReadAs[*packet.Connack](t, raw); ack.ReasonCode != packet.Success || ack.Properties.AuthMethod != challengeMethod {
		t.Fatalf("CONNACK %+v", ack)
	}
	return raw
}
