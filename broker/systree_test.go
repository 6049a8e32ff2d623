package broker_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestSysTreePublishesMetrics subscribes to $SYS/# and expects the node's counters, under
// $SYS/<nodename>/, every systree_interval; the figures are the metrics registry's.
func TestSysTreePublishesMetrics(t *testing.T) {
	n := brokertest.Start(t, func(c *config.Config) {
		c.SysTree.Enabled = true
		c.SysTree.Interval = 100 * time.Millisecond
		c.Node.Nodename = "node1@127.0.0.1"
	})
	c, _ := brokertest.Connect(t, n.Addr, packet.V311, "sys-watcher", nil)
	// A leading wildcard must not match $SYS [MQTT-4.7.2-1]; the explicit $SYS filter does.
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}, {Filter: "$SYS/#"}}})
	c.Read()
	seen := map[string]int64{}
	deadline := time.Now().Add(5 * time.Second)
	for len(seen) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only saw %v", seen)
		}
		p, ok := c.Read().(*packet.Publish)
		if !ok {
			continue
		}
		if !strings.HasPrefix(p.Topic, "$SYS/node1@127.0.0.1/") {
			t.Fatalf("unexpected topic %q", p.Topic)
		}
		v, err := strconv.ParseInt(string(p.Payload), 10, 64)
		if err != nil {
			t.Fatalf("%s: payload %q is not a number", p.Topic, p.Payload)
		}
		seen[strings.TrimPrefix(p.Topic, "$SYS/node1@127.0.0.1/")] = v
	}
	// The watcher itself is connected, so the socket gauge is at least one.
	for time.Now().Before(deadline) {
		p, ok := c.Read().(*packet.Publish)
		if ok {
			v, _ := strconv.ParseInt(string(p.Payload), 10, 64)
			seen[strings.TrimPrefix(p.Topic, "$SYS/node1@127.0.0.1/")] = v
		}
		if _, ok := seen["socket/open"]; ok {
			break
		}
	}
	if seen["socket/open"] < 1 {
		t.Fatalf("socket/open = %d in %v", seen["socket/open"], seen)
	}
}
