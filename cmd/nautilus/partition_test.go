package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// testNet is one network namespace per node, joined by a bridge in the test's namespace. Each
// node has two veth pairs: one on the bridge (the cluster network: gossip and peer links),
// which cut and heal set down and up, and a point-to-point one to the test's namespace for MQTT
// clients, which is never cut, so a test can still talk to a node on the other side of a split.
type testNet struct {
	t      *testing.T
	id     string // short random tag for interface and namespace names
	octet  int    // third octet of this net's addresses
	bridge string
	nss    []string
	links  []string // veths in the test's namespace
}

// newTestNet builds n namespaces, or skips the test where it cannot (namespaces need root and
// iproute2; CI runs as root with iproute2 installed by scripts/setup.sh).
func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need iproute2 (ip)")
	}
	b := make([]byte, 2)
	rand.Read(b)
	tn := &testNet{t: t, id: hex.EncodeToString(b), octet: 1 + int(b[0])%250}
	tn.bridge = "ntb" + tn.id
	t.Cleanup(tn.remove)
	tn.ip("link", "add", tn.bridge, "type", "bridge")
	tn.ip("link", "set", tn.bridge, "up")
	for i := range n {
		ns := fmt.Sprintf("nt%s-%d", tn.id, i+1)
		tn.ip("netns", "add", ns)
		tn.nss = append(tn.nss, ns)
		tn.ip("-n", ns, "link", "set", "lo", "up")
		// Cluster network: one end on the bridge, the other in the node's namespace.
		c := tn.clusterLink(i)
		tn.ip("link", "add", c, "type", "veth", "peer", "name", "c0", "netns", ns)
		tn.links = append(tn.links, c)
		tn.ip("link", "set", c, "master", tn.bridge)
		tn.ip("link", "set", c, "up")
		tn.ip("-n", ns, "addr", "add", tn.clusterAddr(i)+"/24", "dev", "c0")
		tn.ip("-n", ns, "link", "set", "c0", "up")
		// Access link: a /30 between the test's namespace and the node.
		a := fmt.Sprintf("nt%sa%d", tn.id, i+1)
		tn.ip("link", "add", a, "type", "veth", "peer", "name", "a0", "netns", ns)
		tn.links = append(tn.links, a)
		tn.ip("addr", "add", fmt.Sprintf("10.251.%d.%d/30", tn.octet, 4*i+1), "dev", a)
		tn.ip("link", "set", a, "up")
		tn.ip("-n", ns, "addr", "add", tn.accessAddr(i)+"/30", "dev", "a0")
		tn.ip("-n", ns, "link", "set", "a0", "up")
	}
	return tn
}

func (tn *testNet) ip(args ...string) {
	tn.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tn.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (tn *testNet) clusterLink(i int) string { return fmt.Sprintf("nt%sc%d", tn.id, i+1) }
func (tn *testNet) clusterAddr(i int) string { return fmt.Sprintf("10.250.%d.%d", tn.octet, i+1) }
func (tn *testNet) accessAddr(i int) string  { return fmt.Sprintf("10.251.%d.%d", tn.octet, 4*i+2) }
func (tn *testNet) cut(i int)                { tn.ip("link", "set", tn.clusterLink(i), "down") }
func (tn *testNet) heal(i int)               { tn.ip("link", "set", tn.clusterLink(i), "up") }
func (tn *testNet) mqttAddr(i int) string    { return tn.accessAddr(i) + ":1883" }
func (tn *testNet) gossipAddr(i int) string  { return tn.clusterAddr(i) + ":44054" }
func (tn *testNet) linkAddr(i int) string    { return tn.clusterAddr(i) + ":44053" }
func (tn *testNet) nodeName(i int) string    { return fmt.Sprintf("n%d@%s", i+1, tn.clusterAddr(i)) }
func (tn *testNet) confFor(i int, extra string) string {
	return fmt.Sprintf("nodename = %s\ncluster.secret = "+testClusterSecret+"\nlistener.vmq.clustering = %s\ncluster.gossip = %s\ncluster.seeds = %s\ncluster.reconnect_interval = 1s\nplumtree.lazy_tick = 500ms\nplumtree.exchange_tick = 500ms\n",
		tn.nodeName(i), tn.linkAddr(i), tn.gossipAddr(i), tn.gossipAddr(0)) + extra
}

// remove deletes every namespace (with the veth ends inside) and every link it made; it runs
// after the nodes' own cleanups have stopped their processes.
func (tn *testNet) remove() {
	for _, ns := range tn.nss {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	for _, l := range tn.links {
		exec.Command("ip", "link", "del", l).Run() // usually gone with its peer already
	}
	exec.Command("ip", "link", "del", tn.bridge).Run()
}

// TestPartition runs three real nodes, each in its own network namespace, and cuts n3 off the
// cluster network. n1 runs with the default netsplit policies (all off) and refuses connects,
// publishes, subscribes and unsubscribes while n3 is unreachable; n2 allows them all and keeps
// the QoS 1 messages it acknowledged for n3's persistent subscriber. After the heal every one of
// them arrives at the subscriber, once and in order, the metadata written on n2 during the split
// (a retained message, a subscription) reaches n3, and n1 accepts clients again. Then n3
// restarts with its subscriber offline, and no acknowledged message is lost across it.
func TestPartition(t *testing.T) {
	tn := newTestNet(t, 3)
	lenient := "allow_register_during_netsplit = on\nallow_publish_during_netsplit = on\nallow_subscribe_during_netsplit = on\nallow_unsubscribe_during_netsplit = on\n"
	extra := []string{"", lenient, lenient}
	procs, confs := make([]*node, 3), make([]string, 3)
	for i := range procs {
		confs[i] = writeNodeConf(t, filepath.Join(t.TempDir()), tn.mqttAddr(i), tn.confFor(i, extra[i]))
		procs[i] = startNodeIn(t, tn.nss[i], confs[i], tn.mqttAddr(i))
	}

	sub, _ := dialClient(t, tn.mqttAddr(2), packet.V5, "psub", false, 3600)
	sub.subscribe("part/#@1")
	p1c, _ := dialClient(t, tn.mqttAddr(0), packet.V5, "pub1", true, 0)
	pub1 := &publisher{client: p1c}
	p2c, _ := dialClient(t, tn.mqttAddr(1), packet.V311, "pub2", true, 0)
	pub2 := &publisher{client: p2c}
	awaitRoute(t, pub1, sub, "part/probe")
	awaitRoute(t, pub2, sub, "part/probe")

	tn.cut(2)
	// n1 refuses new clients once it sees n3 failed (serf's LAN profile: seconds).
	eventually(t, 40*time.Second, "n1 refuses a CONNECT during the split", func() bool {
		c, ack := dialClient(t, tn.mqttAddr(0), packet.V5, "probe1", true, 0)
		c.nc.Close()
		return ack.ReasonCode == packet.ServerUnavailable
	})
	// n1 (policies off): PUBLISH, SUBSCRIBE and UNSUBSCRIBE are refused with reason codes. The
	// router hears of the failure through its own membership watch, a moment after the
	// session layer may have: poll (on a topic nobody subscribed to).
	eventually(t, 10*time.Second, "n1 refuses a PUBLISH during the split", func() bool {
		pub1.id++
		pub1.send(&packet.Publish{Topic: "n1/refused", QoS: 1, PacketID: pub1.id, Payload: []byte("refused")})
		ack, ok := pub1.read().(*packet.Puback)
		if !ok {
			t.Fatalf("n1 during the split: PUBLISH answered %T, want PUBACK", ack)
		}
		return ack.ReasonCode == packet.UnspecifiedError
	})
	pub1.send(&packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{{Filter: "n1/#", QoS: 1}}})
	if ack, ok := pub1.read().(*packet.Suback); !ok || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] < 0x80 {
		t.Fatalf("n1 during the split: SUBSCRIBE answered %+v, want a failure code", ack)
	}
	pub1.send(&packet.Unsubscribe{PacketID: 8, Filters: []string{"n1/#"}})
	if ack, ok := pub1.read().(*packet.Unsuback); !ok || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.UnspecifiedError {
		t.Fatalf("n1 during the split: UNSUBSCRIBE answered %+v, want 0x80", ack)
	}

	// n2 (policies on): a new client connects and subscribes; QoS 1 publishes for n3's
	// subscriber are acknowledged and kept; a retained message is set.
	late, ack := dialClient(t, tn.mqttAddr(1), packet.V311, "late2", false, 0)
	if ack.ReasonCode != 0 {
		t.Fatalf("n2 during the split refused a CONNECT: %#x", byte(ack.ReasonCode))
	}
	late.subscribe("late/#@1")
	const n = 50
	for i := range n {
		pub2.publish("part/split", fmt.Sprint(i), 1) // waits for each PUBACK
	}
	pub2.send(&packet.Publish{Topic: "ret/split", QoS: 1, PacketID: 999, Retain: true, Payload: []byte("set-during-split")})
	pub2.read()
	if got := sub.collect(1, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("n3's subscriber received %+v across the cut", got)
	}

	tn.heal(2)
	sub.expectSequence(n, 60*time.Second, "acknowledged QoS 1 messages after the heal")
	// Metadata from n2's side of the split reaches n3: the retained message, and the
	// subscription of late2 (a publish on n3 reaches it).
	eventually(t, 30*time.Second, "n3 has the retained message set on n2 during the split", func() bool {
		return retainedOn(t, tn.mqttAddr(2), "ret/#", 300*time.Millisecond)["ret/split"] == "set-during-split"
	})
	p3c, _ := dialClient(t, tn.mqttAddr(2), packet.V311, "pub3", true, 0)
	awaitRoute(t, &publisher{client: p3c}, late, "late/x")
	// n1 accepts clients again.
	eventually(t, 30*time.Second, "n1 accepts a CONNECT after the heal", func() bool {
		c, ack := dialClient(t, tn.mqttAddr(0), packet.V5, "probe1", true, 0)
		c.nc.Close()
		return ack.ReasonCode == 0
	})

	// n3 restarts while its subscriber is offline: the messages it stored before and those n2
	// acknowledged while it was down all arrive, in order, once.
	sub.send(&packet.Disconnect{})
	sub.waitClosed()
	for i := range 10 {
		pub2.publish("part/restart", fmt.Sprint(i), 1)
	}
	time.Sleep(500 * time.Millisecond) // forwarded and stored on n3 (or kept by n2 if not)
	procs[2].stop()
	for i := 10; i < 20; i++ {
		pub2.publish("part/restart", fmt.Sprint(i), 1)
	}
	procs[2] = startNodeIn(t, tn.nss[2], confs[2], tn.mqttAddr(2))
	back, ack := dialClient(t, tn.mqttAddr(2), packet.V5, "psub", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("psub's session is not present on n3 after its restart")
	}
	back.expectSequence(20, 30*time.Second, "acknowledged messages after n3's restart")
	for _, p := range procs {
		p.stop()
	}
}
