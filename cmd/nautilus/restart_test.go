package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// receiveAll reads until want distinct payloads arrived (completing QoS 1/2 flows) and
// returns them in arrival order, failing on any duplicate.
func receiveAll(t *testing.T, c *client, want int) []string {
	t.Helper()
	var got []string
	seen := map[string]bool{}
	for len(got) < want {
		switch p := c.read().(type) {
		case *packet.Publish:
			switch p.QoS {
			case 1:
				c.send(&packet.Puback{PacketID: p.PacketID})
			case 2:
				c.send(&packet.Pubrec{PacketID: p.PacketID})
			}
			if seen[string(p.Payload)] {
				t.Fatalf("duplicate delivery of %q", p.Payload)
			}
			seen[string(p.Payload)] = true
			got = append(got, string(p.Payload))
		case *packet.Pubrel:
			c.send(&packet.Pubcomp{PacketID: p.PacketID})
		}
	}
	return got
}

// TestOfflineMessagesSurviveRestart: a persistent subscriber goes offline, N QoS 1 and N QoS 2
// messages are published, the broker restarts, and the subscriber gets exactly those messages,
// in order, with its session present.
func TestOfflineMessagesSurviveRestart(t *testing.T) {
	for _, qt := range []string{"fifo", "lifo"} {
		t.Run(qt, func(t *testing.T) {
			dir := t.TempDir()
			addr := freePort(t)
			conf := writeNodeConf(t, dir, addr, "queue_type = "+qt+"\n")
			n := startNode(t, conf, addr)

			sub, _ := dialClient(t, addr, packet.V311, "keeper", false, 0)
			sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "persist/#", QoS: 2}}})
			sub.read()
			sub.send(&packet.Disconnect{})
			sub.nc.Close()

			const N = 20
			pub, _ := dialClient(t, addr, packet.V311, "pub", true, 0)
			for i := range 2 * N {
				qos := byte(1 + i/N)
				pub.send(&packet.Publish{Topic: "persist/x", QoS: qos, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprintf("m%02d", i))})
				if qos == 2 {
					pub.read() // PUBREC
					pub.send(&packet.Pubrel{PacketID: uint16(i + 1)})
				}
				pub.read() // PUBACK or PUBCOMP
			}
			pub.nc.Close()
			n.stop()

			n = startNode(t, conf, addr)
			back, ack := dialClient(t, addr, packet.V311, "keeper", false, 0)
			if !ack.SessionPresent {
				t.Fatal("session not present after restart")
			}
			got := receiveAll(t, back, 2*N)
			for i := range got {
				want := fmt.Sprintf("m%02d", i)
				if qt == "lifo" {
					want = fmt.Sprintf("m%02d", 2*N-1-i)
				}
				if got[i] != want {
					t.Fatalf("delivery %d = %s; want %s (all: %v)", i, got[i], want, got)
				}
			}
			n.stop()
		})
	}
}

// TestAcknowledgedMessagesSurviveKill publishes QoS 1 and 2 messages to an offline persistent
// subscriber with store.sync = always and kills the broker with SIGKILL mid-stream: after a
// restart, every message whose PUBACK or PUBCOMP the publisher received is delivered.
func TestAcknowledgedMessagesSurviveKill(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	conf := writeNodeConf(t, dir, addr, "store.sync = always\n")
	n := startNode(t, conf, addr)
	sub, _ := dialClient(t, addr, packet.V5, "durable", false, 3600)
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "crash/#", QoS: 2}}})
	sub.read()
	sub.send(&packet.Disconnect{})
	sub.nc.Close()

	pub, _ := dialClient(t, addr, packet.V5, "crash-pub", true, 0)
	acked := map[string]bool{}
	killAt := 150
	for i := 0; ; i++ {
		if i == killAt {
			n.cmd.Process.Signal(syscall.SIGKILL)
		}
		payload := fmt.Sprintf("c%04d", i)
		qos := byte(1 + i%2)
		buf, _ := packet.Encode(nil, packet.V5, &packet.Publish{Topic: "crash/x", QoS: qos, PacketID: uint16(i%60000 + 1), Payload: []byte(payload)})
		if _, err := pub.nc.Write(buf); err != nil {
			break
		}
		pub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := pub.r.ReadPacket(packet.V5)
		if err != nil {
			break
		}
		if qos == 2 {
			if _, ok := p.(*packet.Pubrec); !ok {
				break
			}
			buf, _ = packet.Encode(nil, packet.V5, &packet.Pubrel{PacketID: uint16(i%60000 + 1)})
			if _, err := pub.nc.Write(buf); err != nil {
				break
			}
			if _, err := pub.r.ReadPacket(packet.V5); err != nil {
				break
			}
		}
		acked[payload] = true
	}
	<-n.done
	if len(acked) < 10 {
		t.Fatalf("only %d messages acknowledged before the kill", len(acked))
	}

	startNode(t, conf, addr)
	back, ack := dialClient(t, addr, packet.V5, "durable", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("session lost in the crash")
	}
	// Messages published but not acknowledged may or may not be there; every acknowledged one
	// must be.
	got := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	back.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for missing := len(acked); missing > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages lost in the crash", missing)
		}
		p, err := back.r.ReadPacket(packet.V5)
		if err != nil {
			var lost []string
			for s := range acked {
				if !got[s] {
					lost = append(lost, s)
				}
			}
			t.Fatalf("%d of %d acknowledged messages lost in the crash (%v); received %d: %v", missing, len(acked), lost, len(got), err)
		}
		switch p := p.(type) {
		case *packet.Publish:
			s := string(p.Payload)
			if p.QoS == 1 {
				back.send(&packet.Puback{PacketID: p.PacketID})
			} else {
				back.send(&packet.Pubrec{PacketID: p.PacketID})
			}
			if acked[s] && !got[s] {
				missing--
			}
			got[s] = true
		case *packet.Pubrel:
			back.send(&packet.Pubcomp{PacketID: p.PacketID})
		}
	}
	data, _ := os.ReadDir(filepath.Join(dir, "data", "store"))
	if len(data) == 0 {
		t.Fatal("no store files under platform_data_dir/store")
	}
}
