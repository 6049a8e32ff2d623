package broker_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestTCPKeepAliveOnlyWithoutMQTTKeepAlive: the broker's side of a connection runs a TCP
// keep-alive timer only for a client that asked for no MQTT keep alive (0), which nothing else
// would find dead; a client with an MQTT keep alive is watched by its read deadline, and its
// socket carries no keep-alive timer. Read from the kernel's socket table (/proc/net/tcp,
// column "tr": 2 is the keep-alive timer).
func TestTCPKeepAliveOnlyWithoutMQTTKeepAlive(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp on this system")
	}
	n := brokertest.Start(t, nil)
	none, _ := brokertest.Connect(t, n.Addr, packet.V311, "keepalive-0", func(cp *packet.Connect) { cp.KeepAlive = 0 })
	some, _ := brokertest.Connect(t, n.Addr, packet.V311, "keepalive-60", func(cp *packet.Connect) { cp.KeepAlive = 60 })
	none.Ping() // both handshakes are done on the broker's side
	some.Ping()
	brokertest.Eventually(t, 5*time.Second, "the keep alive 0 connection has a TCP keep-alive timer", func() bool {
		return serverTimer(t, n.Addr, none.Conn.LocalAddr()) == "02"
	})
	if tr := serverTimer(t, n.Addr, some.Conn.LocalAddr()); tr == "02" {
		t.Fatal("a connection with an MQTT keep alive has a TCP keep-alive timer too")
	}
}

// serverTimer returns the "tr" column of the broker's socket for the client at client.
func serverTimer(t *testing.T, broker string, client net.Addr) string {
	t.Helper()
	local, remote := procAddr(t, broker), procAddr(t, client.String())
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 5 && fs[1] == local && fs[2] == remote {
			tr, _, _ := strings.Cut(fs[5], ":")
			return tr
		}
	}
	t.Fatalf("no socket %s -> %s in /proc/net/tcp", local, remote)
	return ""
}

// procAddr writes a 127.0.0.1:port address as /proc/net/tcp does (0100007F:PORT in hex).
func procAddr(t *testing.T, addr string) string {
	t.Helper()
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ip := ta.IP.To4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port)
}
