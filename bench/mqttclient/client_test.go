package mqttclient_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/bench/mqttclient"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

func startBroker(t *testing.T, mutate func(*config.Config)) *brokertest.Node {
	return brokertest.Start(t, func(c *config.Config) {
		c.Sessions.MaxOnlineMessages = -1
		if mutate != nil {
			mutate(c)
		}
	})
}

// TestFlows publishes a known number of messages at each QoS and version and checks that
// every one arrives exactly once, in order, and that every outgoing flow completes.
func TestFlows(t *testing.T) {
	n := startBroker(t, nil)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, qos := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("%s/qos%d", v, qos), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				const count = 3000
				topic := fmt.Sprintf("flows/%d/%d", v, qos)
				var mu sync.Mutex
				var got []string
				var wrongQoS int
				done := make(chan struct{})
				sub, _, err := mqttclient.Dial(ctx, mqttclient.Options{Addr: n.Addr, Version: v, ClientID: topic + "s", CleanStart: true,
					OnPublish: func(p *packet.Publish) {
						mu.Lock()
						defer mu.Unlock()
						if p.QoS != qos {
							wrongQoS++
						}
						got = append(got, string(p.Payload)) // copy: the payload is only valid during the call
						if len(got) == count {
							close(done)
						}
					}})
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				if rc, err := sub.Subscribe(ctx, topic, qos); err != nil || rc != packet.ReasonCode(qos) {
					t.Fatalf("subscribe: %v %v", rc, err)
				}
				pub, lat, err := mqttclient.Dial(ctx, mqttclient.Options{Addr: n.Addr, Version: v, ClientID: topic + "p", CleanStart: true, Inflight: 7})
				if err != nil {
					t.Fatal(err)
				}
				defer pub.Close()
				if lat <= 0 {
					t.Errorf("handshake latency %v", lat)
				}
				for i := range count {
					if err := pub.Publish(ctx, topic, qos, false, fmt.Appendf(nil, "%06d", i)); err != nil {
						t.Fatal(err)
					}
				}
				if err := pub.WaitInflight(ctx); err != nil {
					t.Fatal(err)
				}
				select {
				case <-done:
				case <-ctx.Done():
					mu.Lock()
					t.Fatalf("received %d of %d", len(got), count)
				}
				time.Sleep(50 * time.Millisecond) // room for an extra delivery to show up
				mu.Lock()
				defer mu.Unlock()
				if len(got) != count {
					t.Fatalf("received %d, want exactly %d", len(got), count)
				}
				for i, s := range got {
					if s != fmt.Sprintf("%06d", i) {
						t.Fatalf("message %d is %q", i, s)
					}
				}
				if wrongQoS != 0 {
					t.Errorf("%d deliveries at another QoS", wrongQoS)
				}
				if pub.Published() != count || sub.Received() != count {
					t.Errorf("published %d received %d", pub.Published(), sub.Received())
				}
				if qos > 0 && pub.Completed() != count {
					t.Errorf("completed %d flows, want %d", pub.Completed(), count)
				}
				if pub.Refused() != 0 || sub.QoS2Resends() != 0 {
					t.Errorf("refused %d resends %d", pub.Refused(), sub.QoS2Resends())
				}
			})
		}
	}
}

// TestReceiveMaximum: the window never exceeds the broker's Receive Maximum, and publishing
// through a window of 2 still completes every flow.
func TestReceiveMaximum(t *testing.T) {
	n := startBroker(t, func(c *config.Config) { c.MQTT5.ReceiveMaxBroker = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, _, err := mqttclient.Dial(ctx, mqttclient.Options{Addr: n.Addr, Version: packet.V5, ClientID: "rm", CleanStart: true, Inflight: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if pub.Window() != 2 {
		t.Fatalf("window %d, want the broker's receive maximum 2", pub.Window())
	}
	for range 500 {
		if err := pub.Publish(ctx, "rm/x", 2, false, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.WaitInflight(ctx); err != nil {
		t.Fatal(err)
	}
	if pub.Completed() != 500 || pub.Err() != nil {
		t.Fatalf("completed %d, err %v (a broker disconnects a client exceeding its receive maximum)", pub.Completed(), pub.Err())
	}
	// v3.1.1 has no receive maximum: the configured window applies.
	p3, _, err := mqttclient.Dial(ctx, mqttclient.Options{Addr: n.Addr, Version: packet.V311, ClientID: "rm3", CleanStart: true, Inflight: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer p3.Close()
	if p3.Window() != 50 {
		t.Fatalf("3.1.1 window %d, want 50", p3.Window())
	}
}

// TestRefused: a CONNACK failure is reported as a ConnackError.
func TestRefused(t *testing.T) {
	n := startBroker(t, func(c *config.Config) { c.Auth.AllowAnonymous = false })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := mqttclient.Dial(ctx, mqttclient.Options{Addr: n.Addr, Version: packet.V5, ClientID: "anon"})
	var ce *mqttclient.ConnackError
	if !asConnack(err, &ce) {
		t.Fatalf("err = %v, want a ConnackError", err)
	}
}
