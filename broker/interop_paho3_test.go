package broker_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Eclipse Paho Go speaking MQTT 3.1.1 (level 4) and MQTT 3.1 (level 3, "MQIsdp") against the
// broker: every test here runs once per version.

var pahoVersions = []struct {
	name  string
	level uint
}{{"v311", 4}, {"v31", 3}}

// inbox collects the messages a Paho handler receives, in order.
type inbox struct{ ch chan paho.Message }

func newInbox() *inbox { return &inbox{ch: make(chan paho.Message, 1000)} }

func (b *inbox) handle(_ paho.Client, m paho.Message) { b.ch <- m }

func (b *inbox) next(t *testing.T) paho.Message {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
		return nil
	}
}

// until returns the payloads received before the first message on sentinel.
func (b *inbox) until(t *testing.T, sentinel string) []string {
	t.Helper()
	var got []string
	for {
		m := b.next(t)
		if m.Topic() == sentinel {
			return got
		}
		got = append(got, string(m.Payload()))
	}
}

// pahoV connects a Paho client speaking the given protocol level and returns it with its
// CONNACK's session present flag.
func pahoV(t *testing.T, level uint, addr, id string, clean bool, edit func(*paho.ClientOptions)) (paho.Client, bool) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetProtocolVersion(level).SetOrderMatters(true)
	if edit != nil {
		edit(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s (level %d): %v", id, level, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, tok.(*paho.ConnectToken).SessionPresent()
}

// waitSockets waits until the broker has exactly k client connections open, so that a client
// that disconnected is known to be offline before the test goes on.
func waitSockets(t *testing.T, n *brokertest.Node, k int64) {
	t.Helper()
	brokertest.Eventually(t, 5*time.Second, fmt.Sprintf("%d open connections", k), func() bool { return n.Counter("socket_open") == k })
}

func payloads(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

func TestPaho3PubSubEveryQoSBothDirections(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range pahoVersions {
		t.Run(v.name, func(t *testing.T) {
			in := newInbox()
			sub, _ := pahoV(t, v.level, n.Addr, "sub-"+v.name, true, nil)
			for q := byte(0); q <= 2; q++ {
				wait(t, sub.Subscribe(fmt.Sprintf("e/%d/+", q), q, in.handle))
			}
			pub, _ := pahoV(t, v.level, n.Addr, "pub-"+v.name, true, nil)
			for subQ := byte(0); subQ <= 2; subQ++ {
				for pubQ := byte(0); pubQ <= 2; pubQ++ {
					topic := fmt.Sprintf("e/%d/%d", subQ, pubQ)
					wait(t, pub.Publish(topic, pubQ, false, topic))
					m := in.next(t)
					if m.Topic() != topic || string(m.Payload()) != topic {
						t.Fatalf("got %q on %q, want %q", m.Payload(), m.Topic(), topic)
					}
					if want := min(subQ, pubQ); m.Qos() != want {
						t.Fatalf("%s: delivered at QoS %d, want %d", topic, m.Qos(), want)
					}
				}
			}
		})
	}
}

func TestPaho3PersistentSessionFIFO(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range pahoVersions {
		t.Run(v.name, func(t *testing.T) {
			id := "persist-" + v.name
			sub, present := pahoV(t, v.level, n.Addr, id, false, nil)
			if present {
				t.Fatal("session present on first connect")
			}
			wait(t, sub.Subscribe("off/"+v.name, 2, nil))
			sub.Disconnect(50)
			waitSockets(t, n, 0)

			pub, _ := pahoV(t, v.level, n.Addr, "pub-"+id, true, nil)
			want := payloads("m", 1, 10)
			for i, p := range want {
				wait(t, pub.Publish("off/"+v.name, byte(1+i%2), false, p)) // QoS 1 and 2 interleaved
			}
			wait(t, pub.Publish("off/"+v.name, 0, false, "qos0-dropped-offline"))
			wait(t, pub.Publish("barrier", 1, false, "")) // the broker has routed the QoS 0 once this is acknowledged

			in := newInbox()
			_, present = pahoV(t, v.level, n.Addr, id, false, func(o *paho.ClientOptions) {
				o.SetDefaultPublishHandler(in.handle)
			})
			if want := v.level == 4; present != want { // 3.1 has no session present flag
				t.Fatalf("session present = %v on reconnect with clean session 0, want %v", present, want)
			}
			wait(t, pub.Publish("off/"+v.name, 1, false, "online"))
			var got []string
			for len(got) < len(want)+1 {
				got = append(got, string(in.next(t).Payload()))
			}
			if !slices.Equal(got, append(want, "online")) {
				t.Fatalf("offline messages: got %v, want %v then online", got, want)
			}
		})
	}
}

func TestPaho3QueueLIFO(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.QueueType = config.QueueLIFO })
	sub, _ := pahoV(t, 4, n.Addr, "lifo", false, nil)
	wait(t, sub.Subscribe("lifo", 1, nil))
	sub.Disconnect(50)
	waitSockets(t, n, 0)
	pub, _ := pahoV(t, 4, n.Addr, "lifo-pub", true, nil)
	for _, p := range payloads("m", 1, 5) {
		wait(t, pub.Publish("lifo", 1, false, p))
	}
	in := newInbox()
	pahoV(t, 4, n.Addr, "lifo", false, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(in.handle) })
	var got []string
	for range 5 {
		got = append(got, string(in.next(t).Payload()))
	}
	if want := []string{"m5", "m4", "m3", "m2", "m1"}; !slices.Equal(got, want) {
		t.Fatalf("lifo order: got %v, want %v", got, want)
	}
}

func TestPaho3MaxOfflineMessagesDrops(t *testing.T) {
	for _, typ := range []config.QueueType{config.QueueFIFO, config.QueueLIFO} {
		t.Run(string(typ), func(t *testing.T) {
			n := brokertest.Start(t, func(c *config.Config) {
				c.Sessions.MaxOfflineMessages = 3
				c.Sessions.QueueType = typ
			})
			sub, _ := pahoV(t, 4, n.Addr, "bounded", false, nil)
			wait(t, sub.Subscribe("b", 1, nil))
			sub.Disconnect(50)
			waitSockets(t, n, 0)
			before := n.Counter("queue_message_drop_full")
			pub, _ := pahoV(t, 4, n.Addr, "bounded-pub", true, nil)
			for _, p := range payloads("m", 1, 5) {
				wait(t, pub.Publish("b", 1, false, p))
			}
			if d := n.Counter("queue_message_drop_full") - before; d != 2 {
				t.Fatalf("queue_message_drop_full grew by %d, want 2", d)
			}
			in := newInbox()
			c, _ := pahoV(t, 4, n.Addr, "bounded", false, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(in.handle) })
			wait(t, c.Subscribe("end", 1, in.handle))
			wait(t, pub.Publish("end", 1, false, "end"))
			got := in.until(t, "end")
			// FIFO refuses the newest when full; LIFO drops the oldest and delivers newest first.
			want := []string{"m1", "m2", "m3"}
			if typ == config.QueueLIFO {
				want = []string{"m5", "m4", "m3"}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("delivered %v, want %v", got, want)
			}
		})
	}
}

func TestPaho3Takeover(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range pahoVersions {
		t.Run(v.name, func(t *testing.T) {
			lost := make(chan error, 1)
			first, _ := pahoV(t, v.level, n.Addr, "twin-"+v.name, false, func(o *paho.ClientOptions) {
				o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
			})
			wait(t, first.Subscribe("twin/"+v.name, 1, nil))
			in := newInbox()
			second, present := pahoV(t, v.level, n.Addr, "twin-"+v.name, false, func(o *paho.ClientOptions) {
				o.SetDefaultPublishHandler(in.handle)
			})
			if want := v.level == 4; present != want {
				t.Fatalf("takeover: session present = %v, want %v", present, want)
			}
			select {
			case <-lost:
			case <-time.After(5 * time.Second):
				t.Fatal("first connection was not closed by the takeover")
			}
			// The session, with its subscription, now serves the second connection.
			wait(t, second.Publish("twin/"+v.name, 1, false, "after"))
			if m := in.next(t); string(m.Payload()) != "after" {
				t.Fatalf("got %q", m.Payload())
			}
		})
	}
}

func TestPaho3Retained(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range pahoVersions {
		t.Run(v.name, func(t *testing.T) {
			topic := "ret/" + v.name
			pub, _ := pahoV(t, v.level, n.Addr, "rpub-"+v.name, true, nil)
			check := func(want string) {
				t.Helper()
				in := newInbox()
				s, _ := pahoV(t, v.level, n.Addr, "rsub-"+v.name, true, nil)
				wait(t, s.Subscribe(topic, 1, in.handle))
				wait(t, s.Subscribe("ret-end", 0, in.handle))
				wait(t, s.Publish("ret-end", 0, false, ""))
				got := in.until(t, "ret-end")
				s.Disconnect(50)
				if want == "" && len(got) != 0 {
					t.Fatalf("retained after clear: %v", got)
				}
				if want != "" && (len(got) != 1 || got[0] != want) {
					t.Fatalf("retained: got %v, want [%s]", got, want)
				}
			}
			wait(t, pub.Publish(topic, 1, true, "one"))
			check("one")
			wait(t, pub.Publish(topic, 2, true, "two"))
			check("two")
			// A retained PUBLISH with an empty payload clears it [MQTT-3.3.1-10] and is itself
			// delivered to current subscribers as a normal message.
			in := newInbox()
			live, _ := pahoV(t, v.level, n.Addr, "rlive-"+v.name, true, nil)
			wait(t, live.Subscribe(topic, 1, in.handle))
			if m := in.next(t); string(m.Payload()) != "two" || !m.Retained() {
				t.Fatalf("retained on subscribe: %q retained=%v", m.Payload(), m.Retained())
			}
			wait(t, pub.Publish(topic, 1, true, ""))
			if m := in.next(t); len(m.Payload()) != 0 || m.Retained() {
				t.Fatalf("clearing publish delivered as %q retained=%v; want empty, retain 0 [MQTT-3.3.1-9]", m.Payload(), m.Retained())
			}
			check("")
			// A normal publish delivered to a live subscriber has RETAIN 0 [MQTT-3.3.1-9].
			wait(t, pub.Publish(topic, 1, true, "three"))
			if m := in.next(t); string(m.Payload()) != "three" || m.Retained() {
				t.Fatalf("live delivery %q retained=%v; want retain 0", m.Payload(), m.Retained())
			}
		})
	}
}

func TestPaho3Wills(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range pahoVersions {
		t.Run(v.name, func(t *testing.T) {
			in := newInbox()
			watcher, _ := pahoV(t, v.level, n.Addr, "watch-"+v.name, true, nil)
			wait(t, watcher.Subscribe("will/"+v.name+"/#", 1, in.handle))

			// DISCONNECT deletes the will [MQTT-3.1.2-10].
			polite, _ := pahoV(t, v.level, n.Addr, "polite-"+v.name, true, func(o *paho.ClientOptions) {
				o.SetWill("will/"+v.name+"/polite", "should not be sent", 1, false)
			})
			polite.Disconnect(50)
			// Abnormal close publishes it [MQTT-3.1.2-8].
			ver := packet.V311
			if v.level == 3 {
				ver = packet.V31
			}
			rude, _ := brokertest.Connect(t, n.Addr, ver, "rude-"+v.name, func(c *packet.Connect) {
				c.Will = &packet.Will{Topic: "will/" + v.name + "/rude", Payload: []byte("gone"), QoS: 1, Retain: true}
			})
			rude.Conn.Close()
			m := in.next(t)
			if m.Topic() != "will/"+v.name+"/rude" || string(m.Payload()) != "gone" {
				t.Fatalf("got %q on %q; the polite client's will must not be sent", m.Payload(), m.Topic())
			}
			// The will was retained: a new subscriber gets it.
			late := newInbox()
			lc, _ := pahoV(t, v.level, n.Addr, "late-"+v.name, true, nil)
			wait(t, lc.Subscribe("will/"+v.name+"/rude", 1, late.handle))
			if m := late.next(t); string(m.Payload()) != "gone" || !m.Retained() {
				t.Fatalf("retained will: %q retained=%v", m.Payload(), m.Retained())
			}
		})
	}
}

func TestPaho3WillOnTakeover(t *testing.T) {
	for _, suppress := range []bool{false, true} {
		t.Run(fmt.Sprintf("suppress=%v", suppress), func(t *testing.T) {
			n := brokertest.Start(t, func(c *config.Config) { c.Sessions.SuppressLWTOnTakeover = suppress })
			in := newInbox()
			w, _ := pahoV(t, 4, n.Addr, "watch", true, nil)
			wait(t, w.Subscribe("tw/#", 1, in.handle))
			pahoV(t, 4, n.Addr, "dup", false, func(o *paho.ClientOptions) { o.SetWill("tw/will", "taken over", 1, false) })
			pahoV(t, 4, n.Addr, "dup", false, nil)
			wait(t, w.Publish("tw/end", 1, false, "end"))
			got := in.until(t, "tw/end")
			if suppress && len(got) != 0 {
				t.Fatalf("suppress_lwt_on_session_takeover=on, yet got %v", got)
			}
			if !suppress && !slices.Equal(got, []string{"taken over"}) {
				t.Fatalf("will on takeover: got %v", got)
			}
		})
	}
}

func TestPaho3Wildcards(t *testing.T) {
	n := brokertest.Start(t, nil)
	topics := []string{"a/b/c", "a/b", "a", "a/b/c/d", "x/y", "$SYS/foo", "$SYS/a/b/c", "/lead", "a//c"}
	cases := map[string][]string{
		"a/+/c":  {"a/b/c", "a//c"},
		"a/#":    {"a/b/c", "a/b", "a", "a/b/c/d", "a//c"}, // # matches the parent level (§4.7.1.2, non-normative)
		"#":      {"a/b/c", "a/b", "a", "a/b/c/d", "x/y", "/lead", "a//c"},
		"+/+":    {"a/b", "x/y", "/lead"},
		"+":      {"a"},
		"+/#":    {"a/b/c", "a/b", "a", "a/b/c/d", "x/y", "/lead", "a//c"},
		"$SYS/#": {"$SYS/foo", "$SYS/a/b/c"}, // $ topics only by filters starting with $ [MQTT-4.7.2-1]
		"+/foo":  {},
	}
	for _, v := range pahoVersions {
		t.Run(v.name, func(t *testing.T) {
			boxes := map[string]*inbox{}
			i := 0
			for f := range cases {
				in := newInbox()
				boxes[f] = in
				c, _ := pahoV(t, v.level, n.Addr, fmt.Sprintf("wc%d-%s", i, v.name), true, nil)
				i++
				wait(t, c.Subscribe(f, 1, in.handle))
				wait(t, c.Subscribe("zz-end", 1, in.handle))
			}
			pub, _ := pahoV(t, v.level, n.Addr, "wcpub-"+v.name, true, nil)
			for _, tp := range topics {
				wait(t, pub.Publish(tp, 1, false, tp))
			}
			wait(t, pub.Publish("zz-end", 1, false, "end"))
			for f, want := range cases {
				got := boxes[f].until(t, "zz-end")
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("filter %q: got %v, want %v", f, got, want)
				}
			}
		})
	}
}

// Paho Go calls every matching handler for one PUBLISH, so the copies on the wire are counted
// with the raw client.
func TestOverlappingSubscriptionsOneCopy(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, v := range []packet.Version{packet.V311, packet.V31} {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := brokertest.Connect(t, n.Addr, v, "ovl", nil)
			sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
				{Filter: "o/#", QoS: 1}, {Filter: "o/+", QoS: 2}, {Filter: "o/x", QoS: 0}}})
			if ack := brokertest.ReadAs[*packet.Suback](t, sub); !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{1, 2, 0}) {
				t.Fatalf("SUBACK %v", ack.ReasonCodes)
			}
			pub, _ := brokertest.Connect(t, n.Addr, v, "ovlpub", nil)
			pub.Publish(1, 2, false, "o/x", []byte("once"))
			// The broker sends one copy at the highest granted QoS [MQTT-3.3.5-1].
			p := brokertest.ReadAs[*packet.Publish](t, sub)
			if p.QoS != 2 || string(p.Payload) != "once" {
				t.Fatalf("got %q at QoS %d; want once at QoS 2", p.Payload, p.QoS)
			}
			sub.Send(&packet.Pubrec{PacketID: p.PacketID})
			brokertest.ReadAs[*packet.Pubrel](t, sub)
			sub.Send(&packet.Pubcomp{PacketID: p.PacketID})
			sub.Ping() // anything queued before the PINGRESP would arrive first
		})
	}
}

func TestPaho3SharedSubscriptions(t *testing.T) {
	n := brokertest.Start(t, nil)
	const filter = "$share/g/jobs/+"
	seen := make(chan string, 1000)
	var members []paho.Client
	counts := make([]chan string, 3)
	for i := range 3 {
		counts[i] = make(chan string, 1000)
		ch := counts[i]
		c, _ := pahoV(t, 4, n.Addr, fmt.Sprintf("member%d", i), false, nil)
		wait(t, c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
			seen <- string(m.Payload())
			ch <- string(m.Payload())
		}))
		members = append(members, c)
	}
	pub, _ := pahoV(t, 4, n.Addr, "jobs-pub", true, nil)
	const total = 60
	for i := range total {
		wait(t, pub.Publish("jobs/"+strconv.Itoa(i%3), 1, false, "j"+strconv.Itoa(i)))
	}
	got := map[string]int{}
	for range total {
		select {
		case p := <-seen:
			got[p]++
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d messages delivered", len(got), total)
		}
	}
	for p, k := range got {
		if k != 1 {
			t.Fatalf("%s delivered %d times", p, k)
		}
	}
	if len(got) != total {
		t.Fatalf("%d distinct messages, want %d", len(got), total)
	}
	for i, ch := range counts {
		if len(ch) == 0 {
			t.Errorf("member %d got nothing of %d messages", i, total)
		}
		for len(ch) > 0 {
			<-ch
		}
	}

	// An offline member (persistent session, still subscribed) must not pin messages: the
	// online members get them all.
	members[2].Disconnect(50)
	waitSockets(t, n, 3)
	for i := range total {
		wait(t, pub.Publish("jobs/x", 1, false, "k"+strconv.Itoa(i)))
	}
	for range total {
		select {
		case <-seen:
		case <-time.After(5 * time.Second):
			t.Fatalf("online members did not receive every message; member 2 offline got the rest?")
		}
	}
	if len(counts[2]) != 0 {
		t.Fatalf("offline member received %d messages", len(counts[2]))
	}
}

func TestPaho3UpgradeOutgoingQoS(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.UpgradeOutgoingQoS = true })
	in := newInbox()
	sub, _ := pahoV(t, 4, n.Addr, "up-sub", true, nil)
	wait(t, sub.Subscribe("up", 2, in.handle))
	pub, _ := pahoV(t, 4, n.Addr, "up-pub", true, nil)
	wait(t, pub.Publish("up", 0, false, "x"))
	if m := in.next(t); m.Qos() != 2 {
		t.Fatalf("upgrade_outgoing_qos: delivered at QoS %d, want 2", m.Qos())
	}
}
