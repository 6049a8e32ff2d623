package broker_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
)

// Python paho-mqtt 1.6 (Debian's python3-paho-mqtt, importable by /usr/bin/python3) as
// subscriber and publisher, over MQTT 3.1.1 and MQTT 5.

const pythonPython = "/usr/bin/python3"

// pahoPy is the client: python3 client.py sub|pub PORT 311|5 QOS TOPIC COUNT CLIENT_ID RETAIN.
// The subscriber prints "SUBACK <codes>" then "MSG <topic> <payload> <qos> <retain>" per
// message and exits after COUNT; the publisher sends COUNT messages "<i>" and waits for each
// to complete its QoS flow.
const pahoPy = `
import sys, paho.mqtt.client as mqtt
mode, port, proto, qos, topic, count, cid, retain = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), sys.argv[7], sys.argv[8] == "1"
v5 = proto == "5"
c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
got = [0]
def code(rc):
    return rc.value if hasattr(rc, "value") else rc
def on_connect(client, userdata, flags, rc, props=None):
    print("CONNACK", code(rc), flush=True)
    if mode == "sub":
        client.subscribe(topic, qos)
def on_subscribe(client, userdata, mid, granted, props=None):
    print("SUBACK", ",".join(str(code(g)) for g in granted), flush=True)
def on_message(client, userdata, m):
    print("MSG", m.topic, m.payload.decode(), m.qos, int(m.retain), flush=True)
    got[0] += 1
    if got[0] >= count:
        client.disconnect()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", port, keepalive=30)
if mode == "sub":
    c.loop_forever()
else:
    c.loop_start()
    for i in range(count):
        info = c.publish(topic, str(i), qos=qos, retain=retain)
        info.wait_for_publish(timeout=5)
        if not info.is_published():
            print("NOT PUBLISHED", i, flush=True)
            sys.exit(1)
    c.disconnect()
    c.loop_stop()
    print("DONE", flush=True)
`

type pyClient struct {
	t      *testing.T
	script string
	port   string
}

func newPy(t *testing.T, n *brokertest.Node) *pyClient {
	t.Helper()
	if _, err := os.Stat(pythonPython); err != nil {
		t.Skipf("%s not found: %v", pythonPython, err)
	}
	if out, err := exec.Command(pythonPython, "-c", "import paho.mqtt.client").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import paho.mqtt (scripts/setup.sh installs python3-paho-mqtt): %v %s", pythonPython, err, out)
	}
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pahoPy), 0o644); err != nil {
		t.Fatal(err)
	}
	return &pyClient{t: t, script: script, port: n.Addr[strings.LastIndexByte(n.Addr, ':')+1:]}
}

func (p *pyClient) run(mode, proto string, qos int, topic string, count int, id string, retain bool) *brokertest.Proc {
	p.t.Helper()
	r := "0"
	if retain {
		r = "1"
	}
	return brokertest.RunCmd(p.t, 15*time.Second, pythonPython, "-u", p.script, mode, p.port, proto, fmt.Sprint(qos), topic, fmt.Sprint(count), id, r)
}

func TestPythonPahoPubSub(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	for _, proto := range []string{"311", "5"} {
		for _, qos := range []int{1, 2} {
			t.Run(fmt.Sprintf("mqtt%s_qos%d", proto, qos), func(t *testing.T) {
				py.t = t
				topic := fmt.Sprintf("py/%s/%d", proto, qos)
				sub := py.run("sub", proto, qos, topic, 3, "pysub", false)
				sub.WaitOutput("SUBACK", false, 10*time.Second)
				pub := py.run("pub", proto, qos, topic, 3, "pypub", false)
				if out := pub.MustSucceed(); !strings.Contains(out, "CONNACK 0\n") || !strings.HasSuffix(out, "DONE\n") {
					t.Fatalf("publisher printed %q", out)
				}
				want := fmt.Sprintf("CONNACK 0\nSUBACK %d\n", qos)
				for i := range 3 {
					want += fmt.Sprintf("MSG %s %d %d 0\n", topic, i, qos)
				}
				if out := sub.MustSucceed(); out != want {
					t.Fatalf("subscriber printed\n%s\nwant\n%s", out, want)
				}
			})
		}
	}
	py.t = t
}

func TestPythonPahoRetained(t *testing.T) {
	n := brokertest.Start(t, nil)
	py := newPy(t, n)
	for _, proto := range []string{"311", "5"} {
		t.Run("mqtt"+proto, func(t *testing.T) {
			py.t = t
			topic := "pyr/" + proto
			py.run("pub", proto, 1, topic, 1, "pyrpub", true).MustSucceed()
			sub := py.run("sub", proto, 2, topic, 1, "pyrsub", false)
			if out := sub.MustSucceed(); out != "CONNACK 0\nSUBACK 2\nMSG "+topic+" 0 1 1\n" {
				t.Fatalf("subscriber printed %q", out)
			}
		})
	}
	py.t = t
}
