package broker_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// tls_version and ciphers, enforced in real handshakes by Go clients limited to one version
// or one suite. The test PKI's keys are ECDSA P-256, so the suites in play are ECDHE-ECDSA.

// startSSLConf runs a broker with listener.ssl.default configured by the file lines extra
// (loaded with config.Load, so the keys operators write are what is tested) and returns its
// address.
func startSSLConf(t *testing.T, p *testPKI, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nautilus.conf")
	text := fmt.Sprintf("listener.ssl.default = 127.0.0.1:0\nlistener.ssl.default.certfile = %s\nlistener.ssl.default.keyfile = %s\n%s",
		p.ServerCert, p.ServerKey, extra)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", text, err)
	}
	n := brokertest.Start(t, func(c *config.Config) { c.Listeners = append(c.Listeners, loaded.Listeners...) })
	return addrOf(t, n, "listener.ssl.default")
}

// tlsDial runs a handshake with addr trusting the PKI, with edit limiting the client; it
// returns the connection state or the handshake's error.
func tlsDial(t *testing.T, addr string, p *testPKI, edit func(*tls.Config)) (*tls.Conn, error) {
	t.Helper()
	cfg := clientTLS(t, p)
	edit(cfg)
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { tc.Close() })
	return tc, nil
}

func onlyTLS12(suites ...uint16) func(*tls.Config) {
	return func(c *tls.Config) { c.MaxVersion, c.CipherSuites = tls.VersionTLS12, suites }
}

// TestTLSVersionOption: with tls_version = tlsv1.3 a client that speaks at most TLS 1.2 is
// refused in the handshake and a TLS 1.3 client is served; the default (tlsv1.2) serves both.
func TestTLSVersionOption(t *testing.T) {
	pki := newPKI(t, "tlsver")
	addr := startSSLConf(t, pki, "listener.ssl.default.tls_version = tlsv1.3\n")
	if tc, err := tlsDial(t, addr, pki, onlyTLS12()); err == nil {
		t.Fatalf("a TLS 1.2 client was served by a tlsv1.3 listener (version %x)", tc.ConnectionState().Version)
	}
	tc, err := tlsDial(t, addr, pki, func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 })
	if err != nil {
		t.Fatalf("TLS 1.3 client refused: %v", err)
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("negotiated version %x, want TLS 1.3", v)
	}
	newRaw(t, tc, packet.V311).mustConnect("tls13")

	tc, err = tlsDial(t, startSSLConf(t, pki, ""), pki, onlyTLS12())
	if err != nil {
		t.Fatalf("a TLS 1.2 client refused by a default (tlsv1.2) listener: %v", err)
	}
	newRaw(t, tc, packet.V311).mustConnect("tls12")
}

// TestTLSCiphersOption: with ciphers = ECDHE-ECDSA-AES128-GCM-SHA256 a TLS 1.2 client offering
// that suite is served with it and one offering only other suites is refused, though a
// listener without the option serves that client. TLS 1.3 suites are not configurable in Go,
// so a TLS 1.3 client is served whatever the list says (as docs/listeners.md states).
func TestTLSCiphersOption(t *testing.T) {
	pki := newPKI(t, "ciphers")
	addr := startSSLConf(t, pki, "listener.ssl.default.ciphers = ECDHE-ECDSA-AES128-GCM-SHA256\n")

	tc, err := tlsDial(t, addr, pki, onlyTLS12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))
	if err != nil {
		t.Fatalf("a client offering the configured suite was refused: %v", err)
	}
	if cs := tc.ConnectionState().CipherSuite; cs != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("negotiated %s, want the configured TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", tls.CipherSuiteName(cs))
	}
	newRaw(t, tc, packet.V311).mustConnect("aes128")

	others := onlyTLS12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
	if tc, err := tlsDial(t, addr, pki, others); err == nil {
		t.Fatalf("a client offering only other suites was served with %s", tls.CipherSuiteName(tc.ConnectionState().CipherSuite))
	}
	if _, err := tlsDial(t, addr, pki, func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }); err != nil {
		t.Errorf("a TLS 1.3 client was refused by a listener with TLS 1.2 ciphers: %v", err)
	}

	if _, err := tlsDial(t, startSSLConf(t, pki, ""), pki, others); err != nil {
		t.Fatalf("control: a listener without ciphers refused the other suites: %v", err)
	}
}
