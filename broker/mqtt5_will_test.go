package broker_test

import (
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// willClient connects a paho.golang client with a will on topic, the given will delay (0: none)
// and session expiry.
func willClient(t *testing.T, addr, id, topic string, delay, expiry uint32, clean bool) *brokertest.Paho5 {
	t.Helper()
	return brokertest.ConnectPaho5(t, addr, id, func(cp *paho.Connect) {
		cp.CleanStart = clean
		cp.Properties = props(func(p *paho.ConnectProperties) { p.SessionExpiryInterval = brokertest.U32(expiry) })
		cp.WillMessage = &paho.WillMessage{Topic: topic, QoS: 1, Payload: []byte("will of " + id)}
		// paho.golang v0.23.0 packs will properties with the CONNECT property set, so only
		// the Will Delay Interval reaches the broker; TestMQTT5WillProperties sends them raw.
		if delay > 0 {
			cp.WillProperties = &paho.WillProperties{WillDelayInterval: brokertest.U32(delay)}
		}
	})
}

// watcher subscribes to will/# and returns the client.
func watcher(t *testing.T, addr string) *brokertest.Paho5 {
	t.Helper()
	w := brokertest.ConnectPaho5(t, addr, "watcher", nil)
	w.Sub(t, 0, sub("will/#", 1))
	return w
}

func expectWill(t *testing.T, w *brokertest.Paho5, topic string, within time.Duration) time.Time {
	t.Helper()
	m := w.Next(t, within)
	if m.Topic != topic {
		t.Fatalf("got %q on %q; want the will on %q", m.Payload, m.Topic, topic)
	}
	return time.Now()
}

func TestMQTT5WillDelay(t *testing.T) {
	t.Run("published after the delay", func(t *testing.T) {
		t.Parallel()
		n := brokertest.Start(t, nil)
		w := watcher(t, n.Addr)
		c := willClient(t, n.Addr, "delayed", "will/delayed", 1, 60, true)
		start := time.Now()
		c.Conn.Close() // abnormal end
		w.NoMessage(t, 700*time.Millisecond)
		at := expectWill(t, w, "will/delayed", 3*time.Second)
		if el := at.Sub(start); el < 900*time.Millisecond {
			t.Fatalf("will with delay 1 s published after %v [MQTT-3.1.3-9]", el)
		}
	})
	t.Run("cancelled by a reconnect within the delay", func(t *testing.T) {
		t.Parallel()
		n := brokertest.Start(t, nil)
		w := watcher(t, n.Addr)
		c := willClient(t, n.Addr, "returns", "will/returns", 1, 60, true)
		c.Conn.Close()
		time.Sleep(100 * time.Millisecond)
		back := brokertest.ConnectPaho5(t, n.Addr, "returns", resume(60))
		if !back.Connack.SessionPresent {
			t.Fatal("session not resumed")
		}
		w.NoMessage(t, 1500*time.Millisecond)
	})
	t.Run("published when the session ends first", func(t *testing.T) {
		t.Parallel()
		n := brokertest.Start(t, nil)
		w := watcher(t, n.Addr)
		c := willClient(t, n.Addr, "short-session", "will/short", 30, 1, true)
		start := time.Now()
		c.Conn.Close()
		at := expectWill(t, w, "will/short", 4*time.Second)
		if el := at.Sub(start); el < 900*time.Millisecond || el > 3*time.Second {
			t.Fatalf("will published after %v; want at the session's end (~1 s), not at the 30 s delay", el)
		}
	})
	t.Run("session expiry 0 publishes at once", func(t *testing.T) {
		n := brokertest.Start(t, nil)
		w := watcher(t, n.Addr)
		c := willClient(t, n.Addr, "no-session", "will/now", 30, 0, true)
		c.Conn.Close()
		expectWill(t, w, "will/now", time.Second)
	})
	t.Run("clean start reconnect publishes a delayed will", func(t *testing.T) {
		// The new connection discards the old session, which ends it: the will goes out now.
		n := brokertest.Start(t, nil)
		w := watcher(t, n.Addr)
		c := willClient(t, n.Addr, "fresh", "will/fresh", 30, 60, true)
		c.Conn.Close()
		time.Sleep(100 * time.Millisecond)
		brokertest.ConnectPaho5(t, n.Addr, "fresh", nil)
		expectWill(t, w, "will/fresh", 2*time.Second)
	})
}

func TestMQTT5DisconnectWithWill(t *testing.T) {
	n := brokertest.Start(t, nil)
	w := watcher(t, n.Addr)
	c := willClient(t, n.Addr, "asks", "will/asked", 0, 0, true)
	c.Disconnect(&paho.Disconnect{ReasonCode: 0x04})
	expectWill(t, w, "will/asked", waitFor)

	normal := willClient(t, n.Addr, "normal", "will/normal", 0, 0, true)
	normal.Disconnect(&paho.Disconnect{ReasonCode: 0x00})
	w.NoMessage(t, 300*time.Millisecond) // [MQTT-3.14.4-3]
}

func TestMQTT5WillProperties(t *testing.T) {
	n := brokertest.Start(t, nil)
	w := watcher(t, n.Addr)
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "will-props", func(cp *packet.Connect) {
		cp.Will = &packet.Will{Topic: "will/props", Payload: []byte("bye"), QoS: 1}
		wp := &cp.Will.Properties
		wp.ContentType, wp.ResponseTopic, wp.CorrelationData = "text/plain", "will/answer", []byte("cd")
		wp.PayloadFormat, wp.MessageExpiry = 1, 60
		for _, id := range []packet.PropID{packet.PropContentType, packet.PropResponseTopic, packet.PropCorrelationData, packet.PropPayloadFormat, packet.PropMessageExpiry} {
			wp.SetPresent(id)
		}
		wp.UserProperties = []packet.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}
	})
	// Traffic after CONNECT reuses the connection's read buffer; the will must not alias it.
	c.Send(&packet.Publish{Topic: "will/noise/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Payload: []byte("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")})
	w.Next(t, waitFor)
	c.Conn.Close()
	m := w.Next(t, waitFor)
	p := m.Properties
	if m.Topic != "will/props" || p == nil || p.ContentType != "text/plain" || p.ResponseTopic != "will/answer" ||
		string(p.CorrelationData) != "cd" || p.PayloadFormat == nil || *p.PayloadFormat != 1 ||
		p.MessageExpiry == nil || *p.MessageExpiry > 60 ||
		!slices.Equal(p.User, paho.UserProperties{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}) {
		t.Fatalf("will delivered as %q with properties %+v", m.Topic, p)
	}
}
