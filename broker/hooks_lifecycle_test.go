package broker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// lifecycleRecorder records on_client_wakeup and on_session_expired with the time of each.
type lifecycleRecorder struct {
	mu     sync.Mutex
	events []string
	at     map[string]time.Time
}

func (r *lifecycleRecorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if r.at == nil {
		r.at = map[string]time.Time{}
	}
	r.at[e] = time.Now()
}

func (r *lifecycleRecorder) OnClientWakeup(_ context.Context, c hooks.Client) {
	r.add("wakeup " + c.Mountpoint + "/" + c.ClientID)
}

func (r *lifecycleRecorder) OnSessionExpired(_ context.Context, mountpoint, clientID string) {
	r.add("expired " + mountpoint + "/" + clientID)
}

func (r *lifecycleRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *lifecycleRecorder) when(e string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[e]
	return at, ok
}

// waitOffline waits until the broker has detached the client's session.
func waitOffline(t *testing.T, n *brokertest.Node, clientID string) {
	t.Helper()
	brokertest.Eventually(t, waitFor, clientID+" offline", func() bool {
		_, online, _ := n.Session("", clientID)
		return !online
	})
}

// TestHookOnClientWakeup: on_client_wakeup is called when a client resumes a stored session,
// and not for a new session or one that a clean start replaces.
func TestHookOnClientWakeup(t *testing.T) {
	rec := &lifecycleRecorder{}
	n := brokertest.Start(t, nil, rec)
	persistent := func(c *packet.Connect) { c.CleanStart = false }

	c, ack := brokertest.Connect(t, n.Addr, packet.V311, "sleeper", persistent)
	if ack.SessionPresent {
		t.Fatal("session present on the first connect")
	}
	c.Subscribe(1, 1, "wake/#")
	c.Send(&packet.Disconnect{})
	c.ExpectClosed()
	waitOffline(t, n, "sleeper")
	if got := rec.seen(); len(got) != 0 {
		t.Fatalf("hooks called before any session resumed: %q", got)
	}

	c, ack = brokertest.Connect(t, n.Addr, packet.V311, "sleeper", persistent)
	if !ack.SessionPresent {
		t.Fatal("stored session not resumed")
	}
	brokertest.Eventually(t, waitFor, "on_client_wakeup", func() bool { return len(rec.seen()) > 0 })
	if got := rec.seen(); !slices.Equal(got, []string{"wakeup /sleeper"}) {
		t.Fatalf("hook calls %q; want one on_client_wakeup for sleeper", got)
	}
	c.Send(&packet.Disconnect{})
	c.ExpectClosed()
	waitOffline(t, n, "sleeper")

	// A clean start discards the stored session: nothing wakes up.
	c, ack = brokertest.Connect(t, n.Addr, packet.V311, "sleeper", nil)
	if ack.SessionPresent {
		t.Fatal("session present after a clean start")
	}
	c.Ping() // after CONNACK: a wakeup would have been reported by now
	if got := rec.seen(); len(got) != 1 {
		t.Fatalf("hook calls %q after a clean start; want only the earlier wakeup", got)
	}
}

// TestHookOnSessionExpired: an MQTT 5 session with a Session Expiry Interval of 1 s that goes
// offline is removed about a second later, and on_session_expired is told; a session resumed
// within its expiry is not.
func TestHookOnSessionExpired(t *testing.T) {
	rec := &lifecycleRecorder{}
	n := brokertest.Start(t, nil, rec)
	expiry := func(secs uint32) func(*packet.Connect) {
		return func(c *packet.Connect) {
			c.CleanStart = false
			c.Properties.SessionExpiry = secs
			c.Properties.SetPresent(packet.PropSessionExpiry)
		}
	}

	// Resumed in time: no expiry, and the second connection asks for 1 s.
	c, _ := brokertest.Connect(t, n.Addr, packet.V5, "brief", expiry(60))
	c.Send(&packet.Disconnect{})
	c.ExpectClosed()
	waitOffline(t, n, "brief")
	c, ack := brokertest.Connect(t, n.Addr, packet.V5, "brief", expiry(1))
	if !ack.SessionPresent {
		t.Fatal("session not resumed within its expiry")
	}

	start := time.Now()
	c.Send(&packet.Disconnect{})
	c.ExpectClosed()
	brokertest.Eventually(t, waitFor, "on_session_expired", func() bool {
		_, ok := rec.when("expired /brief")
		return ok
	})
	at, _ := rec.when("expired /brief")
	if d := at.Sub(start); d < 900*time.Millisecond {
		t.Fatalf("session expired %v after going offline; want about 1 s", d)
	}
	if exists, _, _ := n.Session("", "brief"); exists {
		t.Fatal("expired session still exists")
	}
	if got := rec.seen(); !slices.Equal(got, []string{"wakeup /brief", "expired /brief"}) {
		t.Fatalf("hook calls %q; want the wakeup, then one expiry", got)
	}
	// Gone for good: the next connect finds no session.
	if _, ack := brokertest.Connect(t, n.Addr, packet.V5, "brief", expiry(1)); ack.SessionPresent {
		t.Fatal("session present after it expired")
	}
	t.Logf("expired %v after DISCONNECT", at.Sub(start))
}
