package broker_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
)

// TestListenerDocsConfigs keeps docs/listeners.md honest: every ini block loads with
// config.Load (paths pointed at generated certificates, ports at free ones) and a broker
// starts on it with every listener running.
func TestListenerDocsConfigs(t *testing.T) {
	doc, err := os.ReadFile("../docs/listeners.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```ini\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d ini blocks in docs/listeners.md", len(blocks))
	}
	pki := newPKI(t, "docs")
	dir := t.TempDir()
	ports := regexp.MustCompile(`(0\.0\.0\.0|127\.0\.0\.1):\d+`)
	for i, b := range blocks {
		text := strings.NewReplacer(
			"/etc/nautilus/server.pem", pki.ServerCert,
			"/etc/nautilus/server.key", pki.ServerKey,
			"/etc/nautilus/ca.pem", pki.CA,
			"/etc/nautilus/crl.pem", pki.CRL(t),
			"/run/nautilus/mqtt.sock", filepath.Join(dir, "mqtt.sock"),
		).Replace(b[1])
		text = ports.ReplaceAllString(text, "127.0.0.1:0")
		path := filepath.Join(dir, "nautilus.conf")
		os.WriteFile(path, []byte(text+"\nplugins.vmq_passwd = off\nplugins.vmq_acl = off\n"), 0o600)
		loaded, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("block %d:\n%s\n%v", i+1, b[1], err)
		}
		n := brokertest.Start(t, func(c *config.Config) { c.Listeners = loaded.Listeners })
		for _, l := range n.Listeners() {
			if !l.Running() {
				t.Errorf("block %d: listener %s not running", i+1, l.Name())
			}
		}
		n.Shutdown(t.Context())
	}
}
