package broker_test

import (
	"testing"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestMQTT5ReceiveMaximumExceeded: with receive_max_broker = 3 the broker announces Receive
// Maximum 3, and what it counts is incoming QoS 2 flows not yet ended by PUBREL. A resend of an
// open flow (DUP, same id) is not a new one, a PUBREL frees a slot, and the flow beyond the
// window gets DISCONNECT 0x93 [MQTT-3.3.4-7].
func TestMQTT5ReceiveMaximumExceeded(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) { c.MQTT5.ReceiveMaxBroker = 3 })
	c, ack := brokertest.Connect(t, n.Addr, packet.V5, "greedy", nil)
	if !ack.Properties.Has(packet.PropReceiveMaximum) || ack.Properties.ReceiveMaximum != 3 {
		t.Fatalf("CONNACK Receive Maximum %d (present %v); want 3", ack.Properties.ReceiveMaximum, ack.Properties.Has(packet.PropReceiveMaximum))
	}
	open := func(id uint16, dup bool) {
		t.Helper()
		c.Send(&packet.Publish{PacketID: id, QoS: 2, Dup: dup, Topic: "rm/x", Payload: []byte("m")})
		if r := brokertest.ReadAs[*packet.Pubrec](t, c); r.PacketID != id {
			t.Fatalf("PUBREC for %d, want %d", r.PacketID, id)
		}
	}
	for id := uint16(1); id <= 3; id++ {
		open(id, false)
	}
	open(1, true) // the same flow again: still 3 open
	c.Send(&packet.Pubrel{PacketID: 1})
	if p := brokertest.ReadAs[*packet.Pubcomp](t, c); p.PacketID != 1 {
		t.Fatalf("PUBCOMP for %d", p.PacketID)
	}
	open(4, false) // 2, 3, 4 open: at the limit, not beyond it
	// QoS 1 is acknowledged at once and does not hold a slot.
	c.Publish(10, 1, false, "rm/x", []byte("q1"))

	c.Send(&packet.Publish{PacketID: 5, QoS: 2, Topic: "rm/x", Payload: []byte("one too many")})
	if rc := c.ExpectDisconnect(); rc != packet.ReceiveMaximumExceeded {
		t.Fatalf("DISCONNECT 0x%02X; want 0x93 receive maximum exceeded", byte(rc))
	}
	if e := n.Counter("mqtt_protocol_error"); e != 1 {
		t.Fatalf("mqtt_protocol_error = %d; want 1", e)
	}
}
