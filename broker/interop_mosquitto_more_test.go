package broker_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
)

// More broker features driven through mosquitto_pub and mosquitto_sub: MQTT 5 shared
// subscriptions and clearing retained messages. Helpers (newMosq, sub, pub) are in
// interop_mosquitto_test.go.

// msgLines returns the "topic|payload|qos|retain" lines mosquitto_sub (started by m.sub) has
// printed so far, without the debug lines.
func msgLines(p *brokertest.Proc) []string {
	var out []string
	for _, l := range lines(p.Stdout()) {
		if rest, ok := strings.CutPrefix(l, "MSG|"); ok {
			out = append(out, rest)
		}
	}
	return out
}

func TestInteropMosquittoSharedSubscription(t *testing.T) {
	n := brokertest.Start(t, nil)
	m := newMosq(t, n)
	for _, qos := range []int{0, 1, 2} {
		t.Run("qos"+strconv.Itoa(qos), func(t *testing.T) {
			m.t = t
			const total = 20
			// Each member could in principle get all 20; neither is waited on to exit (the
			// test's cleanup kills them), their output is read while they run.
			a := m.sub("mqttv5", fmt.Sprintf("share-a-%d", qos), qos, total, "$share/g/t/#")
			b := m.sub("mqttv5", fmt.Sprintf("share-b-%d", qos), qos, total, "$share/g/t/#")
			for i := range total {
				m.pub("mqttv5", "share-pub", qos, fmt.Sprintf("t/%d", i), "-m", strconv.Itoa(i))
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(msgLines(a.p))+len(msgLines(b.p)) < total && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			// Give a duplicate the time to show up.
			time.Sleep(300 * time.Millisecond)
			ga, gb := msgLines(a.p), msgLines(b.p)
			seen := map[string]int{}
			for _, l := range append(append([]string{}, ga...), gb...) {
				f := strings.Split(l, "|")
				if len(f) != 4 || f[0] != "t/"+f[1] || f[2] != strconv.Itoa(qos) || f[3] != "0" {
					t.Errorf("unexpected message line %q", l)
					continue
				}
				seen[f[1]]++
			}
			for i := range total {
				if c := seen[strconv.Itoa(i)]; c != 1 {
					t.Errorf("message %d delivered %d times in total (a: %v, b: %v)", i, c, ga, gb)
				}
			}
			if len(seen) != total {
				keys := make([]string, 0, len(seen))
				for k := range seen {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				t.Errorf("payloads seen: %v", keys)
			}
			if len(ga) == 0 || len(gb) == 0 {
				t.Errorf("messages not split between the group's members: a got %d, b got %d", len(ga), len(gb))
			}
		})
	}
	m.t = t
}

func TestInteropMosquittoRetainedClear(t *testing.T) {
	n := brokertest.Start(t, nil)
	m := newMosq(t, n)
	for _, v := range mosquittoVersions {
		t.Run(v, func(t *testing.T) {
			m.t = t
			base := "rc/" + v
			m.pub(v, "rcp-"+v, 1, base+"/a", "-r", "-m", "A")
			m.pub(v, "rcp-"+v, 1, base+"/b", "-r", "-m", "B")
			// Both retained messages reach a new subscriber.
			if got := lines(m.sub(v, "rcs1-"+v, 1, 2, base+"/#").MustSucceed()); strings.Join(got, ",") != base+"/a|A|1|1,"+base+"/b|B|1|1" &&
				strings.Join(got, ",") != base+"/b|B|1|1,"+base+"/a|A|1|1" {
				t.Fatalf("before clearing: %v", got)
			}
			// A subscriber already there (given the retained message first) receives the empty
			// message itself, not flagged retained.
			live := m.sub(v, "rcs2-"+v, 1, 2, base+"/a")
			m.pub(v, "rcp-"+v, 1, base+"/a", "-r", "-n")
			if out := live.MustSucceed(); out != base+"/a|A|1|1\n"+base+"/a||1|0\n" {
				t.Fatalf("existing subscriber got %q for the clearing message", out)
			}
			// A new subscriber to the cleared topic gets nothing retained: its first message is a
			// live one.
			sub := m.sub(v, "rcs3-"+v, 1, 1, base+"/a")
			time.Sleep(200 * time.Millisecond)
			m.pub(v, "rcp-"+v, 0, base+"/a", "-m", "live")
			if out := sub.MustSucceed(); out != base+"/a|live|0|0\n" {
				t.Fatalf("new subscriber after clearing got %q", out)
			}
			// Through a wildcard: only the other topic's retained message, then a live one.
			sub = m.sub(v, "rcs4-"+v, 1, 2, base+"/#")
			time.Sleep(200 * time.Millisecond)
			m.pub(v, "rcp-"+v, 0, base+"/c", "-m", "live")
			if got := lines(sub.MustSucceed()); strings.Join(got, ",") != base+"/b|B|1|1,"+base+"/c|live|0|0" {
				t.Fatalf("wildcard subscriber after clearing: %v", got)
			}
		})
	}
	m.t = t
}
