package broker_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// MQTT over WebSocket (listener.ws and listener.wss) with the Paho Go client, Python
// paho-mqtt's websockets transport, and hand-made bad input.

func startWS(t *testing.T, pki *testPKI, edit func(*config.Listener), plugins ...any) (n *brokertest.Node, ws, wss string) {
	t.Helper()
	n = brokertest.Start(t, func(c *config.Config) {
		l := config.NewListener(config.ListenerWS, "default", "127.0.0.1:0")
		l.ConnectTimeout = time.Second
		ls := config.NewListener(config.ListenerWSS, "default", "127.0.0.1:0")
		ls.CertFile, ls.KeyFile = pki.ServerCert, pki.ServerKey
		ls.ConnectTimeout = time.Second
		if edit != nil {
			edit(&l)
			edit(&ls)
		}
		c.Listeners = append(c.Listeners, l, ls)
	}, plugins...)
	return n, addrOf(t, n, "listener.ws.default"), addrOf(t, n, "listener.wss.default")
}

func pahoWS(t *testing.T, url, id string, tlsCfg *tls.Config) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetProtocolVersion(4).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func TestWebSocketPahoGo(t *testing.T) {
	pki := newPKI(t, "ws")
	n, ws, wss := startWS(t, pki, nil)
	tcp := dialTCP(t, n.Addr)
	plain := newRaw(t, tcp, packet.V311)
	plain.mustConnect("tcp-sub")
	plain.subscribe(1, "ws/#")

	inbox := newInbox()
	sub := pahoWS(t, "wss://"+wss+"/mqtt", "wss-sub", clientTLS(t, pki))
	if tok := sub.Subscribe("ws/#", 1, inbox.handle); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe over wss: %v", tok.Error())
	}
	pub := pahoWS(t, "ws://"+ws+"/mqtt", "ws-pub", nil)
	// A payload larger than one TCP segment and one small one, at QoS 1.
	big := strings.Repeat("x", 100_000)
	for _, payload := range []string{"hello over ws", big} {
		if tok := pub.Publish("ws/t", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish over ws: %v", tok.Error())
		}
		if m := inbox.next(t); string(m.Payload()) != payload {
			t.Fatalf("wss subscriber got %d bytes, want %d", len(m.Payload()), len(payload))
		}
		if m := plain.expectMessage(5 * time.Second); string(m.Payload) != payload {
			t.Fatalf("tcp subscriber got %d bytes", len(m.Payload))
		}
	}
}

const pyWS = `
import sys, ssl, paho.mqtt.client as mqtt
mode, host, port, path, ca = sys.argv[1:6]
got = []
c = mqtt.Client(client_id="py-" + mode + ("-tls" if ca else ""), transport="websockets")
c.ws_set_options(path=path)
if ca:
    c.tls_set(ca_certs=ca)
def on_connect(cl, u, f, rc):
    if rc != 0:
        print("CONNACK", rc, flush=True); sys.exit(2)
    if mode == "sub":
        cl.subscribe("py/#", 1)
    else:
        cl.publish("py/t", "from python " + ("wss" if ca else "ws"), qos=1)
def on_subscribe(cl, u, mid, q):
    print("SUBSCRIBED", flush=True)
def on_message(cl, u, m):
    print("MSG", m.topic, m.payload.decode(), flush=True); cl.disconnect()
def on_publish(cl, u, mid):
    print("PUBLISHED", flush=True); cl.disconnect()
c.on_connect, c.on_subscribe, c.on_message, c.on_publish = on_connect, on_subscribe, on_message, on_publish
c.connect(host, int(port), 30)
c.loop_forever()
`

func TestWebSocketPythonPaho(t *testing.T) {
	if _, err := os.Stat(pythonPython); err != nil {
		t.Skipf("%s not found", pythonPython)
	}
	if out, err := exec.Command(pythonPython, "-c", "import paho.mqtt.client").CombinedOutput(); err != nil {
		t.Skipf("python paho-mqtt not installed: %v %s", err, out)
	}
	script := filepath.Join(t.TempDir(), "ws.py")
	os.WriteFile(script, []byte(pyWS), 0o600)
	pki := newPKI(t, "ws")
	_, ws, wss := startWS(t, pki, nil)
	for _, c := range []struct {
		name, addr, ca string
	}{{"ws", ws, ""}, {"wss", wss, pki.CA}} {
		t.Run(c.name, func(t *testing.T) {
			host, port, _ := strings.Cut(c.addr, ":")
			sub := brokertest.RunCmd(t, 15*time.Second, pythonPython, "-u", script, "sub", host, port, "/mqtt", c.ca)
			sub.WaitOutput("SUBSCRIBED", false, 5*time.Second)
			pub := brokertest.RunCmd(t, 15*time.Second, pythonPython, "-u", script, "pub", host, port, "/mqtt", c.ca)
			if out := pub.MustSucceed(); !strings.Contains(out, "PUBLISHED") {
				t.Fatalf("python publisher: %q %s", out, pub.Stderr())
			}
			if out := sub.MustSucceed(); !strings.Contains(out, "MSG py/t from python "+c.name) {
				t.Fatalf("python subscriber: %q %s", out, sub.Stderr())
			}
		})
	}
}

// dialWS opens a WebSocket with the mqtt subprotocol and returns it and its raw socket.
func dialWS(t *testing.T, addr string, header http.Header) (*websocket.Conn, net.Conn) {
	t.Helper()
	var raw net.Conn
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second,
		NetDial: func(network, a string) (net.Conn, error) {
			c, err := net.Dial(network, a)
			raw = c
			return c, err
		}}
	ws, resp, err := d.Dial("ws://"+addr+"/mqtt", header)
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
		t.Fatalf("subprotocol %q, want mqtt", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	t.Cleanup(func() { ws.Close() })
	return ws, raw
}

func wsConnect(t *testing.T, ws *websocket.Conn, id string) {
	t.Helper()
	buf, _ := packet.Encode(nil, packet.V311, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 30, ClientID: id})
	if err := ws.WriteMessage(websocket.BinaryMessage, buf); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, msg, err := ws.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || len(msg) != 4 || msg[0] != 0x20 || msg[3] != 0 {
		t.Fatalf("CONNACK over WebSocket: type %d % x %v", typ, msg, err)
	}
}

// Bad input on a WebSocket listener closes only that connection, within a timeout.
func TestWebSocketBadInput(t *testing.T) {
	pki := newPKI(t, "ws")
	_, ws, _ := startWS(t, pki, nil)
	witness, _ := dialWS(t, ws, nil)
	wsConnect(t, witness, "witness")
	alive := func() {
		t.Helper()
		ping, _ := packet.Encode(nil, packet.V311, &packet.Pingreq{})
		if err := witness.WriteMessage(websocket.BinaryMessage, ping); err != nil {
			t.Fatal(err)
		}
		witness.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, msg, err := witness.ReadMessage(); err != nil || msg[0] != 0xd0 {
			t.Fatalf("witness PINGRESP: % x %v", msg, err)
		}
	}

	t.Run("not an upgrade", func(t *testing.T) {
		nc := dialTCP(t, ws)
		fmt.Fprintf(nc, "GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		resp.Body.Close()
		expectClosed(t, nc, 3*time.Second)
		alive()
	})
	t.Run("wrong path", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ws + "/other")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("wrong subprotocol", func(t *testing.T) {
		_, resp, err := (&websocket.Dialer{Subprotocols: []string{"chat"}}).Dial("ws://"+ws+"/mqtt", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("chat subprotocol: %v %v", resp, err)
		}
	})
	t.Run("slow upgrade", func(t *testing.T) {
		nc := dialTCP(t, ws)
		fmt.Fprintf(nc, "GET /mqtt HTTP/1.1\r\n") // and never the rest
		expectClosed(t, nc, 4*time.Second)
		alive()
	})
	t.Run("oversized frame", func(t *testing.T) {
		_, raw := dialWS(t, ws, nil)
		// A masked binary frame announcing 2^40 bytes: refused from its header.
		hdr := []byte{0x82, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		raw.Write(hdr)
		expectClosed(t, raw, 3*time.Second)
		alive()
	})
	t.Run("text frame", func(t *testing.T) {
		c, raw := dialWS(t, ws, nil)
		c.WriteMessage(websocket.TextMessage, []byte("hello"))
		expectClosed(t, raw, 3*time.Second)
		alive()
	})
}

// X-Forwarded-For from a trusted proxy names the client; from anyone else it is ignored.
func TestWebSocketXFF(t *testing.T) {
	rec := newRecorder()
	n := brokertest.Start(t, func(c *config.Config) {
		trusted := config.NewListener(config.ListenerWS, "trusted", "127.0.0.1:0")
		trusted.ProxyXFFSupport, trusted.ProxyXFFTrusted = true, "127.0.0.0/8"
		untrusted := config.NewListener(config.ListenerWS, "untrusted", "127.0.0.1:0")
		untrusted.ProxyXFFSupport, untrusted.ProxyXFFTrusted = true, "10.0.0.1"
		c.Listeners = append(c.Listeners, trusted, untrusted)
	}, rec)
	h := http.Header{"X-Forwarded-For": {"198.51.100.9, 127.0.0.5"}}
	c1, _ := dialWS(t, addrOf(t, n, "listener.ws.trusted"), h)
	wsConnect(t, c1, "via-proxy")
	if p := rec.client(t, "via-proxy").Peer; !strings.HasPrefix(p, "198.51.100.9:") {
		t.Errorf("peer through a trusted proxy = %q, want 198.51.100.9", p)
	}
	c2, _ := dialWS(t, addrOf(t, n, "listener.ws.untrusted"), h)
	wsConnect(t, c2, "spoofer")
	if p := rec.client(t, "spoofer").Peer; !strings.HasPrefix(p, "127.0.0.1:") {
		t.Errorf("peer from an untrusted sender = %q, want the socket's 127.0.0.1", p)
	}
}
