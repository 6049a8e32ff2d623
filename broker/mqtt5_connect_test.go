package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

const waitFor = 5 * time.Second

// props returns CONNECT properties as a normal client sends them: paho.golang sends Request
// Problem Information 0 unless RequestProblemInfo is set.
func props(edit func(*paho.ConnectProperties)) *paho.ConnectProperties {
	p := &paho.ConnectProperties{RequestProblemInfo: true}
	if edit != nil {
		edit(p)
	}
	return p
}

func withExpiry(secs uint32) func(*paho.Connect) {
	return func(c *paho.Connect) {
		c.Properties = props(func(p *paho.ConnectProperties) { p.SessionExpiryInterval = brokertest.U32(secs) })
	}
}

func resume(secs uint32) func(*paho.Connect) {
	return func(c *paho.Connect) {
		withExpiry(secs)(c)
		c.CleanStart = false
	}
}

func sub(filter string, qos byte) paho.SubscribeOptions {
	return paho.SubscribeOptions{Topic: filter, QoS: qos}
}

func TestMQTT5ConnackAssignedClientID(t *testing.T) {
	n := brokertest.Start(t, nil)
	c := brokertest.ConnectPaho5(t, n.Addr, "", nil)
	id := c.Connack.Properties.AssignedClientID
	if id == "" {
		t.Fatal("CONNACK for an empty client id carries no Assigned Client Identifier [MQTT-3.2.2-16]")
	}
	if c.ClientID() != id {
		t.Fatalf("paho adopted %q, CONNACK assigned %q", c.ClientID(), id)
	}
	// The assigned id is the session's: a second client with it takes the session over.
	c2 := brokertest.ConnectPaho5(t, n.Addr, "", nil)
	if c2.Connack.Properties.AssignedClientID == id {
		t.Fatal("two clients were assigned the same identifier")
	}
	brokertest.ConnectPaho5(t, n.Addr, id, nil)
	if d := c.ServerDisconnect(t, waitFor); d.ReasonCode != byte(packet.SessionTakenOver) {
		t.Fatalf("takeover of the assigned id: DISCONNECT 0x%02X", d.ReasonCode)
	}
	// A client that names itself gets no assigned identifier.
	if named := brokertest.ConnectPaho5(t, n.Addr, "named", nil); named.Connack.Properties.AssignedClientID != "" {
		t.Fatalf("assigned id %q to a client that sent one", named.Connack.Properties.AssignedClientID)
	}
}

func TestMQTT5ConnackLimits(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		n := brokertest.Start(t, nil)
		c := brokertest.ConnectPaho5(t, n.Addr, "defaults", nil)
		p := c.Connack.Properties
		if p.TopicAliasMaximum != nil && *p.TopicAliasMaximum != 0 {
			t.Errorf("topic alias maximum %d with aliases off", *p.TopicAliasMaximum)
		}
		if p.ReceiveMaximum != nil {
			t.Errorf("receive maximum %d sent while it is the default 65535", *p.ReceiveMaximum)
		}
		if p.MaximumPacketSize == nil || *p.MaximumPacketSize != 1<<20 {
			t.Errorf("maximum packet size %v; want the default max_message_size, 1 MB", p.MaximumPacketSize)
		}
		if p.ServerKeepAlive != nil {
			t.Errorf("server keep alive %d sent while max_keepalive is 0", *p.ServerKeepAlive)
		}
	})
	t.Run("configured", func(t *testing.T) {
		n := brokertest.Start(t, func(c *config.Config) {
			c.MQTT5.TopicAliasMaxClient = 7
			c.MQTT5.ReceiveMaxBroker = 10
			c.Sessions.MaxMessageSize = 4096
			c.Sessions.MaxKeepalive = 20 * time.Second
		})
		c := brokertest.ConnectPaho5(t, n.Addr, "limits", func(cp *paho.Connect) { cp.KeepAlive = 60 })
		p := c.Connack.Properties
		if p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 7 {
			t.Errorf("topic alias maximum %v; want 7 (topic_alias_max_client)", p.TopicAliasMaximum)
		}
		if p.ReceiveMaximum == nil || *p.ReceiveMaximum != 10 {
			t.Errorf("receive maximum %v; want 10", p.ReceiveMaximum)
		}
		if p.MaximumPacketSize == nil || *p.MaximumPacketSize != 4096 {
			t.Errorf("maximum packet size %v; want 4096", p.MaximumPacketSize)
		}
		if p.ServerKeepAlive == nil || *p.ServerKeepAlive != 20 {
			t.Errorf("server keep alive %v; want 20", p.ServerKeepAlive)
		}
		// A keep alive under the cap is left alone.
		low := brokertest.ConnectPaho5(t, n.Addr, "low-ka", func(cp *paho.Connect) { cp.KeepAlive = 10 })
		if ska := low.Connack.Properties.ServerKeepAlive; ska != nil {
			t.Errorf("server keep alive %d for a keep alive under max_keepalive", *ska)
		}
	})
}

func TestMQTT5SessionExpiryCapped(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.PersistentClientExpiration = 5 * time.Second })
	c := brokertest.ConnectPaho5(t, n.Addr, "capped", withExpiry(3600))
	if se := c.Connack.Properties.SessionExpiryInterval; se == nil || *se != 5 {
		t.Fatalf("CONNACK session expiry %v; want 5 (persistent_client_expiration)", se)
	}
	under := brokertest.ConnectPaho5(t, n.Addr, "under", withExpiry(2))
	if se := under.Connack.Properties.SessionExpiryInterval; se != nil && *se != 2 {
		t.Fatalf("CONNACK session expiry %d for a request under the cap", *se)
	}
	forever := brokertest.ConnectPaho5(t, n.Addr, "forever", withExpiry(0xFFFFFFFF))
	if se := forever.Connack.Properties.SessionExpiryInterval; se == nil || *se != 5 {
		t.Fatalf("CONNACK session expiry %v for 'never expire'; want 5", se)
	}
}

// sessions is the node's number of sessions, online and offline.
func sessions(n *brokertest.Node) int64 { return n.Counter("queue_processes") }

func TestMQTT5SessionExpiryZeroEndsSession(t *testing.T) {
	n := brokertest.Start(t, nil)
	c := brokertest.ConnectPaho5(t, n.Addr, "zero", nil)
	c.Sub(t, 0, sub("z/#", 1))
	c.Disconnect(&paho.Disconnect{})
	brokertest.Eventually(t, waitFor, "session to end", func() bool { return sessions(n) == 0 })
	again := brokertest.ConnectPaho5(t, n.Addr, "zero", resume(0))
	if again.Connack.SessionPresent {
		t.Fatal("session present after a session with expiry 0 disconnected [MQTT-3.2.2-3]")
	}
}

func TestMQTT5SessionExpiryKeepsSession(t *testing.T) {
	t.Parallel()
	n := brokertest.Start(t, nil)
	c := brokertest.ConnectPaho5(t, n.Addr, "keeper", withExpiry(2))
	c.Sub(t, 0, sub("keep/#", 1))
	c.Disconnect(&paho.Disconnect{})
	waitSockets(t, n, 0)

	pub := brokertest.ConnectPaho5(t, n.Addr, "keep-pub", nil)
	// QoS 0 first: it has no acknowledgement, and the PUBACK of the QoS 1 message after it
	// proves the broker handled it (one connection's packets are handled in order) before the
	// subscriber comes back.
	pub.Pub(t, &paho.Publish{Topic: "keep/0", QoS: 0, Payload: []byte("qos0 while away")})
	pub.Pub(t, &paho.Publish{Topic: "keep/1", QoS: 1, Payload: []byte("while away")})

	back := brokertest.ConnectPaho5(t, n.Addr, "keeper", resume(2))
	if !back.Connack.SessionPresent {
		t.Fatal("session not present on reconnect within the session expiry")
	}
	m := back.Next(t, waitFor)
	if m.Topic != "keep/1" || string(m.Payload) != "while away" || m.QoS != 1 {
		t.Fatalf("offline message: %q on %q QoS %d", m.Payload, m.Topic, m.QoS)
	}
	back.NoMessage(t, 200*time.Millisecond) // QoS 0 is not queued offline by default
	// The subscription survived too.
	pub.Pub(t, &paho.Publish{Topic: "keep/2", QoS: 1, Payload: []byte("live")})
	if m := back.Next(t, waitFor); string(m.Payload) != "live" {
		t.Fatalf("live message after resume: %q", m.Payload)
	}

	// Gone after the expiry: the session disappears on its own, and a resume finds nothing.
	back.Disconnect(&paho.Disconnect{})
	start := time.Now()
	brokertest.Eventually(t, 5*time.Second, "session to expire", func() bool { return sessions(n) == 1 }) // the publisher's
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Fatalf("session with expiry 2 s ended after %v", el)
	}
	gone := brokertest.ConnectPaho5(t, n.Addr, "keeper", resume(2))
	if gone.Connack.SessionPresent {
		t.Fatal("session present after its expiry interval passed")
	}
	pub.Pub(t, &paho.Publish{Topic: "keep/3", QoS: 1, Payload: []byte("after expiry")})
	gone.NoMessage(t, 200*time.Millisecond)
}

func TestMQTT5DisconnectChangesExpiry(t *testing.T) {
	n := brokertest.Start(t, nil)
	// Expiry 60 at CONNECT, 0 at DISCONNECT: the session ends with the connection.
	c := brokertest.ConnectPaho5(t, n.Addr, "shorten", withExpiry(60))
	c.Sub(t, 0, sub("s/#", 1))
	c.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: brokertest.U32(0)}})
	brokertest.Eventually(t, waitFor, "session to end", func() bool { return sessions(n) == 0 })
	if again := brokertest.ConnectPaho5(t, n.Addr, "shorten", resume(60)); again.Connack.SessionPresent {
		t.Fatal("session present after DISCONNECT set the expiry to 0")
	}

	// Expiry 1 at CONNECT, 60 at DISCONNECT: the session outlives the first interval.
	l := brokertest.ConnectPaho5(t, n.Addr, "lengthen", withExpiry(1))
	l.Sub(t, 0, sub("l/#", 1))
	l.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: brokertest.U32(60)}})
	time.Sleep(1300 * time.Millisecond)
	if again := brokertest.ConnectPaho5(t, n.Addr, "lengthen", resume(60)); !again.Connack.SessionPresent {
		t.Fatal("session gone although DISCONNECT extended its expiry to 60 s")
	}
}

func TestMQTT5DisconnectExpiryAfterZeroIsProtocolError(t *testing.T) {
	n := brokertest.Start(t, nil)
	c, ack := brokertest.Connect(t, n.Addr, packet.V5, "zero-then-set", nil)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK 0x%02X", byte(ack.ReasonCode))
	}
	d := &packet.Disconnect{}
	d.Properties.SessionExpiry = 30
	d.Properties.SetPresent(packet.PropSessionExpiry)
	c.Send(d)
	if rc := c.ExpectDisconnect(); rc != packet.ProtocolError {
		t.Fatalf("DISCONNECT 0x%02X; want 0x82 (§3.14.2.2.2)", byte(rc))
	}
	brokertest.Eventually(t, waitFor, "session to end", func() bool { return sessions(n) == 0 })
}

func TestMQTT5Takeover(t *testing.T) {
	n := brokertest.Start(t, nil)
	old := brokertest.ConnectPaho5(t, n.Addr, "dup", withExpiry(60))
	old.Sub(t, 0, sub("t/#", 1))
	neu := brokertest.ConnectPaho5(t, n.Addr, "dup", resume(60))
	if d := old.ServerDisconnect(t, waitFor); d.ReasonCode != byte(packet.SessionTakenOver) {
		t.Fatalf("old connection got DISCONNECT 0x%02X; want 0x8E", d.ReasonCode)
	}
	if !neu.Connack.SessionPresent {
		t.Fatal("new connection did not get the session")
	}
	pub := brokertest.ConnectPaho5(t, n.Addr, "t-pub", nil)
	pub.Pub(t, &paho.Publish{Topic: "t/x", QoS: 1, Payload: []byte("to the new one")})
	if m := neu.Next(t, waitFor); string(m.Payload) != "to the new one" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestMQTT5ServerShutdown(t *testing.T) {
	n := brokertest.Start(t, nil)
	a := brokertest.ConnectPaho5(t, n.Addr, "sd-a", nil)
	b := brokertest.ConnectPaho5(t, n.Addr, "sd-b", withExpiry(60))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Logf("shutdown: %v", err)
	}
	for _, c := range []*brokertest.Paho5{a, b} {
		if d := c.ServerDisconnect(t, waitFor); d.ReasonCode != byte(packet.ServerShuttingDown) {
			t.Fatalf("%s: DISCONNECT 0x%02X; want 0x8B", c.ClientID(), d.ReasonCode)
		}
	}
}
