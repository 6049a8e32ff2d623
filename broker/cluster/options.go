package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Options configure a Node. The zero value of every field but Name and LinkAddr has a working
// default (see withDefaults); OptionsFromConfig fills them from nautilus.conf.
type Options struct {
	// Name is this node's name in the cluster (nodename). It must be unique.
	Name string
	// LinkAddr is where peer links are accepted (listener.vmq.<name>), host:port. Port 0 picks
	// a free port (tests).
	LinkAddr string
	// AdvertiseLinkAddr is the address peers dial, published in the serf member tags. Empty:
	// LinkAddr's bound address, with an unspecified host (0.0.0.0) replaced by the gossip
	// advertise address.
	AdvertiseLinkAddr string
	// GossipAddr is serf's bind address (TCP and UDP), host:port (cluster.gossip). Empty: the
	// host of LinkAddr and its port + 1, or port 0 when LinkAddr's port is 0.
	GossipAddr string
	// AdvertiseGossipAddr, when set, is the address other members gossip with (behind NAT).
	AdvertiseGossipAddr string
	// Seeds are gossip addresses joined at Start (cluster.seeds); Start keeps retrying in the
	// background, with backoff, until one answers, so nodes may start in any order.
	Seeds []string
	// SeedsDNS is a name:port (cluster.seeds_dns) whose A and AAAA records are gossip hosts to
	// join, looked up again at every attempt so that nodes started together (a Kubernetes
	// headless service, a round-robin DNS name) find each other; this node's own address is
	// left out.
	SeedsDNS string
	// ReconnectInterval is how often serf tries to reach a failed member again
	// (cluster.reconnect_interval): after a partition heals, members find each other within it.
	// Zero keeps the Serf configuration's value.
	ReconnectInterval time.Duration
	// AutoClean is how long a failed member is waited for (cluster.autoclean) before gossip
	// forgets it and it stops counting as a netsplit ("reap" member event). Zero keeps the
	// Serf configuration's ReconnectTimeout.
	AutoClean time.Duration

	// Secret is the cluster secret (cluster.secret), at least MinSecretLen bytes, the same on
	// every member. Gossip is encrypted and authenticated with a key derived from it (unless
	// GossipKey is set), and peer links run TLS 1.3 with certificates that an authority
	// derived from it issues to each node under its name (unless TLS is set). A node is built
	// only with a Secret, or with both GossipKey and TLS: a cluster nobody can join uninvited.
	Secret []byte

	// GossipKey, when set (16, 24 or 32 bytes), encrypts and authenticates serf's gossip with
	// AES-GCM (cluster.gossip_key): a node without the key can neither read the membership
	// nor join. Peer links are protected separately, by TLS.
	GossipKey []byte

	// TLS, when set, wraps every peer link in mutual TLS: the same config serves accepted links
	// (its ClientCAs, or RootCAs when nil, verify the dialer) and dialled ones (its RootCAs
	// verify the acceptor, whose certificate must name the host of its link address unless
	// ServerName is set). Nil: plain TCP.
	TLS *tls.Config

	// OutgoingBufferSize bounds the bytes queued for one peer (outgoing_clustering_buffer_size),
	// including while its link is down. Send fails with ErrBufferFull past it.
	OutgoingBufferSize int
	// MaxFrameSize is the largest frame accepted from a peer; a bigger one closes the link.
	MaxFrameSize int
	// RequestTimeout bounds a Request whose context has no deadline.
	RequestTimeout time.Duration
	// DialTimeout bounds a TCP connect, HandshakeTimeout the TLS and protocol handshake.
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one batched write; a peer that reads nothing for this long loses its
	// link (its queued messages stay in the buffer for the next one).
	WriteTimeout time.Duration
	// PingInterval is how often an idle link is probed; a link that receives nothing for
	// IdleTimeout is closed and redialled.
	PingInterval time.Duration
	IdleTimeout  time.Duration
	// BackoffMin and BackoffMax bound the exponential, jittered wait between dial attempts.
	BackoffMin time.Duration
	BackoffMax time.Duration

	// Serf is the membership configuration to start from (nil: serf.DefaultConfig(), whose
	// memberlist profile is DefaultLANConfig). New owns it afterwards and sets NodeName, Tags,
	// EventCh, loggers and the bind/advertise addresses; everything else, failure detection
	// timings included, is taken as given. Tests pass memberlist.DefaultLocalConfig() with
	// short probe intervals.
	Serf *serf.Config

	// Logger receives this package's logs and serf's and memberlist's (nil: slog.Default()).
	Logger *slog.Logger
}

// Defaults of Options. The buffer default matches config's outgoing_clustering_buffer_size.
const (
	DefaultOutgoingBufferSize = 16 << 20
	DefaultMaxFrameSize       = 64 << 20
	DefaultRequestTimeout     = 10 * time.Second
	DefaultDialTimeout        = 5 * time.Second
	DefaultHandshakeTimeout   = 5 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultPingInterval       = 2 * time.Second
	DefaultIdleTimeout        = 10 * time.Second
	DefaultBackoffMin         = 100 * time.Millisecond
	DefaultBackoffMax         = 10 * time.Second
)

// ErrNoSecret refuses a node that anyone who reaches its ports could join.
var ErrNoSecret = errors.New("cluster: clustering needs a cluster secret (cluster.secret, cluster.secret_file or distributed_cookie, the same on every node; " +
	"try: openssl rand -base64 32), or both TLS peer links (listener.vmqs) and cluster.gossip_key")

// withDefaults returns o with every unset field given its default, or an error naming the
// first field that cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		return o, errors.New("cluster: Options.Name (nodename) is empty")
	}
	if o.LinkAddr == "" {
		return o, errors.New("cluster: Options.LinkAddr (listener.vmq.*) is empty")
	}
	host, port, err := splitHostPort(o.LinkAddr)
	if err != nil {
		return o, fmt.Errorf("cluster: LinkAddr: %w", err)
	}
	if o.GossipAddr == "" {
		gp := 0
		if port != 0 {
			gp = port + 1
		}
		if gp > 65535 {
			return o, fmt.Errorf("cluster: LinkAddr %s: no port + 1 for the gossip address; set cluster.gossip", o.LinkAddr)
		}
		o.GossipAddr = net.JoinHostPort(host, strconv.Itoa(gp))
	}
	if _, _, err := splitHostPort(o.GossipAddr); err != nil {
		return o, fmt.Errorf("cluster: GossipAddr: %w", err)
	}
	if n := len(o.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return o, fmt.Errorf("cluster: GossipKey is %d bytes; want 16, 24 or 32 (AES-128/192/256)", n)
	}
	if o.SeedsDNS != "" {
		if h, p, err := net.SplitHostPort(o.SeedsDNS); err != nil || h == "" || p == "" {
			return o, fmt.Errorf("cluster: SeedsDNS %q: want name:port", o.SeedsDNS)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.OutgoingBufferSize <= 0 {
		o.OutgoingBufferSize = DefaultOutgoingBufferSize
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	def(&o.RequestTimeout, DefaultRequestTimeout)
	def(&o.DialTimeout, DefaultDialTimeout)
	def(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.PingInterval, DefaultPingInterval)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	if o.IdleTimeout <= o.PingInterval {
		return o, fmt.Errorf("cluster: IdleTimeout %v must exceed PingInterval %v", o.IdleTimeout, o.PingInterval)
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Serf == nil {
		o.Serf = serf.DefaultConfig()
	}
	return o, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}
