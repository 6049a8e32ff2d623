package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestClusterTakeover moves a persistent session from n1 to n2: the old connection hears
// DISCONNECT 0x8E, its 1000 unacknowledged and queued QoS 1 messages arrive on n2 in order and
// once each, and publishes on n3 and on n1 follow the session to n2.
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
	if reason := old.disconnectReason(); reason != packet.SessionTakenOver {
		t.Fatalf("old connection: DISCONNECT reason %#x, want 0x8E", byte(reason))
	}
	nw.expectSequence(n, 20*time.Second, "messages migrated to n2")

	// Routing follows the session: a publish on n3 reaches it on n2.
	p3c, _ := dialClient(t, c.mqtt, packet.V311, "pub-c", true, 0)
	awaitRoute(t, &publisher{client: p3c}, nw, "mv/probe")
	// And a publish on the old owner, whose own subscriber record the takeover replaced.
	awaitRoute(t, pub, nw, "mv/probe-old")

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

// adminGet decodes the JSON answer of a GET on a node's admin API, with the key the node
// generated in its data directory.
func adminGet(t *testing.T, n *clusterNode, httpAddr, path string, out any) {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(filepath.Dir(n.conf), "data", "admin_api_key"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// sessionOn asks a node's admin API whether it holds clientID's session, and whether online.
func sessionOn(t *testing.T, n *clusterNode, httpAddr, clientID string) (exists, online bool) {
	t.Helper()
	var info struct{ Exists, Online bool }
	adminGet(t, n, httpAddr, "/api/v1/sessions?client_id="+clientID, &info)
	return info.Exists, info.Online
}

// TestClusterSessionEndsEverywhere: a clean session that disconnects and a persistent one whose
// expiry passes leave the routing table of every node, not only of their own.
func TestClusterSessionEndsEverywhere(t *testing.T) {
	https := make([]string, 2)
	nodes := startClusterEach(t, 2, func(i int) string { https[i] = freePort(t); return "listener.http.default = " + https[i] + "\n" })
	routes := func() int64 {
		var st struct{ Subscriptions int64 }
		adminGet(t, nodes[0], https[0], "/api/v1/status", &st)
		return st.Subscriptions
	}
	exp, _ := dialClient(t, nodes[1].mqtt, packet.V5, "exp", false, 2)
	exp.subscribe("exp/#@1")
	cln, _ := dialClient(t, nodes[1].mqtt, packet.V311, "cln", true, 0)
	cln.subscribe("cln/#@1", "cln2/#@0")
	eventually(t, 20*time.Second, "n1 routes the 3 subscriptions made on n2", func() bool { return routes() == 3 })
	cln.send(&packet.Disconnect{})
	eventually(t, 20*time.Second, "the clean session's routes leave n1", func() bool { return routes() == 1 })
	exp.send(&packet.Disconnect{})
	eventually(t, 20*time.Second, "the expired session's route leaves n1", func() bool { return routes() == 0 })
	if exists, _ := sessionOn(t, nodes[1], https[1], "exp"); exists {
		t.Fatal("the expired session is still on n2")
	}
	if c, ack := dialClient(t, nodes[0].mqtt, packet.V5, "exp", false, 60); ack.SessionPresent {
		t.Fatal("the expired session was found from n1")
	} else {
		c.nc.Close()
	}
}

// racingConnect connects clientID to addr with a persistent MQTT 5 session; it runs off the
// test goroutine, so it returns errors instead of failing the test.
func racingConnect(t *testing.T, addr, clientID string) (*client, packet.ReasonCode, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	c := &client{t: t, nc: nc, v: packet.V5, r: packet.NewReader(bufio.NewReader(nc), 0)}
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, KeepAlive: 60, ClientID: clientID}
	cp.Properties.SessionExpiry = 3600
	cp.Properties.SetPresent(packet.PropSessionExpiry)
	buf, err := packet.Encode(nil, packet.V5, cp)
	if err != nil {
		return nil, 0, err
	}
	if _, err := nc.Write(buf); err != nil {
		return nil, 0, err
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	p, err := c.r.ReadPacket(packet.V5)
	if err != nil {
		return nil, 0, err
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return nil, 0, fmt.Errorf("got %T, want CONNACK", p)
	}
	return c, ack.ReasonCode, nil
}

// alive reports whether the broker still serves c: a PINGREQ is answered.
func (c *client) alive() bool {
	buf, err := packet.Encode(nil, c.v, &packet.Pingreq{})
	if err != nil {
		return false
	}
	if _, err := c.nc.Write(buf); err != nil {
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		p, err := c.r.ReadPacket(c.v)
		if err != nil {
			return false
		}
		switch p.(type) {
		case *packet.Pingresp:
			return true
		case *packet.Disconnect:
			return false
		}
	}
}

// TestClusterConcurrentConnects connects one client id to two nodes at the same moment, over
// and over, while its persistent session lives on a third: every round ends with exactly one
// live connection and the session on exactly one node.
func TestClusterConcurrentConnects(t *testing.T) {
	https := make([]string, 3)
	nodes := startClusterEach(t, 3, func(i int) string { https[i] = freePort(t); return "listener.http.default = " + https[i] + "\n" })
	first, _ := dialClient(t, nodes[0].mqtt, packet.V5, "racer", false, 3600)
	first.subscribe("race/#@1")
	pc, _ := dialClient(t, nodes[0].mqtt, packet.V311, "pub", true, 0)
	pub := &publisher{client: pc}
	awaitRoute(t, pub, first, "race/probe")
	first.send(&packet.Disconnect{})
	first.waitClosed()

	const rounds = 6
	for round := range rounds {
		// A message for the offline session, which no racing connection acknowledges: it must
		// follow the session through every race.
		pub.publish("race/x", fmt.Sprint(round), 1)
		time.Sleep(300 * time.Millisecond)
		a, b := nodes[1+round%2], nodes[2-round%2]
		type result struct {
			c   *client
			rc  packet.ReasonCode
			err error
		}
		results := make([]result, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, n := range []*clusterNode{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, rc, err := racingConnect(t, n.mqtt, "racer")
				results[i] = result{c, rc, err}
			}()
		}
		close(start)
		wg.Wait()
		live := 0
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("round %d: connect %d: %v", round, i, r.err)
			}
			if r.rc == packet.Success && r.c.alive() {
				live++
			}
		}
		if live != 1 {
			t.Fatalf("round %d: %d live connections for one client id (CONNACKs %#x, %#x), want 1",
				round, live, byte(results[0].rc), byte(results[1].rc))
		}
		holders := 0
		for i, n := range nodes {
			if exists, _ := sessionOn(t, n, https[i], "racer"); exists {
				holders++
			}
		}
		if holders != 1 {
			t.Fatalf("round %d: %d nodes hold the session, want 1", round, holders)
		}
		for _, r := range results {
			r.c.nc.Close()
		}
	}
	last, ack := dialClient(t, nodes[0].mqtt, packet.V5, "racer", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("the session is gone after the races")
	}
	seen := map[string]int{}
	for _, r := range last.collect(rounds, 10*time.Second) {
		seen[r.payload]++
	}
	if extra := last.collect(1, 300*time.Millisecond); len(extra) > 0 {
		t.Fatalf("duplicate after the races: %+v", extra)
	}
	for round := range rounds {
		if seen[fmt.Sprint(round)] != 1 {
			t.Fatalf("message of round %d delivered %d times after the races (all: %v)", round, seen[fmt.Sprint(round)], seen)
		}
	}
}

// TestClusterMultipleSessionsTakeover: sharing a session (allow_multiple_sessions) is local to
// a node. Two connections share "twin" on n1; a connection for it on n2 takes the session
// over from both (each hears DISCONNECT 0x8E), with its subscriptions.
func TestClusterMultipleSessionsTakeover(t *testing.T) {
	nodes := startClusterWith(t, 2, "allow_multiple_sessions = on\n")
	a, b := nodes[0], nodes[1]
	first, _ := dialClient(t, a.mqtt, packet.V5, "twin", false, 3600)
	first.subscribe("tw/#@1")
	second, ack := dialClient(t, a.mqtt, packet.V5, "twin", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("second connection on n1 did not join the session")
	}
	nw, ack := dialClient(t, b.mqtt, packet.V5, "twin", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("session not present on n2")
	}
	for i, c := range []*client{first, second} {
		if reason := c.disconnectReason(); reason != packet.SessionTakenOver {
			t.Fatalf("connection %d on n1: DISCONNECT reason %#x, want 0x8E", i, byte(reason))
		}
	}
	// The subscriptions came along (routing from other nodes after a takeover is
	// TestClusterTakeover's).
	pc, _ := dialClient(t, b.mqtt, packet.V311, "twin-pub", true, 0)
	awaitRoute(t, &publisher{client: pc}, nw, "tw/probe")
	// n1, which held both connections, routes to n2 as well.
	pa, _ := dialClient(t, a.mqtt, packet.V311, "twin-pub-a", true, 0)
	awaitRoute(t, &publisher{client: pa}, nw, "tw/probe-old")
}

// disconnectReason reads until the server's DISCONNECT and returns its reason code; 0xff when
// the connection ends (or stays silent for 5 s) without one.
func (c *client) disconnectReason() packet.ReasonCode {
	for {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := c.r.ReadPacket(packet.V5)
		if err != nil {
			return 0xff
		}
		if d, ok := p.(*packet.Disconnect); ok {
			return d.ReasonCode
		}
	}
}
