package cluster

import (
	"slices"
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
	o, err := OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "n1@10.0.0.1" || o.LinkAddr != "10.0.0.1:44053" || o.OutgoingBufferSize != 2<<20 ||
		!slices.Equal(o.Seeds, []string{"10.0.0.2:44054", "10.0.0.3:44054"}) || o.GossipAddr != "" ||
		o.SeedsDNS != "nautilus.example:44054" || o.ReconnectInterval != 3*time.Second {
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
