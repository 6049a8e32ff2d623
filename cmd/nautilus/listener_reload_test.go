package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// placeFile writes data next to path and renames it into place, as an operator rotating
// certificates should, so the node never reads a half-written file.
func placeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func copyInto(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	placeFile(t, to, b)
}

// trusting is a client TLS configuration trusting only the CA in caFile.
func trusting(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// handshake runs a TLS handshake with addr trusting only caFile and returns the connection,
// or the error that refused it.
func handshake(t *testing.T, addr, caFile string) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tc, err := tls.DialWithDialer(d, "tcp", addr, trusting(t, caFile))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { tc.Close() })
	return tc, nil
}

// tlsClient connects over TLS trusting only caFile and completes an MQTT CONNECT.
func tlsClient(t *testing.T, addr, caFile, id string) (*client, error) {
	t.Helper()
	tc, err := handshake(t, addr, caFile)
	if err != nil {
		return nil, err
	}
	c := &client{t: t, nc: tc, v: packet.V311, r: packet.NewReader(bufio.NewReader(tc), 0)}
	c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: id})
	if ack, ok := c.read().(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK over TLS for %s: %+v", id, ack)
	}
	return c, nil
}

// TestAdminListenerReload rotates the certificate of a running node's TLS listeners to one
// of a new CA and reloads it with `nautilus admin listener reload`: right after the command,
// a client trusting only the new CA connects and one trusting only the old CA is refused,
// while a connection made before the reload goes on. A reload with a broken key file keeps
// the certificate in use and the command fails saying which listener and why.
func TestAdminListenerReload(t *testing.T) {
	oldCA, newCA := brokertest.NewPKI(t, "old"), brokertest.NewPKI(t, "new")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	copyInto(t, oldCA.ServerCert, cert)
	copyInto(t, oldCA.ServerKey, key)
	mqtt, ssl, wss, httpAddr := freePort(t), freePort(t), freePort(t), freePort(t)
	conf := writeNodeConf(t, dir, mqtt, fmt.Sprintf(
		"listener.ssl.default = %s\nlistener.wss.default = %s\nlistener.ssl.certfile = %s\nlistener.ssl.keyfile = %s\n"+
			"listener.wss.certfile = %s\nlistener.wss.keyfile = %s\nlistener.http.default = %s\n",
		ssl, wss, cert, key, cert, key, httpAddr))
	n := startNode(t, conf, mqtt)
	eventually(t, 10*time.Second, "the ssl listener accepts handshakes", func() bool {
		_, err := handshake(t, ssl, oldCA.CA)
		return err == nil
	})
	before, err := tlsClient(t, ssl, oldCA.CA, "before-reload")
	if err != nil {
		t.Fatalf("client trusting the old CA before the rotation: %v", err)
	}
	if _, err := handshake(t, ssl, newCA.CA); err == nil {
		t.Fatal("a client trusting only the new CA connected before the rotation")
	}

	copyInto(t, newCA.ServerCert, cert)
	copyInto(t, newCA.ServerKey, key)
	out := mustAdmin(t, "--config", conf, "listener", "reload")
	for _, want := range []string{"listener.ssl.default (ssl): certificates reloaded\n", "listener.wss.default (wss): certificates reloaded\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("listener reload output lacks %q:\n%s", want, out)
		}
	}
	// No waiting: the command's answer means new handshakes use the new certificate.
	for _, addr := range []string{ssl, wss} {
		if _, err := handshake(t, addr, oldCA.CA); err == nil {
			t.Errorf("%s: a client trusting only the old CA connected after the reload", addr)
		}
		if _, err := handshake(t, addr, newCA.CA); err != nil {
			t.Errorf("%s: a client trusting only the new CA was refused after the reload: %v", addr, err)
		}
	}
	if _, err := tlsClient(t, ssl, newCA.CA, "after-reload"); err != nil {
		t.Fatalf("MQTT over TLS with the new CA: %v", err)
	}
	// Same process, and the connection made before the reload keeps its session.
	before.send(&packet.Pingreq{})
	if _, ok := before.read().(*packet.Pingresp); !ok {
		t.Fatal("the connection made before the reload did not answer PINGREQ")
	}

	// One listener by name (without the listener. prefix), as JSON.
	out = mustAdmin(t, "--config", conf, "listener", "reload", "--json", "ssl.default")
	if !strings.Contains(out, `"name": "listener.ssl.default"`) || strings.Contains(out, "listener.wss.default") || !strings.Contains(out, `"reloaded": true`) {
		t.Errorf("reload of one listener:\n%s", out)
	}
	for name, want := range map[string]string{
		"listener.tcp.default": "listener.tcp.default is a tcp listener: only ssl and wss listeners have certificates to reload (HTTP 400)",
		"listener.ssl.nope":    "this node has no MQTT listener listener.ssl.nope",
	} {
		if _, errOut, err := runAdmin(t, "--config", conf, "listener", "reload", name); err == nil || !strings.Contains(errOut, want) {
			t.Errorf("reload %s: %v, stderr %q; want %q", name, err, errOut, want)
		}
	}

	// A broken key file: the command fails, names the problem, and the new certificate stays.
	placeFile(t, key, []byte("not a key\n"))
	out, errOut, err := runAdmin(t, "--config", conf, "listener", "reload")
	if err == nil {
		t.Fatalf("reload with a broken key succeeded:\n%s", out)
	}
	for _, want := range []string{
		"listener.ssl.default (ssl): NOT reloaded, keeps its previous certificates: certfile/keyfile: tls: failed to find any PEM data in key input\n",
		"listener.wss.default (wss): NOT reloaded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("failed reload output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "2 of 2 listeners could not load their certificate files and keep the previous certificates") || !strings.Contains(errOut, "(HTTP 500)") {
		t.Errorf("failed reload stderr:\n%s", errOut)
	}
	if _, err := tlsClient(t, ssl, newCA.CA, "after-failed-reload"); err != nil {
		t.Fatalf("the certificate in use was dropped by a failed reload: %v", err)
	}
	if !strings.Contains(n.log(), "admin: certificate reload failed; the listener keeps its previous certificates") {
		t.Errorf("the node did not log the failed reload:\n%s", n.log())
	}
}
