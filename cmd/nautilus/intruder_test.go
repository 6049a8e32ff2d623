package main

import (
	"context"
	be "encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestClusterRefusesIntruders runs a two-node cluster (with its secret) and attacks it as
// someone on the same network would: a node with another secret seeded with a member's gossip
// address, a node without a secret, and a raw client that speaks the link protocol in the
// clear under a member's name. None becomes a member, none receives the members' messages or
// retained state, and the cluster keeps routing between its real members.
func TestClusterRefusesIntruders(t *testing.T) {
	nodes := startClusterEach(t, 2, func(int) string {
		return "listener.http.default = " + freePort(t) + "\n"
	})
	n1, n2 := nodes[0], nodes[1]
	publishRetained(t, n1.mqtt, "private/retained", "for members only")

	// A node with the wrong secret: it starts, and keeps knocking on n1's gossip port.
	mqtt := freePort(t)
	wrong := writeNodeConf(t, t.TempDir(), mqtt, fmt.Sprintf(
		"nodename = 0-intruder@127.0.0.1\ncluster.secret = a-guess-at-the-cluster-secret\nlistener.vmq.clustering = %s\ncluster.gossip = %s\ncluster.seeds = %s\n"+
			"allow_register_during_netsplit = on\nallow_subscribe_during_netsplit = on\n",
		freePort(t), freePort(t), n1.gossip))
	intruder := startNode(t, wrong, mqtt)
	spy, _ := dialClient(t, mqtt, packet.V311, "spy", true, 0)
	spy.subscribe("#@1")

	// A node without any secret does not start at all.
	noSecret := writeNodeConf(t, t.TempDir(), freePort(t), fmt.Sprintf(
		"nodename = 0-open@127.0.0.1\nlistener.vmq.clustering = %s\ncluster.gossip = %s\ncluster.seeds = %s\n",
		freePort(t), freePort(t), n1.gossip))
	if out, err := runNautilus(t, 20*time.Second, "start", "--config", noSecret); err == nil || !strings.Contains(out, "cluster secret") {
		t.Fatalf("a clustered node without a secret: err %v, output:\n%s", err, out)
	}

	// A raw client on n2's link port, claiming n1's name in the clear.
	if answer := forgeHello(t, n2.link, n1.name); answer != "" {
		t.Fatalf("n2 answered a plain-text hello as n1: %q", answer)
	}

	// Real traffic between the members, for 8 s (the intruder was a member within 8 s).
	pc, _ := dialClient(t, n1.mqtt, packet.V311, "pub-n1", true, 0)
	pub := &publisher{client: pc}
	sub, _ := dialClient(t, n2.mqtt, packet.V311, "sub-n2", true, 0)
	sub.subscribe("private/#@1")
	awaitRoute(t, pub, sub, "private/probe")
	for i := range 16 {
		pub.publish("private/live", fmt.Sprint(i), 1)
		time.Sleep(500 * time.Millisecond)
	}
	if got := sub.collect(16, 5*time.Second); len(got) != 16 {
		t.Fatalf("n2's subscriber got %d of 16 messages from n1", len(got))
	}
	if got := spy.collect(1, time.Second); len(got) != 0 {
		t.Fatalf("the intruder's # subscriber received %+v", got)
	}
	if got := retainedOn(t, mqtt, "private/#", 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("the intruder holds the members' retained messages: %v", got)
	}
	for _, n := range nodes {
		show := mustAdmin(t, "--config", n.conf, "cluster", "show")
		if strings.Contains(show, "0-intruder") || strings.Contains(show, "0-open") || memberLine(show, n1.name) == "" || memberLine(show, n2.name) == "" {
			t.Fatalf("%s's members:\n%s", n.name, show)
		}
	}
	if !strings.Contains(n2.proc.log(), `cause="link handshake"`) {
		t.Fatalf("n2 did not log the forged link:\n%s", n2.proc.log())
	}
	// The intruder knocked on n1's gossip port for 8 s: logged once (plus at most a summary).
	if lines := strings.Count(n1.proc.log(), "crypt"); lines == 0 || lines > 2 {
		t.Fatalf("n1 logged %d lines about gossip without the key; want 1 or 2:\n%s", lines, n1.proc.log())
	}
	intruder.stop()
}

// runNautilus runs the real binary with args and returns its combined output.
func runNautilus(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(t), args...).CombinedOutput()
	return string(out), err
}

// forgeHello connects to a link port, sends the link magic and a hello naming node, and returns
// what comes back before the connection ends (nothing, from a node that runs TLS links).
func forgeHello(t *testing.T, addr, node string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body, err := msgpack.Marshal(map[string]any{"node": node, "min": 1, "max": 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte("NTLS"), be.BigEndian.AppendUint32(nil, uint32(len(body)))...)
	c.Write(append(msg, body...))
	c.SetReadDeadline(time.Now().Add(6 * time.Second))
	got, _ := io.ReadAll(c)
	return string(got)
}
