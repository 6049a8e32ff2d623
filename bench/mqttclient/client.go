// Package mqttclient is the MQTT 3.1.1/5.0 client that nautilus-bench drives brokers with.
//
// It is written on net.Conn and broker/packet rather than taken from a client library because a
// load generator must be cheaper than the broker it measures: third-party clients allocate per
// message, take locks per packet and flush per packet, and then measure themselves. Here the
// reading side decodes PUBLISH with packet.DecodePublish into one reused Publish (no allocation),
// and every write goes through one writer goroutine that sends whatever accumulated while the
// previous write was in the kernel, so a fast publisher and the acknowledgements of the reader
// share syscalls without either waiting for the other.
//
// Flows follow the specification: QoS 1 (PUBLISH, PUBACK) and QoS 2 (PUBLISH, PUBREC, PUBREL,
// PUBCOMP) in both directions, with incoming QoS 2 messages handed to the application once per
// packet identifier until the PUBREL releases it (method B of MQTT 5 §4.3.3). Outgoing QoS 1/2
// publishes are bounded by an inflight window, never wider than the Receive Maximum the broker
// announces in CONNACK (MQTT 5 §3.2.2.3.3).
//
// The client never reconnects or retransmits: a benchmark session that loses its connection has
// failed, and the caller counts what did not arrive as lost.
package mqttclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Options configure one connection.
type Options struct {
	Addr     string
	Version  packet.Version // packet.V311 (default) or packet.V5
	ClientID string
	// KeepAlive is sent in CONNECT; when > 0 the client sends PINGREQ at half that interval
	// while it has nothing else to send.
	KeepAlive  time.Duration
	CleanStart bool
	// Inflight bounds the QoS 1/2 PUBLISHes sent and not yet fully acknowledged. The
	// effective window is min(Inflight, the broker's Receive Maximum); 0 means 1000.
	Inflight int
	// ReceiveMaximum is announced in an MQTT 5 CONNECT; 0 leaves it out (65535).
	ReceiveMaximum uint16
	// OnPublish is called from the reading goroutine for each application message delivered
	// (a QoS 2 message once, however often the broker resends it before PUBREL). p and its
	// Topic and Payload are valid only during the call.
	OnPublish func(p *packet.Publish)
	// DialTimeout bounds the TCP connect and the wait for CONNACK; 0 means 10 s.
	DialTimeout time.Duration
	// WriteBuffer is the size past which Publish waits for the writer; 0 means 256 KiB.
	WriteBuffer int
	// ReadBuffer is the size of the socket read buffer; 0 means 64 KiB. Connection-count
	// scenarios make it small so that thousands of idle clients stay cheap for the generator.
	ReadBuffer int
}

// Client is one MQTT connection. Publish may be called from one goroutine at a time;
// Subscribe, Close and the accessors may be called from any.
type Client struct {
	opts    Options
	conn    net.Conn
	version packet.Version
	connack packet.Connack

	// write side: producers append to pending under wmu; the writer goroutine swaps it out.
	wmu      sync.Mutex
	wcond    *sync.Cond // signalled when pending shrinks (for producers) or grows (for the writer)
	pending  []byte
	spare    []byte
	wclosed  bool
	werr     error
	wlimit   int
	lastSent atomic.Int64 // unix nanos of the last write, for keep alive

	// outgoing QoS 1/2 state
	window chan struct{} // one token per inflight slot
	imu    sync.Mutex
	state  []byte // per packet identifier: 0 free, stateAwaitAck, stateAwaitRec, stateAwaitComp
	nextID uint16
	idle   *sync.Cond // signalled when an inflight message completes

	// incoming QoS 2 identifiers received and not yet released (touched only by the reader).
	rxQoS2 []bool

	// request/response for SUBSCRIBE and UNSUBSCRIBE.
	rmu     sync.Mutex
	waiters map[uint16]chan packet.Packet

	closing    atomic.Bool // Close has begun: the broker closing the socket is expected
	readerDone chan struct{}
	writerDone chan struct{}
	errMu      sync.Mutex
	err        error

	published  atomic.Uint64 // PUBLISH packets queued for sending
	completed  atomic.Uint64 // QoS 1/2 flows completed (PUBACK, or PUBCOMP)
	refused    atomic.Uint64 // QoS 1/2 acknowledgements with a failure reason code
	received   atomic.Uint64 // application messages delivered to OnPublish
	dupResends atomic.Uint64 // QoS 2 PUBLISHes received again before PUBREL (not delivered twice)
}

const (
	stateFree byte = iota
	stateAwaitAck
	stateAwaitRec
	stateAwaitComp
	stateControl // a SUBSCRIBE or UNSUBSCRIBE awaiting its answer
)

// maxWindow leaves packet identifiers free for SUBSCRIBE and UNSUBSCRIBE, which share the
// identifier space with outgoing QoS 1/2 PUBLISHes [MQTT-2.2.1-3].
const maxWindow = 65000

// ErrClosed is returned by operations on a client whose connection has ended.
var ErrClosed = errors.New("mqttclient: connection closed")

// ConnackError is returned by Dial when the broker refuses the connection.
type ConnackError struct{ Code packet.ReasonCode }

func (e *ConnackError) Error() string { return "mqttclient: CONNACK refused: " + e.Code.String() }

// Dial connects, sends CONNECT and waits for CONNACK. The returned duration is the handshake
// latency: from the start of the TCP connect to the CONNACK decoded.
func Dial(ctx context.Context, o Options) (*Client, time.Duration, error) {
	if o.Version == 0 {
		o.Version = packet.V311
	}
	if o.Inflight <= 0 {
		o.Inflight = 1000
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.WriteBuffer <= 0 {
		o.WriteBuffer = 256 << 10
	}
	if o.ReadBuffer <= 0 {
		o.ReadBuffer = 64 << 10
	}
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", o.Addr)
	if err != nil {
		return nil, 0, fmt.Errorf("dial %s: %w", o.Addr, err)
	}
	cp := &packet.Connect{ProtocolVersion: o.Version, CleanStart: o.CleanStart, ClientID: o.ClientID,
		KeepAlive: uint16(o.KeepAlive / time.Second)}
	if o.Version == packet.V5 && o.ReceiveMaximum > 0 {
		cp.Properties.ReceiveMaximum = o.ReceiveMaximum
		cp.Properties.SetPresent(packet.PropReceiveMaximum)
	}
	buf, err := packet.Encode(nil, o.Version, cp)
	if err != nil {
		nc.Close()
		return nil, 0, fmt.Errorf("encode CONNECT: %w", err)
	}
	if dl, ok := dctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if _, err := nc.Write(buf); err != nil {
		nc.Close()
		return nil, 0, fmt.Errorf("send CONNECT: %w", err)
	}
	rd := packet.NewReader(bufio.NewReaderSize(nc, o.ReadBuffer), 0)
	p, err := rd.ReadPacket(o.Version)
	if err != nil {
		nc.Close()
		return nil, 0, fmt.Errorf("read CONNACK: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		nc.Close()
		return nil, 0, fmt.Errorf("expected CONNACK, got %s", p.Type())
	}
	if ack.ReasonCode.Failure() {
		nc.Close()
		return nil, 0, &ConnackError{Code: ack.ReasonCode}
	}
	latency := time.Since(start)
	nc.SetDeadline(time.Time{})

	window := o.Inflight
	if o.Version == packet.V5 && ack.Properties.Has(packet.PropReceiveMaximum) && int(ack.Properties.ReceiveMaximum) < window {
		// MQTT 5 §3.3.4: the client must not have more unacknowledged QoS 1/2 PUBLISHes than
		// the server's Receive Maximum [MQTT-3.3.4-7].
		window = int(ack.Properties.ReceiveMaximum)
	}
	window = min(window, maxWindow)
	c := &Client{
		opts: o, conn: nc, version: o.Version,
		connack:    packet.Connack{SessionPresent: ack.SessionPresent, ReasonCode: ack.ReasonCode},
		wlimit:     o.WriteBuffer,
		window:     make(chan struct{}, window),
		waiters:    map[uint16]chan packet.Packet{},
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.connack.Properties.ReceiveMaximum = uint16(window)
	c.wcond = sync.NewCond(&c.wmu)
	c.idle = sync.NewCond(&c.imu)
	c.lastSent.Store(time.Now().UnixNano())
	go c.writeLoop()
	go c.readLoop(rd)
	return c, latency, nil
}

// Window is the effective outgoing inflight window.
func (c *Client) Window() int { return cap(c.window) }

// SessionPresent reports the CONNACK flag.
func (c *Client) SessionPresent() bool { return c.connack.SessionPresent }

// Published is the number of PUBLISH packets handed to the writer.
func (c *Client) Published() uint64 { return c.published.Load() }

// Completed is the number of outgoing QoS 1/2 flows acknowledged (PUBACK or PUBCOMP).
func (c *Client) Completed() uint64 { return c.completed.Load() }

// Refused is the number of outgoing QoS 1/2 flows the broker acknowledged with a failure code.
func (c *Client) Refused() uint64 { return c.refused.Load() }

// Received is the number of application messages handed to OnPublish.
func (c *Client) Received() uint64 { return c.received.Load() }

// QoS2Resends is the number of QoS 2 PUBLISHes received again before their PUBREL.
func (c *Client) QoS2Resends() uint64 { return c.dupResends.Load() }

// Err is the error that ended the connection, nil while it is up.
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Done is closed when the reading side has ended.
func (c *Client) Done() <-chan struct{} { return c.readerDone }

func (c *Client) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.conn.Close()
	c.wmu.Lock()
	c.wclosed = true
	if c.werr == nil {
		c.werr = err
	}
	c.wcond.Broadcast()
	c.wmu.Unlock()
	c.imu.Lock()
	c.idle.Broadcast()
	c.imu.Unlock()
}

// enqueue appends an encoded packet to the pending buffer. Producers (wait true) block while
// the buffer is over its limit; acknowledgements from the reader never wait, because the
// broker may be waiting for them before it reads more from us, and their number is bounded by
// the broker's own inflight window anyway.
func (c *Client) enqueue(wait bool, fn func([]byte) ([]byte, error)) error {
	c.wmu.Lock()
	for wait && len(c.pending) >= c.wlimit && !c.wclosed {
		c.wcond.Wait()
	}
	if c.wclosed {
		err := c.werr
		c.wmu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return err
	}
	wasEmpty := len(c.pending) == 0
	var err error
	c.pending, err = fn(c.pending)
	if wasEmpty {
		c.wcond.Broadcast()
	}
	c.wmu.Unlock()
	return err
}

func (c *Client) writeLoop() {
	defer close(c.writerDone)
	var ping *time.Ticker
	var pingC <-chan time.Time
	if c.opts.KeepAlive > 0 {
		ping = time.NewTicker(c.opts.KeepAlive / 2)
		defer ping.Stop()
		pingC = ping.C
		go func() {
			// The writer sleeps on a condition variable, which a ticker cannot wake: this
			// goroutine turns ticks into a PINGREQ when nothing was sent for a while.
			for {
				select {
				case <-pingC:
					if time.Since(time.Unix(0, c.lastSent.Load())) >= c.opts.KeepAlive/2 {
						_ = c.enqueue(false, func(b []byte) ([]byte, error) {
							return append(b, byte(packet.PINGREQ)<<4, 0), nil
						})
					}
				case <-c.writerDone:
					return
				}
			}
		}()
	}
	for {
		c.wmu.Lock()
		for len(c.pending) == 0 && !c.wclosed {
			c.wcond.Wait()
		}
		if len(c.pending) == 0 && c.wclosed {
			c.wmu.Unlock()
			return
		}
		buf := c.pending
		c.pending = c.spare[:0]
		c.wcond.Broadcast() // room for producers
		c.wmu.Unlock()

		_, err := c.conn.Write(buf)
		c.lastSent.Store(time.Now().UnixNano())
		c.wmu.Lock()
		c.spare = buf[:0]
		c.wmu.Unlock()
		if err != nil {
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

// Flush waits until everything queued so far has been written to the socket.
func (c *Client) Flush(ctx context.Context) error {
	for {
		c.wmu.Lock()
		empty, closed, err := len(c.pending) == 0, c.wclosed, c.werr
		c.wmu.Unlock()
		if closed {
			if err == nil {
				err = ErrClosed
			}
			return err
		}
		if empty {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// Publish queues one PUBLISH. For QoS 1 and 2 it first takes a slot of the inflight window,
// waiting (until ctx ends) while the window is full; the slot is freed by PUBACK or PUBCOMP.
// payload is copied into the write buffer before Publish returns.
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	p := packet.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: payload}
	if qos > 0 {
		select {
		case c.window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.readerDone:
			return c.closedErr()
		}
		c.imu.Lock()
		id := c.allocID()
		if qos == 1 {
			c.state[id] = stateAwaitAck
		} else {
			c.state[id] = stateAwaitRec
		}
		c.imu.Unlock()
		p.PacketID = id
	}
	err := c.enqueue(true, func(b []byte) ([]byte, error) { return packet.AppendPublish(b, c.version, &p) })
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	c.published.Add(1)
	return nil
}

// allocID returns a free packet identifier; the window (at most maxWindow) guarantees one
// exists unless 535 control requests are outstanding at once. Called with imu.
func (c *Client) allocID() uint16 {
	if c.state == nil {
		// Allocated on first use: idle-connection runs open thousands of clients that never
		// publish, and 64 KiB each would make the generator the memory hog of the machine.
		c.state = make([]byte, 65536)
	}
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if c.state[c.nextID] == stateFree {
			return c.nextID
		}
	}
}

// release ends an outgoing flow and frees its window slot.
func (c *Client) release(id uint16, refused bool) {
	c.state[id] = stateFree
	c.completed.Add(1)
	if refused {
		c.refused.Add(1)
	}
	<-c.window
	if len(c.window) == 0 {
		c.idle.Broadcast()
	}
}

// WaitInflight waits until every outgoing QoS 1/2 flow has completed, the connection ended or
// ctx ended.
func (c *Client) WaitInflight(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		c.imu.Lock()
		c.idle.Broadcast()
		c.imu.Unlock()
	})
	defer stop()
	c.imu.Lock()
	defer c.imu.Unlock()
	for len(c.window) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.Err() != nil {
			return c.closedErr()
		}
		c.idle.Wait()
	}
	return nil
}

func (c *Client) closedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// Subscribe subscribes to one filter and returns the reason code of the SUBACK.
func (c *Client) Subscribe(ctx context.Context, filter string, qos byte) (packet.ReasonCode, error) {
	p, err := c.request(ctx, func(id uint16) packet.Packet {
		return &packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	})
	if err != nil {
		return 0, fmt.Errorf("subscribe %q: %w", filter, err)
	}
	ack, ok := p.(*packet.Suback)
	if !ok || len(ack.ReasonCodes) != 1 {
		return 0, fmt.Errorf("subscribe %q: unexpected answer %s", filter, p.Type())
	}
	if ack.ReasonCodes[0].Failure() {
		return ack.ReasonCodes[0], fmt.Errorf("subscribe %q: refused: %s", filter, ack.ReasonCodes[0])
	}
	return ack.ReasonCodes[0], nil
}

// Unsubscribe removes one subscription.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	_, err := c.request(ctx, func(id uint16) packet.Packet {
		return &packet.Unsubscribe{PacketID: id, Filters: []string{filter}}
	})
	if err != nil {
		return fmt.Errorf("unsubscribe %q: %w", filter, err)
	}
	return nil
}

// request sends a packet with a fresh identifier, taken from the same space as outgoing
// QoS 1/2 PUBLISHes, and waits for the answer with that identifier.
func (c *Client) request(ctx context.Context, mk func(id uint16) packet.Packet) (packet.Packet, error) {
	ch := make(chan packet.Packet, 1)
	c.imu.Lock()
	id := c.allocID()
	c.state[id] = stateControl
	c.imu.Unlock()
	c.rmu.Lock()
	c.waiters[id] = ch
	c.rmu.Unlock()
	defer func() {
		c.rmu.Lock()
		delete(c.waiters, id)
		c.rmu.Unlock()
		c.imu.Lock()
		c.state[id] = stateFree
		c.imu.Unlock()
	}()
	p := mk(id)
	if err := c.enqueue(false, func(b []byte) ([]byte, error) { return packet.Encode(b, c.version, p) }); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.readerDone:
		return nil, c.closedErr()
	}
}

// Close sends DISCONNECT, waits briefly for it to be written and closes the connection.
func (c *Client) Close() error {
	c.closing.Store(true)
	_ = c.enqueue(false, func(b []byte) ([]byte, error) {
		return packet.Encode(b, c.version, &packet.Disconnect{})
	})
	c.wmu.Lock()
	c.wclosed = true
	c.wcond.Broadcast()
	c.wmu.Unlock()
	select {
	case <-c.writerDone:
	case <-time.After(2 * time.Second):
	}
	err := c.conn.Close()
	<-c.readerDone
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (c *Client) readLoop(rd *packet.Reader) {
	defer close(c.readerDone)
	var pub packet.Publish
	for {
		fh, body, err := rd.ReadRaw()
		if err != nil {
			if c.closing.Load() {
				c.fail(ErrClosed) // the broker answered our DISCONNECT by closing
			} else {
				c.fail(fmt.Errorf("read: %w", err))
			}
			return
		}
		if err := c.handle(fh, body, &pub); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Client) handle(fh packet.FixedHeader, body []byte, pub *packet.Publish) error {
	switch fh.Type {
	case packet.PUBLISH:
		if err := packet.DecodePublish(c.version, fh, body, pub); err != nil {
			return fmt.Errorf("decode PUBLISH: %w", err)
		}
		switch pub.QoS {
		case 0:
			c.deliver(pub)
		case 1:
			c.deliver(pub)
			return c.ack(&packet.Puback{PacketID: pub.PacketID})
		case 2:
			// Deliver on the first PUBLISH of an identifier; a resend before PUBREL (DUP) is
			// the same message and is only acknowledged again.
			if c.rxQoS2 == nil {
				c.rxQoS2 = make([]bool, 65536) // on first use, as state
			}
			if c.rxQoS2[pub.PacketID] {
				c.dupResends.Add(1)
			} else {
				c.rxQoS2[pub.PacketID] = true
				c.deliver(pub)
			}
			return c.ack(&packet.Pubrec{PacketID: pub.PacketID})
		}
		return nil
	case packet.PUBREL:
		p, err := packet.Decode(c.version, fh, body)
		if err != nil {
			return fmt.Errorf("decode PUBREL: %w", err)
		}
		id := p.(*packet.Pubrel).PacketID
		if c.rxQoS2 != nil {
			c.rxQoS2[id] = false
		}
		return c.ack(&packet.Pubcomp{PacketID: id})
	case packet.PUBACK, packet.PUBREC, packet.PUBCOMP:
		p, err := packet.Decode(c.version, fh, body)
		if err != nil {
			return fmt.Errorf("decode %s: %w", fh.Type, err)
		}
		return c.onAck(p)
	case packet.SUBACK, packet.UNSUBACK:
		p, err := packet.Decode(c.version, fh, body)
		if err != nil {
			return fmt.Errorf("decode %s: %w", fh.Type, err)
		}
		var id uint16
		switch a := p.(type) {
		case *packet.Suback:
			id = a.PacketID
			a.ReasonCodes = append([]packet.ReasonCode(nil), a.ReasonCodes...)
		case *packet.Unsuback:
			id = a.PacketID
			a.ReasonCodes = nil
		}
		c.rmu.Lock()
		ch := c.waiters[id]
		c.rmu.Unlock()
		if ch != nil {
			ch <- p
		}
		return nil
	case packet.PINGRESP:
		return nil
	case packet.DISCONNECT:
		p, _ := packet.Decode(c.version, fh, body)
		if d, ok := p.(*packet.Disconnect); ok {
			return fmt.Errorf("broker sent DISCONNECT: %s", d.ReasonCode)
		}
		return errors.New("broker sent DISCONNECT")
	default:
		return fmt.Errorf("unexpected %s from broker", fh.Type)
	}
}

func (c *Client) deliver(p *packet.Publish) {
	c.received.Add(1)
	if c.opts.OnPublish != nil {
		c.opts.OnPublish(p)
	}
}

func (c *Client) ack(p packet.Packet) error {
	return c.enqueue(false, func(b []byte) ([]byte, error) { return packet.Encode(b, c.version, p) })
}

func (c *Client) onAck(p packet.Packet) error {
	c.imu.Lock()
	defer c.imu.Unlock()
	if c.state == nil {
		return fmt.Errorf("%s before any QoS 1/2 PUBLISH was sent", p.Type())
	}
	switch a := p.(type) {
	case *packet.Puback:
		if c.state[a.PacketID] != stateAwaitAck {
			return fmt.Errorf("PUBACK for packet identifier %d not awaiting one", a.PacketID)
		}
		c.release(a.PacketID, a.ReasonCode.Failure())
	case *packet.Pubrec:
		if c.state[a.PacketID] != stateAwaitRec {
			return fmt.Errorf("PUBREC for packet identifier %d not awaiting one", a.PacketID)
		}
		if a.ReasonCode.Failure() {
			// MQTT 5 §4.3.3: a PUBREC with a failure code ends the flow; no PUBREL.
			c.release(a.PacketID, true)
			return nil
		}
		c.state[a.PacketID] = stateAwaitComp
		return c.ack(&packet.Pubrel{PacketID: a.PacketID})
	case *packet.Pubcomp:
		if c.state[a.PacketID] != stateAwaitComp {
			return fmt.Errorf("PUBCOMP for packet identifier %d not awaiting one", a.PacketID)
		}
		c.release(a.PacketID, a.ReasonCode.Failure())
	}
	return nil
}
