package main

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Issue 15 ([durability]) in a cluster of real processes, on whichever metadata backend the
// test binary links (`go test -tags swc` runs them on SWC): nothing a broker acknowledged is
// lost when the node holding the sessions is killed, when connects of one client id race on
// two nodes, or when retained messages are written on both sides of a partition. The clients
// and the lost/duplicate checker are the crash loop's (crashclients_test.go, crashloop_test.go).
//
// NAUTILUS_DURABILITY_SCALE=k multiplies the kills (3) and the reconnects (100); the defaults
// are sized for CI on two cores. NAUTILUS_DURABILITY_SEED replays a run's random schedule
// (each run logs its seed).

// allowDuringNetsplit lets every node take clients and publishes while a peer is unreachable:
// the defaults refuse them, which loses nothing but tests nothing either. With these on,
// messages for the unreachable side are acknowledged and must be kept for it.
const allowDuringNetsplit = "allow_register_during_netsplit = on\nallow_publish_during_netsplit = on\n" +
	"allow_subscribe_during_netsplit = on\nallow_unsubscribe_during_netsplit = on\n"

// unboundedQueues: the tests publish thousands of messages, and the default queue bounds
// (1000) would drop some by design, which the checker would count as lost.
const unboundedQueues = "max_offline_messages = -1\nmax_online_messages = -1\n"

func durabilityScale(t *testing.T) int {
	s := os.Getenv("NAUTILUS_DURABILITY_SCALE")
	if s == "" {
		return 1
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 {
		t.Fatalf("NAUTILUS_DURABILITY_SCALE=%q: want a positive number", s)
	}
	return k
}

func durabilityRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NAUTILUS_DURABILITY_SEED"); s != "" {
		k, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("NAUTILUS_DURABILITY_SEED=%q: want a number", s)
		}
		seed = k
	}
	t.Logf("%s backend, seed %d (NAUTILUS_DURABILITY_SEED=%d replays the schedule)", metadataBackend, seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// startAdminCluster starts n nodes with an admin API each (for session and member queries)
// and conf; it returns the nodes and their admin addresses.
func startAdminCluster(t *testing.T, n int, conf string) ([]*clusterNode, []string) {
	https := make([]string, n)
	nodes := startClusterEach(t, n, func(i int) string {
		https[i] = freePort(t)
		return "listener.http.default = " + https[i] + "\n" + conf
	})
	return nodes, https
}

// awaitClusterView waits until every node counts every member live and holds subs
// subscriptions in its table. Subscriptions reach other nodes asynchronously (and
// subscribe_waits_for_cluster waits only for the peers the subscribing node already knew): a
// message published on a node whose table lacks them matches nobody and is owed to nobody, so
// the publishers start only once every node has them.
func awaitClusterView(t *testing.T, nodes []*clusterNode, https []string, subs int) {
	t.Helper()
	for i, n := range nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("%s sees %d members and %d subscriptions", n.name, len(nodes), subs), func() bool {
			var st struct {
				Members       int `json:"cluster_members"`
				Subscriptions int
			}
			adminGet(t, n, https[i], "/api/v1/status", &st)
			return st.Members == len(nodes) && st.Subscriptions == subs
		})
	}
}

// subscribeAt creates each subscriber's persistent session on addr with its subscription,
// then leaves it offline, as the crash rig does.
func subscribeAt(t *testing.T, addr, filter string, subs ...*checkSub) {
	t.Helper()
	for _, s := range subs {
		c, _ := dialClient(t, addr, s.v, s.name, false, 3600)
		c.subscribe(filter)
		c.send(&packet.Disconnect{})
		c.waitClosed()
		s.connects = 1
	}
}

// distinct is how many different payloads s has delivered so far.
func (s *checkSub) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *checkSub) connectCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

// memberStatus is the status (alive, failed, …) n's gossip reports for the member named name.
func memberStatus(t *testing.T, n *clusterNode, httpAddr, name string) string {
	t.Helper()
	var info struct {
		Members []struct{ Node, Status string }
	}
	adminGet(t, n, httpAddr, "/api/v1/cluster", &info)
	for _, m := range info.Members {
		if m.Node == name {
			return m.Status
		}
	}
	return "unknown"
}

// TestDurabilityKillSubscriberNode kills n2, which holds every persistent subscriber's
// session, with SIGKILL at random moments while publishers on n1 and n3 send QoS 1 and 2,
// and restarts it. Two subscribers are connected to n2 throughout (one reads slowly, so n2
// holds a backlog for it), reconnecting after each restart; two are offline until the end.
// Most kills are restarted at once; one in three stays down until n1 and n3 declare n2
// failed, so they hold what they acknowledged for it across a netsplit as they see it.
// Every message a publisher got PUBACK or PUBREC for must reach every subscriber (the crash
// rig's checker), and none at QoS 2 more than once: n2 stores again, after a kill, what peers
// forwarded and it had stored but not yet acknowledged, and its receipts keep those queues from
// taking a QoS 2 message twice. QoS 1 duplicates are figures.
func TestDurabilityKillSubscriberNode(t *testing.T) {
	kills := 3 * durabilityScale(t)
	rng := durabilityRand(t)
	nodes, https := startAdminCluster(t, 3, allowDuringNetsplit+unboundedQueues)
	victim := nodes[1]
	r := &crashRig{t: t, conf: victim.conf, addr: victim.mqtt, n: victim.proc, stop: make(chan struct{}), quit: make(chan struct{})}
	slow := newCheckSub(t, "slow-5", packet.V5)
	slow.stallEvery = 200
	r.online = []*checkSub{newCheckSub(t, "online-311", packet.V311), slow}
	r.offline = []*checkSub{newCheckSub(t, "offline-311", packet.V311), newCheckSub(t, "offline-5", packet.V5)}
	awaitClusterView(t, nodes, https, 0)
	subscribeAt(t, victim.mqtt, crashFilter+"@2", r.subs()...)
	awaitClusterView(t, nodes, https, len(r.subs()))
	t.Cleanup(r.stopClients)

	r.pubs = []*pipePublisher{newPipePublisher(t, "pa", packet.V311, 10), newPipePublisher(t, "pb", packet.V5, 8)}
	for i, p := range r.pubs {
		r.runPublisher(p, []string{nodes[0].mqtt, nodes[2].mqtt}[i], 40*time.Millisecond)
	}
	for _, s := range r.online {
		r.goOnline(s)
	}

	for k := 1; k <= kills; k++ {
		r.awaitClusterTraffic()
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		r.n.kill()
		killed := time.Now()
		if k%3 == 2 {
			for _, i := range []int{0, 2} {
				eventually(t, 40*time.Second, nodes[i].name+" declares the killed n2 failed", func() bool {
					return memberStatus(t, nodes[i], https[i], victim.name) == "failed"
				})
			}
		} else {
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		}
		t.Logf("kill %d/%d, down %v; acknowledged so far: %s", k, kills, time.Since(killed).Round(time.Millisecond), r.ackedSoFar())
		r.n = startNode(t, r.conf, r.addr)
		victim.proc = r.n
	}
	r.awaitClusterTraffic()
	drainFrom := time.Now()
	r.finish()
	t.Logf("settled and drained in %v", time.Since(drainFrom).Round(time.Millisecond))
	r.check()
}

// TestDurabilityKillPublisherNode kills the node the publishers are connected to (n2) while
// every subscriber's session lives on n1. Before each kill n1 is paused (SIGSTOP) until n2
// declares it failed, so n2 acknowledges messages to its publishers that it cannot hand to
// n1: its outbox holds them, and it must send them after its restart, when n1 runs again. Two subscribers stay
// connected to n1, one is offline until the end; publishers reconnect to n2 and resend what
// was not acknowledged. Nothing acknowledged may be lost, and no QoS 2 message may arrive
// twice: n2 resends its outbox under a new run, and the items carry the identity they were
// first sent under, which n1's QoS 2 receipts recognise (before they did, this was a known
// gap). QoS 1 duplicates are figures.
func TestDurabilityKillPublisherNode(t *testing.T) {
	kills := 3 * durabilityScale(t)
	rng := durabilityRand(t)
	nodes, https := startAdminCluster(t, 2, allowDuringNetsplit+unboundedQueues)
	home, victim := nodes[0], nodes[1] // n2 has n1 as its seed, so it rejoins at once
	r := &crashRig{t: t, addr: home.mqtt, stop: make(chan struct{}), quit: make(chan struct{})}
	r.online = []*checkSub{newCheckSub(t, "online-311", packet.V311), newCheckSub(t, "online-5", packet.V5)}
	r.offline = []*checkSub{newCheckSub(t, "offline-311", packet.V311)}
	awaitClusterView(t, nodes, https, 0)
	subscribeAt(t, home.mqtt, crashFilter+"@1", r.subs()...)
	awaitClusterView(t, nodes, https, len(r.subs()))
	t.Cleanup(r.stopClients)

	r.pubs = []*pipePublisher{newPipePublisher(t, "pa", packet.V311, 10), newPipePublisher(t, "pb", packet.V5, 8)}
	for _, p := range r.pubs {
		r.runPublisher(p, victim.mqtt, 40*time.Millisecond)
	}
	for _, s := range r.online {
		r.goOnline(s)
	}
	for k := 1; k <= kills; k++ {
		r.awaitClusterTraffic()
		pause(t, home.proc, syscall.SIGSTOP)
		// Until n2 declares n1 failed, what n2 sends still reaches n1's socket buffer and
		// survives n2; after it, n2 holds the messages itself.
		eventually(t, 40*time.Second, "n2 declares the paused n1 failed", func() bool {
			return memberStatus(t, victim, https[1], home.name) == "failed"
		})
		held := r.ackedSoFar()
		time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		victim.proc.kill()
		pause(t, home.proc, syscall.SIGCONT)
		t.Logf("kill %d/%d; acknowledged when n2 saw n1 fail: %s; at the kill: %s", k, kills, held, r.ackedSoFar())
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		victim.proc = startNode(t, victim.conf, victim.mqtt)
	}
	r.awaitClusterTraffic()
	r.n = victim.proc // finish stops it
	r.finish()
	r.check()
}

// pause sends n a job-control signal (SIGSTOP, SIGCONT).
func pause(t *testing.T, n *node, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// awaitClusterTraffic waits until every publisher was acknowledged again and every online
// subscriber received new messages: the (restarted) node serves its sessions and the others
// route to it, so the next kill lands in traffic. The crash rig's awaitTraffic counts the
// publishers' connections, which a kill of another node does not break.
func (r *crashRig) awaitClusterTraffic() {
	acked := make([]int, len(r.pubs))
	for i, p := range r.pubs {
		acked[i], _ = p.progress()
	}
	got := make([]int, len(r.online))
	for i, s := range r.online {
		got[i] = s.distinct()
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, p := range r.pubs {
		for n, _ := p.progress(); n <= acked[i]; n, _ = p.progress() {
			if time.Now().After(deadline) {
				r.t.Fatalf("publisher %s got no acknowledgement within 30 s: %s", p.name, p.state())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i, s := range r.online {
		for s.distinct() <= got[i] {
			if time.Now().After(deadline) {
				r.t.Fatalf("subscriber %s received nothing new within 30 s (%d connects)", s.name, s.connectCount())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestDurabilityRacingConnects: a persistent subscriber reconnects over and over, staying
// connected a moment each time, and about a third of its reconnects are two connects of its
// client id at the same instant on two different nodes, while a publisher on n1 sends QoS 1.
// Every message acknowledged to the publisher must reach it (a race may deliver some twice:
// a figure at QoS 1), its session must never be lost, and at the end exactly one node holds
// the session.
func TestDurabilityRacingConnects(t *testing.T) {
	rounds := 100 * durabilityScale(t)
	rng := durabilityRand(t)
	nodes, https := startAdminCluster(t, 3, unboundedQueues)
	racer := newCheckSub(t, "racer", packet.V5)
	awaitClusterView(t, nodes, https, 0)
	subscribeAt(t, nodes[0].mqtt, crashFilter+"@1", racer)
	awaitClusterView(t, nodes, https, 1)
	pub := newPipePublisher(t, "rp", packet.V311, 8)
	pub.qos = 1
	// The final drain connects to n3 (r.addr); r.n is not used.
	r := &crashRig{t: t, addr: nodes[2].mqtt, pubs: []*pipePublisher{pub}, offline: []*checkSub{racer},
		stop: make(chan struct{}), quit: make(chan struct{})}
	t.Cleanup(r.stopClients)
	r.runPublisher(pub, nodes[0].mqtt, 20*time.Millisecond)

	st := raceReconnects(racer, nodes, rounds, rng)
	t.Logf("%d reconnects: %d alone (%d refused), %d races (one accepted %d, both accepted %d, none %d); acknowledged so far: %s",
		rounds, st.singles, st.refusedSingles, st.races, st.oneAccepted, st.bothAccepted, st.noneAccepted, r.ackedSoFar())
	r.settle()
	r.goOnline(racer)
	r.drain(r.acknowledged())
	racer.hangUp()
	r.subsDone.Wait()
	awaitOneHolder(t, nodes, https, racer.name)
	r.check()
}

// raceStats is how the reconnects went; refusals are allowed (the client tries again), they
// are reported to show the races happened.
type raceStats struct {
	singles, refusedSingles                        int
	races, oneAccepted, bothAccepted, noneAccepted int
}

// raceReconnects runs the subscriber's reconnects: each stays 30–130 ms (acknowledging what
// arrives), then leaves with DISCONNECT, and the client is offline up to 40 ms before the next.
// In a race both connections do this; the older one is refused, or taken over if it was
// already accepted.
func raceReconnects(s *checkSub, nodes []*clusterNode, rounds int, rng *rand.Rand) raceStats {
	var st raceStats
	for range rounds {
		until := time.Now().Add(time.Duration(30+rng.IntN(100)) * time.Millisecond)
		before := s.connectCount()
		if rng.IntN(100) >= 30 {
			st.singles++
			s.serve(nodes[rng.IntN(len(nodes))].mqtt, crashFilter, until)
			if s.connectCount() == before {
				st.refusedSingles++
			}
		} else {
			st.races++
			a := rng.IntN(len(nodes))
			b := (a + 1 + rng.IntN(len(nodes)-1)) % len(nodes)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, i := range []int{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					s.serve(nodes[i].mqtt, crashFilter, until)
				}()
			}
			close(start)
			wg.Wait()
			switch s.connectCount() - before {
			case 0:
				st.noneAccepted++
			case 1:
				st.oneAccepted++
			default:
				st.bothAccepted++
			}
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
	}
	return st
}

// awaitOneHolder fails unless exactly one node holds clientID's session within 10 s (a move
// under way may still be finishing when the client leaves).
func awaitOneHolder(t *testing.T, nodes []*clusterNode, https []string, clientID string) {
	t.Helper()
	var holders []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		holders = holders[:0]
		for i, n := range nodes {
			if exists, _ := sessionOn(t, n, https[i], clientID); exists {
				holders = append(holders, n.name)
			}
		}
		if len(holders) == 1 {
			t.Logf("session %s held by %s", clientID, holders[0])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is held by %d nodes %v, want exactly 1", clientID, len(holders), holders)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// retainedWrite is one retained publish: an empty payload clears the topic.
type retainedWrite struct {
	node           int
	topic, payload string
}

// partitionWrites are the writes made while n3 is cut off, in time order, so that each
// resolution of concurrent writes across the cut occurs: n1 and n2 are one side (A), n3 the
// other (B). The comment after each topic's last write is what it must end as.
var partitionWrites = []retainedWrite{
	{0, "ret/t0", "a0"}, {2, "ret/t1", "b1"}, {1, "ret/t2", ""}, {2, "ret/t3", ""},
	{0, "ret/t4", "a4"}, {2, "ret/t6", "b6"}, {2, "ret/t7", "b7"}, {1, "ret/t8", "a8"},
	{2, "ret/t9", "b9"}, {1, "ret/t6", "a6"},
	{2, "ret/t0", ""},   // cleared: B's later clear beats A's set
	{0, "ret/t1", ""},   // cleared: A's later clear beats B's set
	{2, "ret/t2", "b2"}, // b2: B's later set beats A's clear
	{1, "ret/t3", "a3"}, // a3: A's later set beats B's clear
	{2, "ret/t4", "b4"}, // b4: B's later set beats A's set
	{2, "ret/t5", ""},   // cleared on B alone
	{0, "ret/t6", ""},   // cleared: A set and cleared after B's set
	{2, "ret/t8", ""},   // cleared: a topic new in the cut, set on A, cleared later on B
	{0, "ret/t9", "a9"}, // a9: a topic new in the cut, set on B, set later on A
	// ret/t7 stays b7: set on B alone
}

// TestDurabilityPartitionRetained runs three nodes in network namespaces, sets retained
// messages on six topics, cuts n3 off the cluster network for 20 s (long enough for either
// side to declare the other failed) and meanwhile sets and clears retained messages on both
// sides, one write a second, so that some land before the failure detectors fire and some
// after. After the heal, a fresh clean client subscribing to '#' on each node must see the
// same retained messages, those of each topic's last write, within 30 s: a later clear must
// not come back and a later set must not stay cleared. The nodes allow every operation
// during a netsplit (the defaults would refuse the writes).
func TestDurabilityPartitionRetained(t *testing.T) {
	tn := newTestNet(t, 3)
	nodes, https := make([]*clusterNode, 3), make([]string, 3)
	for i := range nodes {
		// The admin API is on the access link, which the cut leaves up.
		https[i] = tn.accessAddr(i) + ":8888"
		conf := writeNodeConf(t, filepath.Join(t.TempDir()), tn.mqttAddr(i),
			tn.confFor(i, allowDuringNetsplit+"listener.http.default = "+https[i]+"\n"))
		nodes[i] = &clusterNode{name: tn.nodeName(i), mqtt: tn.mqttAddr(i), conf: conf}
		nodes[i].proc = startNodeIn(t, tn.nss[i], conf, tn.mqttAddr(i))
	}
	addrs := []string{tn.mqttAddr(0), tn.mqttAddr(1), tn.mqttAddr(2)}
	// Writers connect before the cut: a CONNECT asks every member about its client id, and
	// on a side that has not yet declared the other failed it waits up to 10 s for an answer.
	writers := make([]*publisher, 3)
	for i, addr := range addrs {
		c, _ := dialClient(t, addr, packet.V311, fmt.Sprintf("writer-%d", i+1), true, 0)
		writers[i] = &publisher{client: c}
	}
	want := map[string]string{}
	write := func(w retainedWrite) {
		setRetained(writers[w.node], w.topic, w.payload)
		if w.payload == "" {
			delete(want, w.topic)
		} else {
			want[w.topic] = w.payload
		}
	}
	for k := range 6 {
		write(retainedWrite{k % 3, fmt.Sprintf("ret/t%d", k), "base"})
	}
	awaitRetained(t, addrs, want, 30*time.Second, "before the cut")

	const cut = 20 * time.Second
	tn.cut(2)
	cutAt := time.Now()
	step := cut / time.Duration(len(partitionWrites)+1)
	for i, w := range partitionWrites {
		time.Sleep(time.Until(cutAt.Add(time.Duration(i+1) * step)))
		write(w)
	}
	time.Sleep(time.Until(cutAt.Add(cut)))
	checkSplitSeen(t, nodes, https)
	tn.heal(2)
	t.Logf("healed after %v; want %v", time.Since(cutAt).Round(time.Millisecond), want)
	awaitRetained(t, addrs, want, 30*time.Second, "after the heal")
	for _, n := range nodes {
		n.proc.stop()
	}
}

// checkSplitSeen fails unless both sides declared the other failed during the cut: the
// writes after that are the ones that resolve through anti-entropy after a rejoin rather than
// a delayed broadcast, and a cut too short for the failure detector would not test them.
func checkSplitSeen(t *testing.T, nodes []*clusterNode, https []string) {
	t.Helper()
	for i, n := range nodes {
		for j, other := range nodes {
			if i == j || (i != 2 && j != 2) {
				continue
			}
			if st := memberStatus(t, n, https[i], other.name); st != "failed" {
				t.Errorf("at the end of the cut %s reports %s %q, want failed", n.name, other.name, st)
			}
		}
	}
}

// setRetained publishes a retained message at QoS 1 and waits for its PUBACK: the write is
// committed on that node. (MQTT 3.1.1 has no negative PUBACK: a refusal closes the connection
// and fails the read.)
func setRetained(p *publisher, topic, payload string) {
	p.t.Helper()
	p.id++
	p.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: p.id, Retain: true, Payload: []byte(payload)})
	if ack, ok := p.read().(*packet.Puback); !ok || ack.PacketID != p.id {
		p.t.Fatalf("retained publish on %s: got %+v, want PUBACK %d", topic, ack, p.id)
	}
}

// awaitRetained polls every node until each one's retained messages are exactly want, and
// fails after within with what each node differs by.
func awaitRetained(t *testing.T, addrs []string, want map[string]string, within time.Duration, what string) {
	t.Helper()
	start := time.Now()
	for {
		var diffs []string
		for i, addr := range addrs {
			got, err := retainedSnapshot(addr)
			switch {
			case err != nil:
				diffs = append(diffs, fmt.Sprintf("n%d: %v", i+1, err))
			case !maps.Equal(got, want):
				diffs = append(diffs, fmt.Sprintf("n%d: %s", i+1, retainedDiff(got, want)))
			}
		}
		if len(diffs) == 0 {
			t.Logf("%s: every node has the %d retained messages after %v", what, len(want), time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > within {
			t.Fatalf("%s: retained messages differ after %v:\n%s", what, within, strings.Join(diffs, "\n"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// retainedSnapshot subscribes a fresh clean client to '#' on addr and returns the retained
// messages it is sent, by topic: everything that arrives until 300 ms pass without a message.
// It returns errors rather than failing: right after a heal a CONNECT may wait for a peer.
func retainedSnapshot(addr string) (map[string]string, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	r := packet.NewReader(bufio.NewReader(nc), 0)
	id := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	for _, p := range []packet.Packet{
		&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: id},
		&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}}},
	} {
		buf, err := packet.Encode(nil, packet.V311, p)
		if err != nil {
			return nil, err
		}
		if _, err := nc.Write(buf); err != nil {
			return nil, err
		}
	}
	got := map[string]string{}
	subacked := false
	for {
		wait := 15 * time.Second // CONNACK and SUBACK
		if subacked {
			wait = 300 * time.Millisecond
		}
		nc.SetReadDeadline(time.Now().Add(wait))
		p, err := r.ReadPacket(packet.V311)
		if err != nil {
			if subacked {
				return got, nil
			}
			return nil, fmt.Errorf("probe before SUBACK: %v", err)
		}
		switch p := p.(type) {
		case *packet.Connack:
			if p.ReasonCode != 0 {
				return nil, fmt.Errorf("probe refused: CONNACK %#x", byte(p.ReasonCode))
			}
		case *packet.Suback:
			subacked = true
		case *packet.Publish:
			if p.Retain {
				got[strings.Clone(p.Topic)] = string(p.Payload)
			}
		}
	}
}

// retainedDiff says how got differs from want: missing topics, wrong payloads, extra topics.
func retainedDiff(got, want map[string]string) string {
	var out []string
	for _, topic := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[topic]; !ok {
			out = append(out, fmt.Sprintf("%s missing (want %q)", topic, want[topic]))
		} else if g != want[topic] {
			out = append(out, fmt.Sprintf("%s = %q (want %q)", topic, g, want[topic]))
		}
	}
	for _, topic := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[topic]; !ok {
			out = append(out, fmt.Sprintf("%s = %q (want cleared)", topic, got[topic]))
		}
	}
	return strings.Join(out, "; ")
}
