package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/serf/serf"
)

// tagLink is the serf member tag carrying a node's peer-link address (host:port), so a peer
// learns where to dial from gossip alone.
const tagLink = "link"

// serfEventBuffer is the capacity of serf's event channel. The one goroutine draining it only
// updates in-memory tables and queues, so it keeps up; the buffer absorbs bursts such as a
// whole cluster's join events arriving in one push/pull.
const serfEventBuffer = 1024

// startSerf creates the serf instance gossiping on opts.GossipAddr and starts the goroutine
// draining its events.
func (n *Node) startSerf() error {
	cfg := n.opts.Serf
	host, port, err := splitHostPort(n.opts.GossipAddr)
	if err != nil {
		return fmt.Errorf("gossip address: %w", err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if cfg.MemberlistConfig == nil {
		cfg.MemberlistConfig = serf.DefaultConfig().MemberlistConfig
	}
	ml := cfg.MemberlistConfig
	ml.BindAddr, ml.BindPort = host, port
	if a := n.opts.AdvertiseGossipAddr; a != "" {
		ah, ap, err := splitHostPort(a)
		if err != nil {
			return fmt.Errorf("gossip advertise address: %w", err)
		}
		ml.AdvertiseAddr, ml.AdvertisePort = ah, ap
	}
	if len(n.opts.GossipKey) > 0 {
		ml.SecretKey = n.opts.GossipKey
		// Refuse plaintext gossip both ways: a node without the key must not join.
		ml.GossipVerifyIncoming, ml.GossipVerifyOutgoing = true, true
	}
	if n.opts.ReconnectInterval > 0 {
		cfg.ReconnectInterval = n.opts.ReconnectInterval
	}
	if n.opts.AutoClean > 0 {
		cfg.ReconnectTimeout = n.opts.AutoClean
	}
	cfg.NodeName = n.name
	cfg.Tags = map[string]string{tagLink: n.linkAddr}
	cfg.EventCh = n.serfEvents
	logger := newSerfLogger(n.log, n.refused)
	cfg.Logger, cfg.LogOutput = logger, nil
	ml.Logger, ml.LogOutput = logger, nil
	s, err := serf.Create(cfg)
	if err != nil {
		return fmt.Errorf("cluster: start serf on %s: %w", n.opts.GossipAddr, err)
	}
	n.serf = s
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.eventLoop() }()
	return nil
}

// advertiseLinkAddr decides the address peers dial: AdvertiseLinkAddr, or the bound link
// address with an unspecified host replaced by the gossip advertise host or the first private
// IP (memberlist's own rule for a 0.0.0.0 bind).
func (n *Node) advertiseLinkAddr(bound net.Addr) (string, error) {
	if a := n.opts.AdvertiseLinkAddr; a != "" {
		return a, nil
	}
	tcp, ok := bound.(*net.TCPAddr)
	if !ok {
		return bound.String(), nil
	}
	port := strconv.Itoa(tcp.Port)
	if !tcp.IP.IsUnspecified() {
		return net.JoinHostPort(tcp.IP.String(), port), nil
	}
	for _, a := range []string{n.opts.AdvertiseGossipAddr, n.opts.GossipAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
				return net.JoinHostPort(h, port), nil
			}
		}
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "", errors.New("cluster: link address binds every interface and no private IP was found; set an advertise address")
	}
	return net.JoinHostPort(ip, port), nil
}

// eventLoop is the one goroutine draining serf's event channel. Serf's EventCh doc warns that a
// blocked channel blocks serf's own state updates, so nothing here waits: peer updates take a
// short lock, link teardown closes sockets without waiting on the peer, and watchers have
// their own queues.
func (n *Node) eventLoop() {
	for {
		select {
		case e := <-n.serfEvents:
			if me, ok := e.(serf.MemberEvent); ok {
				n.handleMemberEvent(me)
			}
		case <-n.done:
			return
		}
	}
}

func (n *Node) handleMemberEvent(me serf.MemberEvent) {
	var kind string
	switch me.Type {
	case serf.EventMemberJoin:
		kind = "join"
	case serf.EventMemberUpdate:
		kind = "update"
	case serf.EventMemberLeave:
		kind = "leave"
	case serf.EventMemberFailed:
		kind = "fail"
	case serf.EventMemberReap:
		// A failed member not back within the reconnect timeout (cluster.autoclean): gossip
		// forgets it, and it no longer counts as a netsplit.
		kind = "reap"
	default:
		return
	}
	for _, m := range me.Members {
		if m.Name == n.name {
			continue // a node's events are about its peers
		}
		p := n.peerFor(m.Name)
		switch kind {
		case "join", "update":
			p.up(m.Tags[tagLink])
		case "leave":
			p.down(fmt.Errorf("%w: %s left the cluster", ErrUnknownNode, m.Name))
		case "fail":
			p.down(fmt.Errorf("%w: %s failed", ErrUnknownNode, m.Name))
		case "reap":
			p.down(fmt.Errorf("%w: %s failed and was removed after cluster.autoclean", ErrUnknownNode, m.Name))
		}
		n.log.Info("cluster: member "+kind, "member", m.Name, "link", m.Tags[tagLink])
		n.watchers.publish(MemberEvent{Node: m.Name, Kind: kind})
	}
}
