package broker_test

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/passwd"
)

// countingAuth passes auth_on_register to a real plugin and counts how often it was asked.
type countingAuth struct {
	next  hooks.AuthOnRegister
	calls atomic.Int64
}

func (c *countingAuth) AuthOnRegister(ctx context.Context, r *hooks.Register) hooks.RegisterResult {
	c.calls.Add(1)
	return c.next.AuthOnRegister(ctx, r)
}

// throttledBroker starts a broker that authenticates through vmq_passwd against a file written
// by nautilus passwd's default scheme (bcrypt, cost 10), with edit applied to its throttle.
func throttledBroker(t *testing.T, edit func(*config.ThrottleConfig)) (*brokertest.Node, *brokertest.Log, *countingAuth) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	for i, u := range [][2]string{{"alice", "wonderland"}, {"bob", "builder"}} {
		if err := passwd.SetPassword(path, u[0], []byte(u[1]), i == 0, passwd.Scheme{}); err != nil {
			t.Fatal(err)
		}
	}
	auth := &countingAuth{next: passwd.New(path, nil)}
	n, log := brokertest.StartWith(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		edit(&c.Throttle)
	}, broker.Options{Plugins: []any{auth}})
	return n, log, auth
}

// connectFrom opens a connection from the local address from (a 127.x.y.z address, so one test
// can play several clients), sends CONNECT with user and password, and returns the CONNACK's
// code as the client decodes it (3.1.1 return codes become their MQTT 5 equivalents).
func connectFrom(t *testing.T, from, addr string, v packet.Version, user, password string) packet.ReasonCode {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	defer nc.Close()
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, CleanStart: true, KeepAlive: 30, ClientID: "guesser",
		UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(password)}
	buf, err := packet.Encode(nil, v, cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(buf); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.NewReader(bufio.NewReader(nc), 0).ReadPacket(v)
	if err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		t.Fatalf("got %T, want CONNACK", p)
	}
	return ack.ReasonCode
}

// TestLoginThrottleStopsPasswordGuessing is the report of the issue: 300 wrong passwords for
// one user from one client. After auth_throttle.failures of them the broker answers
// "connection rate exceeded" without checking the password, the right password is refused
// too until the block ends, and then it logs in.
func TestLoginThrottleStopsPasswordGuessing(t *testing.T) {
	const failures, block = 5, 3 * time.Second
	n, log, auth := throttledBroker(t, func(c *config.ThrottleConfig) {
		// The window is long because a bcrypt check takes most of a second under -race; the
		// block is short so that the test can wait for its end.
		c.Failures, c.UsernameFailures, c.Window, c.Block = failures, 0, time.Minute, block
	})
	const ip = "127.0.0.1"
	var codes []packet.ReasonCode
	var blockedAt, lastAt time.Time
	for i := range 300 {
		codes = append(codes, connectFrom(t, ip, n.Addr, packet.V5, "alice", "guess"))
		if i == failures-1 {
			blockedAt = time.Now()
		}
	}
	lastAt = time.Now()
	for i, rc := range codes {
		want := packet.ConnectionRateExceeded
		if i < failures {
			want = packet.BadUserNameOrPassword
		}
		if rc != want {
			t.Fatalf("attempt %d answered %v, want %v", i+1, rc, want)
		}
	}
	// A bcrypt check takes tens of milliseconds; the 295 refusals must not have paid for one.
	if took := lastAt.Sub(blockedAt); took >= block {
		t.Fatalf("295 throttled refusals took %v, longer than the block", took)
	}
	if got := auth.calls.Load(); got != failures {
		t.Fatalf("the password plugin was asked %d times, want %d: throttled CONNECTs must not reach it", got, failures)
	}
	if rc := connectFrom(t, ip, n.Addr, packet.V5, "alice", "wonderland"); rc != packet.ConnectionRateExceeded {
		t.Fatalf("right password during the block: %v, want connection rate exceeded", rc)
	}
	if rc := connectFrom(t, ip, n.Addr, packet.V311, "alice", "wonderland"); rc != packet.NotAuthorized {
		t.Fatalf("MQTT 3.1.1 during the block: %v, want not authorized (return code 5)", rc)
	}
	if got := auth.calls.Load(); got != failures {
		t.Fatalf("the password plugin was asked during the block (%d calls)", got)
	}
	if got := strings.Count(log.String(), `msg="login throttled"`); got != 1 {
		t.Errorf("%d \"login throttled\" log lines, want one for the burst:\n%s", got, log)
	}
	if !strings.Contains(log.String(), "ip="+ip) {
		t.Errorf("the throttle log line does not name the address:\n%s", log)
	}
	if got := n.Counter("mqtt_auth_throttled"); got != 297 {
		t.Errorf("mqtt_auth_throttled = %d, want 297", got)
	}
	if got := n.Counter("mqtt_auth_failure"); got != failures {
		t.Errorf("mqtt_auth_failure = %d, want %d", got, failures)
	}
	time.Sleep(time.Until(blockedAt.Add(block + 200*time.Millisecond)))
	if rc := connectFrom(t, ip, n.Addr, packet.V5, "alice", "wonderland"); rc != packet.Success {
		t.Fatalf("right password after the block: %v, want success", rc)
	}
}

// TestLoginThrottleSuccessResetsCount: a client that mistyped a few times and then logged in
// starts afresh, and the limit then holds for MQTT 3.1.1 clients with return code 5.
func TestLoginThrottleSuccessResetsCount(t *testing.T) {
	const failures = 3
	n, _, _ := throttledBroker(t, func(c *config.ThrottleConfig) {
		c.Failures, c.UsernameFailures, c.Window, c.Block = failures, 0, time.Minute, time.Minute
	})
	wrong := func() packet.ReasonCode {
		return connectFrom(t, "127.0.0.1", n.Addr, packet.V311, "alice", "guess")
	}
	for i := range failures - 1 {
		if rc := wrong(); rc != packet.BadUserNameOrPassword {
			t.Fatalf("mistake %d: %v, want bad user name or password", i+1, rc)
		}
	}
	if rc := connectFrom(t, "127.0.0.1", n.Addr, packet.V311, "alice", "wonderland"); rc != packet.Success {
		t.Fatalf("right password: %v", rc)
	}
	for i := range failures {
		if rc := wrong(); rc != packet.BadUserNameOrPassword {
			t.Fatalf("failure %d after a successful login: %v, want bad user name or password (the count was reset)", i+1, rc)
		}
	}
	if rc := wrong(); rc != packet.NotAuthorized {
		t.Fatalf("attempt after %d failures: %v, want not authorized (3.1.1 return code 5)", failures, rc)
	}
}

// TestLoginThrottlePerUsername: guesses for one user spread over several addresses block that
// user from every address, and no one else.
func TestLoginThrottlePerUsername(t *testing.T) {
	n, log, auth := throttledBroker(t, func(c *config.ThrottleConfig) {
		c.Failures, c.UsernameFailures, c.Window, c.Block = 100, 3, time.Minute, time.Minute
	})
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if rc := connectFrom(t, from, n.Addr, packet.V5, "alice", "guess"); rc != packet.BadUserNameOrPassword {
			t.Fatalf("guess from %s: %v", from, rc)
		}
	}
	if rc := connectFrom(t, "127.0.0.5", n.Addr, packet.V5, "alice", "wonderland"); rc != packet.ConnectionRateExceeded {
		t.Fatalf("alice from a fresh address: %v, want connection rate exceeded", rc)
	}
	if rc := connectFrom(t, "127.0.0.2", n.Addr, packet.V5, "bob", "builder"); rc != packet.Success {
		t.Fatalf("bob from a guessing address: %v, want success (only alice is blocked)", rc)
	}
	if got := auth.calls.Load(); got != 4 {
		t.Errorf("the password plugin was asked %d times, want 4", got)
	}
	if !strings.Contains(log.String(), "username=alice") {
		t.Errorf("the throttle log line does not name the user:\n%s", log)
	}
}

// TestLoginThrottleEnhancedAuth: failed MQTT 5 AUTH exchanges count like failed passwords, and
// a blocked client is refused before the exchange starts.
func TestLoginThrottleEnhancedAuth(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Throttle.Failures, c.Throttle.Window, c.Throttle.Block = 2, time.Minute, time.Minute
	}, challengeAuth{})
	exchange := func(data string) packet.ReasonCode {
		c, ack := brokertest.Connect(t, n.Addr, packet.V5, "enhanced", func(cp *packet.Connect) {
			cp.Properties.AuthMethod, cp.Properties.AuthData = challengeMethod, []byte(data)
			cp.Properties.SetPresent(packet.PropAuthMethod)
			cp.Properties.SetPresent(packet.PropAuthData)
		})
		c.Conn.Close()
		return ack.ReasonCode
	}
	for i := range 2 {
		if rc := exchange("forged"); rc != packet.NotAuthorized {
			t.Fatalf("failed exchange %d: %v, want not authorized", i+1, rc)
		}
	}
	// "hello" would start a challenge (an AUTH packet, which brokertest.Connect would reject):
	// the blocked client gets a CONNACK straight away instead.
	if rc := exchange("hello"); rc != packet.ConnectionRateExceeded {
		t.Fatalf("exchange after 2 failures: %v, want connection rate exceeded", rc)
	}
}
