package broker_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/nautilus-mq/nautilus/broker/admin"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// PROXY protocol v1 and v2 headers, crafted with go-proxyproto, in front of tcp, ws and ssl
// listeners; unix socket listeners.

func proxyHeader(t *testing.T, version byte, src string, cn string) []byte {
	t.Helper()
	s, _ := net.ResolveTCPAddr("tcp", src)
	h := &proxyproto.Header{Version: version, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
		SourceAddr: s, DestinationAddr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1883}}
	if s.IP.To4() == nil {
		h.TransportProtocol = proxyproto.TCPv6
		h.DestinationAddr = &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1883}
	}
	if cn != "" {
		ssl := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL | tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN, Verify: 0,
			TLV: []proxyproto.TLV{
				{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")},
				{Type: proxyproto.PP2_SUBTYPE_SSL_CN, Value: []byte(cn)},
			}}
		tlv, err := ssl.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.SetTLVs([]proxyproto.TLV{tlv}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProxyProtocol(t *testing.T) {
	rec := newRecorder()
	n := brokertest.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		l := config.NewListener(config.ListenerTCP, "lb", "127.0.0.1:0")
		l.ProxyProtocol, l.AllowAnonymousOverride = true, true
		l.ConnectTimeout = time.Second
		nocn := config.NewListener(config.ListenerTCP, "nocn", "127.0.0.1:0")
		nocn.ProxyProtocol, nocn.ProxyProtocolUseCNAsUsername = true, false
		ws := config.NewListener(config.ListenerWS, "lb", "127.0.0.1:0")
		ws.ProxyProtocol, ws.AllowAnonymousOverride = true, true
		c.Listeners = append(c.Listeners, l, nocn, ws, config.NewListener(config.ListenerHTTP, "default", "127.0.0.1:0"))
		c.Admin.APIKey = "pp-key"
	}, rec)
	lb := addrOf(t, n, "listener.tcp.lb")
	// The admin API reports the address from the header too, not the socket's.
	api := &admin.Client{URL: "http://" + n.Admin().Addrs()[0].String(), Key: "pp-key"}
	adminPeer := func(clientID, peer, listener string) {
		t.Helper()
		s, err := api.Session(t.Context(), "", clientID)
		if err != nil || !s.Online || s.Peer != peer || s.Listener != listener {
			t.Errorf("admin API on %s: %+v %v; want online, peer %s, listener %s", clientID, s, err, peer, listener)
		}
	}

	for _, c := range []struct {
		name    string
		version byte
		src     string
	}{{"v1", 1, "203.0.113.7:40001"}, {"v2", 2, "203.0.113.8:40002"}, {"v2 IPv6", 2, "[2001:db8::7]:40003"}} {
		nc := dialTCP(t, lb)
		nc.Write(proxyHeader(t, c.version, c.src, ""))
		r := newRaw(t, nc, packet.V311)
		r.mustConnect("pp-" + c.name)
		if got := rec.client(t, "pp-"+c.name).Peer; got != c.src {
			t.Errorf("%s: hooks saw peer %q, want %q from the header", c.name, got, c.src)
		}
		adminPeer("pp-"+c.name, c.src, "listener.tcp.lb")
	}

	// The CN a TLS-terminating proxy passes becomes the username, and authenticates the
	// client even where anonymous access is off.
	nc := dialTCP(t, lb)
	nc.Write(proxyHeader(t, 2, "203.0.113.9:1234", "sensor-42"))
	r := newRaw(t, nc, packet.V311)
	r.mustConnect("pp-cn")
	if c := rec.client(t, "pp-cn"); c.Username != "sensor-42" {
		t.Errorf("username %q, want the CN sensor-42", c.Username)
	}
	// With proxy_protocol_use_cn_as_username off, the CN is ignored: anonymous is refused.
	nc = dialTCP(t, addrOf(t, n, "listener.tcp.nocn"))
	nc.Write(proxyHeader(t, 2, "203.0.113.10:1234", "sensor-43"))
	if ack, err := newRaw(t, nc, packet.V311).connect("pp-nocn", nil); err != nil || ack.ReasonCode != packet.NotAuthorized {
		t.Errorf("CN ignored: want CONNACK not authorized, got %v %v", ack, err)
	}

	// Without a valid header the connection is closed, with no CONNACK.
	for _, bad := range []struct {
		name string
		data []byte
	}{
		{"no header", mustEncode(t, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, ClientID: "sneaky"})},
		{"malformed v1", []byte("PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n")},
		{"malformed v2", append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x11, 0xff, 0xff)},
		{"nothing", nil},
	} {
		nc := dialTCP(t, lb)
		nc.Write(bad.data)
		start := time.Now()
		expectClosed(t, nc, 4*time.Second)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: closed after %v", bad.name, d)
		}
	}
	rec.mu.Lock()
	if _, ok := rec.seen["sneaky"]; ok {
		t.Error("a client without a PROXY header was registered")
	}
	rec.mu.Unlock()

	// WebSocket behind a PROXY header.
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, NetDial: func(network, a string) (net.Conn, error) {
		c, err := net.Dial(network, a)
		if err == nil {
			_, err = c.Write(proxyHeader(t, 2, "192.0.2.44:5555", ""))
		}
		return c, err
	}}
	ws, _, err := d.Dial("ws://"+addrOf(t, n, "listener.ws.lb")+"/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsConnect(t, ws, "pp-ws")
	if got := rec.client(t, "pp-ws").Peer; got != "192.0.2.44:5555" {
		t.Errorf("ws behind PROXY: peer %q", got)
	}
	adminPeer("pp-ws", "192.0.2.44:5555", "listener.ws.lb")
}

func mustEncode(t *testing.T, p packet.Packet) []byte {
	t.Helper()
	b, err := packet.Encode(nil, packet.V311, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A PROXY header then TLS (a TCP load balancer in front of an ssl listener).
func TestProxyProtocolBeforeTLS(t *testing.T) {
	pki := newPKI(t, "pp")
	rec := newRecorder()
	n := brokertest.Start(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, sslListener(pki, func(l *config.Listener) { l.ProxyProtocol = true }))
	}, rec)
	nc := dialTCP(t, addrOf(t, n, "listener.ssl.default"))
	nc.Write(proxyHeader(t, 1, "198.51.100.1:999", ""))
	tc := tlsClient(t, nc, pki)
	newRaw(t, tc, packet.V311).mustConnect("pp-tls")
	if got := rec.client(t, "pp-tls").Peer; got != "198.51.100.1:999" {
		t.Errorf("peer %q", got)
	}
}

func TestUnixSocketListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.sock")
	rec := newRecorder()
	n := brokertest.Start(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, config.NewListener(config.ListenerUnix, "local", path))
	}, rec)
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	r := newRaw(t, nc, packet.V311)
	r.mustConnect("local-tool")
	r.subscribe(0, "local/#")
	tcp := newRaw(t, dialTCP(t, n.Addr), packet.V311)
	tcp.mustConnect("tcp-client")
	tcp.publish(1, false, "local/x", "to the unix client")
	if m := r.expectMessage(5 * time.Second); string(m.Payload) != "to the unix client" {
		t.Fatalf("got %q", m.Payload)
	}
	if p := rec.client(t, "local-tool").Peer; !strings.Contains(p, "mqtt.sock") {
		t.Errorf("peer of a unix client = %q, want the socket path", p)
	}
	// mosquitto_pub speaks to it with --unix.
	if bin, err := lookPath("mosquitto_pub"); err == nil {
		out := brokertest.RunCmd(t, 10*time.Second, bin, "--unix", path, "-t", "local/y", "-m", "from mosquitto", "-q", "1")
		out.MustSucceed()
		if m := r.expectMessage(5 * time.Second); string(m.Payload) != "from mosquitto" {
			t.Fatalf("got %q", m.Payload)
		}
	}
	// Stop and start the unix listener alone: the socket file is removed and bound again.
	for _, l := range n.Listeners() {
		if l.Name() == "listener.unix.local" {
			l.Stop()
			if _, err := net.Dial("unix", path); err == nil {
				t.Fatal("unix listener still accepting after Stop")
			}
			if err := l.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			l.Stop()
		}
	}
}
