package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestHugeConnectsKeepMemoryBounded: ten connections each announce a 256 MB CONNECT and stream
// its body as fast as the broker takes it. With the defaults (max_connect_size 64KB) each is
// refused after its fixed header; with max_connect_size raised to 8 MB and CONNECTs of 7 MB,
// the budget of unauthenticated connections (max_unauthenticated_buffer, 8 MB here) admits
// one body at a time and refuses the others. Either way the broker's RSS stays within 100 MB
// of idle, and a well-behaved client connects meanwhile. (With all three limits 0, as before
// they existed, the same flood took the broker past 2 GB.)
func TestHugeConnectsKeepMemoryBounded(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		announce   int
	}{
		{"defaults", "", 256<<20 - 1},
		{"budget", "max_connect_size = 8MB\nmax_unauthenticated_buffer = 8MB\nmax_message_size = 0\n", 7 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freePort(t)
			dir := t.TempDir()
			n := startNode(t, writeNodeConf(t, dir, addr, tc.conf), addr)
			idle := rssKB(t, n)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() { defer wg.Done(); streamHugeConnect(addr, tc.announce, stop) }()
			}
			time.Sleep(time.Second)
			var peak int
			for range 6 {
				start := time.Now()
				c, ack := dialClient(t, addr, packet.V5, "well-behaved", true, 0)
				took := time.Since(start)
				if ack.ReasonCode != packet.Success {
					t.Fatalf("a well-behaved client was refused: %v", ack.ReasonCode)
				}
				c.nc.Close()
				t.Logf("well-behaved client connected in %v", took)
				if took > 2*time.Second {
					t.Fatalf("a well-behaved client took %v to connect during the flood", took)
				}
				peak = max(peak, rssKB(t, n))
				time.Sleep(300 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			t.Logf("RSS idle %d MB, peak during the flood %d MB", idle>>10, peak>>10)
			if peak-idle > 100<<10 {
				t.Fatalf("RSS grew by %d MB during the flood (idle %d MB, peak %d MB)", (peak-idle)>>10, idle>>10, peak>>10)
			}
		})
	}
}

// streamHugeConnect announces an MQTT 5 CONNECT of size bytes and writes its body until the
// broker closes the connection or stop is closed, then starts again.
func streamHugeConnect(addr string, size int, stop <-chan struct{}) {
	chunk := make([]byte, 64<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		// Fixed header: CONNECT and its remaining length, then the start of an MQTT 5 variable
		// header so that the broker knows the version.
		hdr := []byte{0x10}
		for l := size; ; l >>= 7 {
			if l < 0x80 {
				hdr = append(hdr, byte(l))
				break
			}
			hdr = append(hdr, byte(l&0x7f|0x80))
		}
		hdr = append(hdr, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(hdr); err == nil {
			for {
				select {
				case <-stop:
					c.Close()
					return
				default:
				}
				if _, err := c.Write(chunk); err != nil {
					break
				}
			}
		}
		c.Close()
	}
}

// rssKB reads the node process's resident set size from /proc.
func rssKB(t *testing.T, n *node) int {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(n.cmd.Process.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal(fmt.Errorf("no VmRSS in /proc/%d/status", n.cmd.Process.Pid))
	return 0
}
