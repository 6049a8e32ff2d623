package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"
)

// testCA is a throwaway self-signed CA that issues node certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// nodeTLS returns a config with a certificate for node, valid as server and client for
// 127.0.0.1, trusting only this CA.
func (ca *testCA) nodeTLS(t *testing.T, node string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: node},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      ca.pool,
		MinVersion:   tls.VersionTLS13,
	}
}

func TestTLSLink(t *testing.T) {
	ca := newTestCA(t, "nautilus test CA")
	a := startNode(t, "a", func(o *Options) { o.TLS = ca.nodeTLS(t, "a") })
	b := startNode(t, "b", func(o *Options) { o.TLS = ca.nodeTLS(t, "b") })
	rb := &recorder{}
	b.Handle(ChanRouting, rb)
	b.Handle(ChanMetaRPC, rb)
	if err := b.Join(a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	waitLinked(t, a, b)
	if _, ok := a.peerFor("b").currentLink().conn.(*tls.Conn); !ok {
		t.Fatal("link is not TLS")
	}
	if err := a.Send("b", ChanRouting, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered over TLS", func() bool { return rb.count() == 1 })
	if resp, err := a.Request(t.Context(), "b", ChanMetaRPC, []byte("q")); err != nil || string(resp) != "echo:q" {
		t.Fatalf("%q %v", resp, err)
	}
}

func TestTLSWrongCARefused(t *testing.T) {
	good, other := newTestCA(t, "cluster CA"), newTestCA(t, "some other CA")
	a := startNode(t, "a", func(o *Options) { o.TLS = good.nodeTLS(t, "a") })
	b := startNode(t, "b", func(o *Options) { o.TLS = other.nodeTLS(t, "b") })
	if err := b.Join(a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a refuses b's certificate", func() bool { return a.Stats().HandshakeFailures > 0 })
	if s, _ := a.Peer("b"); s.Up || s.LinksUp != 0 {
		t.Fatalf("link up across CAs: %+v", s)
	}
	// Once dialling has failed a few times, requests to the live but unlinkable peer fail at
	// once rather than after their deadline.
	waitFor(t, "a gave up waiting for a link to b", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := a.Request(ctx, "b", ChanMetaRPC, []byte("q"))
		return errors.Is(err, ErrNoLink) // not the deadline's error: it failed at once
	})
	// A plain-TCP dialler is refused by a TLS node too.
	c := startNode(t, "0-plain", nil)
	if err := c.Join(a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	before := a.Stats().HandshakeFailures
	waitFor(t, "a refuses a plain link", func() bool { return a.Stats().HandshakeFailures > before })
	if s, _ := a.Peer("0-plain"); s.Up {
		t.Fatal("plain link accepted by a TLS node")
	}
}
