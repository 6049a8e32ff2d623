package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestClusterLeaveHandsOffSessions makes n1 leave with the real CLI while it holds an offline
// persistent session with queued QoS 1 messages, an online one with unacknowledged messages in
// flight, and a clean session. Its clients hear DISCONNECT 0x9C; both persistent sessions move
// to the remaining nodes with every message, which arrive once and in order when their clients
// reconnect to any node; the clean session ends; publishes after the leave reach the moved
// sessions.
func TestClusterLeaveHandsOffSessions(t *testing.T) {
	nodes := startClusterEach(t, 3, func(i int) string {
		return "max_inflight_messages = 20\nlistener.http.default = " + freePort(t) + "\n"
	})
	a, b, c := nodes[0], nodes[1], nodes[2]

	offline, _ := dialClient(t, a.mqtt, packet.V5, "offline", false, 3600)
	offline.subscribe("lv/#@1")
	offline.send(&packet.Disconnect{})
	online, _ := dialClient(t, a.mqtt, packet.V5, "online", false, 3600)
	online.subscribe("lv/#@1")
	clean, _ := dialClient(t, a.mqtt, packet.V5, "clean", true, 0)
	clean.subscribe("lv/#@1")

	pc, _ := dialClient(t, b.mqtt, packet.V311, "pub-b", true, 0)
	pub := &publisher{client: pc}
	awaitRoute(t, pub, clean, "lv/probe") // n2 routes to n1's sessions
	const n = 100
	for i := range n {
		pub.publish("lv/x", fmt.Sprint(i), 1)
	}
	// online acknowledges nothing: 20 are in flight on it, the rest queued.
	time.Sleep(300 * time.Millisecond)

	out := mustAdmin(t, "--config", a.conf, "cluster", "leave")
	if !strings.Contains(out, "left the cluster") || !strings.Contains(out, "sessions handed to other members: 2") {
		t.Fatalf("cluster leave said:\n%s", out)
	}
	for name, cl := range map[string]*client{"online": online, "clean": clean} {
		if rc := disconnectReason(cl); rc != packet.UseAnotherServer {
			t.Fatalf("%s connection: DISCONNECT reason %#x, want 0x9C (Use another server)", name, byte(rc))
		}
	}

	// Each client returns to a node of its own; the session and its messages are there.
	var back []*client
	for _, r := range []struct {
		id   string
		node *clusterNode
	}{{"offline", c}, {"online", b}} {
		cl, ack := dialClient(t, r.node.mqtt, packet.V5, r.id, false, 3600)
		if !ack.SessionPresent {
			t.Fatalf("%s: session not present on %s after n1 left", r.id, r.node.name)
		}
		var msgs []string // the n messages, after any probes
		for len(msgs) < n {
			got := cl.collect(1, 10*time.Second)
			if len(got) == 0 {
				break
			}
			if got[0].topic == "lv/x" {
				msgs = append(msgs, got[0].payload)
			}
		}
		if extra := cl.collect(1, 300*time.Millisecond); len(extra) > 0 {
			t.Fatalf("%s: duplicate after the %d messages: %+v", r.id, len(msgs), extra)
		}
		if len(msgs) != n {
			t.Fatalf("%s: %d of %d messages arrived after the leave", r.id, len(msgs), n)
		}
		for i, p := range msgs {
			if p != fmt.Sprint(i) {
				t.Fatalf("%s: message %d is %q: order broken or duplicated", r.id, i, p)
			}
		}
		back = append(back, cl)
	}
	// Routing follows the sessions.
	pub.publish("lv/after", "after", 1)
	for i, cl := range back {
		if after := cl.collect(1, 10*time.Second); len(after) != 1 || after[0].payload != "after" {
			t.Fatalf("session %d: publish after the leave: %+v", i, after)
		}
	}
	// The clean session ended with its connection: nothing of it is left anywhere.
	cl, ack := dialClient(t, c.mqtt, packet.V5, "clean", false, 3600)
	if ack.SessionPresent {
		t.Fatal("the clean session survived the leave")
	}
	cl.nc.Close()
	a.proc.stop()
}

// disconnectReason reads until the broker's DISCONNECT (its reason) or the close (0xff).
func disconnectReason(c *client) packet.ReasonCode {
	for {
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		p, err := c.r.ReadPacket(c.v)
		if err != nil {
			return 0xff
		}
		if d, ok := p.(*packet.Disconnect); ok {
			return d.ReasonCode
		}
	}
}
