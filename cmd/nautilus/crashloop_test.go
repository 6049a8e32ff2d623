package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Issue 15 ([durability]): acknowledged messages must survive restarts, clean or not, and
// arrive exactly once. These tests drive the real binary; the clients live in
// crashclients_test.go.

// TestRestartKeepsMessageIdentity is the reproduction: a persistent subscriber
// subscribes and leaves, batches of messages are published with a restart after each, and on
// reconnecting it must get every message once, in order. Message ids that start again at 0
// after a restart collide with the stored ones: the subscriber then got the old messages
// twice and none of the new.
func TestRestartKeepsMessageIdentity(t *testing.T) {
	for _, how := range []string{"stop", "kill"} {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			for _, qos := range []byte{1, 2} {
				t.Run(fmt.Sprintf("%s/mqtt%s/qos%d", how, v, qos), func(t *testing.T) {
					identityAcrossRestarts(t, how, v, qos)
				})
			}
		}
	}
	for _, how := range []string{"stop", "kill"} {
		t.Run("mosquitto/"+how, func(t *testing.T) { identityWithMosquitto(t, how) })
	}
}

// restartNode ends n with SIGTERM ("stop") or SIGKILL ("kill") and starts it again on the same
// configuration and data.
func restartNode(t *testing.T, n *node, how string) *node {
	t.Helper()
	if how == "stop" {
		n.stop()
	} else {
		n.kill()
	}
	return startNode(t, n.conf, n.addr)
}

// identityAcrossRestarts publishes four batches with a restart after each. The subscriber is
// offline for batches 0, 1 and 3 (the case: stored messages whose ids the next process
// hands out again) and connected but not reading during batch 2, so that with
// max_inflight_messages = 3 the broker holds three messages in flight and the rest in the
// connection's backlog when it goes down: kill -9 lost those.
func identityAcrossRestarts(t *testing.T, how string, v packet.Version, qos byte) {
	const batch = 5
	dir := t.TempDir()
	addr := freePort(t)
	n := startNode(t, writeNodeConf(t, dir, addr, "max_inflight_messages = 3\n"), addr)
	sub, _ := dialClient(t, addr, v, "subX", false, 3600)
	sub.subscribe(fmt.Sprintf("ident/#@%d", qos))
	sub.send(&packet.Disconnect{})
	sub.waitClosed()

	var want []string
	for b, online := range []bool{false, false, true, false} {
		var held *client
		if online {
			var ack *packet.Connack
			if held, ack = dialClient(t, addr, v, "subX", false, 3600); !ack.SessionPresent {
				t.Fatalf("batch %d: the subscriber's session is gone", b)
			}
		}
		pc, _ := dialClient(t, addr, v, "pubX", true, 0)
		pub := &publisher{client: pc}
		for i := 1; i <= batch; i++ {
			payload := fmt.Sprintf("b%d-%d", b, i)
			pub.publish("ident/x", payload, qos)
			want = append(want, payload)
		}
		pub.send(&packet.Disconnect{})
		pub.waitClosed()
		n = restartNode(t, n, how)
		if held != nil {
			held.nc.Close()
		}
	}

	back, ack := dialClient(t, addr, v, "subX", false, 3600)
	if !ack.SessionPresent {
		t.Fatal("the subscriber's session is gone after the restarts")
	}
	expectExactly(t, back, want, "after 4 restarts")
	back.send(&packet.Disconnect{})
	back.waitClosed()

	// What the subscriber acknowledged must not come back after one more restart. QoS 1 only
	// promises at least once, so after a kill a redelivery there is a figure, not a failure.
	n = restartNode(t, n, how)
	again, _ := dialClient(t, addr, v, "subX", false, 3600)
	if extra := again.collect(len(want), 500*time.Millisecond); len(extra) > 0 {
		report := t.Errorf
		if qos == 1 && how == "kill" {
			report = t.Logf
		}
		report("%d acknowledged messages delivered again after one more restart: %v", len(extra), payloadsOf(extra))
	}
	n.stop()
}

// identityWithMosquitto is the reproduction with Debian's mosquitto clients, as the
// reporter ran it: mosquitto_sub -c -q 1 subscribes and goes away, mosquitto_pub publishes,
// the broker restarts between batches, and mosquitto_sub comes back.
func identityWithMosquitto(t *testing.T, how string) {
	subBin := brokertest.RequireBinary(t, "mosquitto_sub")
	pubBin := brokertest.RequireBinary(t, "mosquitto_pub")
	dir := t.TempDir()
	addr := freePort(t)
	n := startNode(t, writeNodeConf(t, dir, addr, ""), addr)
	host, port, _ := net.SplitHostPort(addr)
	subArgs := []string{"-h", host, "-p", port, "-i", "subX", "-c", "-q", "1", "-t", "ident/#"}
	brokertest.RunCmd(t, 10*time.Second, subBin, append(subArgs, "-E")...).MustSucceed()

	var want []string
	for _, name := range []string{"old", "new", "more"} {
		for i := 1; i <= 5; i++ {
			payload := fmt.Sprintf("%s-%d", name, i)
			brokertest.RunCmd(t, 10*time.Second, pubBin, "-h", host, "-p", port, "-i", "pubX", "-q", "1", "-t", "ident/x", "-m", payload).MustSucceed()
			want = append(want, payload)
		}
		n = restartNode(t, n, how)
	}
	// -W (listen for a while) rather than -C 15: mosquitto_sub can leave right after its last
	// message, before that message's PUBACK went out, and a redelivery would then look like a
	// broker duplicate. Its exit status after -W is a timeout, hence not checked.
	out, _ := brokertest.RunCmd(t, 20*time.Second, subBin, append(subArgs, "-W", "3")...).Wait()
	if got := strings.Fields(out); !slices.Equal(got, want) {
		t.Errorf("mosquitto_sub after 3 restarts (%s): %s", how, describeDelivery(got, want))
	}
	n.stop()
}

// expectExactly collects len(want) messages on c, then anything more that comes within half a
// second, and fails with what is missing, duplicated or out of order.
func expectExactly(t *testing.T, c *client, want []string, what string) {
	t.Helper()
	got := payloadsOf(c.collect(len(want), 5*time.Second))
	got = append(got, payloadsOf(c.collect(len(want), 500*time.Millisecond))...)
	if !slices.Equal(got, want) {
		t.Errorf("%s: %s", what, describeDelivery(got, want))
	}
}

func payloadsOf(rs []received) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.payload
	}
	return out
}

// describeDelivery says how got differs from want.
func describeDelivery(got, want []string) string {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	wanted := map[string]bool{}
	var missing, dup, unexpected []string
	for _, w := range want {
		wanted[w] = true
		if count[w] == 0 {
			missing = append(missing, w)
		}
	}
	for g, k := range count {
		if k > 1 {
			dup = append(dup, fmt.Sprintf("%s×%d", g, k))
		}
		if !wanted[g] {
			unexpected = append(unexpected, g)
		}
	}
	sort.Strings(dup)
	sort.Strings(unexpected)
	return fmt.Sprintf("received %d of %d; missing %v; duplicated %v; unexpected %v; arrival order %v",
		len(got), len(want), missing, dup, unexpected, got)
}

// TestCrashLoop kills the broker with SIGKILL at random moments while pipelined publishers
// send QoS 1 and 2 and persistent subscribers receive, restarting it each time; the publishers
// resend what is unacknowledged. At the end every subscriber drains and must have every
// message whose PUBACK or PUBREC its publisher got, and no QoS 2 message twice as its
// application sees it. QoS 1 duplicates are reported, not failed: at least once allows them.
// NAUTILUS_CRASH_KILLS sets the number of kills (default 8; 0 runs the same traffic without a
// kill, which checks the checker), NAUTILUS_CRASH_SEED the schedule's seed (logged on each run).
func TestCrashLoop(t *testing.T) {
	kills := 8
	if s := os.Getenv("NAUTILUS_CRASH_KILLS"); s != "" {
		k, err := strconv.Atoi(s)
		if err != nil || k < 0 {
			t.Fatalf("NAUTILUS_CRASH_KILLS=%q: want a number of kills", s)
		}
		kills = k
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NAUTILUS_CRASH_SEED"); s != "" {
		k, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("NAUTILUS_CRASH_SEED=%q: want a number", s)
		}
		seed = k
	}
	for _, policy := range []string{"always", "batch"} {
		t.Run("sync="+policy, func(t *testing.T) {
			t.Logf("seed %d (NAUTILUS_CRASH_SEED=%d replays the schedule), %d kills", seed, seed, kills)
			rig := newCrashRig(t, policy)
			rig.loop(kills, rand.New(rand.NewPCG(seed, 0)))
			rig.finish()
			rig.check()
		})
	}
}

// crashRig is one crash loop: the broker, its clients and the goroutines that run them.
type crashRig struct {
	t          *testing.T
	conf, addr string
	n          *node
	pubs       []*pipePublisher
	online     []*checkSub // connected throughout, reconnecting after each restart
	visitors   []*checkSub // connected for a moment now and then
	offline    []*checkSub // connected only at the end
	stop, quit chan struct{}
	pubsDone   sync.WaitGroup
	subsDone   sync.WaitGroup
}

const crashFilter = "crash/#"

// newCrashRig starts the broker, subscribes every subscriber, and starts the publishers and
// the online subscribers. Queues are unbounded: the loop publishes thousands of messages, and
// the default bounds (1000) would drop some by design.
func newCrashRig(t *testing.T, policy string) *crashRig {
	r := &crashRig{t: t, addr: freePort(t), stop: make(chan struct{}), quit: make(chan struct{})}
	r.conf = writeNodeConf(t, t.TempDir(), r.addr,
		"store.sync = "+policy+"\nmax_offline_messages = -1\nmax_online_messages = -1\n")
	r.n = startNode(t, r.conf, r.addr)
	slow := newCheckSub(t, "slow-5", packet.V5)
	slow.stallEvery = 100
	r.online = []*checkSub{newCheckSub(t, "online-311", packet.V311), slow}
	r.visitors = []*checkSub{newCheckSub(t, "visitor-311", packet.V311), newCheckSub(t, "visitor-5", packet.V5)}
	r.offline = []*checkSub{newCheckSub(t, "offline-311", packet.V311), newCheckSub(t, "offline-5", packet.V5)}
	for _, s := range r.subs() {
		c, _ := dialClient(t, r.addr, s.v, s.name, false, 3600)
		c.subscribe(crashFilter + "@2")
		c.send(&packet.Disconnect{})
		c.waitClosed()
		s.connects = 1
	}
	// Windows of 16 and 12 unacknowledged PUBLISHes, refilled every 30 ms: at most ~900
	// messages a second in all, enough to have many in flight at each kill.
	r.pubs = []*pipePublisher{newPipePublisher(t, "pa", packet.V311, 16), newPipePublisher(t, "pb", packet.V5, 12)}
	for _, p := range r.pubs {
		r.runPublisher(p, r.addr, 30*time.Millisecond)
	}
	for _, s := range r.online {
		r.goOnline(s)
	}
	t.Cleanup(r.stopClients)
	return r
}

// stopClients ends every client goroutine, whatever happened to the test: none may outlive it.
func (r *crashRig) stopClients() {
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	for _, s := range r.subs() {
		s.hangUp()
	}
	r.pubsDone.Wait()
	r.subsDone.Wait()
}

func (r *crashRig) subs() []*checkSub {
	return slices.Concat(r.online, r.visitors, r.offline)
}

// runPublisher runs p against addr, refilling its window every interval, until the rig stops it.
func (r *crashRig) runPublisher(p *pipePublisher, addr string, every time.Duration) {
	r.pubsDone.Add(1)
	go func() {
		defer r.pubsDone.Done()
		p.run(addr, every, r.stop, r.quit)
	}()
}

func (r *crashRig) goOnline(s *checkSub) {
	r.subsDone.Add(1)
	go func() {
		defer r.subsDone.Done()
		s.online(r.addr, crashFilter)
	}()
}

// loop kills and restarts the broker kills times. Each kill comes after every publisher was
// acknowledged at least once by the current process (traffic before the kill), then after a
// random pause of up to half a second, so kills land in recovery, resends and steady traffic.
// It returns once the last process has acknowledged traffic too.
func (r *crashRig) loop(kills int, rng *rand.Rand) {
	lives := r.lives()
	for k := 1; k <= kills; k++ {
		var visits sync.WaitGroup
		for _, s := range r.visitors {
			if rng.IntN(3) == 0 {
				stay := time.Duration(100+rng.IntN(700)) * time.Millisecond
				visits.Add(1)
				go func() {
					defer visits.Done()
					s.serve(r.addr, crashFilter, time.Now().Add(stay))
				}()
			}
		}
		r.awaitTraffic(lives)
		pause := time.Duration(rng.IntN(500)) * time.Millisecond
		time.Sleep(pause)
		r.n.kill()
		lives = r.lives()
		r.t.Logf("kill %d/%d after %v of traffic; acknowledged so far: %s", k, kills, pause, r.ackedSoFar())
		r.n = startNode(r.t, r.conf, r.addr)
		visits.Wait() // they ended with the connection the kill broke, or left before
	}
	r.awaitTraffic(lives)
}

// lives is, per publisher, on how many connections it was acknowledged so far. Taken once the
// broker is dead, it tells apart the acknowledgements of the next process.
func (r *crashRig) lives() []int {
	out := make([]int, len(r.pubs))
	for i, p := range r.pubs {
		_, out[i] = p.progress()
	}
	return out
}

// awaitTraffic waits until each publisher has been acknowledged on a connection it was not
// acknowledged on when before was taken.
func (r *crashRig) awaitTraffic(before []int) {
	deadline := time.Now().Add(15 * time.Second)
	for i, p := range r.pubs {
		for {
			if _, lives := p.progress(); lives > before[i] {
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("publisher %s got no acknowledgement within 15 s of the restart: %s", p.name, p.state())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (r *crashRig) ackedSoFar() string {
	var parts []string
	for _, p := range r.pubs {
		acked, _ := p.progress()
		parts = append(parts, fmt.Sprintf("%s %d", p.name, acked))
	}
	return strings.Join(parts, ", ")
}

// finish lets traffic run on the last process a little longer, has the publishers settle
// everything in flight, then connects every subscriber and lets them drain.
func (r *crashRig) finish() {
	time.Sleep(300 * time.Millisecond)
	r.settle()
	for _, s := range slices.Concat(r.visitors, r.offline) {
		r.goOnline(s)
	}
	r.drain(r.acknowledged())
	for _, s := range r.subs() {
		s.hangUp()
	}
	r.subsDone.Wait()
	r.n.stop()
}

// settle stops the publishers once they have settled everything in flight.
func (r *crashRig) settle() {
	close(r.stop)
	settled := make(chan struct{})
	go func() { r.pubsDone.Wait(); close(settled) }()
	select {
	case <-settled:
	case <-time.After(60 * time.Second):
		r.t.Errorf("the publishers did not settle their messages in flight within 60 s")
		close(r.quit)
		<-settled
	}
}

// drain waits until every subscriber has every message in want, or three seconds passed
// without a message to those that have not, then half a second more for late duplicates.
func (r *crashRig) drain(want map[string]byte) {
	start := time.Now()
	for _, s := range r.subs() {
		for {
			n, last := s.seen(want)
			if n == len(want) || (time.Since(start) > 5*time.Second && time.Since(last) > 3*time.Second) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
}

// acknowledged is every message a publisher got PUBACK or PUBREC for, with its QoS.
func (r *crashRig) acknowledged() map[string]byte {
	want := map[string]byte{}
	for _, p := range r.pubs {
		for seq, qos := range p.acked {
			want[fmt.Sprintf("%s-%d", p.name, seq)] = qos
		}
	}
	return want
}

// check prints a line per publisher and subscriber and fails on lost acknowledged messages,
// on QoS 2 messages the application saw twice, and on anything the clients saw that a
// correct broker never sends.
func (r *crashRig) check() {
	t := r.t
	want := r.acknowledged()
	for _, p := range r.pubs {
		t.Logf("publisher %-3s published %5d, acknowledged %5d, refused %d, resent %d, connects %d, sessions lost %d",
			p.name, p.nextSeq, len(p.acked), p.refused, p.resent, p.connects, p.sessionLost)
		if p.sessionLost > 0 {
			t.Errorf("publisher %s: the broker lost its session %d times: QoS 2 resends cannot be recognised", p.name, p.sessionLost)
		}
	}
	for _, s := range r.subs() {
		tl := s.tally(want)
		t.Logf("subscriber %-11s acknowledged %5d, received %5d, lost %4d, duplicated QoS 1 %4d, QoS 2 %4d (%d with DUP; resends before PUBREL, not delivered: %d), connects %d",
			s.name, len(want), tl.received, len(tl.lost), tl.dup1, tl.dup2, s.dupFlag2, s.protoDups, s.connects)
		if len(tl.lost) > 0 {
			t.Errorf("subscriber %s lost %d acknowledged messages, e.g. %v", s.name, len(tl.lost), sample(tl.lost))
		}
		if tl.dup2 > 0 {
			t.Errorf("subscriber %s received %d QoS 2 messages more than once (connection#packet id of each delivery), e.g. %v",
				s.name, len(tl.dup2Msgs), sample(tl.dup2Msgs))
		}
		if s.lostSess > 0 || s.idReuse > 0 || s.renumber > 0 || s.subFailed > 0 || len(s.foreign) > 0 {
			// A packet id this subscriber answered with PUBREC stays taken until its PUBREL, in
			// the client's session: a client that delivers on PUBLISH drops a different message
			// sent under it as a duplicate, so such messages count as lost above.
			t.Errorf("subscriber %s: sessions lost %d; QoS 2 messages resent under a new packet id %d; "+
				"new messages under a packet id still awaiting PUBREL %d; subscriptions refused %d; unknown payloads %v",
				s.name, s.lostSess, s.renumber, s.idReuse, s.subFailed, sample(s.foreign))
		}
	}
}

// tally is what one subscriber's application saw against what was acknowledged.
type tally struct {
	received int      // distinct messages, acknowledged or not
	lost     []string // acknowledged, never delivered
	dup1     int      // QoS 1 deliveries beyond the first
	dup2     int      // QoS 2 deliveries beyond the first
	dup2Msgs []string // the QoS 2 messages delivered more than once
}

func (s *checkSub) tally(want map[string]byte) tally {
	var tl tally
	for payload, n := range s.got {
		tl.received++
		switch {
		case n > 1 && s.qos[payload] == 2:
			tl.dup2 += n - 1
			tl.dup2Msgs = append(tl.dup2Msgs, fmt.Sprintf("%s×%d (%s)", payload, n, strings.TrimSpace(s.arrivals[payload])))
		case n > 1:
			tl.dup1 += n - 1
		}
	}
	for payload := range want {
		if s.got[payload] == 0 {
			tl.lost = append(tl.lost, payload)
		}
	}
	return tl
}

// sample is the first ten of xs in publisher and sequence order.
func sample(xs []string) []string {
	xs = slices.Clone(xs)
	slices.SortFunc(xs, func(a, b string) int {
		pa, sa, _ := splitPayload(strings.Split(a, "×")[0])
		pb, sb, _ := splitPayload(strings.Split(b, "×")[0]) // "×": a count (and arrivals) follow
		if c := strings.Compare(pa, pb); c != 0 {
			return c
		}
		return sa - sb
	})
	if len(xs) > 10 {
		xs = xs[:10]
	}
	return xs
}
