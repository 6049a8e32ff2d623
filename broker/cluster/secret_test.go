package cluster

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// TestSecretLinksAreTLS: nodes that share only a secret link over TLS 1.3 and exchange
// frames; no certificate was configured.
func TestSecretLinksAreTLS(t *testing.T) {
	nodes := startCluster(t, "n1", "n2")
	rec := &recorder{}
	nodes[1].Handle(ChanRouting, rec)
	waitLinked(t, nodes[0], nodes[1])
	tc, ok := nodes[0].peerFor("n2").currentLink().conn.(*tls.Conn)
	if !ok {
		t.Fatal("a link between nodes with a secret is not TLS")
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("link TLS version %#x, want TLS 1.3", v)
	}
	if err := nodes[0].Send("n2", ChanRouting, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 receives over the secret's TLS", func() bool { return rec.count() == 1 })
}

// TestWrongSecretCannotJoin: a node with another secret neither joins the gossip nor links;
// the members keep serving each other.
func TestWrongSecretCannotJoin(t *testing.T) {
	nodes := startCluster(t, "n1", "n2")
	rec := &recorder{}
	nodes[1].Handle(ChanRouting, rec)
	intruder := startNode(t, "0-intruder", func(o *Options) { o.Secret = []byte("not-the-cluster-secret") })
	if err := intruder.Join(nodes[0].GossipAddr()); err == nil {
		t.Fatal("a join with another secret succeeded")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if slices.Contains(n.Members(), "0-intruder") {
				t.Fatalf("%s lists the intruder as a member: %v", n.Self(), n.Members())
			}
		}
		if len(intruder.Members()) > 1 {
			t.Fatalf("the intruder sees members: %v", intruder.Members())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := nodes[0].Send("n2", ChanRouting, []byte("still served")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 receives from n1", func() bool { return rec.count() == 1 })
}

// TestForgedLinkHandshakes: a client on the peer-link port cannot become a link by speaking the
// link protocol in the clear, with a certificate of another secret, or with a certificate of
// the right secret that names another node than its hello claims. The real link stays, and no
// forged frame is delivered.
func TestForgedLinkHandshakes(t *testing.T) {
	nodes := startCluster(t, "n1", "n2")
	n1, n2 := nodes[0], nodes[1]
	rec := &recorder{}
	n2.Handle(ChanRouting, rec)
	waitLinked(t, n1, n2)
	real := n2.peerFor("n1").currentLink()
	hello := &hello{Node: "n1", Min: ProtocolVersionMin, Max: ProtocolVersionMax}

	// In the clear: the TLS server sees no ClientHello.
	if err := forgeLink(t, n2.LinkAddr(), nil, hello); err == nil {
		t.Fatal("a plain-text hello as n1 was answered")
	}
	// A certificate from another secret's authority, claiming n1.
	other, err := deriveKeys([]byte("another-secret-entirely"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := other.linkCert("n1")
	if err != nil {
		t.Fatal(err)
	}
	_, client := other.secretTLS(cert)
	if err := forgeLink(t, n2.LinkAddr(), client, hello); err == nil {
		t.Fatal("a link with another secret's certificate was accepted")
	}
	// The right authority (a member's secret) but a certificate for another name.
	keys, err := keysFor([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	cert, err = keys.linkCert("0-mallory")
	if err != nil {
		t.Fatal(err)
	}
	_, client = keys.secretTLS(cert)
	if err := forgeLink(t, n2.LinkAddr(), client, hello); err == nil {
		t.Fatal("a certificate for 0-mallory was accepted as n1")
	}

	if s := n2.Stats(); s.HandshakeFailures < 3 {
		t.Fatalf("handshake failures %d, want at least 3", s.HandshakeFailures)
	}
	if got := n2.peerFor("n1").currentLink(); got != real {
		t.Fatal("a forged handshake replaced the real n1-n2 link")
	}
	if rec.count() != 0 {
		t.Fatalf("forged frames delivered: %q", rec.messages())
	}
	if err := n1.Send("n2", ChanRouting, []byte("real")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the real link still carries frames", func() bool { return rec.count() == 1 })
}

// forgeLink dials addr, runs TLS with cfg when it is not nil, sends the link magic, h and a
// routing frame, and returns nil only if the acceptor answered with a hello that accepts.
func forgeLink(t *testing.T, addr string, cfg *tls.Config, h *hello) error {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(3 * time.Second))
	conn := raw
	if cfg != nil {
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			return err
		}
		conn = tc
	}
	if err := writeHello(conn, bytes.Clone(linkMagic), h); err != nil {
		return err
	}
	// A frame right behind the hello, as an attacker would pipeline it.
	_, _ = conn.Write([]byte{0, 0, 0, 5, byte(ChanRouting), 'f', 'o', 'r', 'g'})
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if bytes.Contains(buf[:n], []byte("refused")) {
		return errors.New("refused")
	}
	return nil
}

// TestShortSecretRefused: a secret an attacker could guess offline is refused at New.
func TestShortSecretRefused(t *testing.T) {
	o := testOptions(t, "n1")
	o.Secret = []byte("vmq_secret") // VerneMQ's default cookie
	if _, err := New(o); err == nil {
		t.Fatal("a 10-byte secret was accepted")
	}
	o.Secret = nil
	if _, err := New(o); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("no secret: %v, want ErrNoSecret", err)
	}
}
