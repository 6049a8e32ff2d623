package cluster

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/nautilus-mq/nautilus/broker/config"
)

// OptionsFromConfig maps nautilus.conf onto Options: nodename, the one listener.vmq.<name>
// (the peer-link address), cluster.gossip, cluster.seeds and outgoing_clustering_buffer_size.
// Logger, TLS and timings are left for the caller.
func OptionsFromConfig(c *config.Config) (Options, error) {
	var vmq []config.Listener
	for _, l := range c.Listeners {
		if l.Type.Cluster() {
			vmq = append(vmq, l)
		}
	}
	switch len(vmq) {
	case 0:
		return Options{}, fmt.Errorf("cluster: no listener.vmq.<name> = host:port configured for peer links")
	case 1:
	default:
		return Options{}, fmt.Errorf("cluster: %d listener.vmq.* listeners configured (%s, %s, …); a node has one peer-link address",
			len(vmq), vmq[0].Key(), vmq[1].Key())
	}
	o := Options{
		Name:               c.Node.Nodename,
		LinkAddr:           vmq[0].Address,
		GossipAddr:         c.Cluster.Gossip,
		OutgoingBufferSize: int(c.Cluster.OutgoingBufferSize),
		SeedsDNS:           c.Cluster.SeedsDNS,
		ReconnectInterval:  c.Cluster.ReconnectInterval,
		AutoClean:          c.Cluster.AutoClean,
	}
	secret, err := secretFromConfig(c)
	if err != nil {
		return Options{}, err
	}
	o.Secret = secret
	if len(secret) == 0 && (vmq[0].Type != config.ListenerVMQS || c.Cluster.GossipKey == "") {
		return Options{}, ErrNoSecret
	}
	for s := range strings.SplitSeq(c.Cluster.Seeds, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, _, err := splitHostPort(s); err != nil {
				return Options{}, fmt.Errorf("cluster: cluster.seeds: %q: %w", s, err)
			}
			o.Seeds = append(o.Seeds, s)
		}
	}
	if k := c.Cluster.GossipKey; k != "" {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return Options{}, fmt.Errorf("cluster: cluster.gossip_key is not base64: %w", err)
		}
		o.GossipKey = key
	}
	if _, err := o.withDefaults(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// secretFromConfig reads the cluster secret: cluster.secret, else cluster.secret_file's
// content, else VerneMQ's distributed_cookie. Empty when none is set.
func secretFromConfig(c *config.Config) ([]byte, error) {
	cc := c.Cluster
	switch {
	case cc.Secret != "":
		return []byte(cc.Secret), nil
	case cc.SecretFile != "":
		b, err := os.ReadFile(cc.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: cluster.secret_file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return nil, fmt.Errorf("cluster: cluster.secret_file %s is empty", cc.SecretFile)
		}
		return []byte(s), nil
	case cc.DistributedCookie != "":
		return []byte(cc.DistributedCookie), nil
	}
	return nil, nil
}
