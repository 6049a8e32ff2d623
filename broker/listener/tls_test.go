package listener

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"

	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a self-signed server certificate with the given serial; with passwd, the
// key is written with legacy PEM encryption.
func selfSigned(t *testing.T, dir string, serial int64, passwd string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	block := &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}
	if passwd != "" {
		//lint:ignore SA1019 testing the legacy encrypted PEM keys keypasswd reads
		block, err = x509.EncryptPEMBlock(rand.Reader, block.Type, kder, []byte(passwd), x509.PEMCipherAES256)
		if err != nil {
			t.Fatal(err)
		}
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Write to temporary names and rename, as an operator's tooling would.
	os.WriteFile(certPath+".tmp", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath+".tmp", pem.EncodeToMemory(block), 0o600)
	os.Rename(certPath+".tmp", certPath)
	os.Rename(keyPath+".tmp", keyPath)
	return certPath, keyPath
}

func serialSeen(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestTLSReloadOnFileChangeAndReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, 1, "")
	l := mustNew(t, Config{Name: "ssl.test", Address: "127.0.0.1:0", MaxConnections: -1,
		TLS: &TLSConfig{CertFile: cert, KeyFile: key, ReloadInterval: 20 * time.Millisecond}},
		func(_ context.Context, nc net.Conn) { nc.Close() }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	addr := l.Addr().String()
	if s := serialSeen(t, addr); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	// Rewritten files are picked up by the poller.
	time.Sleep(10 * time.Millisecond) // a different modification time on coarse clocks
	selfSigned(t, dir, 2, "")
	waitFor(t, func() bool { return serialSeen(t, addr) == 2 })

	// A broken file keeps the certificate in use, and Reload reports it.
	os.WriteFile(key, []byte("garbage"), 0o600)
	if err := l.Reload(); err == nil {
		t.Fatal("Reload of a broken key succeeded")
	}
	if s := serialSeen(t, addr); s != 2 {
		t.Fatalf("serial %d after a failed reload, want 2", s)
	}
	// A listener cannot be built on a broken key at all.
	if _, err := New(Config{Name: "ssl.test", Address: "127.0.0.1:0", MaxConnections: -1, TLS: &TLSConfig{CertFile: cert, KeyFile: key}},
		func(_ context.Context, nc net.Conn) { nc.Close() }, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("New accepted a broken key")
	}
}

func TestTLSManualReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, 5, "")
	l := mustNew(t, Config{Name: "ssl.test", Address: "127.0.0.1:0", MaxConnections: -1,
		TLS: &TLSConfig{CertFile: cert, KeyFile: key, ReloadInterval: -1}},
		func(_ context.Context, nc net.Conn) { nc.Close() }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	selfSigned(t, dir, 6, "")
	if s := serialSeen(t, l.Addr().String()); s != 5 {
		t.Fatalf("serial %d before Reload, want 5 (polling is off)", s)
	}
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := serialSeen(t, l.Addr().String()); s != 6 {
		t.Fatalf("serial %d after Reload, want 6", s)
	}
}

func TestTLSKeyPasswd(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, 3, "s3cret")
	if _, err := loadTLS(TLSConfig{CertFile: cert, KeyFile: key}); err == nil {
		t.Fatal("encrypted key loaded without keypasswd")
	}
	if _, err := loadTLS(TLSConfig{CertFile: cert, KeyFile: key, KeyPasswd: "wrong"}); err == nil {
		t.Fatal("encrypted key loaded with a wrong keypasswd")
	}
	if _, err := loadTLS(TLSConfig{CertFile: cert, KeyFile: key, KeyPasswd: "s3cret"}); err != nil {
		t.Fatalf("keypasswd: %v", err)
	}
}

func TestParseCiphers(t *testing.T) {
	got, err := parseCiphers("ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"RC4-SHA", "NOPE"} {
		if _, err := parseCiphers(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestForwardedFor(t *testing.T) {
	peer := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 5000}
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	for _, c := range []struct {
		name    string
		headers []string
		trusted []netip.Prefix
		want    string
	}{
		{"no header", nil, nil, "10.0.0.2:5000"},
		{"one proxy", []string{"198.51.100.1"}, nil, "198.51.100.1:0"},
		{"rightmost without list", []string{"1.1.1.1, 198.51.100.1"}, nil, "198.51.100.1:0"},
		{"skips trusted hops", []string{"1.1.1.1, 198.51.100.1, 10.0.0.7"}, lb, "198.51.100.1:0"},
		{"untrusted peer", []string{"198.51.100.1"}, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "10.0.0.2:5000"},
		{"port and v6", []string{"[2001:db8::1]:443"}, nil, "[2001:db8::1]:0"},
		{"garbage", []string{"not-an-ip"}, nil, "10.0.0.2:5000"},
	} {
		if got := forwardedFor(peer, c.headers, c.trusted).String(); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
