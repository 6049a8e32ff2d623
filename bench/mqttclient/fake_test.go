package mqttclient_test

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/bench/mqttclient"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// fakeBroker accepts one connection, answers CONNACK (with the given receive maximum in MQTT
// 5) and hands the connection to script.
func fakeBroker(t *testing.T, recvMax uint16, script func(c net.Conn, r *packet.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := packet.NewReader(bufio.NewReader(c), 0)
		p, err := r.ReadPacket(0)
		if err != nil {
			return
		}
		v := p.(*packet.Connect).ProtocolVersion
		ack := &packet.Connack{}
		if v == packet.V5 && recvMax > 0 {
			ack.Properties.ReceiveMaximum = recvMax
			ack.Properties.SetPresent(packet.PropReceiveMaximum)
		}
		b, _ := packet.Encode(nil, v, ack)
		c.Write(b)
		script(c, r)
	}()
	return l.Addr().String()
}

func send(c net.Conn, v packet.Version, p packet.Packet) {
	b, _ := packet.Encode(nil, v, p)
	c.Write(b)
}

// TestQoS2ResendDeliveredOnce: a QoS 2 PUBLISH sent again (DUP) before its PUBREL is
// acknowledged again but handed to the application once; after PUBCOMP the identifier is
// free and a new message with it is delivered.
func TestQoS2ResendDeliveredOnce(t *testing.T) {
	got := make(chan packet.Packet, 16)
	addr := fakeBroker(t, 0, func(c net.Conn, r *packet.Reader) {
		v := packet.V311
		send(c, v, &packet.Publish{QoS: 2, PacketID: 5, Topic: "t", Payload: []byte("a")})
		send(c, v, &packet.Publish{QoS: 2, PacketID: 5, Dup: true, Topic: "t", Payload: []byte("a")})
		send(c, v, &packet.Pubrel{PacketID: 5})
		send(c, v, &packet.Publish{QoS: 2, PacketID: 5, Topic: "t", Payload: []byte("b")})
		send(c, v, &packet.Pubrel{PacketID: 5})
		for {
			p, err := r.ReadPacket(v)
			if err != nil {
				close(got)
				return
			}
			got <- p
		}
	})
	var delivered atomic.Int32
	var payloads = make(chan string, 4)
	c, _, err := mqttclient.Dial(context.Background(), mqttclient.Options{Addr: addr, ClientID: "q2", OnPublish: func(p *packet.Publish) {
		delivered.Add(1)
		payloads <- string(p.Payload)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var seq []packet.Type
	timeout := time.After(5 * time.Second)
	for len(seq) < 5 {
		select {
		case p := <-got:
			seq = append(seq, p.Type())
		case <-timeout:
			t.Fatalf("answers so far %v", seq)
		}
	}
	want := []packet.Type{packet.PUBREC, packet.PUBREC, packet.PUBCOMP, packet.PUBREC, packet.PUBCOMP}
	for i := range want {
		if seq[i] != want[i] {
			t.Fatalf("answers %v, want %v", seq, want)
		}
	}
	if delivered.Load() != 2 || <-payloads != "a" || <-payloads != "b" || c.QoS2Resends() != 1 {
		t.Fatalf("delivered %d resends %d", delivered.Load(), c.QoS2Resends())
	}
}

// TestInflightWindow: against a broker that never acknowledges, the client sends exactly
// min(Inflight, Receive Maximum) QoS 1 PUBLISHes and then waits.
func TestInflightWindow(t *testing.T) {
	var seen atomic.Int32
	release := make(chan struct{})
	addr := fakeBroker(t, 3, func(c net.Conn, r *packet.Reader) {
		var held []uint16
		for {
			p, err := r.ReadPacket(packet.V5)
			if err != nil {
				return
			}
			pub, ok := p.(*packet.Publish)
			if !ok {
				continue
			}
			seen.Add(1)
			if held != nil || seen.Load() <= 3 {
				// Acknowledge nothing until released; the client must stop at 3.
				held = append(held, pub.PacketID)
				if seen.Load() < 3 {
					continue
				}
				<-release
				for _, id := range held {
					send(c, packet.V5, &packet.Puback{PacketID: id})
				}
				held = nil
				continue
			}
			send(c, packet.V5, &packet.Puback{PacketID: pub.PacketID})
		}
	})
	c, _, err := mqttclient.Dial(context.Background(), mqttclient.Options{Addr: addr, Version: packet.V5, ClientID: "w", Inflight: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Window() != 3 {
		t.Fatalf("window %d, want the receive maximum 3", c.Window())
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for range 6 {
			if err := c.Publish(ctx, "t", 1, false, []byte("x")); err != nil {
				done <- err
				return
			}
		}
		done <- c.WaitInflight(ctx)
	}()
	time.Sleep(300 * time.Millisecond)
	if n := seen.Load(); n != 3 || c.Published() != 3 {
		t.Fatalf("broker saw %d PUBLISHes, client published %d, before any acknowledgement; want 3", n, c.Published())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Completed() != 6 || seen.Load() != 6 {
		t.Fatalf("completed %d seen %d", c.Completed(), seen.Load())
	}
}
