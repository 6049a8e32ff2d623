package broker_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// WebSocket listener options through real clients: the mqttv3.1 subprotocol, and a path
// other than /mqtt.

// wsStream is a WebSocket as a byte stream, so the raw MQTT client runs over it: writes are
// binary messages, reads run across message boundaries (a packet may span messages).
type wsStream struct {
	ws *websocket.Conn
	r  io.Reader
}

func (c *wsStream) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				continue
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsStream) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsStream) Close() error                       { return c.ws.Close() }
func (c *wsStream) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsStream) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsStream) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsStream) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
func (c *wsStream) SetDeadline(t time.Time) error {
	c.ws.SetReadDeadline(t)
	return c.ws.SetWriteDeadline(t)
}

// startWSConf runs a broker with the listeners of a configuration file text (through
// config.Load, so the keys operators write are what is tested).
func startWSConf(t *testing.T, text string) *brokertest.Node {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nautilus.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", text, err)
	}
	return brokertest.Start(t, func(c *config.Config) { c.Listeners = append(c.Listeners, loaded.Listeners...) })
}

// TestWebSocketMQTT31Subprotocol: a client asking only for the mqttv3.1 subprotocol gets it
// and speaks MQTT 3.1 (MQIsdp) over it: connect, subscribe, and receive a message published
// over TCP.
func TestWebSocketMQTT31Subprotocol(t *testing.T) {
	n := startWSConf(t, "listener.ws.default = 127.0.0.1:0\n")
	addr := addrOf(t, n, "listener.ws.default")
	d := websocket.Dialer{Subprotocols: []string{"mqttv3.1"}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+addr+"/mqtt", nil)
	if err != nil {
		t.Fatalf("WebSocket dial with mqttv3.1: %v", err)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "mqttv3.1" {
		t.Fatalf("subprotocol %q, want mqttv3.1", p)
	}
	sub := newRaw(t, &wsStream{ws: ws}, packet.V31)
	ack, err := sub.connect("v31-ws", func(c *packet.Connect) { c.ProtocolName = "MQIsdp" })
	if err != nil || ack.ReasonCode != packet.Success {
		t.Fatalf("MQTT 3.1 CONNECT over WebSocket: %v %v", ack, err)
	}
	if sa := sub.subscribe(1, "v31/#"); len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK %+v", sa)
	}
	pub := newRaw(t, dialTCP(t, n.Addr), packet.V311)
	pub.mustConnect("v311-tcp")
	pub.publish(1, false, "v31/t", "to a 3.1 client over ws")
	if m := sub.expectMessage(5 * time.Second); m.Topic != "v31/t" || string(m.Payload) != "to a 3.1 client over ws" {
		t.Fatalf("3.1 client got %q on %q", m.Payload, m.Topic)
	}
}

// TestWebSocketCustomPath: with path = /custom the endpoint moves: an upgrade at /mqtt gets
// 404, and Paho connects at /custom and receives what a TCP client publishes.
func TestWebSocketCustomPath(t *testing.T) {
	n := startWSConf(t, "listener.ws.default = 127.0.0.1:0\nlistener.ws.default.path = /custom\n")
	addr := addrOf(t, n, "listener.ws.default")
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	if _, resp, err := d.Dial("ws://"+addr+"/mqtt", nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("upgrade at /mqtt on a /custom listener: %v %v; want 404", resp, err)
	}

	inbox := newInbox()
	sub := pahoWS(t, "ws://"+addr+"/custom", "custom-sub", nil)
	if tok := sub.Subscribe("custom/#", 1, inbox.handle); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe over ws at /custom: %v", tok.Error())
	}
	pub := newRaw(t, dialTCP(t, n.Addr), packet.V311)
	pub.mustConnect("custom-pub")
	pub.publish(1, false, "custom/t", "via /custom")
	if m := inbox.next(t); m.Topic() != "custom/t" || string(m.Payload()) != "via /custom" {
		t.Fatalf("Paho at /custom got %q on %q", m.Payload(), m.Topic())
	}
}
