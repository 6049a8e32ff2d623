package brokertest

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// ReadAs reads the next packet from c and fails the test unless it is a T.
func ReadAs[T packet.Packet](t testing.TB, c *Raw) T {
	t.Helper()
	p := c.Read()
	v, ok := p.(T)
	if !ok {
		var zero T
		t.Fatalf("expected %T, got %T %+v", zero, p, p)
	}
	return v
}

// NoPacket fails the test if the broker sends anything within d; the connection must stay
// open.
func (c *Raw) NoPacket(d time.Duration) {
	c.t.Helper()
	p, err := c.ReadErr(d)
	if err == nil {
		c.t.Fatalf("unexpected %T %+v", p, p)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("connection ended while expecting silence: %v", err)
	}
}

// ExpectDisconnect waits for the broker to close the connection and returns the reason code
// of the DISCONNECT it sent first, failing the test if there was none.
func (c *Raw) ExpectDisconnect() packet.ReasonCode {
	c.t.Helper()
	got := c.ExpectClosed()
	for _, p := range got {
		if d, ok := p.(*packet.Disconnect); ok {
			return d.ReasonCode
		}
	}
	c.t.Fatalf("connection closed without DISCONNECT; got %v", got)
	return 0
}
