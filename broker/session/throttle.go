package session

import (
	"net"
	"strings"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Login throttling (auth_throttle.*, broker/authguard): the CONNECT of an address or username
// that failed too often is refused before any auth plugin is asked, and every authentication's
// outcome is reported back.

// throttled refuses the CONNECT without asking the auth plugins when its address or username
// failed to log in too often (auth_throttle), and reports whether it did. Each refusal is
// logged at debug level only: the warning went out once, when the block began.
func (c *Conn) throttled() bool {
	kind, blocked := c.env.Throttle.Blocked(c.peerIP(), c.client.Username)
	if !blocked {
		return false
	}
	c.env.Metrics.AuthThrottled.Inc()
	rc := packet.ConnectionRateExceeded
	if c.version != packet.V5 {
		// 3.x has no such code and would send "server unavailable", which tells the client to
		// come back at once; "not authorized" (5) is what the client must hear.
		rc = packet.NotAuthorized
	}
	c.logger().Debug("connection refused: login throttled", "blocked_by", kind.String(), "username", logValue(c.client.Username))
	c.answerRefusal(rc, "too many failed logins; try again later")
	return true
}

// loginDone tells the throttle how an authentication ended. A refusal that says the server
// cannot answer (a plugin's backend is down) is no guess and is not counted, or an outage
// would block every client.
func (c *Conn) loginDone(ok bool, rc packet.ReasonCode) {
	if c.env.Throttle == nil {
		return
	}
	ip := c.peerIP()
	if ok {
		c.env.Throttle.Succeed(ip, c.client.Username)
		return
	}
	if rc == packet.ServerUnavailable || rc == packet.ServerBusy {
		return
	}
	for _, b := range c.env.Throttle.Fail(ip, c.client.Username) {
		c.logger().Warn("login throttled", b.Kind.String(), logValue(b.Value), "failures", b.Failures, "block", b.For)
	}
}

// peerIP is the client's address without the port, or "" when the connection has none that
// tells clients apart (a unix socket): those are throttled by username only.
func (c *Conn) peerIP() string {
	addr := c.nc.RemoteAddr()
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil || net.ParseIP(host) == nil {
		return ""
	}
	return host
}

// logValue shortens a client-chosen string for the log: a username may be 64 KiB long.
func logValue(s string) string {
	const limit = 128
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
