package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/listener"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
)

// Backend is a replication backend as cmd/ links it: the broker runs it without knowing which
// one it is (ARCHITECTURE.md §1: only cmd/ names a backend).
type Backend struct {
	Name string
	// Keyspaces the backend keeps in the node's database.
	Keyspaces []store.Keyspace
	// Open starts the backend's node on the broker's database and cluster transport.
	Open func(BackendEnv) (metadata.Store, error)
}

// BackendEnv is what a backend is opened with.
type BackendEnv struct {
	Config     *config.Config
	Engine     store.Engine
	Transport  cluster.Transport
	Membership Membership
	Log        *slog.Logger
}

// Membership joins and leaves the cluster on a backend's behalf.
type Membership interface {
	Join(seed string) error
	Leave(node string) error
}

// clusterMembership adapts a cluster.Node.
type clusterMembership struct{ n *cluster.Node }

func (m clusterMembership) Join(seed string) error { return m.n.Join(seed) }

func (m clusterMembership) Leave(node string) error {
	if node != m.n.Self() {
		return fmt.Errorf("broker: a node can only make itself leave (asked for %s)", node)
	}
	return m.n.Leave()
}

// singleMembership is the membership of a node that runs without peers.
type singleMembership struct{}

func (singleMembership) Join(string) error {
	return errors.New("broker: this node has no cluster listener (listener.vmq.<name>) to join with")
}
func (singleMembership) Leave(string) error { return nil }

// clustered reports whether the configuration asks for a cluster node.
func clustered(cfg *config.Config) bool {
	for _, l := range cfg.Listeners {
		if l.Type.Cluster() {
			return true
		}
	}
	return false
}

// peerTLS is the TLS of peer links when the cluster listener is a listener.vmqs, else nil.
func peerTLS(cfg *config.Config) (*tls.Config, error) {
	for _, l := range cfg.Listeners {
		if l.Type != config.ListenerVMQS {
			continue
		}
		tc := listener.TLSConfig{CertFile: l.CertFile, KeyFile: l.KeyFile, KeyPasswd: l.KeyPasswd, CAFile: l.CAFile,
			Ciphers: l.Ciphers, MinVersion: tls.VersionTLS12, Depth: l.Depth}
		if l.TLSVersion == config.TLS13 {
			tc.MinVersion = tls.VersionTLS13
		}
		c, err := listener.PeerTLS(tc)
		if err != nil {
			return nil, fmt.Errorf("broker: %s: %w", l.Key(), err)
		}
		return c, nil
	}
	return nil, nil
}

// openMetadata starts the node's transport (a cluster node when a listener.vmq is configured,
// else a network of one) and the backend on it.
func (b *Broker) openMetadata(ctx context.Context, be *Backend) error {
	var tr cluster.Transport
	var mem Membership = singleMembership{}
	if clustered(b.cfg) {
		o, err := cluster.OptionsFromConfig(b.cfg)
		if err != nil {
			return err
		}
		if o.TLS, err = peerTLS(b.cfg); err != nil {
			return err
		}
		o.Logger = b.log
		n, err := cluster.New(o)
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		b.clusterNode = n
		tr, mem = n, clusterMembership{n}
	} else {
		tr = cluster.NewLocalNetwork().Join(b.cfg.Node.Nodename)
	}
	meta, err := be.Open(BackendEnv{Config: b.cfg, Engine: b.db, Transport: tr, Membership: mem, Log: b.log})
	if err != nil {
		return fmt.Errorf("broker: metadata backend %s: %w", be.Name, err)
	}
	b.meta = meta
	b.transport = tr
	return nil
}
