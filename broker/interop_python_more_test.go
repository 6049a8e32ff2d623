package broker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
)

// More broker features driven through Debian's python3-paho-mqtt 1.6 (under /usr/bin/python3,
// see interop_python_test.go): wills, persistent sessions with offline messages, MQTT 5
// properties and message expiry, retain handling. mosquitto_sub and mosquitto_pub play the
// other side where that is simpler.

// pahoLib is prepended to every script: python3 script.py PORT ARGS...
const pahoLib = `
import sys, os, time, queue, paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions
PORT = int(sys.argv[1])
ARGS = sys.argv[2:]
def out(*a):
    print(*a, flush=True)
def code(rc):
    return rc.value if hasattr(rc, "value") else rc
class C:
    """A paho client driven by its network thread; connect waits for the CONNACK."""
    def __init__(self, cid, v5, clean=True, expiry=None, will=None, thread=True):
        self.v5 = v5
        kw = {} if v5 else {"clean_session": clean}
        self.c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, **kw)
        self.connack, self.suback, self.msgs = queue.Queue(), queue.Queue(), queue.Queue()
        self.c.on_connect = lambda c, u, flags, rc, props=None: self.connack.put((flags, code(rc)))
        self.c.on_subscribe = lambda c, u, mid, granted, props=None: self.suback.put([code(g) for g in granted])
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        if will:
            self.c.will_set(will[0], will[1], qos=1, retain=False)
        ckw = {}
        if v5:
            props = None
            if expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = expiry
            ckw = {"clean_start": clean, "properties": props}
        self.c.connect("127.0.0.1", PORT, keepalive=30, **ckw)
        if thread:
            self.c.loop_start()
            flags, rc = self.connack.get(timeout=5)
        else:
            deadline = time.time() + 5
            while self.connack.empty() and time.time() < deadline:
                self.c.loop(timeout=0.1)
            flags, rc = self.connack.get_nowait()
        self.session_present = int(flags.get("session present", 0))
        out("CONNACK", rc, "sp=%d" % self.session_present)
    def sub(self, topic, qos=1, options=None):
        if options is not None:
            self.c.subscribe(topic, options=options)
        else:
            self.c.subscribe(topic, qos)
        out("SUBACK", ",".join(str(g) for g in self.suback.get(timeout=5)))
    def pub(self, topic, payload, qos=1, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(timeout=5)
        if not info.is_published():
            out("NOT PUBLISHED", topic)
            sys.exit(1)
    def next(self, timeout):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            return None
    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()
def show(m):
    out("MSG", m.topic, m.payload.decode(), m.qos, int(m.retain))
`

// runPy writes pahoLib+body to a script and runs it with the broker's port and args.
func runPy(t *testing.T, py *pyClient, timeout time.Duration, body string, args ...string) *brokertest.Proc {
	t.Helper()
	script := filepath.Join(t.TempDir(), "script.py")
	if err := os.WriteFile(script, []byte(pahoLib+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return brokertest.RunCmd(t, timeout, pythonPython, append([]string{"-u", script, py.port}, args...)...)
}

// pyProtos are paho's protocol versions as the scripts take them.
var pyProtos = []string{"311", "5"}

// willPy connects ARGS[1] (311|5) as ARGS[0] with a will on ARGS[3] (payload ARGS[4]) and
// then, by ARGS[2]: "exit" leaves the process with os._exit (no DISCONNECT), "close" closes
// the socket under the client, "clean" disconnects normally.
const willPy = `
cid, v5, how, wt, wp = ARGS[0], ARGS[1] == "5", ARGS[2], ARGS[3], ARGS[4]
if how == "close":
    c = C(cid, v5, will=(wt, wp), thread=False)
    c.c.socket().close()
    out("CLOSED")
    sys.exit(0)
c = C(cid, v5, will=(wt, wp))
if how == "exit":
    out("EXIT")
    os._exit(0)
c.disconnect()
out("DISCONNECTED")
`

func TestInteropPythonWill(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	m := newMosq(t, n)
	for _, proto := range pyProtos {
		for _, how := range []string{"exit", "close"} {
			t.Run("mqtt"+proto+"_"+how, func(t *testing.T) {
				py.t, m.t = t, t
				base := "will/" + proto + "/" + how
				sub := m.sub("mqttv5", "will-sub-"+proto+how, 1, 1, base+"/#")
				// A client that disconnects cleanly does not send its will: the subscriber's first
				// (and only) message is the abruptly closed client's will.
				if out := runPy(t, py, 10*time.Second, willPy, "clean-"+proto+how, proto, "clean", base+"/clean", "clean-will").MustSucceed(); !strings.HasSuffix(out, "DISCONNECTED\n") {
					t.Fatalf("clean client printed %q", out)
				}
				time.Sleep(300 * time.Millisecond)
				if out := runPy(t, py, 10*time.Second, willPy, "abrupt-"+proto+how, proto, how, base+"/abrupt", "gone").MustSucceed(); !strings.HasPrefix(out, "CONNACK 0 sp=0\n") {
					t.Fatalf("abrupt client printed %q", out)
				}
				if out := sub.MustSucceed(); out != base+"/abrupt|gone|1|0\n" {
					t.Fatalf("subscriber got %q, want only the abrupt client's will", out)
				}
			})
		}
	}
	py.t, m.t = t, t
}

// sessionPy: ARGS = cid proto phase topic count. Phase "sub" connects with a persistent
// session (clean_session=False; MQTT 5: clean start off, Session Expiry Interval 300),
// subscribes QoS 1 and disconnects; "resume" reconnects the same way and prints the messages
// it gets, stopping after count or 3 s of silence.
const sessionPy = `
cid, v5, phase, topic, count = ARGS[0], ARGS[1] == "5", ARGS[2], ARGS[3], int(ARGS[4])
c = C(cid, v5, clean=(phase == "fresh"), expiry=300)
if phase == "sub":
    c.sub(topic, 1)
else:
    for i in range(count):
        m = c.next(3)
        if m is None:
            break
        show(m)
    m = c.next(0.5)
    if m is not None:
        out("EXTRA")
        show(m)
c.disconnect()
out("DONE")
`

func TestInteropPythonPersistentSession(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	m := newMosq(t, n)
	for _, proto := range pyProtos {
		t.Run("mqtt"+proto, func(t *testing.T) {
			py.t, m.t = t, t
			topic := "sess/" + proto
			cid := "pysess-" + proto
			if out := runPy(t, py, 10*time.Second, sessionPy, cid, proto, "sub", topic, "0").MustSucceed(); out != "CONNACK 0 sp=0\nSUBACK 1\nDONE\n" {
				t.Fatalf("first connection printed %q", out)
			}
			for i := range 5 {
				m.pub("mqttv311", "sess-pub-"+proto, 1, topic, "-m", fmt.Sprintf("m%d", i))
			}
			out := runPy(t, py, 15*time.Second, sessionPy, cid, proto, "resume", topic, "5").MustSucceed()
			want := "CONNACK 0 sp=1\n"
			for i := range 5 {
				want += fmt.Sprintf("MSG %s m%d 1 0\n", topic, i)
			}
			if want += "DONE\n"; out != want {
				t.Fatalf("reconnected client printed\n%s\nwant\n%s", out, want)
			}
			// The queue is drained: a third connection gets the session and nothing else.
			if out := runPy(t, py, 10*time.Second, sessionPy, cid, proto, "resume", topic, "0").MustSucceed(); out != "CONNACK 0 sp=1\nDONE\n" {
				t.Fatalf("third connection printed %q", out)
			}
		})
	}
	py.t, m.t = t, t
}

// propsPy: ARGS = topic. A subscriber and a publisher (MQTT 5); the publisher sends a
// message with user properties, content type, response topic, correlation data and payload
// format indicator; the subscriber prints what it received.
const propsPy = `
topic = ARGS[0]
s = C("props-sub", True)
s.sub(topic, 1)
p = C("props-pub", True)
pp = Properties(PacketTypes.PUBLISH)
pp.UserProperty = [("k", "1"), ("a", "2"), ("k", "3"), ("z", "")]
pp.ContentType = "application/json; charset=utf-8"
pp.ResponseTopic = "reply/to/me"
pp.CorrelationData = b"\x00\x01corr\xff"
pp.PayloadFormatIndicator = 1
p.pub(topic, '{"x":1}', 1, props=pp)
m = s.next(5)
if m is None:
    out("NO MESSAGE")
    sys.exit(1)
show(m)
mp = m.properties
out("USER", getattr(mp, "UserProperty", None))
out("CT", repr(getattr(mp, "ContentType", None)))
out("RT", repr(getattr(mp, "ResponseTopic", None)))
out("CD", repr(getattr(mp, "CorrelationData", None)))
out("PFI", getattr(mp, "PayloadFormatIndicator", None))
p.disconnect()
s.disconnect()
out("DONE")
`

func TestInteropPythonMQTT5Properties(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	out := runPy(t, py, 15*time.Second, propsPy, "props/t").MustSucceed()
	want := "CONNACK 0 sp=0\nSUBACK 1\nCONNACK 0 sp=0\n" +
		"MSG props/t {\"x\":1} 1 0\n" +
		"USER [('k', '1'), ('a', '2'), ('k', '3'), ('z', '')]\n" +
		"CT 'application/json; charset=utf-8'\n" +
		"RT 'reply/to/me'\n" +
		"CD b'\\x00\\x01corr\\xff'\n" +
		"PFI 1\n" +
		"DONE\n"
	if out != want {
		t.Fatalf("script printed\n%s\nwant\n%s", out, want)
	}
}

// expiryPy: ARGS = phase topic. "sub" connects a persistent MQTT 5 session, subscribes QoS 1
// and disconnects; "pub" publishes "short" (Message Expiry Interval 1 s) then "long" (60 s);
// "resume" reconnects and prints every message it gets within 1.5 s, with the expiry interval
// it carries.
const expiryPy = `
phase, topic = ARGS[0], ARGS[1]
if phase == "pub":
    p = C("exp-pub", True)
    for payload, exp in (("short", 1), ("long", 60)):
        pp = Properties(PacketTypes.PUBLISH)
        pp.MessageExpiryInterval = exp
        p.pub(topic, payload, 1, props=pp)
    p.disconnect()
    out("DONE")
    sys.exit(0)
c = C("exp-sub", True, clean=(phase == "sub"), expiry=300)
if phase == "sub":
    c.sub(topic, 1)
else:
    while True:
        m = c.next(1.5)
        if m is None:
            break
        show(m)
        out("EXPIRY", getattr(m.properties, "MessageExpiryInterval", None))
c.disconnect()
out("DONE")
`

func TestInteropPythonMessageExpiry(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	const topic = "exp/t"
	if out := runPy(t, py, 10*time.Second, expiryPy, "sub", topic).MustSucceed(); out != "CONNACK 0 sp=0\nSUBACK 1\nDONE\n" {
		t.Fatalf("subscriber's first connection printed %q", out)
	}
	if out := runPy(t, py, 10*time.Second, expiryPy, "pub", topic).MustSucceed(); out != "CONNACK 0 sp=0\nDONE\n" {
		t.Fatalf("publisher printed %q", out)
	}
	time.Sleep(2100 * time.Millisecond)
	out := runPy(t, py, 10*time.Second, expiryPy, "resume", topic).MustSucceed()
	// "long" waited about 2 s: what is left of its 60 s is 57 or 58 (the broker may round).
	ok := false
	for _, left := range []int{57, 58, 59} {
		if out == fmt.Sprintf("CONNACK 0 sp=1\nMSG %s long 1 0\nEXPIRY %d\nDONE\n", topic, left) {
			ok = true
		}
	}
	if !ok {
		t.Fatalf("reconnected subscriber printed\n%s\nwant only \"long\", with an expiry interval of about 58 s, and not \"short\"", out)
	}
}

// retainHandlingPy: ARGS = topic rh. Subscribes (MQTT 5, QoS 1) with Retain Handling rh, waits
// 1 s for a retained message, then publishes a live one and prints both what came first and the
// live message.
const retainHandlingPy = `
topic, rh = ARGS[0], int(ARGS[1])
c = C("rh-%d" % rh, True)
c.sub(topic, options=SubscribeOptions(qos=1, retainHandling=rh))
m = c.next(1)
if m is not None:
    show(m)
c.pub(topic, "live", 1)
m = c.next(5)
if m is not None:
    show(m)
if rh != 0:
    # Subscribing again (an existing subscription): rh 1 and 2 both send nothing retained.
    c.sub(topic, options=SubscribeOptions(qos=1, retainHandling=rh))
    m = c.next(1)
    if m is not None:
        show(m)
c.disconnect()
out("DONE")
`

func TestInteropPythonRetainHandling(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	m := newMosq(t, n)
	const topic = "rh/t"
	m.pub("mqttv5", "rh-pub", 1, topic, "-r", "-m", "kept")
	for _, tc := range []struct {
		rh   string
		want string
	}{
		{"0", "CONNACK 0 sp=0\nSUBACK 1\nMSG rh/t kept 1 1\nMSG rh/t live 1 0\nDONE\n"},
		{"1", "CONNACK 0 sp=0\nSUBACK 1\nMSG rh/t kept 1 1\nMSG rh/t live 1 0\nSUBACK 1\nDONE\n"},
		{"2", "CONNACK 0 sp=0\nSUBACK 1\nMSG rh/t live 1 0\nSUBACK 1\nDONE\n"},
	} {
		t.Run("rh"+tc.rh, func(t *testing.T) {
			py.t = t
			if out := runPy(t, py, 15*time.Second, retainHandlingPy, topic, tc.rh).MustSucceed(); out != tc.want {
				t.Fatalf("script printed\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
	py.t = t
}
