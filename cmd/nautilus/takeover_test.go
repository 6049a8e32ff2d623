package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestClusterTakeover moves a persistent session from n1 to n2: the old connection hears
// DISCONNECT 0x8E, its 1000 unacknowledged and queued QoS 1 messages arrive on n2 in order and
// once each, and publishes on n3 follow the session to n2.
func TestClusterTakeover(t *testing.T) {
	nodes := startClusterWith(t, 3, "max_offline_messages = 5000\nmax_inflight_messages = 50\n")
	a, b, c := nodes[0], nodes[1], nodes[2]
	old, _ := dialClient(t, a.mqtt, packet.V5, "mover", false, 3600)
	old.subscribe("mv/#@1")
	pc, _ := dialClient(t, a.mqtt, packet.V311, "pub-a", true, 0)
	pub := &publisher{client: pc}
	const n = 1000
	for i := range n {
		pub.publish("mv/x", fmt.Sprint(i), 1)
	}
	// The old connection acknowledges nothing: 50 are in flight, the rest queued.
	time.Sleep(200 * time.Millisecond)

	nw, ack := dialClient(t, b.mqtt, packet.V5, "mover", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("session not present after moving to n2")
	}
	var reason packet.ReasonCode = 0xff
	for {
		old.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := old.r.ReadPacket(packet.V5)
		if err != nil {
			break
		}
		if d, ok := p.(*packet.Disconnect); ok {
			reason = d.ReasonCode
			break
		}
	}
	if reason != packet.SessionTakenOver {
		t.Fatalf("old connection: DISCONNECT reason %#x, want 0x8E", byte(reason))
	}
	got := nw.collect(n, 20*time.Second)
	if len(got) != n {
		t.Fatalf("%d of %d messages arrived on n2", len(got), n)
	}
	for i, r := range got {
		if r.payload != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order broken", i, r.payload)
		}
	}
	if extra := nw.collect(1, 300*time.Millisecond); len(extra) > 0 {
		t.Fatalf("duplicate after migration: %+v", extra)
	}

	// Routing follows the session: a publish on n3 reaches it on n2.
	p3c, _ := dialClient(t, c.mqtt, packet.V311, "pub-c", true, 0)
	awaitRoute(t, &publisher{client: p3c}, nw, "mv/probe")

	// n1 no longer holds the session: reconnecting there takes it back, with nothing lost.
	nw.send(&packet.Disconnect{})
	(&publisher{client: p3c}).publish("mv/y", "after", 1)
	time.Sleep(300 * time.Millisecond)
	back, ack := dialClient(t, a.mqtt, packet.V5, "mover", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("session not present when moving back to n1")
	}
	if got := back.collect(1, 5*time.Second); len(got) != 1 || got[0].payload != "after" {
		t.Fatalf("moving back: %+v", got)
	}
}
