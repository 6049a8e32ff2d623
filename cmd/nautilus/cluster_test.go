package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// clusterNode is one member of a test cluster of real processes.
type clusterNode struct {
	name, mqtt, link, gossip, conf string
	proc                           *node
}

// testClusterSecret is cluster.secret of every test cluster.
const testClusterSecret = "nautilus-test-cluster-secret"

// startClusterWith runs n nautilus processes on loopback, each with its own MQTT, peer-link and
// gossip ports, the later ones seeded with the first, with conf added to every node's file.
func startClusterWith(t *testing.T, n int, conf string) []*clusterNode {
	t.Helper()
	return startClusterEach(t, n, func(int) string { return conf })
}

// startClusterEach is startClusterWith with conf(i) added to the file of node i (from 0). A
// conf that sets listener.vmqs.* options makes the peer listener a listener.vmqs (TLS links).
// conf is called again when a node starts again on new ports, so ports it picks are picked anew.
func startClusterEach(t *testing.T, n int, conf func(i int) string) []*clusterNode {
	t.Helper()
	nodes := make([]*clusterNode, n)
	for i := range nodes {
		// Ports are picked free and handed to the node; one may be taken before the node binds
		// it, and then the node starts again on new ones.
		for attempt := 1; ; attempt++ {
			own := conf(i)
			kind := "vmq"
			if strings.Contains(own, "listener.vmqs.") {
				kind = "vmqs"
			}
			name := fmt.Sprintf("n%d@127.0.0.1", i+1)
			if attempt > 1 {
				// The failed attempt may have joined before it died: under its name at another
				// address, serf's conflict resolution could shut the new node down.
				name = fmt.Sprintf("n%d-%d@127.0.0.1", i+1, attempt)
			}
			c := &clusterNode{name: name, mqtt: freePort(t), link: freePort(t), gossip: freePort(t)}
			extra := fmt.Sprintf("nodename = %s\ncluster.secret = "+testClusterSecret+"\nlistener.%s.clustering = %s\ncluster.gossip = %s\nplumtree.lazy_tick = 500ms\nplumtree.exchange_tick = 500ms\n",
				c.name, kind, c.link, c.gossip) + own
			if i > 0 {
				extra += "cluster.seeds = " + nodes[0].gossip + "\n"
			}
			c.conf = writeNodeConf(t, filepath.Join(t.TempDir()), c.mqtt, extra)
			proc, err := launchNode(t, "", c.conf, c.mqtt)
			if err == nil {
				c.proc, nodes[i] = proc, c
				break
			}
			if !errors.Is(err, errPortTaken) || attempt == 3 {
				t.Fatal(err)
			}
		}
	}
	return nodes
}

// retainedOn subscribes on addr to filter and returns the retained payloads delivered within
// wait, by topic.
func retainedOn(t *testing.T, addr, filter string, wait time.Duration) map[string]string {
	t.Helper()
	c, _ := dialClient(t, addr, packet.V311, fmt.Sprintf("probe-%d", time.Now().UnixNano()), true, 0)
	defer c.nc.Close()
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}})
	got := map[string]string{}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		c.nc.SetReadDeadline(deadline)
		p, err := c.r.ReadPacket(packet.V311)
		if err != nil {
			break
		}
		if pub, ok := p.(*packet.Publish); ok && pub.Retain {
			got[pub.Topic] = string(pub.Payload)
		}
	}
	return got
}

// eventually polls until cond holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func publishRetained(t *testing.T, addr, topic, payload string) {
	t.Helper()
	c, _ := dialClient(t, addr, packet.V311, fmt.Sprintf("pub-%d", time.Now().UnixNano()), true, 0)
	c.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Retain: true, Payload: []byte(payload)})
	c.read()
	c.nc.Close()
}

// TestClusterReplicatesMetadata runs three real nodes joined over serf: retained messages
// (replicated metadata) written on one node are seen on every other, a cleared one disappears
// everywhere, and a node that was stopped while others wrote catches up after its restart.
func TestClusterReplicatesMetadata(t *testing.T) {
	// n2 is stopped below, a netsplit as the others see it: let them accept clients and
	// publishes meanwhile (the defaults refuse them).
	// With -tags swc the nodes also start with init sync: each group's first exchange streams.
	nodes := startClusterWith(t, 3, "allow_register_during_netsplit = on\nallow_publish_during_netsplit = on\nallow_subscribe_during_netsplit = on\nvmq_swc.init_sync = on\n")
	publishRetained(t, nodes[0].mqtt, "cluster/a", "from-n1")
	publishRetained(t, nodes[2].mqtt, "cluster/b", "from-n3")
	for _, n := range nodes {
		eventually(t, 20*time.Second, n.name+" sees both retained messages", func() bool {
			got := retainedOn(t, n.mqtt, "cluster/#", 300*time.Millisecond)
			return got["cluster/a"] == "from-n1" && got["cluster/b"] == "from-n3"
		})
	}

	// n2 stops; n1 writes and clears; n2 restarts from its store and converges.
	nodes[1].proc.stop()
	publishRetained(t, nodes[0].mqtt, "cluster/c", "while-n2-down")
	publishRetained(t, nodes[0].mqtt, "cluster/b", "") // an empty retained payload clears it
	nodes[1].proc = startNode(t, nodes[1].conf, nodes[1].mqtt)
	for _, n := range nodes {
		eventually(t, 30*time.Second, n.name+" converges after the restart", func() bool {
			got := retainedOn(t, n.mqtt, "cluster/#", 300*time.Millisecond)
			_, cleared := got["cluster/b"]
			return got["cluster/a"] == "from-n1" && got["cluster/c"] == "while-n2-down" && !cleared
		})
	}
}
