package broker_test

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// pahoClient connects an Eclipse Paho (MQTT 3.1.1) client.
func pahoClient(t *testing.T, addr, id string, clean bool, edit func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	if edit != nil {
		edit(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

func TestPahoPubSubEveryQoS(t *testing.T) {
	n := brokertest.Start(t, nil)
	for _, subQoS := range []byte{0, 1, 2} {
		for _, pubQoS := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("sub%d_pub%d", subQoS, pubQoS), func(t *testing.T) {
				got := make(chan paho.Message, 10)
				sub := pahoClient(t, n.Addr, fmt.Sprintf("sub-%d-%d", subQoS, pubQoS), true, nil)
				wait(t, sub.Subscribe("q/+/x", subQoS, func(_ paho.Client, m paho.Message) { got <- m }))
				pub := pahoClient(t, n.Addr, fmt.Sprintf("pub-%d-%d", subQoS, pubQoS), true, nil)
				wait(t, pub.Publish("q/a/x", pubQoS, false, "hello"))
				select {
				case m := <-got:
					if string(m.Payload()) != "hello" || m.Topic() != "q/a/x" {
						t.Fatalf("got %q on %q", m.Payload(), m.Topic())
					}
					if want := min(subQoS, pubQoS); m.Qos() != want {
						t.Fatalf("delivered at QoS %d; want %d", m.Qos(), want)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("message not delivered")
				}
			})
		}
	}
}

func TestPahoRetainedAndWill(t *testing.T) {
	n := brokertest.Start(t, nil)
	pub := pahoClient(t, n.Addr, "retainer", true, nil)
	wait(t, pub.Publish("status/dev1", 1, true, "online"))

	dying, _ := brokertest.Connect(t, n.Addr, packet.V311, "dying", func(c *packet.Connect) {
		c.Will = &packet.Will{Topic: "status/dying", Payload: []byte("gone"), QoS: 1}
	})

	got := make(chan paho.Message, 10)
	sub := pahoClient(t, n.Addr, "watcher", true, nil)
	wait(t, sub.Subscribe("status/#", 1, func(_ paho.Client, m paho.Message) { got <- m }))
	select {
	case m := <-got:
		if m.Topic() != "status/dev1" || string(m.Payload()) != "online" || !m.Retained() {
			t.Fatalf("retained: got %q on %q retained=%v", m.Payload(), m.Topic(), m.Retained())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retained message not delivered on subscribe")
	}

	// An abnormal disconnect (the socket closes without DISCONNECT) publishes the will.
	dying.Conn.Close()
	select {
	case m := <-got:
		if m.Topic() != "status/dying" || string(m.Payload()) != "gone" {
			t.Fatalf("will: got %q on %q", m.Payload(), m.Topic())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("will not published")
	}
}
