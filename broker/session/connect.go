package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

// handshake reads the CONNECT (within the connect timeout), authenticates, attaches the
// session and sends CONNACK. It reports whether the connection goes on.
func (c *Conn) handshake(ctx context.Context) bool {
	if c.opts.ConnectTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.opts.ConnectTimeout))
	}
	fh, body, err := c.r.ReadRaw()
	var p packet.Packet
	if err == nil {
		p, err = packet.Decode(0, fh, body)
	}
	if err != nil {
		// An MQTT 5 client whose CONNECT is malformed past its version hears why
		// [MQTT-4.13.1-1]; anything earlier only gets a close.
		if v, ok := packet.ConnectVersion(body); ok && fh.Type == packet.CONNECT && v == packet.V5 {
			c.version = packet.V5
		}
		c.refuseDecode(err)
		return false
	}
	c.env.Metrics.PacketsIn.Inc()
	cp, ok := p.(*packet.Connect)
	if !ok {
		// [MQTT-3.1.0-1] the first packet must be CONNECT: close without an answer.
		c.env.Metrics.ProtocolErrors.Inc()
		return false
	}
	c.nc.SetReadDeadline(time.Time{})
	// Decoded packets alias the reader's buffer; what the session keeps must be copied.
	cp.ClientID, cp.Username = strings.Clone(cp.ClientID), strings.Clone(cp.Username)
	cp.Password = bytes.Clone(cp.Password)
	cp.Properties.AuthMethod = strings.Clone(cp.Properties.AuthMethod)
	cp.Properties.AuthData = bytes.Clone(cp.Properties.AuthData)
	if cp.Will != nil {
		cp.Will.Topic = strings.Clone(cp.Will.Topic)
	}
	c.version = cp.ProtocolVersion
	level := byte(cp.ProtocolVersion)
	if cp.Bridge {
		level |= 0x80
	}
	if c.opts.AllowedVersions != nil && !c.opts.AllowedVersions[level] {
		c.refuse(packet.UnsupportedProtocolVersion, "protocol version not allowed on this listener")
		return false
	}
	rc, why := c.checkClientID(cp)
	if rc != packet.Success {
		c.refuse(rc, why)
		return false
	}
	// A client resuming a stored session is admitted even when overloaded: it drains the
	// backlog that the overload guard counts.
	resuming := !cp.CleanStart && c.env.Sessions.Get(queue.SubscriberID{Mountpoint: c.opts.Mountpoint, ClientID: cp.ClientID}) != nil
	if c.opts.Admit != nil && !resuming && !c.opts.Admit() {
		c.refuse(packet.ServerBusy, "server overloaded")
		return false
	}
	c.applyConnectProperties(cp)
	if c.keepAlive == 0 {
		c.tcpKeepAlive()
	}
	c.client = hooks.Client{Mountpoint: c.opts.Mountpoint, ClientID: cp.ClientID, Username: cp.Username,
		Peer: c.nc.RemoteAddr().String(), Version: c.version, Listener: c.opts.Listener}
	if u := c.identityUsername(); u != "" {
		cp.Username, c.client.Username = u, u
	}

	connack := &packet.Connack{}
	mods, ok := c.authenticate(ctx, cp, connack)
	if !ok {
		return false
	}
	// Authenticated: the client may send what max_message_size allows, and its packets no
	// longer count against the budget of connections that have not proved who they are.
	c.r.SetMaxPacketSize(c.opts.MaxPacketSize)
	c.r.SetBudget(nil)
	if err := checkModifiers(mods); err != nil {
		c.logger().Error("auth_on_register returned an invalid modifier; refusing the client", "error", err)
		c.refuse(packet.ImplementationSpecificError, err.Error())
		return false
	}
	c.applyConnectionModifiers(mods)
	c.multi, c.balance = c.allowMultiple(mods), c.opts.DeliverBalance
	if mods != nil && mods.QueueDeliverMode != nil {
		c.balance = *mods.QueueDeliverMode == "balance"
	}
	if mods != nil && mods.SharedSubPolicy != nil {
		c.sharedPolicy = *mods.SharedSubPolicy
	}
	if err := c.buildWill(cp); err != nil {
		c.refuse(packet.ReasonOf(err), err.Error())
		return false
	}
	c.stamp = time.Now().UnixNano()
	if cs := c.env.cluster; cs != nil {
		id := queue.SubscriberID{Mountpoint: c.client.Mountpoint, ClientID: c.client.ClientID}
		rc, why, release := cs.takeover(c, id, cp.CleanStart, c.queuePolicy(mods), c.expiryFor(c.sessionExpiry, cp.CleanStart))
		if rc != packet.Success {
			release()
			c.refuse(rc, why)
			return false
		}
		defer release() // after attach: see takeover
	}
	present := c.attach(cp, mods)
	c.fresh = !present && !c.joined
	// MQTT 3.1 has no Session Present flag: the first CONNACK byte is reserved, and the codec
	// refuses to set it, so reporting a resumed 3.1 session would lose the CONNACK (MQTT 3.1
	// §3.2; Session Present came with 3.1.1 [MQTT-3.2.2-2]).
	connack.SessionPresent = present && c.version != packet.V31
	c.fillConnackProperties(cp, connack)
	c.env.Metrics.ConnectsAccepted.Inc()
	if err := c.writeNow(connack); err != nil {
		c.logger().Warn("cannot send CONNACK", "error", err)
		c.detach()
		return false
	}
	c.env.Hooks.Registered(ctx, c.client)
	if present {
		c.env.Hooks.ClientWakeup(ctx, c.client)
	}
	return true
}

// refuseDecode answers a CONNECT the codec rejected: with the CONNACK code the version allows,
// or by closing when even the version is unknown.
func (c *Conn) refuseDecode(err error) {
	c.env.Metrics.ConnectsRefused.Inc()
	var ve *packet.VersionError
	if errors.As(err, &ve) {
		// [MQTT-3.1.2-2] an unsupported level gets CONNACK 0x01 (3.1.1) or 0x84 (5.0) and a close.
		c.version = packet.V311
		if ve.Level == 5 {
			c.version = packet.V5
		}
		c.env.refusals().connects.Log(packet.UnsupportedProtocolVersion.String(), c.peerAttrs("level", ve.Level)...)
		c.writeFinal(&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion})
		return
	}
	rc := packet.ReasonOf(err)
	if rc == packet.UnspecifiedError {
		return // EOF, timeout: nothing to answer
	}
	c.env.Metrics.ProtocolErrors.Inc()
	c.env.refusals().connects.Log("malformed CONNECT: "+rc.String(), c.peerAttrs("error", err)...)
	if c.version == packet.V5 {
		c.writeFinal(&packet.Connack{ReasonCode: rc})
	}
}

// refuse answers CONNECT with a failure and ends the connection [MQTT-3.2.2-7].
func (c *Conn) refuse(rc packet.ReasonCode, why string) {
	c.env.refusals().connects.Log(rc.String(), c.peerAttrs("detail", why)...)
	c.answerRefusal(rc, why)
}

// answerRefusal sends the refusing CONNACK, for callers that log in their own way.
func (c *Conn) answerRefusal(rc packet.ReasonCode, why string) {
	c.env.Metrics.ConnectsRefused.Inc()
	ack := &packet.Connack{ReasonCode: rc}
	if c.version == packet.V5 && c.problemInfo && why != "" {
		ack.Properties.ReasonString = why
		ack.Properties.SetPresent(packet.PropReasonString)
		c.fitProperties(ack, &ack.Properties)
	}
	c.writeFinal(ack)
}

// writeFinal writes the last packet of a connection refused during the handshake; serve then
// lets the socket linger so that the client can read it (hangup.go).
func (c *Conn) writeFinal(p packet.Packet) {
	if c.writeNow(p) == nil {
		c.hungUp.Store(true)
	}
}

// writeNow encodes and writes one packet synchronously; used before the writer starts.
func (c *Conn) writeNow(p packet.Packet) error {
	buf, err := packet.Encode(nil, c.version, p)
	if err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.nc.Write(buf)
	c.nc.SetWriteDeadline(time.Time{})
	c.env.Metrics.PacketsOut.Inc()
	c.env.Metrics.BytesOut.Add(int64(len(buf)))
	return err
}

func (c *Conn) checkClientID(cp *packet.Connect) (packet.ReasonCode, string) {
	if cp.ClientID == "" {
		switch {
		case c.version == packet.V31:
			// MQTT 3.1 requires 1 to 23 characters.
			return packet.ClientIdentifierNotValid, "empty client identifier"
		case c.version == packet.V311 && !cp.CleanStart:
			// [MQTT-3.1.3-8] an empty id with clean session 0 is refused with 0x02.
			return packet.ClientIdentifierNotValid, "empty client identifier needs clean session"
		}
		// [MQTT-3.1.3-6] assign a unique id; MQTT 5 returns it in CONNACK [MQTT-3.2.2-16].
		var b [12]byte
		rand.Read(b[:])
		cp.ClientID = "nautilus-" + hex.EncodeToString(b[:])
		c.assignedID = true
		// max_client_id_size limits what clients send, not the id the broker assigns.
		return packet.Success, ""
	}
	if c.opts.MaxClientIDSize > 0 && len(cp.ClientID) > c.opts.MaxClientIDSize {
		return packet.ClientIdentifierNotValid, "client identifier longer than max_client_id_size"
	}
	return packet.Success, ""
}

func (c *Conn) applyConnectProperties(cp *packet.Connect) {
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second
	if c.opts.MaxKeepAlive > 0 && (cp.KeepAlive == 0 || cp.KeepAlive > c.opts.MaxKeepAlive) && c.version == packet.V5 {
		c.serverKeepAlive = c.opts.MaxKeepAlive
		c.keepAlive = time.Duration(c.opts.MaxKeepAlive) * time.Second
	}
	c.clientRecvMax = 65535
	c.problemInfo = true
	if c.version != packet.V5 {
		return
	}
	pr := &cp.Properties
	if pr.Has(packet.PropReceiveMaximum) {
		c.clientRecvMax = pr.ReceiveMaximum
	}
	if m := c.opts.ReceiveMaxClient; m > 0 && m < c.clientRecvMax {
		c.clientRecvMax = m
	}
	if pr.Has(packet.PropMaximumPacketSize) {
		c.clientMaxPacket = pr.MaximumPacketSize
	}
	if pr.Has(packet.PropTopicAliasMaximum) {
		c.clientAliasMax = min(pr.TopicAliasMaximum, c.opts.TopicAliasMaxOut)
	}
	if pr.Has(packet.PropRequestProblemInfo) {
		c.problemInfo = pr.RequestProblemInfo == 1
	}
	if pr.Has(packet.PropSessionExpiry) {
		c.sessionExpiry = pr.SessionExpiry
	}
}

// authenticate runs enhanced authentication (MQTT 5 AUTH exchange) or auth_on_register, or
// admits an anonymous client when allowed. It answers refusals itself.
func (c *Conn) authenticate(ctx context.Context, cp *packet.Connect, connack *packet.Connack) (*hooks.RegisterResult, bool) {
	if c.version == packet.V5 && cp.Properties.Has(packet.PropAuthMethod) {
		return nil, c.enhancedAuth(ctx, cp, connack)
	}
	if c.identityUsername() != "" {
		// Pre-authenticated by the listener's certificate check, as in VerneMQ: no auth_on_register.
		return nil, true
	}
	if c.opts.AllowAnonymous {
		// As in VerneMQ, allow_anonymous turns registration checks off altogether.
		return nil, true
	}
	if !c.env.Hooks.HasAuthOnRegister() {
		c.env.Metrics.AuthFailures.Inc()
		c.refuse(packet.NotAuthorized, "anonymous access is off and no authentication plugin is enabled")
		return nil, false
	}
	if c.throttled() {
		return nil, false
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res := c.env.Hooks.AuthOnRegister(hctx, &hooks.Register{Client: c.client, Password: cp.Password, CleanStart: cp.CleanStart, Properties: &cp.Properties})
	c.loginDone(res.Verdict == hooks.Allow, res.Reason)
	if res.Verdict != hooks.Allow {
		c.env.Metrics.AuthFailures.Inc()
		rc := res.Reason
		if rc == packet.Success || !rc.Failure() {
			rc = packet.BadUserNameOrPassword
			if !cp.UsernameFlag {
				rc = packet.NotAuthorized
			}
		}
		c.refuse(rc, res.ReasonString)
		return nil, false
	}
	if res.Mountpoint != nil {
		c.client.Mountpoint = *res.Mountpoint
	}
	if res.ClientID != nil {
		c.client.ClientID = *res.ClientID
		cp.ClientID = *res.ClientID
	}
	if res.CleanStart != nil {
		cp.CleanStart = *res.CleanStart
	}
	if res.SessionExpiry != nil {
		c.sessionExpiry = *res.SessionExpiry
	}
	return &res, true
}

// enhancedAuth runs the CONNECT-time AUTH exchange through on_auth_m5 [MQTT-4.12].
func (c *Conn) enhancedAuth(ctx context.Context, cp *packet.Connect, connack *packet.Connack) bool {
	c.authMethod = cp.Properties.AuthMethod
	if !c.env.Hooks.HasOnAuthM5() {
		c.refuse(packet.BadAuthenticationMethod, "no plugin handles authentication method "+c.authMethod)
		return false
	}
	if c.throttled() {
		return false
	}
	data := cp.Properties.AuthData
	for round := 0; round < 16; round++ {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res := c.env.Hooks.OnAuthM5(hctx, &hooks.AuthRequest{Client: c.client, Method: c.authMethod, Data: data})
		cancel()
		switch {
		case res.Verdict == hooks.Allow && !res.Continue:
			c.loginDone(true, packet.Success)
			connack.Properties.AuthMethod = c.authMethod
			connack.Properties.SetPresent(packet.PropAuthMethod)
			if len(res.Data) > 0 {
				connack.Properties.AuthData = res.Data
				connack.Properties.SetPresent(packet.PropAuthData)
			}
			return true
		case res.Continue && res.Verdict != hooks.Deny:
			a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
			a.Properties.AuthMethod = c.authMethod
			a.Properties.SetPresent(packet.PropAuthMethod)
			a.Properties.AuthData = res.Data
			a.Properties.SetPresent(packet.PropAuthData)
			if err := c.writeNow(a); err != nil {
				return false
			}
			if c.opts.ConnectTimeout > 0 {
				c.nc.SetReadDeadline(time.Now().Add(c.opts.ConnectTimeout))
			}
			p, err := c.r.ReadPacket(c.version)
			if err != nil {
				c.refuseDecode(err)
				return false
			}
			ap, ok := p.(*packet.Auth)
			if !ok || ap.ReasonCode != packet.ContinueAuthentication || ap.Properties.AuthMethod != c.authMethod {
				// [MQTT-3.1.2-30] anything else during the exchange is a protocol error.
				c.refuse(packet.ProtocolError, "expected AUTH continuing the exchange")
				return false
			}
			data = append([]byte(nil), ap.Properties.AuthData...)
		default:
			c.env.Metrics.AuthFailures.Inc()
			rc := res.Reason
			if !rc.Failure() {
				rc = packet.NotAuthorized
			}
			c.loginDone(false, rc)
			c.refuse(rc, "authentication failed")
			return false
		}
	}
	c.loginDone(false, packet.NotAuthorized)
	c.refuse(packet.NotAuthorized, "authentication exchange too long")
	return false
}

// handleReauth runs a re-authentication started by the client [MQTT-4.12.1].
func (c *Conn) handleReauth(ctx context.Context, a *packet.Auth) error {
	if c.authMethod == "" || a.Properties.AuthMethod != c.authMethod {
		// [MQTT-4.12.1-1] re-authentication must use the method of CONNECT.
		return c.protocolError(packet.ProtocolError, "AUTH without the connection's authentication method")
	}
	if a.ReasonCode != packet.ReAuthenticate && a.ReasonCode != packet.ContinueAuthentication {
		return c.protocolError(packet.ProtocolError, "unexpected AUTH reason code")
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res := c.env.Hooks.OnAuthM5(hctx, &hooks.AuthRequest{Client: c.client, Method: c.authMethod, Data: append([]byte(nil), a.Properties.AuthData...), Reauth: true})
	switch {
	case res.Continue && res.Verdict != hooks.Deny:
		out := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		out.Properties.AuthMethod, out.Properties.AuthData = c.authMethod, res.Data
		out.Properties.SetPresent(packet.PropAuthMethod)
		out.Properties.SetPresent(packet.PropAuthData)
		c.send(out)
	case res.Verdict == hooks.Allow:
		out := &packet.Auth{ReasonCode: packet.Success}
		out.Properties.AuthMethod = c.authMethod
		out.Properties.SetPresent(packet.PropAuthMethod)
		if len(res.Data) > 0 {
			out.Properties.AuthData = res.Data
			out.Properties.SetPresent(packet.PropAuthData)
		}
		c.send(out)
	default:
		c.env.Metrics.AuthFailures.Inc()
		return c.protocolError(packet.NotAuthorized, "re-authentication failed")
	}
	return nil
}

// buildWill turns the CONNECT's will into the message published if the connection ends
// abnormally.
func (c *Conn) buildWill(cp *packet.Connect) error {
	w := cp.Will
	if w == nil {
		return nil
	}
	if err := topic.ValidateName(w.Topic, c.opts.TopicMaxDepth); err != nil {
		return &packet.Error{Code: packet.TopicNameInvalid, Msg: "will topic: " + err.Error()}
	}
	m := &message.Message{
		ID: message.NextID(), Mountpoint: c.client.Mountpoint, Topic: w.Topic,
		Payload: append([]byte(nil), w.Payload...), QoS: w.QoS, Retain: w.Retain, From: c.client.ClientID,
		SharedPolicy: c.sharedPolicy,
	}
	if c.version == packet.V5 {
		copyProperties(&m.Props, &w.Properties)
		if w.Properties.Has(packet.PropWillDelay) {
			c.willDelay = w.Properties.WillDelay
		}
	}
	c.will = m
	return nil
}

// expiryFor turns a session expiry request into how long the state lives offline.
func (c *Conn) expiryFor(requested uint32, cleanStart bool) time.Duration {
	var d time.Duration
	switch {
	case c.version != packet.V5:
		if cleanStart {
			return 0
		}
		return c.opts.PersistentExpiration
	case requested == 0:
		return 0
	case requested == 0xFFFFFFFF:
		d = -1
	default:
		d = time.Duration(requested) * time.Second
	}
	// persistent_client_expiration caps what clients ask for, as it does in VerneMQ.
	if pe := c.opts.PersistentExpiration; pe >= 0 && (d < 0 || d > pe) {
		d = pe
	}
	return d
}

// attach finds or creates the session state, takes it over from an older connection, and
// reports whether a session was present [MQTT-3.2.2-3].
func (c *Conn) attach(cp *packet.Connect, mods *hooks.RegisterResult) bool {
	id := queue.SubscriberID{Mountpoint: c.client.Mountpoint, ClientID: c.client.ClientID}
	policy := c.queuePolicy(mods)
	expiry := c.expiryFor(c.sessionExpiry, cp.CleanStart)
	for {
		s, existed := c.env.Sessions.getOrCreate(id, func() *State {
			return newState(id, c.env.newQueue(id, policy))
		})
		s.mu.Lock()
		if s.ending {
			// The session is being ended (its clean connection closed, or it expired): wait until
			// it is gone, then start afresh rather than attach to what is being torn down.
			ended := s.ended
			s.mu.Unlock()
			<-ended
			continue
		}
		if old := s.conn; old != nil {
			if c.multi && old.multi && old.leaving {
				// The session is going offline with its last connection: attach after it.
				s.mu.Unlock()
				select {
				case <-old.Closed():
				case <-time.After(5 * time.Second):
				}
				continue
			}
			if c.multi && old.multi {
				// allow_multiple_sessions: join the connections already there, whatever the
				// clean start flag (as VerneMQ does).
				c.joinLocked(s, expiry)
				s.mu.Unlock()
				s.Queue.SetUpgradeQoS(upgradeOf(mods))
				c.setupShared(policy)
				if expiry != 0 && c.env.Persist != nil && !s.Queue.Persistent() {
					s.Queue.SetBacking(c.env.Persist.Backing(id))
				}
				c.env.save(s, time.Time{})
				s.Queue.AddWaiter(c)
				return true
			}
			conns := s.connsLocked()
			s.mu.Unlock()
			c.env.kickAll(conns, cp.CleanStart, 5*time.Second, func() {
				c.logger().Warn("previous connection did not close in time; taking the session over anyway")
			})
			continue
		}
		if cp.CleanStart && existed {
			// [MQTT-3.1.2-4] clean start discards the old session: subscriptions and messages.
			s.mu.Unlock()
			c.env.endSession(s, queue.DropSessionGone)
			continue
		}
		if s.expiryTimer != nil {
			s.expiryTimer.Stop()
			s.expiryTimer = nil
		}
		if s.willTimer != nil {
			// [MQTT-3.1.3-9] a delayed will is not sent when the session resumes in time.
			s.willTimer.Stop()
			s.willTimer, s.pendingWill = nil, nil
		}
		s.conn = c
		s.attachGen++
		s.expiry = expiry
		s.username = c.client.Username
		s.Queue.SetPolicy(policy)
		s.Queue.SetUpgradeQoS(upgradeOf(mods))
		c.state = s
		s.mu.Unlock()
		c.setupShared(policy)
		if expiry != 0 && c.env.Persist != nil && !s.Queue.Persistent() {
			s.Queue.SetBacking(c.env.Persist.Backing(id))
		}
		c.env.save(s, time.Time{})
		s.Queue.SetOnline(true)
		s.Queue.AddWaiter(c)
		return existed
	}
}

// upgradeOf is the session's own upgrade_outgoing_qos from auth_on_register, nil for none.
func upgradeOf(mods *hooks.RegisterResult) *bool {
	if mods == nil {
		return nil
	}
	return mods.UpgradeQoS
}

// applyConnectionModifiers applies the auth_on_register modifiers that change this connection's
// limits: MaxInflight (max_inflight_messages) and MaxMessageSize (max_message_size, the largest
// packet accepted from the client and announced in an MQTT 5 CONNACK). The listener's Options
// are shared by all its connections, so a changed copy is made for this one.
func (c *Conn) applyConnectionModifiers(mods *hooks.RegisterResult) {
	if mods == nil || (mods.MaxInflight == nil && mods.MaxMessageSize == nil && mods.MaxMessageRate == nil && mods.RetryInterval == nil) {
		return
	}
	o := *c.opts
	if mods.MaxMessageRate != nil {
		o.MaxMessageRate = max(*mods.MaxMessageRate, 0)
	}
	if mods.RetryInterval != nil {
		o.RetryInterval = max(*mods.RetryInterval, 0)
	}
	if mods.MaxInflight != nil {
		o.MaxInflight = max(*mods.MaxInflight, 0)
	}
	if mods.MaxMessageSize != nil {
		o.MaxPacketSize = *mods.MaxMessageSize
		if o.MaxPacketSize <= 0 || o.MaxPacketSize > packet.MaxPacketSize {
			o.MaxPacketSize = 0 // the protocol's limit, as max_message_size = 0
		}
		c.r.SetMaxPacketSize(o.MaxPacketSize)
	}
	c.opts = &o
}

// checkModifiers refuses the auth_on_register modifiers that name something that does not
// exist: a session with an unknown queue order or delivery mode has no defined behaviour.
func checkModifiers(mods *hooks.RegisterResult) error {
	if mods == nil {
		return nil
	}
	if t := mods.QueueType; t != nil && *t != "fifo" && *t != "lifo" {
		return fmt.Errorf("queue_type %q: want fifo or lifo", *t)
	}
	if m := mods.QueueDeliverMode; m != nil && *m != "fanout" && *m != "balance" {
		return fmt.Errorf("queue_deliver_mode %q: want fanout or balance", *m)
	}
	return nil
}

// queuePolicy is the queue bounds of this client: the listener's, changed by auth_on_register.
func (c *Conn) queuePolicy(mods *hooks.RegisterResult) queue.Policy {
	policy := c.opts.Queue
	if mods != nil {
		if mods.QueueType != nil {
			policy.Type = queue.FIFO
			if *mods.QueueType == "lifo" {
				policy.Type = queue.LIFO
			}
		}
		if mods.MaxOfflineMsgs != nil {
			policy.MaxOffline = *mods.MaxOfflineMsgs
		}
		if mods.MaxOnlineMsgs != nil {
			policy.MaxOnline = *mods.MaxOnlineMsgs
		}
	}
	return policy
}

// takenOver is called on the old connection when a new one claims its session.
func (c *Conn) takenOver(newCleanStart bool) {
	c.mu.Lock()
	suppress := c.opts.SuppressLWTOnTakeover
	if c.willDelay > 0 && !newCleanStart {
		// The session continues on the new connection, so a delayed will never fires.
		suppress = true
	}
	if suppress {
		c.will = nil
	}
	c.mu.Unlock()
	c.Kick(packet.SessionTakenOver)
}

func (c *Conn) fillConnackProperties(cp *packet.Connect, ack *packet.Connack) {
	if c.version != packet.V5 {
		return
	}
	pr := &ack.Properties
	if c.assignedID {
		pr.AssignedClientID = cp.ClientID
		pr.SetPresent(packet.PropAssignedClientID)
	}
	if c.opts.ReceiveMaximum > 0 && c.opts.ReceiveMaximum < 65535 {
		pr.ReceiveMaximum = c.opts.ReceiveMaximum
		pr.SetPresent(packet.PropReceiveMaximum)
	}
	if c.opts.MaxPacketSize > 0 {
		pr.MaximumPacketSize = uint32(c.opts.MaxPacketSize)
		pr.SetPresent(packet.PropMaximumPacketSize)
	}
	pr.TopicAliasMaximum = c.opts.TopicAliasMaxIn
	pr.SetPresent(packet.PropTopicAliasMaximum)
	if c.serverKeepAlive > 0 {
		pr.ServerKeepAlive = c.serverKeepAlive
		pr.SetPresent(packet.PropServerKeepAlive)
	}
	// The broker grants a shorter session than asked when persistent_client_expiration caps it.
	if granted := c.state.expiry; cp.Properties.Has(packet.PropSessionExpiry) && granted >= 0 && uint32(granted/time.Second) != c.sessionExpiry {
		pr.SessionExpiry = uint32(granted / time.Second)
		pr.SetPresent(packet.PropSessionExpiry)
	}
}

// copyProperties copies the message properties of a decoded PUBLISH or will into dst. Decoded
// strings alias the reader's buffer, which the next packet overwrites, so every string is
// cloned: the message outlives the packet in subscriber queues.
func copyProperties(dst *message.Properties, src *packet.Properties) {
	if src.Has(packet.PropPayloadFormat) {
		dst.PayloadFormat, dst.HasPayloadFmt = src.PayloadFormat, true
	}
	if src.Has(packet.PropContentType) {
		dst.ContentType = strings.Clone(src.ContentType)
	}
	if src.Has(packet.PropResponseTopic) {
		dst.ResponseTopic = strings.Clone(src.ResponseTopic)
	}
	if src.Has(packet.PropCorrelationData) {
		dst.CorrelationData = append([]byte(nil), src.CorrelationData...)
	}
	if src.Has(packet.PropMessageExpiry) {
		dst.MessageExpiry, dst.HasExpiry = src.MessageExpiry, true
	}
	if len(src.UserProperties) > 0 {
		dst.UserProperties = make([]message.UserProperty, len(src.UserProperties))
		for i, up := range src.UserProperties {
			dst.UserProperties[i] = message.UserProperty{Key: strings.Clone(up.Key), Value: strings.Clone(up.Value)}
		}
	}
}

// identityUsername is the username the listener established before MQTT (broker/listener):
// the CN of a verified client certificate (use_identity_as_username) or the CN a TLS-terminating
// proxy passed in a PROXY v2 header (proxy_protocol_use_cn_as_username); empty when none.
// The listener also makes RemoteAddr the client's real address, so Peer needs nothing here.
func (c *Conn) identityUsername() string {
	if id, ok := c.nc.(interface{ IdentityUsername() string }); ok {
		return id.IdentityUsername()
	}
	return ""
}
