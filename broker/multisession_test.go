package broker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// allow_multiple_sessions with queue_deliver_mode fanout and balance: several connections
// with one client id share one session, as in VerneMQ.

func multiSessions(mode config.QueueDeliverMode) func(*config.Config) {
	return func(c *config.Config) {
		c.Sessions.AllowMultipleSessions = true
		c.Sessions.QueueDeliverMode = mode
	}
}

// connectShared opens n connections with one client id; every one after the first joins the
// session (Session Present 1) without taking it over.
func connectShared(t *testing.T, addr string, v packet.Version, id string, n int, edit func(*packet.Connect)) []*brokertest.Raw {
	t.Helper()
	var cs []*brokertest.Raw
	for i := range n {
		c, ack := brokertest.Connect(t, addr, v, id, edit)
		if ack.ReasonCode != packet.Success || ack.SessionPresent != (i > 0) {
			t.Fatalf("connection %d: CONNACK %+v; want success, session present %v", i, ack, i > 0)
		}
		cs = append(cs, c)
	}
	for i, c := range cs {
		if p := readWithin(t, c, 100*time.Millisecond); p != nil {
			t.Fatalf("connection %d got %T after others joined; want nothing (no takeover)", i, p)
		}
	}
	return cs
}

// readPublish reads the next packet and requires a PUBLISH.
func readPublish(t *testing.T, c *brokertest.Raw) *packet.Publish {
	t.Helper()
	p, ok := c.Read().(*packet.Publish)
	if !ok {
		t.Fatalf("got %T; want PUBLISH", p)
	}
	return p
}

func TestMultipleSessionsFanout(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			n := brokertest.Start(t, multiSessions(config.DeliverFanout))
			cs := connectShared(t, n.Addr, v, "fan", 3, nil)
			if _, online, conn := n.Session("", "fan"); !online || conn.Connections != 3 {
				t.Fatalf("session online %v with %d connections; want 3 (the admin API's view)", online, conn.Connections)
			}
			cs[0].Subscribe(1, 1, "fan/#") // a subscription belongs to the session: all receive
			pub, _ := brokertest.Connect(t, n.Addr, v, "fan-pub", nil)
			for i := range 10 {
				pub.Publish(uint16(i+1), 1, false, "fan/x", fmt.Appendf(nil, "m%d", i))
			}
			for ci, c := range cs {
				for i := range 10 {
					p := readPublish(t, c)
					if string(p.Payload) != fmt.Sprintf("m%d", i) || p.QoS != 1 {
						t.Fatalf("connection %d, message %d: %q QoS %d", ci, i, p.Payload, p.QoS)
					}
					c.Send(&packet.Puback{PacketID: p.PacketID})
				}
			}

			// Retained messages go to the connection that subscribed, not to its siblings.
			pub.Publish(20, 1, true, "ret/x", []byte("kept"))
			cs[1].Subscribe(2, 1, "ret/#")
			if p := readPublish(t, cs[1]); string(p.Payload) != "kept" || !p.Retain {
				t.Fatalf("retained: %q retain %v", p.Payload, p.Retain)
			}
			for _, i := range []int{0, 2} {
				if p := readWithin(t, cs[i], 300*time.Millisecond); p != nil {
					t.Fatalf("connection %d got %T for another connection's subscribe", i, p)
				}
			}

			// One connection leaving leaves the others their session.
			cs[2].Send(&packet.Disconnect{})
			cs[2].ExpectClosed()
			pub.Publish(21, 1, false, "fan/y", []byte("after"))
			for _, i := range []int{0, 1} {
				if p := readPublish(t, cs[i]); string(p.Payload) != "after" {
					t.Fatalf("connection %d after a sibling left: %q", i, p.Payload)
				}
			}
		})
	}
}

// collect reads PUBLISHes on every connection concurrently, acknowledging each, until none
// arrives for idle; it returns the payloads each connection received.
func collect(t *testing.T, cs []*brokertest.Raw, idle time.Duration) [][]string {
	t.Helper()
	got := make([][]string, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p, err := c.ReadErr(idle)
				if err != nil {
					return
				}
				if pp, ok := p.(*packet.Publish); ok {
					got[i] = append(got[i], string(pp.Payload))
					b, _ := packet.Encode(nil, c.Version, &packet.Puback{PacketID: pp.PacketID})
					c.Conn.Write(b)
				}
			}
		}()
	}
	wg.Wait()
	return got
}

func TestMultipleSessionsBalance(t *testing.T) {
	n := brokertest.Start(t, multiSessions(config.DeliverBalance))
	// A Receive Maximum of 1 makes the split observable: each connection holds one message
	// until it acknowledges it.
	window1 := func(cp *packet.Connect) {
		cp.Properties.ReceiveMaximum = 1
		cp.Properties.SetPresent(packet.PropReceiveMaximum)
	}
	cs := connectShared(t, n.Addr, packet.V5, "bal", 3, window1)
	cs[0].Subscribe(1, 1, "bal/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "bal-pub", nil)
	for i := range 3 {
		pub.Publish(uint16(i+1), 1, false, "bal/x", fmt.Appendf(nil, "m%d", i))
	}
	first := make([]*packet.Publish, 3)
	seen := map[string]bool{}
	for i, c := range cs {
		first[i] = readPublish(t, c)
		seen[string(first[i].Payload)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("three connections got %v; want each one of m0, m1, m2", seen)
	}

	// A connection that leaves without acknowledging hands its message to a sibling, with DUP.
	cs[2].Conn.Close()
	cs[0].Send(&packet.Puback{PacketID: first[0].PacketID})
	again := readPublish(t, cs[0])
	if string(again.Payload) != string(first[2].Payload) || !again.Dup {
		t.Fatalf("after a sibling left: %q dup %v; want its %q with DUP", again.Payload, again.Dup, first[2].Payload)
	}
	cs[0].Send(&packet.Puback{PacketID: again.PacketID})
	cs[1].Send(&packet.Puback{PacketID: first[1].PacketID})

	// Every message reaches exactly one of the remaining connections, and both get some.
	for i := range 40 {
		pub.Publish(uint16(i+10), 1, false, "bal/y", fmt.Appendf(nil, "n%d", i))
	}
	got := collect(t, cs[:2], 500*time.Millisecond)
	all := append(slices.Clone(got[0]), got[1]...)
	slices.Sort(all)
	if len(all) != 40 || len(slices.Compact(slices.Clone(all))) != 40 {
		t.Fatalf("balanced delivery: %d then %d messages, %d distinct; want 40 distinct in all", len(got[0]), len(got[1]), len(slices.Compact(all)))
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		t.Fatalf("balanced delivery: %d and %d; want both connections to share the load", len(got[0]), len(got[1]))
	}
}

// TestMultipleSessionsModifierAndTakeover: auth_on_register's AllowMultiple turns sharing on
// for one client when the node has it off; a client without it takes the session over from
// every connection (DISCONNECT 0x8E to each), and a shutdown reaches every connection.
func TestMultipleSessionsModifierAndTakeover(t *testing.T) {
	yes := true
	n := startRegisterModifiers(t, registerModifiers{"multi": {AllowMultiple: &yes}}, nil)
	cs := connectShared(t, n.Addr, packet.V5, "mod", 2, withUser("multi"))
	c3, ack := brokertest.Connect(t, n.Addr, packet.V5, "mod", withUser("solo"))
	if ack.ReasonCode != packet.Success {
		t.Fatalf("takeover CONNACK %v", ack.ReasonCode)
	}
	for i, c := range cs {
		if rc := c.ExpectDisconnect(); rc != packet.SessionTakenOver {
			t.Fatalf("connection %d: DISCONNECT %v; want session taken over", i, rc)
		}
	}
	c3.Ping()

	m := brokertest.Start(t, multiSessions(config.DeliverFanout))
	cs = connectShared(t, m.Addr, packet.V5, "down", 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- m.Shutdown(ctx) }()
	for i, c := range cs {
		if rc := c.ExpectDisconnect(); rc != packet.ServerShuttingDown {
			t.Fatalf("connection %d at shutdown: DISCONNECT %v; want server shutting down", i, rc)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestMultipleSessionsModifierOff: AllowMultiple false in auth_on_register keeps a client to
// one connection on a node that allows sharing.
func TestMultipleSessionsModifierOff(t *testing.T) {
	no := false
	n := startRegisterModifiers(t, registerModifiers{"single": {AllowMultiple: &no}}, multiSessions(config.DeliverFanout))
	old, _ := brokertest.Connect(t, n.Addr, packet.V5, "one", withUser("single"))
	brokertest.Connect(t, n.Addr, packet.V5, "one", withUser("single"))
	if rc := old.ExpectDisconnect(); rc != packet.SessionTakenOver {
		t.Fatalf("DISCONNECT %v; want session taken over", rc)
	}
}

// TestMultipleSessionsMosquitto: two mosquitto_sub processes with one client id both receive
// a message under fanout.
func TestMultipleSessionsMosquitto(t *testing.T) {
	n := brokertest.Start(t, multiSessions(config.DeliverFanout))
	m := newMosq(t, n)
	a := m.sub("mqttv311", "twin", 1, 1, "twin/t")
	b := m.sub("mqttv311", "twin", 1, 1, "twin/t")
	m.pub("mqttv311", "twin-pub", 1, "twin/t", "-m", "hello")
	for _, s := range []*mosqSub{a, b} {
		if got := s.MustSucceed(); got != "twin/t|hello|1|0\n" {
			t.Fatalf("mosquitto_sub printed %q", got)
		}
	}
}

// TestMultipleSessionsLastKeepsItsCopies: under fanout, what the last connection of a
// persistent session had not yet received (in flight, or in its own queue behind a full
// window) stays with the session and arrives on the next connection.
func TestMultipleSessionsLastKeepsItsCopies(t *testing.T) {
	n := brokertest.Start(t, multiSessions(config.DeliverFanout))
	window1 := func(cp *packet.Connect) {
		persistent(cp)
		cp.Properties.ReceiveMaximum = 1
		cp.Properties.SetPresent(packet.PropReceiveMaximum)
	}
	first, _ := brokertest.Connect(t, n.Addr, packet.V5, "keep", persistent)
	first.Subscribe(1, 1, "keep/#")
	slow, ack := brokertest.Connect(t, n.Addr, packet.V5, "keep", window1)
	if !ack.SessionPresent {
		t.Fatal("second connection did not join")
	}
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "keep-pub", nil)
	for i := range 3 {
		pub.Publish(uint16(i+1), 1, false, "keep/x", fmt.Appendf(nil, "m%d", i))
	}
	for i := range 3 {
		p := readPublish(t, first)
		first.Send(&packet.Puback{PacketID: p.PacketID})
		if string(p.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("first connection: %q", p.Payload)
		}
	}
	if p := readPublish(t, slow); string(p.Payload) != "m0" {
		t.Fatalf("slow connection: %q", p.Payload) // m1 and m2 wait behind its window of 1
	}
	first.Send(&packet.Disconnect{})
	first.ExpectClosed()
	slow.Send(&packet.Disconnect{})
	slow.ExpectClosed()

	back, ack := brokertest.Connect(t, n.Addr, packet.V5, "keep", persistent)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for i := range 3 {
		p := readPublish(t, back)
		if string(p.Payload) != fmt.Sprintf("m%d", i) || p.Dup != (i == 0) {
			t.Fatalf("after both left, message %d: %q dup %v; want m%d, DUP only on the one in flight", i, p.Payload, p.Dup, i)
		}
		back.Send(&packet.Puback{PacketID: p.PacketID})
	}
}

// TestMultipleSessionsBalanceSpreads: with queue_deliver_mode = balance, 1,000 messages over two
// connections of one client id are dealt at random per message: each connection gets between
// 35% and 65%, and every message arrives exactly once.
func TestMultipleSessionsBalanceSpreads(t *testing.T) {
	n := brokertest.Start(t, multiSessions(config.DeliverBalance))
	cs := connectShared(t, n.Addr, packet.V5, "spread", 2, nil)
	cs[0].Subscribe(1, 1, "spread/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "spread-pub", nil)
	const total = 1000
	done := make(chan [][]string)
	go func() { done <- collect(t, cs, time.Second) }()
	for i := range total {
		pub.Publish(uint16(i%60000+1), 1, false, "spread/x", fmt.Appendf(nil, "m%d", i))
	}
	got := <-done
	all := append(slices.Clone(got[0]), got[1]...)
	slices.Sort(all)
	if len(all) != total || len(slices.Compact(all)) != total {
		t.Fatalf("%d and %d messages, %d distinct; want %d distinct in all", len(got[0]), len(got[1]), len(slices.Compact(all)), total)
	}
	for i, g := range got {
		if share := float64(len(g)) / total; share < 0.35 || share > 0.65 {
			t.Fatalf("connection %d got %d of %d (%.0f%%); want 35-65%% each (split %d/%d)", i, len(g), total, share*100, len(got[0]), len(got[1]))
		}
	}
	t.Logf("split %d/%d", len(got[0]), len(got[1]))
}
