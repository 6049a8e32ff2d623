package broker_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Helpers shared by the listener and tenant tests: a throw-away PKI generated per test (no
// private key is ever committed), listener lookup, a raw MQTT client over any net.Conn, and a
// plugin recording what hooks see of clients.

// testPKI is brokertest.PKI under the name these tests grew up with.
type testPKI = brokertest.PKI

func newPKI(t testing.TB, name string) *testPKI { return brokertest.NewPKI(t, name) }

// addrOf is the bound address of the listener with key (listener.<type>.<name>).
func addrOf(t testing.TB, n *brokertest.Node, key string) string {
	t.Helper()
	for _, l := range n.Listeners() {
		if l.Name() == key && l.Addr() != nil {
			return l.Addr().String()
		}
	}
	t.Fatalf("no running listener %s", key)
	return ""
}

// rawConn is a minimal MQTT 3.1.1/5 client on an already open connection.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	v  packet.Version
	r  *packet.Reader
}

func newRaw(t testing.TB, nc net.Conn, v packet.Version) *rawConn {
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, v: v, r: packet.NewReader(bufio.NewReader(nc), 0)}
}

func (c *rawConn) send(p packet.Packet) error {
	buf, err := packet.Encode(nil, c.v, p)
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = c.nc.Write(buf)
	return err
}

// read returns the next packet (re-encoded into owned memory) or the error.
func (c *rawConn) read(timeout time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	p, err := c.r.ReadPacket(c.v)
	if err != nil {
		return nil, err
	}
	buf, err := packet.Encode(nil, c.v, p)
	if err != nil {
		return nil, err
	}
	return packet.NewReader(bufio.NewReader(bytesReader(buf)), 0).ReadPacket(c.v)
}

type bytesReaderT struct{ b []byte }

func (r *bytesReaderT) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, os.ErrClosed
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) *bytesReaderT { return &bytesReaderT{b} }

// connect sends CONNECT and returns the CONNACK, or the error that ended the connection.
func (c *rawConn) connect(clientID string, edit func(*packet.Connect)) (*packet.Connack, error) {
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: c.v, CleanStart: true, KeepAlive: 60, ClientID: clientID}
	if edit != nil {
		edit(cp)
	}
	if err := c.send(cp); err != nil {
		return nil, err
	}
	p, err := c.read(5 * time.Second)
	if err != nil {
		return nil, err
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		c.t.Fatalf("expected CONNACK, got %T", p)
	}
	return ack, nil
}

func (c *rawConn) mustConnect(clientID string) {
	c.t.Helper()
	ack, err := c.connect(clientID, nil)
	if err != nil || ack.ReasonCode != packet.Success {
		c.t.Fatalf("connect %s: %v %v", clientID, ack, err)
	}
}

func (c *rawConn) subscribe(qos byte, filters ...string) *packet.Suback {
	c.t.Helper()
	s := &packet.Subscribe{PacketID: 1}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f, QoS: qos})
	}
	if err := c.send(s); err != nil {
		c.t.Fatal(err)
	}
	p, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("SUBACK: %v", err)
	}
	ack, ok := p.(*packet.Suback)
	if !ok {
		c.t.Fatalf("expected SUBACK, got %T", p)
	}
	return ack
}

// publish sends a PUBLISH; QoS 1 waits for the PUBACK.
func (c *rawConn) publish(qos byte, retain bool, topic, payload string) {
	c.t.Helper()
	p := &packet.Publish{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}
	if qos > 0 {
		p.PacketID = 7
	}
	if err := c.send(p); err != nil {
		c.t.Fatal(err)
	}
	if qos == 1 {
		if _, err := c.read(5 * time.Second); err != nil {
			c.t.Fatalf("PUBACK: %v", err)
		}
	}
}

// expectMessage waits for a PUBLISH and returns it.
func (c *rawConn) expectMessage(timeout time.Duration) *packet.Publish {
	c.t.Helper()
	for {
		p, err := c.read(timeout)
		if err != nil {
			c.t.Fatalf("expected a PUBLISH: %v", err)
		}
		if pub, ok := p.(*packet.Publish); ok {
			if pub.QoS == 1 {
				c.send(&packet.Puback{PacketID: pub.PacketID})
			}
			return pub
		}
	}
}

// noMessage checks nothing arrives for d.
func (c *rawConn) noMessage(d time.Duration) {
	c.t.Helper()
	p, err := c.read(d)
	if err == nil {
		if pub, ok := p.(*packet.Publish); ok {
			c.t.Fatalf("unexpected message %q on %q", pub.Payload, pub.Topic)
		}
		c.t.Fatalf("unexpected %T", p)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		c.t.Fatalf("connection ended: %v", err)
	}
}

// expectClosed waits up to d for the broker to close the connection; it fails when the
// connection is still open then.
func expectClosed(t testing.TB, nc net.Conn, d time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", d)
		}
		return
	}
}

// recorder is a plugin noting what on_register sees of each client.
type recorder struct {
	mu   sync.Mutex
	seen map[string]hooks.Client
}

func newRecorder() *recorder { return &recorder{seen: map[string]hooks.Client{}} }

func (r *recorder) OnRegister(_ context.Context, c hooks.Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[c.ClientID] = c
}

func (r *recorder) client(t testing.TB, id string) hooks.Client {
	t.Helper()
	var c hooks.Client
	brokertest.Eventually(t, 5*time.Second, "on_register for "+id, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		var ok bool
		c, ok = r.seen[id]
		return ok
	})
	return c
}

// dialTCP opens a plain connection.
func dialTCP(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// tlsClient runs a TLS client handshake on nc trusting the PKI's CA.
func tlsClient(t testing.TB, nc net.Conn, p *testPKI) net.Conn {
	t.Helper()
	tc := tls.Client(nc, clientTLS(t, p))
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return tc
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }
