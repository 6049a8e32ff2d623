package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/config"
)

func TestOptionsFromConfig(t *testing.T) {
	var c config.Config
	c.Node.Nodename = "n1@10.0.0.1"
	c.Cluster.OutgoingBufferSize = 2 * config.MB
	c.Cluster.Seeds = " 10.0.0.2:44054, 10.0.0.3:44054 ,"
	c.Cluster.SeedsDNS = "nautilus.example:44054"
	c.Cluster.ReconnectInterval = 3 * time.Second
	if _, err := OptionsFromConfig(&c); err == nil {
		t.Fatal("accepted a config without a vmq listener")
	}
	c.Listeners = []config.Listener{
		config.NewListener(config.ListenerTCP, "default", ":1883"),
		config.NewListener(config.ListenerVMQ, "clustering", "10.0.0.1:44053"),
	}
	if _, err := OptionsFromConfig(&c); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("a cluster listener without a secret: %v, want ErrNoSecret", err)
	}
	c.Cluster.Secret = "0123456789abcdef-secret"
	c.Cluster.AutoClean = time.Hour
	o, err := OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "n1@10.0.0.1" || o.LinkAddr != "10.0.0.1:44053" || o.OutgoingBufferSize != 2<<20 ||
		!slices.Equal(o.Seeds, []string{"10.0.0.2:44054", "10.0.0.3:44054"}) || o.GossipAddr != "" ||
		o.SeedsDNS != "nautilus.example:44054" || o.ReconnectInterval != 3*time.Second ||
		string(o.Secret) != "0123456789abcdef-secret" || o.AutoClean != time.Hour {
		t.Fatalf("%+v", o)
	}
	if d, _ := o.withDefaults(); d.GossipAddr != "10.0.0.1:44054" {
		t.Fatalf("gossip %q", d.GossipAddr)
	}
	c.Cluster.GossipKey = "MDEyMzQ1Njc4OWFiY2RlZg==" // base64 of 16 bytes
	if o, err := OptionsFromConfig(&c); err != nil || string(o.GossipKey) != "0123456789abcdef" {
		t.Fatalf("gossip key: %q, %v", o.GossipKey, err)
	}
	for _, bad := range []string{"not base64!", "c2hvcnQ="} { // the second is 5 bytes
		c.Cluster.GossipKey = bad
		if _, err := OptionsFromConfig(&c); err == nil {
			t.Fatalf("accepted gossip key %q", bad)
		}
	}
	c.Cluster.GossipKey = ""
	c.Cluster.Seeds = "nohost"
	if _, err := OptionsFromConfig(&c); err == nil {
		t.Fatal("accepted a bad seed")
	}
	c.Cluster.Seeds = ""
	c.Listeners = append(c.Listeners, config.NewListener(config.ListenerVMQ, "other", ":44060"))
	if _, err := OptionsFromConfig(&c); err == nil {
		t.Fatal("accepted two vmq listeners")
	}
}

// TestSecretFromConfig: cluster.secret wins over cluster.secret_file, which wins over VerneMQ's
// distributed_cookie; a TLS cluster listener with a gossip key needs no secret.
func TestSecretFromConfig(t *testing.T) {
	var c config.Config
	c.Node.Nodename = "n1@10.0.0.1"
	c.Listeners = []config.Listener{config.NewListener(config.ListenerVMQ, "clustering", "10.0.0.1:44053")}
	c.Cluster.DistributedCookie = "cookie-from-vernemq-config"
	if o, err := OptionsFromConfig(&c); err != nil || string(o.Secret) != "cookie-from-vernemq-config" {
		t.Fatalf("distributed_cookie: %q, %v", o.Secret, err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("  secret-from-a-mounted-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Cluster.SecretFile = file
	if o, err := OptionsFromConfig(&c); err != nil || string(o.Secret) != "secret-from-a-mounted-file" {
		t.Fatalf("cluster.secret_file: %q, %v", o.Secret, err)
	}
	c.Cluster.Secret = "secret-in-the-config-itself"
	if o, err := OptionsFromConfig(&c); err != nil || string(o.Secret) != "secret-in-the-config-itself" {
		t.Fatalf("cluster.secret: %q, %v", o.Secret, err)
	}
	c.Cluster.Secret, c.Cluster.DistributedCookie = "", ""
	c.Cluster.SecretFile = filepath.Join(t.TempDir(), "missing")
	if _, err := OptionsFromConfig(&c); err == nil || !strings.Contains(err.Error(), "cluster.secret_file") {
		t.Fatalf("a missing secret file: %v", err)
	}
	c.Cluster.SecretFile = ""
	c.Listeners = []config.Listener{config.NewListener(config.ListenerVMQS, "clustering", "10.0.0.1:44053")}
	if _, err := OptionsFromConfig(&c); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("TLS links without a gossip key: %v, want ErrNoSecret", err)
	}
	c.Cluster.GossipKey = "MDEyMzQ1Njc4OWFiY2RlZg=="
	if _, err := OptionsFromConfig(&c); err != nil {
		t.Fatalf("TLS links with a gossip key: %v", err)
	}
}
