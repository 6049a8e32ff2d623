package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// The crash loop's MQTT clients. They run in goroutines of their own and reconnect while the
// broker is down, so nothing here may call t.Fatal: failures become counters that the test
// goroutine reads once the clients have stopped.

// dialQuiet connects a persistent session (clean session off; MQTT 5 with an hour's session
// expiry) and returns errors instead of failing the test.
func dialQuiet(t *testing.T, addr string, v packet.Version, id string) (*client, *packet.Connack, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, err
	}
	c := &client{t: t, nc: nc, v: v, r: packet.NewReader(bufio.NewReader(nc), 0)}
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, KeepAlive: 60, ClientID: id}
	if v == packet.V5 {
		cp.Properties.SessionExpiry = 3600
		cp.Properties.SetPresent(packet.PropSessionExpiry)
	}
	if err := c.trySend(cp); err != nil {
		nc.Close()
		return nil, nil, err
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := c.r.ReadPacket(v)
	nc.SetReadDeadline(time.Time{})
	ack, ok := p.(*packet.Connack)
	if err != nil || !ok || ack.ReasonCode != packet.Success {
		nc.Close()
		return nil, nil, fmt.Errorf("connect %s: %v %+v", id, err, p)
	}
	return c, ack, nil
}

// trySend is send for goroutines other than the test's: it returns the error.
func (c *client) trySend(p packet.Packet) error {
	buf, err := packet.Encode(nil, c.v, p)
	if err != nil {
		return err
	}
	_, err = c.nc.Write(buf)
	return err
}

// readLoop delivers c's packets on a channel, closed when the connection breaks, so that a
// client can wait for packets and timers at once. Publish payloads are copied: the reader
// reuses its buffer. It ends when done is closed.
func (c *client) readLoop(done <-chan struct{}) <-chan packet.Packet {
	ch := make(chan packet.Packet, 64)
	go func() {
		defer close(ch)
		for {
			p, err := c.r.ReadPacket(c.v)
			if err != nil {
				return
			}
			if pub, ok := p.(*packet.Publish); ok {
				cp := *pub
				cp.Topic = strings.Clone(pub.Topic)
				cp.Payload = append([]byte(nil), pub.Payload...)
				p = &cp
			}
			select {
			case ch <- p:
			case <-done:
				return
			}
		}
	}()
	return ch
}

// outMsg is a publisher's message between its PUBLISH and the end of its flow.
type outMsg struct {
	seq    int
	qos    byte
	id     uint16
	pubrec bool // acknowledged at QoS 2: a reconnect resends PUBREL, not the PUBLISH
}

// pipePublisher publishes "<name>-<seq>" with QoS 1 and 2 alternating, keeping up to window
// messages unacknowledged as real clients do, and resends what is unacknowledged after each
// reconnect with DUP and the same packet id [MQTT-4.4.0-1].
type pipePublisher struct {
	t      *testing.T
	name   string
	topic  string
	v      packet.Version
	window int
	qos    byte // 0: QoS 1 and 2 alternately

	mu       sync.Mutex
	inflight []*outMsg    // in publish order: the order a reconnect resends in
	acked    map[int]byte // seq → QoS, from PUBACK or PUBREC
	lives    int          // connections that received an acknowledgement
	nextSeq  int
	nextID   uint16
	lastErr  string // why the last connection ended, for a stuck publisher's report

	// Read only after run returned.
	refused, resent, connects, sessionLost int
}

func newPipePublisher(t *testing.T, name string, v packet.Version, window int) *pipePublisher {
	return &pipePublisher{t: t, name: name, topic: "crash/" + name, v: v, window: window, acked: map[int]byte{}}
}

// progress is how many messages were acknowledged so far, and on how many connections.
func (p *pipePublisher) progress() (acked, lives int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked), p.lives
}

// run connects and publishes, reconnecting whenever the broker goes away, until stop is
// closed and nothing is left in flight, or quit is closed. It publishes a burst filling the
// window every tick so the rate stays bounded and the message count reasonable.
func (p *pipePublisher) run(addr string, tick time.Duration, stop, quit <-chan struct{}) {
	stopping := false
	for {
		select {
		case <-quit:
			return
		case <-stop:
			stopping = true
		default:
		}
		c, ack, err := dialQuiet(p.t, addr, p.v, "crash-"+p.name)
		if err != nil {
			p.setErr(err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.connects++
		if !ack.SessionPresent && p.connects > 1 {
			p.sessionLost++
		}
		if p.serve(c, tick, stopping, stop, quit) {
			return
		}
	}
}

func (p *pipePublisher) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err.Error()
}

// state describes the publisher for a failure message.
func (p *pipePublisher) state() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	pubrec := 0
	for _, m := range p.inflight {
		if m.pubrec {
			pubrec++
		}
	}
	return fmt.Sprintf("%s: %d in flight (%d awaiting PUBCOMP), %d acknowledged on %d connections, last error %q",
		p.name, len(p.inflight), pubrec, len(p.acked), p.lives, p.lastErr)
}

// serve runs one connection; it reports whether the publisher is finished.
func (p *pipePublisher) serve(c *client, tick time.Duration, stopping bool, stop, quit <-chan struct{}) bool {
	done := make(chan struct{})
	defer func() { close(done); c.nc.Close() }()
	if err := p.resend(c); err != nil {
		return false
	}
	pkts := c.readLoop(done)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	counted := false
	for {
		p.mu.Lock()
		open := len(p.inflight)
		p.mu.Unlock()
		if stopping && open == 0 {
			c.trySend(&packet.Disconnect{})
			return true
		}
		var tickC <-chan time.Time
		if !stopping && open < p.window {
			tickC = ticker.C
		}
		select {
		case pk, ok := <-pkts:
			if !ok {
				p.setErr(fmt.Errorf("connection closed"))
				return false
			}
			if err := p.handle(c, pk, &counted); err != nil {
				p.setErr(err)
				return false
			}
		case <-tickC:
			if p.burst(c) != nil {
				return false
			}
		case <-stop:
			stopping, stop = true, nil
		case <-quit:
			return true
		}
	}
}

// resend sends again what the last connection left unacknowledged, in order.
func (p *pipePublisher) resend(c *client) error {
	p.mu.Lock()
	msgs := append([]*outMsg(nil), p.inflight...)
	p.mu.Unlock()
	for _, m := range msgs {
		var err error
		if m.pubrec {
			err = c.trySend(&packet.Pubrel{PacketID: m.id})
		} else {
			err = c.trySend(p.publishPacket(m, true))
		}
		if err != nil {
			return err
		}
		p.resent++
	}
	return nil
}

func (p *pipePublisher) publishPacket(m *outMsg, dup bool) *packet.Publish {
	return &packet.Publish{Topic: p.topic, QoS: m.qos, PacketID: m.id, Dup: dup, Payload: []byte(fmt.Sprintf("%s-%d", p.name, m.seq))}
}

// burst publishes new messages until the window is full.
func (p *pipePublisher) burst(c *client) error {
	for {
		p.mu.Lock()
		if len(p.inflight) >= p.window {
			p.mu.Unlock()
			return nil
		}
		qos := byte(1 + p.nextSeq%2)
		if p.qos != 0 {
			qos = p.qos
		}
		m := &outMsg{seq: p.nextSeq, qos: qos, id: p.freeID()}
		p.nextSeq++
		p.inflight = append(p.inflight, m)
		p.mu.Unlock()
		if err := c.trySend(p.publishPacket(m, false)); err != nil {
			return err
		}
	}
}

// freeID returns the next packet id not in flight (p.mu held).
func (p *pipePublisher) freeID() uint16 {
	for {
		p.nextID++
		if p.nextID == 0 {
			continue
		}
		if p.find(p.nextID) < 0 {
			return p.nextID
		}
	}
}

func (p *pipePublisher) find(id uint16) int {
	for i, m := range p.inflight {
		if m.id == id {
			return i
		}
	}
	return -1
}

// handle processes one acknowledgement. A failure reason code ends the flow without the
// message being acknowledged; the application would get an error for it.
func (p *pipePublisher) handle(c *client, pk packet.Packet, counted *bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var id uint16
	var rc packet.ReasonCode
	switch a := pk.(type) {
	case *packet.Puback:
		id, rc = a.PacketID, a.ReasonCode
	case *packet.Pubrec:
		id, rc = a.PacketID, a.ReasonCode
	case *packet.Pubcomp:
		if i := p.find(a.PacketID); i >= 0 && p.inflight[i].pubrec {
			p.inflight = append(p.inflight[:i], p.inflight[i+1:]...)
		}
		return nil
	default:
		return nil
	}
	i := p.find(id)
	if i < 0 || p.inflight[i].pubrec {
		return nil // an answer to a flow already settled, e.g. a PUBREC for a resent PUBLISH
	}
	m := p.inflight[i]
	if rc >= 0x80 {
		p.refused++
		p.inflight = append(p.inflight[:i], p.inflight[i+1:]...)
		return nil
	}
	p.acked[m.seq] = m.qos
	if !*counted {
		*counted = true
		p.lives++
	}
	if m.qos == 1 {
		p.inflight = append(p.inflight[:i], p.inflight[i+1:]...)
		return nil
	}
	m.pubrec = true
	return c.trySend(&packet.Pubrel{PacketID: id})
}

// checkSub is a persistent subscriber that counts what its application would see. It delivers
// on PUBLISH (the receiver's Method B of MQTT 4.3.3): every PUBLISH is a delivery, except a
// QoS 2 PUBLISH whose packet id it answered with PUBREC and has not yet seen the PUBREL of,
// which it acknowledges again without delivering [MQTT-4.3.3-10]. Those ids are session state,
// so they are kept across reconnects, not only in one connection, and dropped when the broker
// says the session is gone.
type checkSub struct {
	t    *testing.T
	name string
	v    packet.Version
	// stallEvery > 0: stop reading for 250 ms after every stallEvery deliveries, so that the
	// broker holds a full in-flight window and a backlog for this online subscriber when a kill
	// comes (a fast reader leaves it nothing to lose).
	stallEvery int

	mu        sync.Mutex
	nc        net.Conn // the current connection, for hangUp
	stopped   bool
	got       map[string]int    // payload → deliveries to the application
	qos       map[string]byte   // payload → QoS it arrived with
	arrivals  map[string]string // QoS 2 payload → "c<connection>#<packet id>[+DUP]" per delivery
	pending   map[uint16]string // QoS 2 packet ids PUBREC'd, awaiting PUBREL
	lastRecv  time.Time
	delivered int
	protoDups int // QoS 2 resends of a pending packet id: not delivered
	dupFlag2  int // QoS 2 duplicates the application saw that came with DUP: the broker resent them
	renumber  int // a QoS 2 resend under another packet id than the pending one [MQTT-4.4.0-1]
	idReuse   int // a pending packet id carrying another payload
	foreign   []string
	subFailed int
	connects  int
	lostSess  int
}

func newCheckSub(t *testing.T, name string, v packet.Version) *checkSub {
	return &checkSub{t: t, name: name, v: v, got: map[string]int{}, qos: map[string]byte{},
		arrivals: map[string]string{}, pending: map[uint16]string{}}
}

// serve connects once, subscribing when the session is new, and handles packets until the
// connection breaks, until passes (zero: no limit; then it leaves with DISCONNECT) or hangUp.
func (s *checkSub) serve(addr, filter string, until time.Time) error {
	c, ack, err := dialQuiet(s.t, addr, s.v, s.name)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.nc = c.nc
	s.connects++
	fresh := !ack.SessionPresent
	if fresh && s.connects > 1 {
		s.lostSess++
	}
	if fresh {
		clear(s.pending)
	}
	s.mu.Unlock()
	if fresh {
		if err := c.trySend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 2}}}); err != nil {
			return err
		}
	}
	c.nc.SetReadDeadline(until)
	for {
		pk, err := c.r.ReadPacket(s.v)
		if err != nil {
			if !until.IsZero() && time.Now().After(until) {
				c.trySend(&packet.Disconnect{})
			}
			return err
		}
		if err := s.handle(c, pk); err != nil {
			return err
		}
		if s.stallEvery > 0 && s.stallDue() {
			time.Sleep(250 * time.Millisecond)
		}
	}
}

func (s *checkSub) stallDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delivered < s.stallEvery {
		return false
	}
	s.delivered = 0
	return true
}

func (s *checkSub) handle(c *client, pk packet.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p := pk.(type) {
	case *packet.Publish:
		s.lastRecv = time.Now()
		payload := string(p.Payload) // converted: the reader reuses its buffer
		switch p.QoS {
		case 1:
			s.deliver(payload, 1)
			return c.trySend(&packet.Puback{PacketID: p.PacketID})
		case 2:
			if prev, ok := s.pending[p.PacketID]; ok {
				if prev == payload {
					s.protoDups++
				} else {
					s.idReuse++
				}
			} else {
				if s.got[payload] > 0 && p.Dup {
					s.dupFlag2++
				}
				// Only a resend (DUP) says the broker renumbered: a publisher's QoS 2 resend the
				// broker took for a new message reaches here as a second message, without DUP.
				for _, pendingPayload := range s.pending {
					if p.Dup && pendingPayload == payload {
						s.renumber++
					}
				}
				s.pending[p.PacketID] = payload
				s.deliver(payload, 2)
				s.arrivals[payload] += fmt.Sprintf(" c%d#%d", s.connects, p.PacketID)
				if p.Dup {
					s.arrivals[payload] += "+DUP"
				}
			}
			return c.trySend(&packet.Pubrec{PacketID: p.PacketID})
		}
		s.deliver(payload, 0)
	case *packet.Pubrel:
		delete(s.pending, p.PacketID)
		return c.trySend(&packet.Pubcomp{PacketID: p.PacketID})
	case *packet.Suback:
		for _, rc := range p.ReasonCodes {
			if rc >= 0x80 {
				s.subFailed++
			}
		}
	}
	return nil
}

// deliver counts one delivery to the application (s.mu held).
func (s *checkSub) deliver(payload string, qos byte) {
	if _, _, ok := splitPayload(payload); !ok {
		s.foreign = append(s.foreign, payload)
		return
	}
	s.got[payload]++
	s.qos[payload] = qos
	s.delivered++
}

// online keeps the subscriber connected, reconnecting after each restart, until hangUp.
func (s *checkSub) online(addr, filter string) {
	for {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return
		}
		if s.serve(addr, filter, time.Time{}) != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// hangUp stops online (or a serve in progress) by closing the current connection.
func (s *checkSub) hangUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.nc != nil {
		s.nc.Close()
	}
}

// seen reports how many of want's payloads were delivered, and when the last PUBLISH came.
func (s *checkSub) seen(want map[string]byte) (n int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range want {
		if s.got[k] > 0 {
			n++
		}
	}
	return n, s.lastRecv
}

// splitPayload parses "<publisher>-<seq>".
func splitPayload(s string) (pub string, seq int, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.Atoi(s[i+1:])
	return s[:i], seq, err == nil
}
