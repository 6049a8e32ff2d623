package broker_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/store/fault"
)

// slowSync is how long every fsync takes in the routing-order tests: long enough that a
// subscription waiting for its durability before it routes would miss every publish below.
const slowSync = 150 * time.Millisecond

// orderGap is how long after B's SUBSCRIBE or UNSUBSCRIBE is written that A publishes: far
// below slowSync (B has no SUBACK yet), but long enough that the broker has read B's packet
// first even on a loaded machine.
const orderGap = 10 * time.Millisecond

// TestSubscribeRoutesBeforeItIsDurable: a SUBSCRIBE takes effect when the broker reads it, not
// when its record is durable. B (persistent and clean sessions, MQTT 3.1.1 and 5) subscribes,
// and A publishes 10 ms later, while every fsync takes 150 ms: B receives each publish; a
// persistent session's SUBACK comes only after the sync (so after the publish), a clean
// session's at once.
func TestSubscribeRoutesBeforeItIsDurable(t *testing.T) {
	n, _ := brokertest.StartWith(t, nil, broker.Options{StoreFaults: fault.SlowSync(slowSync)})
	a, _ := brokertest.Connect(t, n.Addr, packet.V311, "order-a", nil)
	for _, tc := range []struct {
		name       string
		v          packet.Version
		persistent bool
	}{{"3.1.1-clean", packet.V311, false}, {"3.1.1-persistent", packet.V311, true}, {"5-clean", packet.V5, false}, {"5-persistent", packet.V5, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := brokertest.Connect(t, n.Addr, tc.v, "order-b-"+tc.name, persistentEdit(tc.v, tc.persistent))
			for r := range 5 {
				topic := fmt.Sprintf("order/%s/%d", tc.name, r)
				sent := time.Now()
				b.Send(&packet.Subscribe{PacketID: uint16(r + 1), Subscriptions: []packet.Subscription{{Filter: topic, QoS: 1}}})
				time.Sleep(orderGap)
				a.Send(&packet.Publish{Topic: topic, Payload: []byte("after the SUBSCRIBE")})
				var gotPub bool
				var subackAfter time.Duration
				for !gotPub || subackAfter == 0 {
					switch p := b.Read().(type) {
					case *packet.Publish:
						gotPub = p.Topic == topic
						if p.QoS == 1 {
							b.Send(&packet.Puback{PacketID: p.PacketID})
						}
					case *packet.Suback:
						subackAfter = time.Since(sent)
						if tc.persistent && !gotPub {
							t.Fatalf("round %d: SUBACK after %v, and the publish sent %v after the SUBSCRIBE not routed before it", r, subackAfter, orderGap)
						}
					}
				}
				// A persistent session's SUBACK waits for the sync; a clean one's need not (its
				// subscriptions end with the connection anyway).
				if tc.persistent && subackAfter < slowSync {
					t.Fatalf("round %d: a persistent session's SUBACK came %v after the SUBSCRIBE, before its sync (%v)", r, subackAfter, slowSync)
				}
				if !tc.persistent && subackAfter >= slowSync {
					t.Fatalf("round %d: a clean session's SUBACK waited %v, as long as a sync", r, subackAfter)
				}
			}
		})
	}
}

// TestUnsubscribeStopsRoutingAtOnce: after B's UNSUBSCRIBE is read, a publish to the filter is
// no longer delivered to B, although the UNSUBACK of a persistent session waits for the sync.
func TestUnsubscribeStopsRoutingAtOnce(t *testing.T) {
	n, _ := brokertest.StartWith(t, nil, broker.Options{StoreFaults: fault.SlowSync(slowSync)})
	a, _ := brokertest.Connect(t, n.Addr, packet.V311, "order-a", nil)
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			b, _ := brokertest.Connect(t, n.Addr, packet.V5, fmt.Sprintf("order-b-%v", persistent), persistentEdit(packet.V5, persistent))
			b.Subscribe(1, 1, "TopicA", "TopicA/B")
			for r := range 5 {
				b.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"TopicA"}})
				time.Sleep(orderGap)
				a.Send(&packet.Publish{Topic: "TopicA", Payload: []byte(fmt.Sprint("unsubscribed ", r))})
				a.Send(&packet.Publish{Topic: "TopicA/B", Payload: []byte(fmt.Sprint("end ", r))})
				for done, acked := false, false; !done || !acked; {
					switch p := b.Read().(type) {
					case *packet.Publish:
						if p.Topic == "TopicA" {
							t.Fatalf("round %d: %q delivered after the UNSUBSCRIBE was read", r, p.Payload)
						}
						done = true
					case *packet.Unsuback:
						acked = true
					}
				}
				b.Subscribe(3, 1, "TopicA") // for the next round
			}
		})
	}
}

// TestRetainedBeforeImmediateSubscribe: a retained message whose PUBLISH the broker read is
// there for a SUBSCRIBE read right after, though its PUBACK still waits for the sync.
func TestRetainedBeforeImmediateSubscribe(t *testing.T) {
	n, _ := brokertest.StartWith(t, nil, broker.Options{StoreFaults: fault.SlowSync(slowSync)})
	a, _ := brokertest.Connect(t, n.Addr, packet.V311, "order-a", nil)
	for r := range 5 {
		b, _ := brokertest.Connect(t, n.Addr, packet.V5, fmt.Sprint("order-b-", r), nil)
		topic := fmt.Sprint("order/retained/", r)
		a.Send(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(r + 1), Retain: true, Payload: []byte("kept")})
		time.Sleep(orderGap)
		b.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic, QoS: 1}}})
		for got := false; !got; {
			if p, ok := b.Read().(*packet.Publish); ok && p.Topic == topic {
				got = true
			}
		}
		if _, ok := a.Read().(*packet.Puback); !ok {
			t.Fatalf("round %d: no PUBACK for the retained publish", r)
		}
		b.Conn.Close()
	}
}

// persistentEdit makes a CONNECT ask for a session that outlives the connection, or not.
func persistentEdit(v packet.Version, persistent bool) func(*packet.Connect) {
	return func(cp *packet.Connect) {
		cp.CleanStart = !persistent
		if v == packet.V5 && persistent {
			cp.Properties.SessionExpiry = 3600
			cp.Properties.SetPresent(packet.PropSessionExpiry)
		}
	}
}

// TestPahoRoutingOrder runs the order cases with Python paho-mqtt, as a user would find them:
// B unsubscribes and, without waiting for UNSUBACK, A connects and publishes (clean and
// persistent B, 200 and 100 rounds, clean-up connects of both ids between rounds); B subscribes
// and A publishes; A publishes a retained message and B subscribes. Every fsync takes 20 ms, so
// a change that waited for durability before it routed would miss. B's client has no network
// thread, so each of its packets is on the wire before the next line of the script runs, and
// the other client acts 5 ms later: packets of two connections have no order of their own in a
// broker that reads its connections in parallel, and on a loaded machine (CI runs packages in
// parallel) the goroutine of the first to arrive was seen to read it after the second's (1 in
// 200 rounds with no pause). What the broker guarantees is the order in which it read them.
func TestPahoRoutingOrder(t *testing.T) {
	n, _ := brokertest.StartWith(t, nil, broker.Options{StoreFaults: fault.SlowSync(20 * time.Millisecond)})
	py := newPy(t, n)
	script, err := filepath.Abs("testdata/paho_order.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ proto, rounds string }{{"311", "200"}, {"5", "50"}} {
		out, err := exec.Command(pythonPython, script, py.port, tc.rounds, tc.proto, "0.005").CombinedOutput()
		t.Logf("MQTT %s, %s rounds:\n%s", tc.proto, tc.rounds, out)
		if err != nil {
			t.Fatalf("paho script: %v", err)
		}
		last := strings.TrimSpace(string(out))
		last = last[strings.LastIndexByte(last, '\n')+1:]
		if !strings.HasPrefix(last, "MISSES ") || regexp.MustCompile(`=[1-9]`).MatchString(last) {
			t.Fatalf("MQTT %s: %s", tc.proto, last)
		}
	}
}
