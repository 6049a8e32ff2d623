package broker_test

import (
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// A client that is still writing when the broker ends its connection must be able to read
// why. A socket closed at once answers the client's next write with a RST: the client's write
// fails (broken pipe, connection reset), and a client library dies of it before it reads the
// DISCONNECT (or refused CONNACK) waiting in its buffer; some stacks even drop that unread
// data on the RST.

// keepWriting writes p every 5 ms for d, as a client answering PUBRECs or pinging does
// before it gets round to reading, and returns the first write error.
func keepWriting(t *testing.T, c *brokertest.Raw, p packet.Packet, d time.Duration) error {
	t.Helper()
	buf, err := packet.Encode(nil, c.Version, p)
	if err != nil {
		t.Fatalf("encode %T: %v", p, err)
	}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Conn.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// readUntilEnd reads packets until the stream ends, and fails the test if it ends in anything
// but an orderly close or takes more than 5 s.
func readUntilEnd(t *testing.T, c *brokertest.Raw) []packet.Packet {
	t.Helper()
	var got []packet.Packet
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := c.ReadErr(time.Until(deadline))
		if err == nil {
			got = append(got, p)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after 5 s; read %v", got)
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("connection ended with %v after %d packets, not with an orderly close: what the broker sent last was lost", err, len(got))
		}
		return got
	}
}

// TestDisconnectReachesWritingClient: the case seen with a third-party client, which sent one
// QoS 2 message more than the broker's Receive Maximum and went on writing. It must read the
// DISCONNECT 0x93, and nothing it sent after the broker's verdict may be routed.
func TestDisconnectReachesWritingClient(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.MQTT5.ReceiveMaxBroker = 20 })
	watcher, _ := brokertest.Connect(t, n.Addr, packet.V5, "linger-watcher", nil)
	watcher.Subscribe(1, 0, "linger/after")
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "linger-greedy", nil)
	var burst []byte
	for id := uint16(1); id <= 21; id++ {
		b, _ := packet.Encode(nil, packet.V5, &packet.Publish{PacketID: id, QoS: 2, Topic: "linger/x", Payload: []byte("m")})
		burst = append(burst, b...)
	}
	c.SendBytes(burst)
	if err := keepWriting(t, c, &packet.Publish{Topic: "linger/after", Payload: []byte("after the DISCONNECT")}, 300*time.Millisecond); err != nil {
		t.Fatalf("the client's write failed (%v) before it read anything: it would die without seeing the DISCONNECT", err)
	}

	got := readUntilEnd(t, c)
	var rc packet.ReasonCode
	found := false
	for _, p := range got {
		if d, ok := p.(*packet.Disconnect); ok {
			rc, found = d.ReasonCode, true
		}
	}
	if !found || rc != packet.ReceiveMaximumExceeded {
		t.Fatalf("read %d packets and DISCONNECT %v (0x%02X); want DISCONNECT 0x93 receive maximum exceeded", len(got), found, byte(rc))
	}
	if p, err := watcher.ReadErr(200 * time.Millisecond); err == nil {
		t.Fatalf("a PUBLISH sent after the DISCONNECT was routed: %v", p)
	}
	if e := n.Counter("mqtt_protocol_error"); e != 1 {
		t.Fatalf("mqtt_protocol_error = %d; want 1", e)
	}
}

// TestRefusedConnackReachesWritingClient: a client refused at CONNECT that keeps writing still
// reads its CONNACK with the reason, for both protocol families.
func TestRefusedConnackReachesWritingClient(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false })
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := brokertest.Dial(t, n.Addr, v)
		c.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, CleanStart: true, KeepAlive: 60, ClientID: "linger-anon"})
		if err := keepWriting(t, c, &packet.Pingreq{}, 300*time.Millisecond); err != nil {
			t.Fatalf("v%d: the client's write failed (%v) before it read anything: it would die without seeing the CONNACK", v, err)
		}
		got := readUntilEnd(t, c)
		if len(got) != 1 {
			t.Fatalf("v%d: read %v; want one CONNACK", v, got)
		}
		ack, ok := got[0].(*packet.Connack)
		if !ok || ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v%d: read %v; want CONNACK not authorised", v, got[0])
		}
	}
	if r := n.Counter("mqtt_connect_refused"); r != 2 {
		t.Fatalf("mqtt_connect_refused = %d; want 2", r)
	}
}

// TestTakeoverDoesNotWaitForLinger: the old connection of a client id lingers after its
// DISCONNECT 0x8E while its client neither reads nor closes; the new connection must be
// accepted at once all the same.
func TestTakeoverDoesNotWaitForLinger(t *testing.T) {
	n := brokertest.Start(t, nil)
	old, _ := brokertest.Connect(t, n.Addr, packet.V5, "linger-twice", nil)
	start := time.Now()
	brokertest.Connect(t, n.Addr, packet.V5, "linger-twice", nil)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("takeover took %v: it waited for the old socket to linger", d)
	}
	got := readUntilEnd(t, old)
	if len(got) != 1 {
		t.Fatalf("old connection read %v; want one DISCONNECT", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("old connection read %v; want DISCONNECT 0x8E session taken over", got[0])
	}
}

// TestRefusedConnackOverTLSAndWebSocket: the half-close works through the listener's
// wrappers: TLS (close_notify) and WebSocket (close frame).
func TestRefusedConnackOverTLSAndWebSocket(t *testing.T) {
	pki := newPKI(t, "linger")
	n := brokertest.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Listeners = append(c.Listeners, sslListener(pki, nil), config.NewListener(config.ListenerWS, "default", "127.0.0.1:0"))
	})
	connect, _ := packet.Encode(nil, packet.V5, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "linger-anon"})
	ping, _ := packet.Encode(nil, packet.V5, &packet.Pingreq{})

	t.Run("tls", func(t *testing.T) {
		c := newRaw(t, tlsClient(t, dialTCP(t, addrOf(t, n, "listener.ssl.default")), pki), packet.V5)
		writes := append([][]byte{connect}, slices.Repeat([][]byte{ping}, 60)...)
		for i, b := range writes {
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.nc.Write(b); err != nil {
				t.Fatalf("write %d failed (%v) before the client read: it would die without its CONNACK", i, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		p, err := c.read(5 * time.Second)
		if ack, ok := p.(*packet.Connack); err != nil || !ok || ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("read %v, %v; want CONNACK not authorized", p, err)
		}
		if _, err := c.read(5 * time.Second); !errors.Is(err, io.EOF) {
			t.Fatalf("after the CONNACK: %v; want an orderly end of stream (close_notify)", err)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		ws, _ := dialWS(t, addrOf(t, n, "listener.ws.default"), nil)
		for i, b := range append([][]byte{connect}, slices.Repeat([][]byte{ping}, 60)...) {
			if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
				t.Fatalf("write %d failed (%v) before the client read: it would die without its CONNACK", i, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := ws.ReadMessage()
		if err != nil || len(msg) < 4 || msg[0] != 0x20 || msg[3] != byte(packet.NotAuthorized) {
			t.Fatalf("read % x, %v; want CONNACK not authorized", msg, err)
		}
		if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("after the CONNACK: %v; want a normal close frame", err)
		}
	})
}

// TestLingerIsBounded: a refused client that neither reads nor closes cannot keep its socket
// open: the broker closes it after the linger time, or sooner once it has thrown away the
// byte cap.
func TestLingerIsBounded(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false })
	refused := func() *brokertest.Raw {
		c := brokertest.Dial(t, n.Addr, packet.V5)
		c.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "linger-anon"})
		return c
	}
	// writeUntilClosed writes chunk until a write fails, for at most 6 s, and returns how long
	// that took.
	writeUntilClosed := func(c *brokertest.Raw, chunk []byte, pause time.Duration) time.Duration {
		start := time.Now()
		for time.Since(start) < 6*time.Second {
			c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Conn.Write(chunk); err != nil {
				return time.Since(start)
			}
			time.Sleep(pause)
		}
		t.Fatalf("the broker still accepts bytes from a refused client after 6 s")
		return 0
	}
	ping, _ := packet.Encode(nil, packet.V5, &packet.Pingreq{})
	if d := writeUntilClosed(refused(), ping, 10*time.Millisecond); d > 4*time.Second {
		t.Fatalf("a refused client trickling pings kept its socket %v", d)
	}
	if d := writeUntilClosed(refused(), make([]byte, 16<<10), 0); d > time.Second {
		t.Fatalf("a refused client flooding kept its socket %v; the byte cap should close it sooner than the linger time", d)
	}
}
