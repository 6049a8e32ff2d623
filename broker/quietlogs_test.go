package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Refusals a client can repeat at will are counted one by one but logged once and then
// summarised per log.refusal_interval: a flood of them must not flood the log.

// logLines returns the lines of log that contain every one of parts.
func logLines(log *brokertest.Log, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(log.String(), "\n") {
		all := l != ""
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

func TestRefusedConnectsLogQuietly(t *testing.T) {
	n, log := brokertest.StartWith(t, func(c *config.Config) { c.Auth.AllowAnonymous = false }, broker.Options{})
	for i := range 200 {
		v := []packet.Version{packet.V311, packet.V5}[i%2]
		_, ack := brokertest.Connect(t, n.Addr, v, "flood", nil)
		if ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("CONNACK %v; want not authorized", ack.ReasonCode)
		}
	}
	if r := n.Counter("mqtt_connect_refused"); r != 200 {
		t.Fatalf("mqtt_connect_refused = %d; want 200", r)
	}
	if lines := logLines(log, "not authorized"); len(lines) != 1 || !strings.Contains(lines[0], `msg="connections refused"`) {
		t.Fatalf("%d log lines for 200 refused CONNECTs within the interval; want 1 (the first):\n%s", len(lines), strings.Join(lines, "\n"))
	}
}

// TestRefusedConnectsSummary: with a short interval the suppressed refusals are summarised
// with their number once the interval is over.
func TestRefusedConnectsSummary(t *testing.T) {
	n, log := brokertest.StartWith(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Log.RefusalInterval = 300 * time.Millisecond
	}, broker.Options{})
	for range 20 {
		brokertest.Connect(t, n.Addr, packet.V5, "flood", nil)
	}
	brokertest.Eventually(t, 3*time.Second, "a summary line", func() bool {
		return len(logLines(log, "connections refused in the last", `cause="not authorized"`)) > 0
	})
	total := len(logLines(log, `msg="connections refused"`, `cause="not authorized"`))
	for _, l := range logLines(log, "connections refused in the last", `cause="not authorized"`) {
		var c int
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "count="); ok {
				for _, d := range v {
					c = c*10 + int(d-'0')
				}
			}
		}
		total += c
	}
	if total != 20 {
		t.Fatalf("the log accounts for %d refused CONNECTs; want 20:\n%s", total, log.String())
	}
}

func TestRefusedPublishesLogQuietly(t *testing.T) {
	n, log, faults := offlineSubscriberOnFailingDisk(t)

	faults.on.Store(true)
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub", nil)
	for id := uint16(1); id <= 200; id++ {
		pub.Send(&packet.Publish{Topic: "disk/x", QoS: 1, PacketID: id, Payload: []byte("x")})
		if a, ok := pub.Read().(*packet.Puback); !ok || a.ReasonCode != packet.UnspecifiedError {
			t.Fatalf("PUBACK %d while the store fails = %+v; want 0x80", id, a)
		}
	}
	if r := n.Counter("mqtt_publish_refused"); r != 200 {
		t.Fatalf("mqtt_publish_refused = %d; want 200", r)
	}
	if lines := logLines(log, "no space left on device"); len(lines) == 0 || len(lines) > 2 {
		t.Fatalf("%d log lines for 200 refused publishes within the interval; want the first, at most one more cause:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}
