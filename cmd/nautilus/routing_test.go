package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// received is one PUBLISH a test client got.
type received struct {
	topic, payload string
	qos            byte
}

// collect reads PUBLISHes on c for up to wait (or until n arrived), acknowledging each as its
// QoS requires (QoS 2: PUBREC, then PUBCOMP for the PUBREL).
func (c *client) collect(n int, wait time.Duration) []received {
	c.t.Helper()
	var got []received
	deadline := time.Now().Add(wait)
	for len(got) < n && time.Now().Before(deadline) {
		c.nc.SetReadDeadline(deadline)
		p, err := c.r.ReadPacket(c.v)
		if err != nil {
			break
		}
		switch p := p.(type) {
		case *packet.Publish:
			got = append(got, received{strings.Clone(p.Topic), string(p.Payload), p.QoS})
			switch p.QoS {
			case 1:
				c.send(&packet.Puback{PacketID: p.PacketID})
			case 2:
				c.send(&packet.Pubrec{PacketID: p.PacketID})
			}
		case *packet.Pubrel:
			c.send(&packet.Pubcomp{PacketID: p.PacketID})
		}
	}
	return got
}

// expectSequence reads n messages within wait and fails unless their payloads are 0 … n-1 in
// order, with nothing more arriving after them (what: the situation, for the message).
func (c *client) expectSequence(n int, wait time.Duration, what string) {
	c.t.Helper()
	got := c.collect(n, wait)
	if len(got) != n {
		c.t.Fatalf("%s: %d of %d messages arrived", what, len(got), n)
	}
	for i, r := range got {
		if r.payload != fmt.Sprint(i) {
			c.t.Fatalf("%s: message %d is %q: order broken", what, i, r.payload)
		}
	}
	if extra := c.collect(1, 500*time.Millisecond); len(extra) != 0 {
		c.t.Fatalf("%s: duplicate %+v", what, extra)
	}
}

func (c *client) subscribe(filters ...string) {
	c.t.Helper()
	var subs []packet.Subscription
	for _, f := range filters {
		qos := byte(1)
		if i := strings.LastIndexByte(f, '@'); i >= 0 {
			qos = f[i+1] - '0'
			f = f[:i]
		}
		subs = append(subs, packet.Subscription{Filter: f, QoS: qos})
	}
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: subs})
	if _, ok := c.read().(*packet.Suback); !ok {
		c.t.Fatal("no SUBACK")
	}
}

// publisher publishes at QoS 0 (no answer) or QoS 1/2 (waits for the acknowledgements).
type publisher struct {
	*client
	id uint16
}

func (p *publisher) publish(topic, payload string, qos byte) {
	p.t.Helper()
	p.id++
	if p.id == 0 {
		p.id = 1
	}
	p.send(&packet.Publish{Topic: topic, QoS: qos, PacketID: p.id, Payload: []byte(payload)})
	switch qos {
	case 1:
		p.read()
	case 2:
		p.read()
		p.send(&packet.Pubrel{PacketID: p.id})
		p.read()
	}
}

// awaitRoute publishes probes on pub until sub receives one: the subscription has reached the
// publishing node.
func awaitRoute(t *testing.T, pub *publisher, sub *client, topic string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pub.publish(topic, "probe", 1)
		if got := sub.collect(1, 300*time.Millisecond); len(got) > 0 {
			sub.collect(100, 300*time.Millisecond) // drain later probes
			return
		}
	}
	t.Fatalf("route for %s never reached the publishing node", topic)
}

// TestClusterRouting runs three real nodes: a publish on n1 reaches subscribers on n3 at every
// QoS, once and in order; a shared group spans the nodes; a will of a client on n2 reaches n3.
// The nodes run with subscribe_waits_for_cluster, so a publish on any node right after SUBACK
// is routed to the new subscription; its timeout is longer than the client's read deadline, so
// a peer that never confirmed would fail the test rather than pass after the timeout.
func TestClusterRouting(t *testing.T) {
	nodes := startClusterWith(t, 3, "shared_subscription_policy = random\nsubscribe_waits_for_cluster = on\nsubscribe_waits_for_cluster_timeout = 30s\n")
	a, b, c := nodes[0], nodes[1], nodes[2]
	pc, _ := dialClient(t, a.mqtt, packet.V311, "pub-a", true, 0)
	pub := &publisher{client: pc}
	sub, _ := dialClient(t, c.mqtt, packet.V5, "sub-c", true, 0)
	sub.subscribe("probe/#@1")
	awaitRoute(t, pub, sub, "probe/x") // n1 and n3 have found each other
	sub.subscribe("q0/#@0", "q1/#@1", "q2/#@2", "will/#@1")
	pub.publish("q1/right-after-suback", "first", 1)
	if got := sub.collect(1, 5*time.Second); len(got) != 1 || got[0].payload != "first" {
		t.Fatalf("a publish on n1 right after SUBACK on n3: got %+v, want the message", got)
	}

	const n = 200
	for _, qos := range []byte{0, 1, 2} {
		for i := range n {
			pub.publish(fmt.Sprintf("q%d/x", qos), fmt.Sprint(i), qos)
		}
		got := sub.collect(n, 10*time.Second)
		if qos == 0 && len(got) < n {
			t.Logf("QoS 0: %d of %d arrived", len(got), n)
		} else if len(got) != n {
			t.Fatalf("QoS %d: %d of %d arrived", qos, len(got), n)
		}
		for i, r := range got {
			if r.payload != fmt.Sprint(i) || r.qos != qos {
				t.Fatalf("QoS %d: message %d is %+v (order or QoS wrong)", qos, i, r)
			}
		}
		if extra := sub.collect(1, 200*time.Millisecond); len(extra) > 0 {
			t.Fatalf("QoS %d: duplicate %+v", qos, extra)
		}
	}

	// A shared group with one member per node: each message goes to exactly one of them.
	var members []*client
	for i, nd := range nodes {
		m, _ := dialClient(t, nd.mqtt, packet.V311, fmt.Sprintf("share-%d", i), true, 0)
		m.subscribe("$share/g/sh@1")
		members = append(members, m)
	}
	// No pause: each SUBACK came once n1 routed that member.
	const shared = 90
	for i := range shared {
		pub.publish("sh", fmt.Sprint(i), 1)
	}
	seen := map[string]int{}
	total := 0
	for i, m := range members {
		got := m.collect(shared, 2*time.Second)
		for _, r := range got {
			seen[r.payload]++
		}
		total += len(got)
		if len(got) == 0 {
			t.Errorf("shared member on %s received nothing", nodes[i].name)
		}
	}
	if total != shared || len(seen) != shared {
		t.Fatalf("shared group: %d deliveries of %d distinct messages, want %d once each", total, len(seen), shared)
	}

	// A will of a client on n2 reaches the subscriber on n3.
	wc, _ := dialWill(t, b.mqtt, "will-b", "will/b", "gone")
	wc.nc.Close()
	got := sub.collect(1, 10*time.Second)
	if len(got) != 1 || got[0].topic != "will/b" || got[0].payload != "gone" {
		t.Fatalf("will from n2 on n3: %+v", got)
	}
}

// dialWill connects an MQTT 3.1.1 client with a QoS 1 will.
func dialWill(t *testing.T, addr, id, topic, payload string) (*client, *packet.Connack) {
	t.Helper()
	return dialConnect(t, addr, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: id,
		Will: &packet.Will{Topic: topic, Payload: []byte(payload), QoS: 1}})
}

// dialConnect connects with the given CONNECT and returns the client and its CONNACK.
func dialConnect(t *testing.T, addr string, cp *packet.Connect) (*client, *packet.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, v: cp.ProtocolVersion, r: packet.NewReader(bufio.NewReader(nc), 0)}
	c.send(cp)
	ack, ok := c.read().(*packet.Connack)
	if !ok {
		t.Fatal("no CONNACK")
	}
	return c, ack
}
