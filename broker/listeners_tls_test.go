package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/acl"
)

// TLS listeners (listener.ssl) driven by mosquitto_pub/mosquitto_sub and Go's TLS client.

func sslListener(p *testPKI, edit func(*config.Listener)) config.Listener {
	l := config.NewListener(config.ListenerSSL, "default", "127.0.0.1:0")
	l.CertFile, l.KeyFile, l.CAFile = p.ServerCert, p.ServerKey, p.CA
	l.ConnectTimeout = time.Second
	if edit != nil {
		edit(&l)
	}
	return l
}

func startSSL(t *testing.T, p *testPKI, edit func(*config.Listener), plugins ...any) (*brokertest.Node, string, string) {
	t.Helper()
	n := brokertest.Start(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, sslListener(p, edit))
	}, plugins...)
	addr := addrOf(t, n, "listener.ssl.default")
	host, port, _ := strings.Cut(addr, ":")
	return n, host, port
}

// mosqPub runs mosquitto_pub with args after the connection ones and returns its error and
// output.
func mosqPub(t *testing.T, host, port string, args ...string) (string, error) {
	t.Helper()
	bin := brokertest.RequireBinary(t, "mosquitto_pub")
	p := brokertest.RunCmd(t, 10*time.Second, bin, append([]string{"-h", host, "-p", port, "-V", "mqttv311"}, args...)...)
	out, err := p.Wait()
	return out + p.Stderr(), err
}

func TestTLSMosquittoPubSub(t *testing.T) {
	pki := newPKI(t, "tls")
	_, host, port := startSSL(t, pki, nil)
	sub := brokertest.RunCmd(t, 10*time.Second, brokertest.RequireBinary(t, "stdbuf"), "-oL",
		brokertest.RequireBinary(t, "mosquitto_sub"), "-h", host, "-p", port, "--cafile", pki.CA,
		"-t", "tls/#", "-C", "1", "-d", "-F", "%t|%p", "-i", "tls-sub")
	sub.WaitOutput("received SUBACK", false, 5*time.Second)
	if out, err := mosqPub(t, host, port, "--cafile", pki.CA, "-t", "tls/a", "-m", "over tls", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub over TLS: %v\n%s", err, out)
	}
	if out := sub.MustSucceed(); !strings.Contains(out, "tls/a|over tls") {
		t.Fatalf("mosquitto_sub got %q", out)
	}
	// A client trusting another CA refuses the server.
	other := newPKI(t, "other")
	if out, err := mosqPub(t, host, port, "--cafile", other.CA, "-t", "tls/a", "-m", "x"); err == nil {
		t.Fatalf("a client with the wrong CA connected: %s", out)
	}
}

func TestTLSClientCertificates(t *testing.T) {
	pki := newPKI(t, "tls")
	goodCert, goodKey := pki.Client(t, "device-1")
	expCert, expKey, _ := pki.Issue(t, "expired", "device-2", func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	})
	revCert, revKey, revSerial := pki.Issue(t, "revoked", "device-3", nil)
	crl := pki.CRL(t, revSerial, big.NewInt(99999))
	other := newPKI(t, "other")
	foreignCert, foreignKey := other.Client(t, "device-4")

	_, host, port := startSSL(t, pki, func(l *config.Listener) {
		l.RequireCertificate = true
		l.CRLFile = crl
	})
	pub := func(cert, key string) (string, error) {
		args := []string{"--cafile", pki.CA, "-t", "certs/x", "-m", "hello", "-q", "1"}
		if cert != "" {
			args = append(args, "--cert", cert, "--key", key)
		}
		return mosqPub(t, host, port, args...)
	}
	if out, err := pub(goodCert, goodKey); err != nil {
		t.Fatalf("valid client certificate refused: %v\n%s", err, out)
	}
	for _, c := range []struct{ name, cert, key string }{
		{"no certificate", "", ""},
		{"expired", expCert, expKey},
		{"revoked", revCert, revKey},
		{"other CA", foreignCert, foreignKey},
	} {
		if out, err := pub(c.cert, c.key); err == nil {
			t.Errorf("%s: mosquitto_pub succeeded: %s", c.name, out)
		}
	}
	// Go's client over TLS 1.3 sees the refusal only when it reads: no CONNACK either way.
	for _, c := range []struct{ name, cert, key string }{{"expired", expCert, expKey}, {"revoked", revCert, revKey}} {
		cfg := clientTLS(t, pki)
		kp, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
		nc, err := tls.Dial("tcp", host+":"+port, cfg)
		if err != nil {
			continue // refused in the handshake (TLS 1.2)
		}
		if ack, err := newRaw(t, nc, packet.V311).connect("go-"+c.name, nil); err == nil {
			t.Errorf("%s: got %v", c.name, ack)
		}
	}
}

func clientTLS(t testing.TB, p *testPKI) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(b)
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// use_identity_as_username: the certificate CN is the username the ACL plugin's %u sees, and
// no password is asked for even with allow_anonymous off.
func TestTLSIdentityAsUsernameFeedsACL(t *testing.T) {
	pki := newPKI(t, "tls")
	aclPath := filepath.Join(t.TempDir(), "vmq.acl")
	if err := os.WriteFile(aclPath, []byte("pattern readwrite devices/%u/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	n := brokertest.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Listeners = append(c.Listeners, sslListener(pki, func(l *config.Listener) {
			l.RequireCertificate, l.UseIdentityAsUsername = true, true
		}))
	}, acl.New(aclPath, nil), rec)
	addr := addrOf(t, n, "listener.ssl.default")
	host, port, _ := strings.Cut(addr, ":")
	cert, key := pki.Client(t, "dev1")

	sub := brokertest.RunCmd(t, 10*time.Second, brokertest.RequireBinary(t, "stdbuf"), "-oL",
		brokertest.RequireBinary(t, "mosquitto_sub"), "-h", host, "-p", port, "-V", "mqttv311",
		"--cafile", pki.CA, "--cert", cert, "--key", key, "-i", "dev1-sub",
		"-t", "devices/dev1/#", "-t", "devices/dev2/#", "-C", "1", "-d", "-F", "%t|%p")
	sub.WaitOutput("received SUBACK", false, 5*time.Second)
	// The username in CONNECT is ignored: the CN wins.
	for _, topic := range []string{"devices/dev2/x", "devices/dev1/x"} {
		if out, err := mosqPub(t, host, port, "--cafile", pki.CA, "--cert", cert, "--key", key, "-i", "dev1-pub",
			"-u", "mallory", "-t", topic, "-m", topic, "-q", "1"); err != nil {
			t.Fatalf("publish %s: %v\n%s", topic, err, out)
		}
	}
	out := sub.MustSucceed()
	if !strings.Contains(out, "devices/dev1/x|devices/dev1/x") || strings.Contains(out, "devices/dev2/x|") {
		t.Fatalf("subscriber got %q; want only devices/dev1/x", out)
	}
	// The ACL refused the subscription to another device's topics (SUBACK 0x80).
	if !strings.Contains(out, "Subscribed (mid: 1): 0, 128") {
		t.Fatalf("want SUBACK 0, 128 in %q", out)
	}
	if c := rec.client(t, "dev1-pub"); c.Username != "dev1" {
		t.Fatalf("hooks saw username %q, want the CN dev1", c.Username)
	}
}

// A client that opens a TCP connection to a TLS listener and never finishes the handshake is
// closed after connect_timeout; another client is served meanwhile.
func TestTLSHandshakeNeverFinishes(t *testing.T) {
	pki := newPKI(t, "tls")
	_, host, port := startSSL(t, pki, nil)
	addr := host + ":" + port
	stalled := dialTCP(t, addr)
	stalled.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00}) // a ClientHello record header, then nothing
	nc, err := tls.Dial("tcp", addr, clientTLS(t, pki))
	if err != nil {
		t.Fatal(err)
	}
	c := newRaw(t, nc, packet.V311)
	c.mustConnect("witness")
	start := time.Now()
	expectClosed(t, stalled, 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stalled handshake closed after %v; connect_timeout is 1s", d)
	}
	c.subscribe(0, "w")
	c.publish(0, false, "w", "still here")
	if m := c.expectMessage(5 * time.Second); string(m.Payload) != "still here" {
		t.Fatalf("witness got %q", m.Payload)
	}
}
