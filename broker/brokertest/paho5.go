package brokertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Paho5 is an Eclipse Paho Go MQTT 5 client (github.com/eclipse/paho.golang) on its own TCP
// connection, with what the broker sends it gathered on channels.
type Paho5 struct {
	*paho.Client
	// Conn is the client's socket; closing it ends the connection without DISCONNECT.
	Conn net.Conn
	// Connack is the broker's answer to CONNECT.
	Connack *paho.Connack
	// Msgs receives every PUBLISH delivered to the client, in order.
	Msgs chan *paho.Publish
	// Disconnects receives a DISCONNECT sent by the server.
	Disconnects chan *paho.Disconnect
	// Errors receives client errors (network errors after the connection is up).
	Errors chan error
}

// Paho5Options tune DialPaho5 beyond the CONNECT packet.
type Paho5Options struct {
	// Config edits the paho client configuration before the client is built.
	Config func(*paho.ClientConfig)
}

// DialPaho5 connects a paho.golang client to addr with cp (ProtocolVersion 5 is implied) and
// returns it with the CONNACK. A refused CONNACK comes back with a non-nil error and a nil
// client. The client is disconnected when the test ends.
func DialPaho5(t testing.TB, addr string, cp *paho.Connect, o *Paho5Options) (*Paho5, *paho.Connack, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &Paho5{
		Conn:        nc,
		Msgs:        make(chan *paho.Publish, 1000),
		Disconnects: make(chan *paho.Disconnect, 4),
		Errors:      make(chan error, 16),
	}
	cfg := paho.ClientConfig{
		ClientID: cp.ClientID,
		Conn:     nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.Msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.Disconnects <- d:
			default:
			}
		},
		OnClientError: func(err error) {
			select {
			case c.Errors <- err:
			default:
			}
		},
		PacketTimeout: 5 * time.Second,
	}
	if o != nil && o.Config != nil {
		o.Config(&cfg)
	}
	c.Client = paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Client.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		return nil, ack, err
	}
	c.Connack = ack
	t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			c.Client.Disconnect(&paho.Disconnect{ReasonCode: 0})
		}
	})
	return c, ack, nil
}

// ConnectPaho5 connects a paho.golang client with clientID (clean start, keep alive 30 s),
// lets edit change the CONNECT, and fails the test unless the broker accepts it.
func ConnectPaho5(t testing.TB, addr, clientID string, edit func(*paho.Connect)) *Paho5 {
	t.Helper()
	cp := &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}
	if edit != nil {
		edit(cp)
	}
	c, ack, err := DialPaho5(t, addr, cp, nil)
	if err != nil {
		t.Fatalf("paho5 connect %q: %v (connack %+v)", clientID, err, ack)
	}
	return c
}

// Next returns the next delivered PUBLISH, failing the test after timeout.
func (c *Paho5) Next(t testing.TB, timeout time.Duration) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.Msgs:
		return p
	case <-time.After(timeout):
		t.Fatalf("client %q: no PUBLISH within %v", c.ClientID(), timeout)
		return nil
	}
}

// NoMessage fails the test if a PUBLISH is delivered within d.
func (c *Paho5) NoMessage(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.Msgs:
		t.Fatalf("client %q: unexpected PUBLISH on %q: %q", c.ClientID(), p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// ServerDisconnect waits for a DISCONNECT from the server and returns it.
func (c *Paho5) ServerDisconnect(t testing.TB, timeout time.Duration) *paho.Disconnect {
	t.Helper()
	select {
	case d := <-c.Disconnects:
		return d
	case <-time.After(timeout):
		t.Fatalf("client %q: no DISCONNECT from the server within %v", c.ClientID(), timeout)
		return nil
	}
}

// Subscribe subscribes with the given options and returns the SUBACK reason codes, failing
// the test on an error.
func (c *Paho5) Sub(t testing.TB, subID int, subs ...paho.SubscribeOptions) []byte {
	t.Helper()
	s := &paho.Subscribe{Subscriptions: subs}
	if subID > 0 {
		s.Properties = &paho.SubscribeProperties{SubscriptionIdentifier: &subID}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Subscribe(ctx, s)
	if err != nil && ack == nil {
		t.Fatalf("client %q: subscribe: %v", c.ClientID(), err)
	}
	return ack.Reasons
}

// Pub publishes and returns the acknowledgement (nil for QoS 0), failing the test on a
// transport error; a refusal reason code is returned, not fatal.
func (c *Paho5) Pub(t testing.TB, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if err != nil && r == nil {
		t.Fatalf("client %q: publish to %q: %v", c.ClientID(), p.Topic, err)
	}
	return r
}

// Counter returns the current value of the named metric of the node, or -1 when there is no
// such metric.
func (n *Node) Counter(name string) int64 {
	for _, s := range n.Metrics().Snapshot() {
		if s.Name == name {
			return s.Value
		}
	}
	return -1
}

// Eventually polls cond every 10 ms until it holds, failing the test after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// U32 and U16 return pointers for paho's optional properties.
func U32(v uint32) *uint32 { return &v }

// U16 returns a pointer to v.
func U16(v uint16) *uint16 { return &v }

// Byte returns a pointer to v.
func Byte(v byte) *byte { return &v }
