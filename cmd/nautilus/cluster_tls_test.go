package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// nodeCert issues a peer-link certificate for 127.0.0.1 (server and client use) and returns
// the listener.vmqs lines that use it with pki's CA.
func nodeCert(t *testing.T, pki *brokertest.PKI, name string) string {
	cert, key, _ := pki.Issue(t, name, name, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	})
	return fmt.Sprintf("listener.vmqs.certfile = %s\nlistener.vmqs.keyfile = %s\nlistener.vmqs.cafile = %s\n", cert, key, pki.CA)
}

// TestClusterTLSLinks runs three nodes whose peer links are mutual TLS (listener.vmqs): two
// with certificates of the cluster's CA route to each other; the third, whose certificate
// comes from another CA, gossips with them but gets no link, so nothing is routed to it.
func TestClusterTLSLinks(t *testing.T) {
	good, rogue := brokertest.NewPKI(t, "cluster"), brokertest.NewPKI(t, "rogue")
	nodes := startClusterEach(t, 3, func(i int) string {
		// A CONNECT asks every member about the client id; the rogue member cannot answer (no
		// link), which the default allow_register_during_netsplit = off would refuse.
		const lenient = "allow_register_during_netsplit = on\n"
		// The rogue node trusts the cluster's CA but presents a certificate of its own CA.
		if i == 2 {
			c := nodeCert(t, rogue, fmt.Sprintf("node%d", i))
			return strings.Replace(c, rogue.CA, good.CA, 1) + lenient
		}
		return nodeCert(t, good, fmt.Sprintf("node%d", i)) + lenient
	})
	// A CONNECT asks every member about its client id. Requests to the rogue node wait for a
	// link until the cluster layer gives up on it: after a few failed dials on the dialling
	// side, a handshake timeout without a link on the other.
	time.Sleep(cluster.DefaultHandshakeTimeout)
	sub, _ := dialClient(t, nodes[1].mqtt, packet.V5, "tls-sub", true, 0)
	sub.subscribe("tls/#@1")
	pc, _ := dialClient(t, nodes[0].mqtt, packet.V311, "tls-pub", true, 0)
	awaitRoute(t, &publisher{client: pc}, sub, "tls/x")

	// The rogue node's subscriber never hears from n1: its link is refused.
	rs, _ := dialClient(t, nodes[2].mqtt, packet.V5, "rogue-sub", true, 0)
	rs.subscribe("tls/#@1")
	time.Sleep(time.Second)
	(&publisher{client: pc}).publish("tls/y", "secret", 1)
	if got := rs.collect(1, 2*time.Second); len(got) != 0 {
		t.Fatalf("a node with a certificate of another CA received %+v", got)
	}
	if !strings.Contains(nodes[0].proc.log(), "handshake") {
		t.Errorf("n1 logged no refused handshake:\n%s", nodes[0].proc.log())
	}
}
