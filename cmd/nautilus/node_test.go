package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// node is a nautilus process started by a test from the real binary.
type node struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	conf string
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

// writeNodeConf writes a configuration for a node on addr with its data in dir.
func writeNodeConf(t *testing.T, dir, addr, extra string) string {
	t.Helper()
	conf := filepath.Join(dir, "nautilus.conf")
	body := fmt.Sprintf("listener.tcp.default = %s\nallow_anonymous = on\nplugins.vmq_passwd = off\nplugins.vmq_acl = off\nplatform_data_dir = %s\n%s",
		addr, filepath.Join(dir, "data"), extra)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// startNode runs `nautilus start --config conf` and waits until it accepts connections.
func startNode(t *testing.T, conf, addr string) *node {
	t.Helper()
	return startNodeIn(t, "", conf, addr)
}

// startNodeIn is startNode inside the network namespace netns ("": the test's own). `ip netns
// exec` execs the binary in place, so signals to the process reach nautilus itself.
func startNodeIn(t *testing.T, netns, conf, addr string) *node {
	t.Helper()
	n, err := launchNode(t, netns, conf, addr)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// errPortTaken: the node exited at start because one of its ports was taken meanwhile (the
// tests pick free ports, close them and hand them to the node; another process may be faster).
var errPortTaken = errors.New("a port of the node was taken")

// launchNode starts the node and waits until it listens on addr; it returns an error (wrapping
// errPortTaken when that is why) if the process exits first or does not listen in time.
func launchNode(t *testing.T, netns, conf, addr string) (*node, error) {
	t.Helper()
	n := &node{t: t, addr: addr, conf: conf, done: make(chan error, 1)}
	n.cmd = exec.Command(binary(t), "start", "--config", conf)
	if netns != "" {
		n.cmd = exec.Command("ip", "netns", "exec", netns, binary(t), "start", "--config", conf)
	}
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.mu.Lock()
			n.logs.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
		}
		n.done <- n.cmd.Wait()
	}()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("node log (%s):\n%s", addr, n.log())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return n, nil
		}
		select {
		case exit := <-n.done:
			if strings.Contains(n.log(), "address already in use") {
				return n, fmt.Errorf("node on %s exited (%v): %w\n%s", addr, exit, errPortTaken, n.log())
			}
			return n, fmt.Errorf("node on %s exited before listening (%v):\n%s", addr, exit, n.log())
		default:
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("node did not listen on %s: %v\n%s", addr, err, n.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	n.t.Helper()
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Fatalf("node exit: %v\n%s", err, n.log())
		}
	case <-time.After(20 * time.Second):
		n.t.Fatalf("node did not stop\n%s", n.log())
	}
}

// kill ends the process at once, as a crash would.
func (n *node) kill() {
	if n.cmd.ProcessState == nil {
		n.cmd.Process.Kill()
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// client is a minimal MQTT client on a socket for process-level tests.
type client struct {
	t  *testing.T
	nc net.Conn
	v  packet.Version
	r  *packet.Reader
}

func dialClient(t *testing.T, addr string, v packet.Version, id string, clean bool, expiry uint32) (*client, *packet.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, v: v, r: packet.NewReader(bufio.NewReader(nc), 0)}
	cp := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, CleanStart: clean, KeepAlive: 60, ClientID: id}
	if v == packet.V5 && expiry > 0 {
		cp.Properties.SessionExpiry = expiry
		cp.Properties.SetPresent(packet.PropSessionExpiry)
	}
	c.send(cp)
	ack, ok := c.read().(*packet.Connack)
	if !ok {
		t.Fatal("no CONNACK")
	}
	return c, ack
}

func (c *client) send(p packet.Packet) {
	c.t.Helper()
	buf, err := packet.Encode(nil, c.v, p)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(buf); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet; payloads are copied so the caller may keep them.
func (c *client) read() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := c.r.ReadPacket(c.v)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if pub, ok := p.(*packet.Publish); ok {
		cp := *pub
		cp.Topic = strings.Clone(pub.Topic)
		cp.Payload = append([]byte(nil), pub.Payload...)
		return &cp
	}
	return p
}

// waitClosed waits until the broker closes the connection (after a DISCONNECT).
func (c *client) waitClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := c.r.ReadPacket(c.v); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("the broker did not close the connection after DISCONNECT")
			}
			c.nc.Close()
			return
		}
	}
}
