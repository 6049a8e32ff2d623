package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds bin/nautilus once per test run into a temporary directory.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nautilus-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "nautilus")
		// The binary links the backend this test binary was built with, so that
		// `go test -tags swc` runs the process-level tests against SWC.
		args := []string{"build", "-o", binPath}
		if metadataBackend == "swc" {
			args = append(args, "-tags", "swc")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort returns a loopback address whose port nothing listens on. It picks below the
// kernel's ephemeral range: a port the kernel hands out for ":0" or as the
// source port of an outgoing connection (this suite and the packages tested beside it make
// thousands) can be taken between the pick and the node's bind, which then fails with "address
// already in use" and a cluster test has to start that node again under another name.
func freePort(t *testing.T) string {
	t.Helper()
	if lo := ephemeralLow(); lo > 20000 {
		for range 100 {
			addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(lo-10000))
			if l, err := net.Listen("tcp", addr); err == nil {
				l.Close()
				return addr
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow is the lowest port of the kernel's ephemeral range, or 0 when unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}

// TestStartServesAndShutsDownGracefully runs the real binary: a client connects with MQTT 5,
// publishes and receives; SIGTERM makes the broker send DISCONNECT 0x8B and exit 0.
func TestStartServesAndShutsDownGracefully(t *testing.T) {
	bin := binary(t)
	addr := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nautilus.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`listener.tcp.default = %s
allow_anonymous = on
plugins.vmq_passwd = off
plugins.vmq_acl = off
platform_data_dir = %s
`, addr, filepath.Join(dir, "data"))), 0o644)
	cmd := exec.Command(bin, "start", "--config", conf)
	var logs strings.Builder
	var logsMu sync.Mutex
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logsMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logsMu.Unlock()
		}
	}()

	var nc net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if nc, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer nc.Close()
	send := func(p packet.Packet) {
		buf, err := packet.Encode(nil, packet.V5, p)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(buf)
	}
	r := packet.NewReader(bufio.NewReader(nc), 0)
	read := func() packet.Packet {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		p, err := r.ReadPacket(packet.V5)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return p
	}
	send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, CleanStart: true, KeepAlive: 30, ClientID: "cli-test"})
	if ack, ok := read().(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK: %+v", ack)
	}
	send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t/#", QoS: 1}}})
	if _, ok := read().(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	send(&packet.Publish{Topic: "t/1", QoS: 1, PacketID: 2, Payload: []byte("x")})
	gotPub, gotAck := false, false
	for !gotPub || !gotAck {
		switch p := read().(type) {
		case *packet.Publish:
			gotPub = string(p.Payload) == "x"
			send(&packet.Puback{PacketID: p.PacketID})
		case *packet.Puback:
			gotAck = true
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d, ok := read().(*packet.Disconnect)
	if !ok || d.ReasonCode != packet.ServerShuttingDown {
		t.Fatalf("on SIGTERM got %+v; want DISCONNECT 0x8B", d)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("broker did not exit after SIGTERM")
	}
	logsMu.Lock()
	defer logsMu.Unlock()
	for _, want := range []string{"nautilus started", "metadata=" + metadataBackend, "anonymous access is ON", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
