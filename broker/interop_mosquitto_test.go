package broker_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
)

// mosquitto_pub and mosquitto_sub (Eclipse Mosquitto's clients, libmosquitto) against the
// broker, speaking MQTT 3.1, 3.1.1 and 5.

var mosquittoVersions = []string{"mqttv31", "mqttv311", "mqttv5"}

type mosq struct {
	t       *testing.T
	n       *brokertest.Node
	host    string
	port    string
	pubPath string
	subPath string
	stdbuf  string
}

func newMosq(t *testing.T, n *brokertest.Node) *mosq {
	t.Helper()
	m := &mosq{t: t, n: n, pubPath: brokertest.RequireBinary(t, "mosquitto_pub"), subPath: brokertest.RequireBinary(t, "mosquitto_sub"),
		stdbuf: brokertest.RequireBinary(t, "stdbuf")}
	i := strings.LastIndexByte(n.Addr, ':')
	m.host, m.port = n.Addr[:i], n.Addr[i+1:]
	return m
}

// sub starts mosquitto_sub printing "topic|payload|qos|retain" per message, and waits until
// it has received its SUBACK (reported by -d).
func (m *mosq) sub(version, id string, qos int, count int, topics ...string) *mosqSub {
	m.t.Helper()
	args := []string{"-h", m.host, "-p", m.port, "-V", version, "-i", id, "-q", strconv.Itoa(qos),
		"-C", strconv.Itoa(count), "-W", "10", "-d", "-F", "MSG|%t|%p|%q|%r"}
	for _, tp := range topics {
		args = append(args, "-t", tp)
	}
	// mosquitto_sub block-buffers a pipe; stdbuf (which execs it) makes its output line-buffered
	// so the SUBACK line is seen at once.
	p := brokertest.RunCmd(m.t, 15*time.Second, m.stdbuf, append([]string{"-oL", m.subPath}, args...)...)
	p.WaitOutput("received SUBACK", false, 5*time.Second)
	return &mosqSub{t: m.t, p: p}
}

type mosqSub struct {
	t *testing.T
	p *brokertest.Proc
}

// MustSucceed waits for mosquitto_sub to exit after its -C count and returns the messages it
// printed, one "topic|payload|qos|retain" line each, without the debug lines.
func (s *mosqSub) MustSucceed() string {
	s.t.Helper()
	var out strings.Builder
	for _, l := range lines(s.p.MustSucceed()) {
		if rest, ok := strings.CutPrefix(l, "MSG|"); ok {
			out.WriteString(rest + "\n")
		}
	}
	return out.String()
}

// pub runs mosquitto_pub to completion.
func (m *mosq) pub(version, id string, qos int, topic string, extra ...string) {
	m.t.Helper()
	args := append([]string{"-h", m.host, "-p", m.port, "-V", version, "-i", id, "-q", strconv.Itoa(qos), "-t", topic}, extra...)
	brokertest.RunCmd(m.t, 10*time.Second, m.pubPath, args...).MustSucceed()
}

func lines(out string) []string {
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func TestMosquittoPubSubEveryQoS(t *testing.T) {
	n := brokertest.Start(t, nil)
	m := newMosq(t, n)
	for _, subV := range mosquittoVersions {
		for _, pubV := range mosquittoVersions {
			t.Run(subV+"_from_"+pubV, func(t *testing.T) {
				m.t = t
				for qos := 0; qos <= 2; qos++ {
					topic := fmt.Sprintf("mq/%s/%s/%d", subV, pubV, qos)
					sub := m.sub(subV, "s-"+subV+pubV[4:], 2, 3, topic)
					m.pub(pubV, "p-"+pubV+subV[4:], qos, topic, "-m", "hello", "--repeat", "3")
					out := sub.MustSucceed()
					want := strings.Repeat(fmt.Sprintf("%s|hello|%d|0\n", topic, qos), 3)
					if out != want {
						t.Fatalf("QoS %d: mosquitto_sub printed\n%s\nwant\n%s", qos, out, want)
					}
				}
			})
		}
	}
	m.t = t
}

func TestMosquittoRetained(t *testing.T) {
	n := brokertest.Start(t, nil)
	m := newMosq(t, n)
	for _, v := range mosquittoVersions {
		t.Run(v, func(t *testing.T) {
			m.t = t
			topic := "mr/" + v
			m.pub(v, "rp-"+v, 1, topic, "-r", "-m", "first")
			m.pub(v, "rp-"+v, 1, topic, "-r", "-m", "second")
			// A new subscriber receives the retained message (the latest), flagged retained.
			if out := m.sub(v, "rs-"+v, 1, 1, topic).MustSucceed(); out != topic+"|second|1|1\n" {
				t.Fatalf("retained: %q", out)
			}
			// -n (empty payload) with -r clears it: a new subscriber's first message is a live one.
			m.pub(v, "rp-"+v, 1, topic, "-r", "-n")
			sub := m.sub(v, "rs-"+v, 1, 1, topic)
			m.pub(v, "rp-"+v, 0, topic, "-m", "live")
			if out := sub.MustSucceed(); out != topic+"|live|0|0\n" {
				t.Fatalf("after clearing: %q", out)
			}
		})
	}
	m.t = t
}

func TestMosquittoWildcardsAndCounts(t *testing.T) {
	n := brokertest.Start(t, nil)
	m := newMosq(t, n)
	for _, v := range mosquittoVersions {
		t.Run(v, func(t *testing.T) {
			m.t = t
			plus := m.sub(v, "wp-"+v, 1, 2, "w/+/x")
			hash := m.sub(v, "wh-"+v, 1, 4, "w/#")
			for _, tp := range []string{"w/a/x", "w/a/y", "w", "w/b/x"} {
				m.pub(v, "wpub-"+v, 1, tp, "-m", tp)
			}
			if got := lines(plus.MustSucceed()); strings.Join(got, ",") != "w/a/x|w/a/x|1|0,w/b/x|w/b/x|1|0" {
				t.Fatalf("w/+/x: %v", got)
			}
			if got := lines(hash.MustSucceed()); len(got) != 4 || got[2] != "w|w|1|0" {
				t.Fatalf("w/#: %v", got)
			}
		})
	}
	m.t = t
}
