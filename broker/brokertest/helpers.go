package brokertest

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Subscribe sends one SUBSCRIBE with the given filters at qos and returns the SUBACK.
func (c *Raw) Subscribe(id uint16, qos byte, filters ...string) *packet.Suback {
	c.t.Helper()
	s := &packet.Subscribe{PacketID: id}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f, QoS: qos})
	}
	c.Send(s)
	ack := ReadAs[*packet.Suback](c.t, c)
	if ack.PacketID != id {
		c.t.Fatalf("SUBACK for id %d, want %d", ack.PacketID, id)
	}
	return ack
}

// Publish sends a PUBLISH and completes its QoS flow as the sender (PUBACK, or PUBREC /
// PUBREL / PUBCOMP), failing the test on anything else in between.
func (c *Raw) Publish(id uint16, qos byte, retain bool, topic string, payload []byte) {
	c.t.Helper()
	c.Send(&packet.Publish{PacketID: id, QoS: qos, Retain: retain, Topic: topic, Payload: payload})
	switch qos {
	case 1:
		if a := ReadAs[*packet.Puback](c.t, c); a.PacketID != id {
			c.t.Fatalf("PUBACK for id %d, want %d", a.PacketID, id)
		}
	case 2:
		if a := ReadAs[*packet.Pubrec](c.t, c); a.PacketID != id {
			c.t.Fatalf("PUBREC for id %d, want %d", a.PacketID, id)
		}
		c.Send(&packet.Pubrel{PacketID: id})
		if a := ReadAs[*packet.Pubcomp](c.t, c); a.PacketID != id {
			c.t.Fatalf("PUBCOMP for id %d, want %d", a.PacketID, id)
		}
	}
}

// Ping sends PINGREQ and waits for PINGRESP: a round trip proving the connection is alive and
// that everything the broker queued before it has been read.
func (c *Raw) Ping() {
	c.t.Helper()
	c.Send(&packet.Pingreq{})
	ReadAs[*packet.Pingresp](c.t, c)
}

// ExpectClosedWithin waits up to d for the broker to close the connection and returns what it
// sent first. It fails the test if the connection is still open after d.
func (c *Raw) ExpectClosedWithin(d time.Duration) []packet.Packet {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var got []packet.Packet
	for {
		p, err := c.ReadErr(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %v; got %v", d, got)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
				c.t.Logf("connection ended with %v", err)
			}
			return got
		}
		got = append(got, p)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}
