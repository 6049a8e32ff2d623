package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// outPacket is a control packet queued for the writer.
type outPacket struct {
	p packet.Packet
	// closeAfter ends the connection once p is written (server-initiated DISCONNECT, a refused
	// CONNACK).
	closeAfter bool
}

// Conn is one client connection.
type Conn struct {
	env  *Env
	opts *Options
	nc   net.Conn
	r    *packet.Reader
	// lg is made on first use: most connections never log, and building a logger with
	// attributes for each was a visible cost of a connection storm.
	lg      *slog.Logger
	logOnce sync.Once

	version packet.Version
	client  hooks.Client
	state   *State

	keepAlive       time.Duration
	clientRecvMax   uint16
	clientMaxPacket uint32
	clientAliasMax  uint16
	problemInfo     bool
	sessionExpiry   uint32 // as last requested by an MQTT 5 client
	serverKeepAlive uint16
	assignedID      bool
	authMethod      string
	// stamp is when the CONNECT was accepted (unix ns): of two connects of one client id on two
	// nodes, the later one wins.
	stamp int64

	aliasesIn  map[uint16]string
	aliasesOut map[string]uint16

	will      *message.Message
	willDelay uint32

	ctrl chan outPacket
	done chan struct{}
	// writerDone is closed when the connection's last writer has stopped (see Wake).
	writerDone chan struct{}
	writerOnce sync.Once
	wstate     atomic.Int32
	// retryT resends unacknowledged messages to 3.1.x clients (retry_interval) while the
	// connection has nothing else to send; retryArmed and retryDue tell the writer about it.
	retryT               *time.Timer
	retryArmed, retryDue atomic.Bool
	closed               chan struct{} // closed once the connection has fully detached
	closeOnce            sync.Once
	// hungUp is set once the server's last packet (DISCONNECT, refused CONNACK) is written:
	// nothing read after it is handled, and the socket lingers before it closes (hangup.go).
	// shut is set once the sending side is shut.
	hungUp, shut atomic.Bool

	mu sync.Mutex
	// kicked is set when the server ends the connection (takeover, shutdown); it decides the
	// will and the DISCONNECT reason.
	kicked     bool
	kickReason packet.ReasonCode
	// graceful is set by a client DISCONNECT that deletes the will.
	graceful bool

	inPub packet.Publish // reused by readLoop for every incoming PUBLISH
	acks  acks           // acknowledgements of PUBLISHes waiting for the store (acks.go)

	// inflightN counts the session's in-flight messages this connection sent (guarded by
	// state.mu): each connection of a shared session has its own window.
	inflightN int
	// multi is set when this connection may share its session with others
	// (allow_multiple_sessions, or the auth_on_register modifier); balance picks
	// queue_deliver_mode = balance over fanout. Such a connection has its own queue, own,
	// for what only it receives (fanout copies, retained messages of its subscribes), and
	// its own wake from the session's queue. A connection that joined a session
	// already online (joined) keeps its QoS 2 receive state in localInQoS2: packet
	// identifiers are per connection.
	multi, balance, joined bool
	// leaving is set (under state.mu) once the last connection of a session starts to detach:
	// a connection that would join it waits for it to close instead.
	leaving bool
	// sharedPolicy is the shared_subscription_policy for this client's publishes, from
	// auth_on_register; empty for the node's.
	sharedPolicy string
	own          *queue.Queue
	localInQoS2  map[uint16]struct{}

	// fresh is set when the connection created its session: nothing was in flight before it.
	fresh bool

	rateTokens float64
	rateLast   time.Time
}

// errClosedByServer ends the read loop after the server has queued its DISCONNECT.
var errClosedByServer = errors.New("session: closed by server")

// Serve runs the connection until it ends. It never panics the caller: a panic in the
// protocol code for this client is logged, and only this connection is closed.
func Serve(ctx context.Context, env *Env, opts *Options, nc net.Conn) {
	c := &Conn{
		env:        env,
		opts:       opts,
		nc:         nc,
		ctrl:       make(chan outPacket, max(opts.OutboundQueue, 16)),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		closed:     make(chan struct{}),
	}
	c.r = packet.NewPooledReader(countingReader{nc, c}, opts.connectLimit())
	c.r.SetBudget(opts.ConnectBudget)
	env.Metrics.Connections.Add(1)
	defer env.Metrics.Connections.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("connection handler panicked; closing this connection only", "panic", fmt.Sprint(r))
			nc.Close()
		}
	}()
	c.serve(ctx)
}

func (c *Conn) serve(ctx context.Context) {
	defer c.nc.Close()
	if !c.handshake(ctx) {
		c.linger() // after a refused CONNACK, so that the client can read it
		return
	}
	c.startWriter()
	err := c.readLoop(ctx)
	c.finish(err)
}

// readLoop handles packets until the connection ends, and returns why it ended.
func (c *Conn) readLoop(ctx context.Context) error {
	// The read deadline is moved only when it has used up its slack: setting it for every
	// packet cost a tenth of a busy publisher's CPU. The slack keeps the deadline at least
	// 1.5 times the keep alive after the last packet [MQTT-3.1.2-22] and at most 1.6 times.
	var deadlineSet time.Time
	slack := c.keepAlive / 10
	for {
		if c.keepAlive > 0 {
			if now := time.Now(); now.Sub(deadlineSet) > slack {
				c.nc.SetReadDeadline(now.Add(c.keepAlive*3/2 + slack))
				deadlineSet = now
			}
		}
		if c.hungUp.Load() && c.r.Buffered() == 0 {
			return errClosedByServer
		}
		fh, body, err := c.r.ReadRaw()
		if err != nil {
			if c.hungUp.Load() {
				// The deadline that woke this read is the hang-up's, not a keep-alive timeout.
				return errClosedByServer
			}
			return err
		}
		// After a hang-up the socket yields nothing more (its read deadline has passed), but
		// packets already read into the buffer arrived before the server's last word and are
		// handled: a client that published and disconnected just before another connection
		// took its session over (mosquitto_pub in a loop with one client id) loses nothing.
		c.env.Metrics.PacketsIn.Inc()
		if fh.Type == packet.PUBLISH {
			// The hot path decodes into one reused Publish: no allocation per message.
			if err := packet.DecodePublish(c.version, fh, body, &c.inPub); err != nil {
				return err
			}
			if err := c.handlePublish(ctx, &c.inPub); err != nil {
				return err
			}
			continue
		}
		p, err := packet.Decode(c.version, fh, body)
		if err != nil {
			return err
		}
		if err := c.handle(ctx, p); err != nil {
			return err
		}
	}
}

func (c *Conn) handle(ctx context.Context, p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(ctx, p)
	case *packet.Puback:
		c.ackOut(p.PacketID, false)
	case *packet.Pubrec:
		c.handlePubrec(p)
	case *packet.Pubrel:
		c.handlePubrel(p)
	case *packet.Pubcomp:
		c.ackOut(p.PacketID, true)
	case *packet.Subscribe:
		return c.handleSubscribe(ctx, p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(ctx, p)
	case *packet.Pingreq:
		c.send(&packet.Pingresp{})
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Auth:
		return c.handleReauth(ctx, p)
	case *packet.Connect:
		// [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
		return c.protocolError(packet.ProtocolError, "second CONNECT on one connection")
	default:
		// Server-to-client packets (CONNACK, SUBACK, …) are not accepted from a client.
		return c.protocolError(packet.ProtocolError, fmt.Sprintf("%s is not sent by clients", p.Type()))
	}
	return nil
}

// protocolError ends the connection for a packet the broker refuses: MQTT 5 clients are told
// why in a DISCONNECT [MQTT-4.13.1-1]; 3.1.x clients are simply disconnected.
func (c *Conn) protocolError(rc packet.ReasonCode, why string) error {
	c.env.Metrics.ProtocolErrors.Inc()
	c.env.refusals().protocol.Log(rc.String(), c.peerAttrs("detail", why)...)
	if c.version == packet.V5 {
		d := &packet.Disconnect{ReasonCode: rc}
		if c.problemInfo {
			d.Properties.ReasonString = why
			d.Properties.SetPresent(packet.PropReasonString)
			c.fitProperties(d, &d.Properties)
		}
		c.sendClose(d)
	}
	return errClosedByServer
}

// send queues a control packet for the writer. It blocks when the writer is that far behind,
// which slows only this client's reader; it gives up once the writer has stopped (the socket
// broke), or the reader would wait forever on a queue nobody drains.
func (c *Conn) send(p packet.Packet) {
	c.queueControl(outPacket{p: p})
}

func (c *Conn) sendClose(p packet.Packet) {
	c.queueControl(outPacket{p: p, closeAfter: true})
}

func (c *Conn) queueControl(op outPacket) {
	select {
	case c.ctrl <- op:
		c.Wake()
	case <-c.done:
	case <-c.writerDone:
	}
}

// Kick ends the connection from the server side with reason (SessionTakenOver,
// ServerShuttingDown, AdministrativeAction), telling MQTT 5 clients why.
func (c *Conn) Kick(reason packet.ReasonCode) {
	c.mu.Lock()
	if c.kicked {
		c.mu.Unlock()
		return
	}
	c.kicked, c.kickReason = true, reason
	c.mu.Unlock()
	if c.version == packet.V5 {
		select {
		case c.ctrl <- outPacket{p: &packet.Disconnect{ReasonCode: reason}, closeAfter: true}:
			c.Wake()
		default:
			c.nc.Close()
		}
	} else {
		c.nc.Close()
	}
	// A client that does not read its DISCONNECT must not hold the takeover up.
	time.AfterFunc(2*time.Second, func() { c.nc.Close() })
}

// Closed is closed once the connection has ended and detached from its session.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

func (c *Conn) handleDisconnect(d *packet.Disconnect) error {
	if c.version == packet.V5 && d.Properties.Has(packet.PropSessionExpiry) {
		// A session that was to end with the connection cannot be extended now (MQTT 5
		// §3.14.2.2.2, no numbered statement).
		if c.sessionExpiry == 0 && d.Properties.SessionExpiry != 0 {
			return c.protocolError(packet.ProtocolError, "session expiry set on DISCONNECT after zero at CONNECT")
		}
		c.sessionExpiry = d.Properties.SessionExpiry
		c.state.mu.Lock()
		c.state.expiry = c.expiryFor(d.Properties.SessionExpiry, false)
		c.state.mu.Unlock()
	}
	c.mu.Lock()
	// [MQTT-3.14.4-3] a normal DISCONNECT deletes the will; 0x04 asks for it to be published.
	c.graceful = !(c.version == packet.V5 && d.ReasonCode == packet.DisconnectWithWillMessage)
	c.mu.Unlock()
	return io.EOF
}

// finish stops the writer and detaches from the session state, publishing the will when the
// connection ended abnormally.
func (c *Conn) finish(readErr error) {
	c.closeOnce.Do(func() { close(c.done) })
	c.Wake() // an idle connection has no writer: one starts to write what is queued, and stops
	<-c.writerDone
	if readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, errClosedByServer) && !errors.Is(readErr, net.ErrClosed) {
		var ne net.Error
		if errors.As(readErr, &ne) && ne.Timeout() {
			c.logger().Info("keep alive timeout", "client_id", c.client.ClientID)
		} else if rc := packet.ReasonOf(readErr); rc != packet.UnspecifiedError {
			// A malformed packet read after CONNECT: say why to MQTT 5 clients if we still can.
			c.env.Metrics.ProtocolErrors.Inc()
			c.env.refusals().protocol.Log(rc.String(), c.peerAttrs("error", readErr)...)
			if c.version == packet.V5 {
				d := &packet.Disconnect{ReasonCode: rc}
				if c.problemInfo {
					d.Properties.ReasonString = readErr.Error()
					d.Properties.SetPresent(packet.PropReasonString)
					c.fitProperties(d, &d.Properties)
				}
				c.writeDirect(d)
			}
		}
	}
	// The socket is closed after the DISCONNECT above is written, not before: closing first
	// lost every DISCONNECT for a malformed packet [MQTT-4.13.1-1]. It is closed after the
	// detach, too: a client that reconnects once it sees the close must find its session
	// detached (with several connections on one session, a reconnect that found the old
	// connection still attached joined beside it, and the old one's undelivered copies were
	// dropped as its alone).
	// c.closed is closed before the linger: a takeover waits for the detach, not for the old
	// client to read its DISCONNECT.
	c.detach()
	close(c.closed)
	c.linger()
	c.nc.Close()
}

// writeDirect writes one packet synchronously after the writer has stopped.
func (c *Conn) writeDirect(p packet.Packet) {
	buf, err := packet.Encode(nil, c.version, p)
	if err != nil {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.nc.Write(buf); err == nil {
		c.hungUp.Store(true)
	}
}

// countingReader counts bytes in for the metrics.
type countingReader struct {
	r io.Reader
	c *Conn
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.c.env.Metrics.BytesIn.Add(int64(n))
	return n, err
}

// peerAttrs are the attributes that name this connection in a rate-limited log line, which
// goes through the node's logger rather than the connection's, followed by more.
func (c *Conn) peerAttrs(more ...any) []any {
	return append([]any{"peer", c.nc.RemoteAddr().String(), "listener", c.opts.Listener, "client_id", c.client.ClientID}, more...)
}

// logger returns the connection's logger, with its peer, listener and client id.
func (c *Conn) logger() *slog.Logger {
	c.logOnce.Do(func() {
		c.lg = c.env.Log.With("peer", c.nc.RemoteAddr().String(), "listener", c.opts.Listener, "client_id", c.client.ClientID)
	})
	return c.lg
}

// tcpKeepAliveIdle is how long a connection without MQTT keep alive may be silent before TCP
// probes it (Go's default for dialled connections).
const tcpKeepAliveIdle = 15 * time.Second

// tcpKeepAlive turns TCP keep-alive on for a client that asked for no MQTT keep alive: the
// listener leaves it off for everyone else, whose read deadline finds them dead.
func (c *Conn) tcpKeepAlive() {
	if tc, ok := c.rawConn().(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: tcpKeepAliveIdle, Interval: tcpKeepAliveIdle, Count: 9})
	}
}
