// Package brokertest starts real brokers on loopback ports for tests and gives them a raw MQTT
// client built on the codec, for the cases a well-behaved client library cannot produce
// (malformed packets, protocol violations, exact byte sequences).
package brokertest

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Node is a broker running for one test.
type Node struct {
	*broker.Broker
	Addr string
	Cfg  *config.Config
}

// Start runs a broker with the default configuration, anonymous access on, one TCP listener on
// a free loopback port, and mutate applied; it is shut down when the test ends.
func Start(t testing.TB, mutate func(*config.Config), plugins ...any) *Node {
	t.Helper()
	n, _ := StartWith(t, mutate, broker.Options{Plugins: plugins})
	return n
}

// StartWith is Start with the broker's options (plugins, fault injection) given in full. The
// broker's log (debug level) is kept in memory for assertions, and copied to standard error
// when NAUTILUS_TEST_LOG is set.
func StartWith(t testing.TB, mutate func(*config.Config), opts broker.Options) (*Node, *Log) {
	t.Helper()
	cfg := config.Default()
	cfg.Auth.AllowAnonymous = true
	cfg.Node.PlatformDataDir = t.TempDir()
	cfg.Listeners = []config.Listener{config.NewListener(config.ListenerTCP, "default", "127.0.0.1:0")}
	cfg.SysTree.Enabled = false
	if mutate != nil {
		mutate(cfg)
	}
	l := &Log{}
	var w io.Writer = &l.buf
	if os.Getenv("NAUTILUS_TEST_LOG") != "" {
		w = io.MultiWriter(w, os.Stderr)
	}
	opts.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := broker.New(cfg, opts)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("broker.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	return &Node{Broker: b, Addr: b.Listeners()[0].Addr().String(), Cfg: cfg}, l
}

// Raw is a minimal MQTT client on a socket that sends exactly what the test says.
type Raw struct {
	t       testing.TB
	Conn    net.Conn
	Version packet.Version
	r       *packet.Reader
}

// Dial opens a raw connection to addr speaking version v (the CONNECT is up to the test).
func Dial(t testing.TB, addr string, v packet.Version) *Raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Raw{t: t, Conn: nc, Version: v, r: packet.NewReader(bufio.NewReader(nc), 0)}
}

// Connect dials and completes a CONNECT with the given client id (clean start) and returns
// the CONNACK.
func Connect(t testing.TB, addr string, v packet.Version, clientID string, edit func(*packet.Connect)) (*Raw, *packet.Connack) {
	t.Helper()
	c := Dial(t, addr, v)
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, CleanStart: true, KeepAlive: 60, ClientID: clientID}
	if v == packet.V31 {
		cp.ProtocolName = "MQIsdp"
	}
	if edit != nil {
		edit(cp)
	}
	c.Send(cp)
	p := c.Read()
	ack, ok := p.(*packet.Connack)
	if !ok {
		t.Fatalf("expected CONNACK, got %T", p)
	}
	return c, ack
}

// Send encodes and writes p.
func (c *Raw) Send(p packet.Packet) {
	c.t.Helper()
	buf, err := packet.Encode(nil, c.Version, p)
	if err != nil {
		c.t.Fatalf("encode %T: %v", p, err)
	}
	c.SendBytes(buf)
}

// SendBytes writes b as it is.
func (c *Raw) SendBytes(b []byte) {
	c.t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read returns the next packet, failing the test after 5 s. The packet is copied out of the
// reader's buffer by re-decoding into owned memory, so tests may keep it.
func (c *Raw) Read() packet.Packet {
	c.t.Helper()
	p, err := c.ReadErr(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// ReadErr returns the next packet or the error that ended the wait.
func (c *Raw) ReadErr(timeout time.Duration) (packet.Packet, error) {
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	p, err := c.r.ReadPacket(c.Version)
	if err != nil {
		return nil, err
	}
	buf, err := packet.Encode(nil, c.Version, p)
	if err != nil {
		return nil, err
	}
	own := packet.NewReader(bytesReader(buf), 0)
	return own.ReadPacket(c.Version)
}

// ExpectClosed waits for the broker to close the connection, returning the packets it sent
// first (a DISCONNECT, for MQTT 5).
func (c *Raw) ExpectClosed() []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	for {
		p, err := c.ReadErr(5 * time.Second)
		if err != nil {
			var ne net.Error
			if errAs(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after 5 s; got %v", got)
			}
			return got
		}
		got = append(got, p)
	}
}
