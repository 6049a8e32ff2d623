package main

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// TestSubscribeStormSurvivesKill: devices with persistent sessions connect and subscribe, eight
// at a time, while the node is killed with SIGKILL at a random moment; after the restart every
// subscription that got its SUBACK is there: a message published to it is queued for the
// offline session and delivered when the device comes back. Three kills, MQTT 3.1.1 and 5
// devices; store.sync = batch (the default), whose SUBACK waits for the group commit.
func TestSubscribeStormSurvivesKill(t *testing.T) {
	addr := freePort(t)
	conf := writeNodeConf(t, t.TempDir(), addr, "")
	n := startNode(t, conf, addr)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range 3 {
		acked := subscribeStorm(t, addr, round, time.Duration(200+rng.IntN(400))*time.Millisecond, n)
		n = startNode(t, conf, addr)
		if len(acked) < 20 {
			t.Fatalf("round %d: only %d SUBACKs before the kill; the storm did not run", round, len(acked))
		}
		pc, _ := dialClient(t, addr, packet.V311, fmt.Sprint("storm-pub-", round), true, 0)
		pub := &publisher{client: pc}
		for _, id := range acked {
			pub.publish("storm/"+id, "after the kill", 1)
		}
		missing := 0
		for _, id := range acked {
			v := packet.V311
			if id[len(id)-1] == '5' {
				v = packet.V5
			}
			c, ack, err := dialQuiet(t, addr, v, id)
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, id, err)
			}
			if !ack.SessionPresent {
				t.Errorf("round %d: %s's session is gone after the kill", round, id)
				missing++
				c.nc.Close()
				continue
			}
			if got := c.collect(1, 5*time.Second); len(got) != 1 || got[0].topic != "storm/"+id {
				t.Errorf("round %d: %s got %+v after the kill; its SUBACKed subscription is lost", round, id, got)
				missing++
			}
			c.nc.Close()
		}
		t.Logf("round %d: %d SUBACKed subscriptions before the kill, %d missing after it", round, len(acked), missing)
		if missing > 0 {
			t.FailNow()
		}
	}
	n.stop()
}

// subscribeStorm runs eight devices that each connect a persistent session, subscribe to a
// topic of their own and disconnect, one after the other, until the node (killed after the
// given time) stops answering. It returns the client ids whose SUBACK arrived.
func subscribeStorm(t *testing.T, addr string, round int, killAfter time.Duration, n *node) []string {
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v, suffix := packet.V311, "3"
				if i%2 == 1 {
					v, suffix = packet.V5, "5"
				}
				id := fmt.Sprintf("storm-%d-%d-%d-v%s", round, g, i, suffix)
				c, _, err := dialQuiet(t, addr, v, id)
				if err != nil {
					return // the node is gone
				}
				if c.trySend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "storm/" + id, QoS: 1}}}) != nil {
					c.nc.Close()
					return
				}
				c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				p, err := c.r.ReadPacket(v)
				c.nc.Close()
				if ack, ok := p.(*packet.Suback); err != nil || !ok || ack.ReasonCodes[0].Failure() {
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(killAfter)
	n.kill()
	close(stop)
	wg.Wait()
	return acked
}
