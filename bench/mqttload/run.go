// Package mqttload runs the MQTT load scenarios of nautilus-bench against any broker address,
// turns each run into a Result (throughput, latency percentiles, lost and duplicated messages,
// broker and generator CPU, broker memory), and reports results as tables, JSON lines, plots
// and the generated docs/benchmarks.md. Compare starts Nautilus and Mosquitto side by side and
// runs the scenarios against both, interleaved, so that the ratios of one run are comparable.
//
// Correctness of the counts comes first: every payload carries its publisher and sequence
// number (stats.Stamp), each subscriber tracks exactly which arrived, and a run reports the
// difference from what the publishers sent, not an estimate.
package mqttload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/bench/mqttclient"
	"github.com/nautilus-mq/nautilus/bench/stats"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Scenario names accepted by Run.
const (
	FanIn         = "fan-in"         // P publishers → 1 subscriber on a wildcard
	FanOut        = "fan-out"        // 1 publisher → S subscribers
	Pairs         = "pairs"          // N independent publisher/subscriber pairs
	Shared        = "shared"         // P publishers → a shared subscription group of S
	Latency       = "latency"        // fixed total rate, P publishers → 1 subscriber
	Connect       = "connect"        // connection storm: connects/s and handshake latency (Subscribe: connect + SUBSCRIBE)
	Idle          = "idle"           // idle connections: broker RSS per connection
	Retained      = "retained"       // store R retained messages, then time a '#' subscription
	RetainedStore = "retained-store" // store R retained messages (QoS 1, distinct topics): stored/s
	CrossNode     = "cross-node"     // N pairs: publishers on Addr, subscribers on SubAddr (another node)
)

// Scenarios lists the scenarios Run knows, in the order help text shows them.
var Scenarios = []string{FanIn, FanOut, Pairs, Shared, Latency, Connect, Idle, Retained, RetainedStore}

// Config is one run's parameters. Zero values take the defaults documented on each field.
type Config struct {
	Addr        string         // broker host:port
	SubAddr     string         // cross-node: the node subscribers connect to (default Addr)
	SubPID      int            // cross-node: SubAddr's process id, its CPU added to PID's; 0 = not measured
	Label       string         // broker name in reports (default: Addr)
	PID         int            // broker process id for CPU and RSS; 0 = not measured
	Version     packet.Version // packet.V311 (default) or packet.V5
	QoS         byte
	PayloadSize int           // bytes, at least stats.StampSize (default 64)
	Duration    time.Duration // publishing time (default 5 s)
	Publishers  int           // fan-in, shared, latency (default 8; latency 1)
	Subscribers int           // fan-out, shared (default 8; shared 4)
	Pairs       int           // pairs (default 8)
	// Subscribe makes each connect-scenario client subscribe to a topic of its own (QoS 1) once
	// connected, as a device does; the handshake latency then runs to the SUBACK.
	Subscribe   bool
	Rate        int           // total messages/s, 0 = as fast as possible (latency default 1000)
	Inflight    int           // outgoing QoS 1/2 window per publisher (default 100)
	Connections int           // connect, idle (default 1000)
	Dialers     int           // concurrent connects in connect and idle (default 8)
	Retained    int           // retained messages (default 1000)
	Drain       time.Duration // longest wait for deliveries after publishing ends (default 15 s)
	Settle      time.Duration // idle: wait before reading RSS (default 2 s)
	TopicPrefix string        // default nautilus-bench/<random>, so runs never see each other
	Timeline    bool          // sample deliveries every 100 ms for a throughput plot
	// Persistent subscribers keep their sessions (clean session 0), as devices that must not
	// miss messages do: the broker stores what it queues for them (Nautilus in its message
	// store, before the publisher's PUBACK; Mosquitto in memory).
	Persistent bool
	Log        func(format string, args ...any)
}

func (c *Config) defaults(scenario string) {
	if c.Label == "" {
		c.Label = c.Addr
	}
	if c.Version == 0 {
		c.Version = packet.V311
	}
	if c.PayloadSize < stats.StampSize {
		if c.PayloadSize == 0 {
			c.PayloadSize = 64
		} else {
			c.PayloadSize = stats.StampSize
		}
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Publishers <= 0 {
		c.Publishers = 8
		if scenario == Latency {
			c.Publishers = 1
		}
	}
	if c.Subscribers <= 0 {
		c.Subscribers = 8
		if scenario == Shared {
			c.Subscribers = 4
		}
	}
	if c.Pairs <= 0 {
		c.Pairs = 8
	}
	if c.Rate <= 0 && scenario == Latency {
		c.Rate = 1000
	}
	if c.Inflight <= 0 {
		c.Inflight = 100
	}
	if c.Connections <= 0 {
		c.Connections = 1000
	}
	if c.Dialers <= 0 {
		c.Dialers = 8
	}
	if c.Retained <= 0 {
		c.Retained = 1000
	}
	if c.Drain <= 0 {
		c.Drain = 15 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.TopicPrefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.TopicPrefix = "nautilus-bench/" + hex.EncodeToString(b[:])
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
}

// ErrNeedsSubAddr is returned for a cross-node run without a second node's address.
var ErrNeedsSubAddr = errors.New("cross-node needs the subscribers' node (SubAddr, --sub-addr); `nautilus-bench cluster` starts a cluster and runs it")

// Run runs one scenario and returns its result. A run that completes with lost messages is not
// an error: the loss is in the result. Errors are for runs that could not be carried out.
func Run(ctx context.Context, scenario string, cfg Config) (*Result, error) {
	cfg.defaults(scenario)
	r := &Result{Time: time.Now().UTC(), Broker: cfg.Label, Scenario: scenario, Addr: cfg.Addr,
		MQTT: cfg.Version.String(), QoS: int(cfg.QoS), PayloadSize: cfg.PayloadSize}
	var err error
	switch scenario {
	case FanIn, FanOut, Pairs, Shared, Latency:
		err = runFlow(ctx, scenario, &cfg, r)
	case CrossNode:
		if cfg.SubAddr == "" {
			return nil, ErrNeedsSubAddr
		}
		r.SubAddr = cfg.SubAddr
		err = runFlow(ctx, scenario, &cfg, r)
	case Connect, Idle:
		err = runConnections(ctx, scenario, &cfg, r)
	case Retained, RetainedStore:
		err = runRetained(ctx, scenario, &cfg, r)
	default:
		return nil, fmt.Errorf("unknown scenario %q (known: %s)", scenario, strings.Join(Scenarios, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%s against %s: %w", scenario, cfg.Label, err)
	}
	return r, nil
}

// meter measures the broker's and the generator's CPU over an interval. The broker may be
// several processes (the nodes of a cross-node run): their CPU is summed.
type meter struct {
	pid            int
	pids           []int
	start          time.Time
	broker0, self0 time.Duration
	brokerErr      error
}

func startMeter(pids ...int) *meter {
	m := &meter{start: time.Now(), self0: stats.SelfCPU()}
	for _, p := range pids {
		if p > 0 && !slices.Contains(m.pids, p) {
			m.pids = append(m.pids, p)
		}
	}
	if len(m.pids) > 0 {
		m.pid = m.pids[0]
		m.broker0, m.brokerErr = processesCPU(m.pids)
	}
	return m
}

func processesCPU(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, p := range pids {
		d, err := stats.ProcessCPU(p)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// stop fills the CPU fields of r for the interval since start, ending at end.
func (m *meter) stop(r *Result, end time.Time) {
	wall := end.Sub(m.start).Seconds()
	self := (stats.SelfCPU() - m.self0).Seconds()
	r.Wall = wall
	r.GenCPU = self
	cores := float64(runtime.GOMAXPROCS(0))
	if wall > 0 {
		r.GenCPUPct = 100 * self / wall
		// A generator using nearly every core it may schedule on is measuring itself.
		r.GenSaturated = self/wall >= 0.9*cores
	}
	if m.pid > 0 && m.brokerErr == nil {
		b1, err := processesCPU(m.pids)
		if err != nil {
			r.Notes = append(r.Notes, err.Error())
			return
		}
		bc := (b1 - m.broker0).Seconds()
		r.BrokerCPU = bc
		if wall > 0 {
			r.BrokerCPUPct = 100 * bc / wall
			r.MachineBusy = (bc+self)/wall >= 0.9*float64(runtime.NumCPU())
		}
		switch {
		case bc < 0.05 && r.Delivered > 0:
			// /proc counts in 10 ms ticks: below 5 ticks the ratio is mostly rounding.
			r.Notes = append(r.Notes, fmt.Sprintf("broker CPU %.0f ms is too little to divide by; msgs/CPU-s not reported", bc*1000))
		case bc > 0 && r.Delivered > 0:
			r.MsgsPerBrokerCPUSec = float64(r.Delivered) / bc
		}
	} else if m.brokerErr != nil {
		r.Notes = append(r.Notes, m.brokerErr.Error())
	}
}

// subscriber is one receiving client and what it saw. Its fields are written only by the
// client's reading goroutine and read after that goroutine has ended.
type subscriber struct {
	c       *mqttclient.Client
	probes  atomic.Uint64 // warm-up probes received (not counted as deliveries)
	tracker *stats.Tracker
	hist    *stats.Histogram
	count   atomic.Uint64
	last    atomic.Int64 // unix nanos of the last delivery
}

// probePayload marks the warm-up messages of a cross-node run; it is shorter than a stamp, so
// it can never be mistaken for a measured message.
const probePayload = "nb-probe"

func (s *subscriber) onPublish(p *packet.Publish) {
	now := time.Now()
	if string(p.Payload) == probePayload {
		s.probes.Add(1)
		return
	}
	pub, seq, sent, err := stats.ReadStamp(p.Payload)
	if err != nil {
		s.tracker.Received++
		s.tracker.Foreign++
		return
	}
	s.tracker.Add(pub, seq)
	s.hist.Record(now.Sub(time.Unix(0, sent)))
	s.count.Add(1)
	s.last.Store(now.UnixNano())
}

func dial(ctx context.Context, cfg *Config, id string, sub *subscriber, small bool) (*mqttclient.Client, time.Duration, error) {
	o := mqttclient.Options{Addr: cfg.Addr, Version: cfg.Version, ClientID: id, CleanStart: !(cfg.Persistent && sub != nil),
		KeepAlive: 60 * time.Second, Inflight: cfg.Inflight}
	if small {
		o.ReadBuffer, o.WriteBuffer = 512, 4096
	}
	if sub != nil {
		sub.tracker, sub.hist = stats.NewTracker(), stats.NewHistogram()
		o.OnPublish = sub.onPublish
		if cfg.SubAddr != "" {
			o.Addr = cfg.SubAddr
		}
	}
	c, lat, err := mqttclient.Dial(ctx, o)
	if err != nil {
		return nil, 0, fmt.Errorf("connect %s: %w", id, err)
	}
	if sub != nil {
		sub.c = c
	}
	return c, lat, nil
}

// flow describes who publishes where and who should receive what.
type flow struct {
	topics []string // per publisher
	subs   []string // filter per subscriber
	group  []int    // per subscriber: the tracker group it reports to
	feeds  [][]int  // per group: the publishers whose every message the group must receive
}

func makeFlow(scenario string, cfg *Config) flow {
	var f flow
	pfx := cfg.TopicPrefix
	switch scenario {
	case FanIn, Latency:
		for i := range cfg.Publishers {
			f.topics = append(f.topics, fmt.Sprintf("%s/in/%d", pfx, i))
		}
		f.subs, f.group = []string{pfx + "/in/+"}, []int{0}
		f.feeds = [][]int{seq(cfg.Publishers)}
	case FanOut:
		f.topics = []string{pfx + "/out"}
		for i := range cfg.Subscribers {
			f.subs = append(f.subs, pfx+"/out")
			f.group = append(f.group, i)
			f.feeds = append(f.feeds, []int{0})
		}
	case Pairs, CrossNode:
		for i := range cfg.Pairs {
			t := fmt.Sprintf("%s/pair/%d", pfx, i)
			f.topics = append(f.topics, t)
			f.subs = append(f.subs, t)
			f.group = append(f.group, i)
			f.feeds = append(f.feeds, []int{i})
		}
	case Shared:
		for i := range cfg.Publishers {
			f.topics = append(f.topics, fmt.Sprintf("%s/sh/%d", pfx, i))
		}
		for range cfg.Subscribers {
			f.subs = append(f.subs, "$share/bench/"+pfx+"/sh/+")
			f.group = append(f.group, 0)
		}
		f.feeds = [][]int{seq(cfg.Publishers)}
	}
	return f
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// runFlow runs the publish/subscribe scenarios: connect and subscribe everyone, publish for
// Duration (at Rate if set), wait for the deliveries to drain, then count.
func runFlow(ctx context.Context, scenario string, cfg *Config, r *Result) error {
	f := makeFlow(scenario, cfg)
	r.Publishers, r.Subscribers, r.Rate = len(f.topics), len(f.subs), cfg.Rate
	subs := make([]*subscriber, len(f.subs))
	var pubs []*mqttclient.Client
	defer func() {
		for _, c := range pubs {
			c.Close()
		}
		for _, s := range subs {
			if s != nil && s.c != nil {
				s.c.Close()
			}
		}
	}()
	for i, filter := range f.subs {
		subs[i] = &subscriber{}
		c, _, err := dial(ctx, cfg, fmt.Sprintf("nb-sub-%d-%s", i, suffix(cfg)), subs[i], false)
		if err != nil {
			return err
		}
		if _, err := c.Subscribe(ctx, filter, cfg.QoS); err != nil {
			return err
		}
	}
	for i := range f.topics {
		c, _, err := dial(ctx, cfg, fmt.Sprintf("nb-pub-%d-%s", i, suffix(cfg)), nil, false)
		if err != nil {
			return err
		}
		pubs = append(pubs, c)
	}
	if scenario == CrossNode {
		// Subscriptions reach the publishers' node through replicated metadata: publish
		// probes until every subscriber has one, so the clock starts on a routed cluster.
		if err := warmUp(ctx, pubs, f.topics, subs, 30*time.Second); err != nil {
			return err
		}
	}

	var expected uint64
	sent := make([]uint64, len(pubs))
	var pubErrs []error
	var emu sync.Mutex
	var timeline []TimelinePoint
	stopTimeline := make(chan struct{})
	var tlDone sync.WaitGroup

	m := startMeter(cfg.PID, cfg.SubPID)
	start := m.start
	if cfg.Timeline {
		tlDone.Add(1)
		go func() {
			defer tlDone.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			var prev uint64
			prevT := start
			for {
				select {
				case now := <-t.C:
					var n uint64
					for _, s := range subs {
						n += s.count.Load()
					}
					timeline = append(timeline, TimelinePoint{T: now.Sub(start).Seconds(), Rate: float64(n-prev) / now.Sub(prevT).Seconds()})
					prev, prevT = n, now
				case <-stopTimeline:
					return
				}
			}
		}()
	}
	end := start.Add(cfg.Duration)
	pctx, cancel := context.WithDeadline(ctx, end)
	var wg sync.WaitGroup
	perRate := 0.0
	if cfg.Rate > 0 {
		perRate = float64(cfg.Rate) / float64(len(pubs))
	}
	for i, c := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := publishLoop(pctx, c, uint32(i), f.topics[i], cfg, end, perRate)
			sent[i] = n
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				emu.Lock()
				pubErrs = append(pubErrs, fmt.Errorf("publisher %d: %w", i, err))
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	cancel()
	pubEnd := time.Now()

	// Drain: publishers' QoS 1/2 flows complete, then the subscribers catch up. Stop early
	// when nothing arrives for 2 s, so a broker that dropped messages does not cost the whole
	// drain timeout.
	dctx, dcancel := context.WithTimeout(ctx, cfg.Drain)
	defer dcancel()
	for i, c := range pubs {
		if err := c.Flush(dctx); err != nil {
			pubErrs = append(pubErrs, fmt.Errorf("publisher %d flush: %w", i, err))
		}
		if cfg.QoS > 0 {
			if err := c.WaitInflight(dctx); err != nil {
				pubErrs = append(pubErrs, fmt.Errorf("publisher %d: waiting for acknowledgements: %w", i, err))
			}
		}
	}
	for g, feeds := range f.feeds {
		_ = g
		for _, p := range feeds {
			expected += sent[p]
		}
	}
	r.Expected = expected
	for _, s := range sent {
		r.Sent += s
	}
	lastProgress, lastCount := time.Now(), uint64(0)
	for {
		var n uint64
		for _, s := range subs {
			n += s.count.Load()
		}
		if n >= expected || dctx.Err() != nil {
			break
		}
		if n != lastCount {
			lastProgress, lastCount = time.Now(), n
		} else if time.Since(lastProgress) > 2*time.Second {
			r.Notes = append(r.Notes, fmt.Sprintf("deliveries stalled at %d of %d", n, expected))
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var lastNanos int64
	for _, s := range subs {
		lastNanos = max(lastNanos, s.last.Load())
	}
	close(stopTimeline)
	tlDone.Wait()
	r.Timeline = timeline
	measureEnd := time.Now()
	// Close the subscribers before reading their trackers: Close waits for the reading
	// goroutine, which is the only writer of the trackers.
	for _, s := range subs {
		s.c.Close()
		if err := s.c.Err(); err != nil && !errors.Is(err, mqttclient.ErrClosed) && !isClosedRead(err) {
			r.Notes = append(r.Notes, fmt.Sprintf("subscriber: %v", err))
		}
	}
	var refused uint64
	for _, c := range pubs {
		refused += c.Refused()
	}
	if refused > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d publishes refused by the broker (failure reason codes)", refused))
	}

	groups := map[int]*stats.Tracker{}
	hist := stats.NewHistogram()
	for i, s := range subs {
		hist.Merge(s.hist)
		g := f.group[i]
		if groups[g] == nil {
			groups[g] = stats.NewTracker()
		}
		groups[g].Merge(s.tracker)
	}
	for g, t := range groups {
		want := map[uint32]uint64{}
		for _, p := range f.feeds[g] {
			want[uint32(p)] = sent[p]
		}
		lost, unexpected := t.Loss(want)
		r.Lost += lost
		r.Duplicates += t.Dups
		r.Reordered += t.Reordered
		r.Unexpected += unexpected + t.Foreign
		r.Delivered += t.UniqueTotal()
	}
	r.Latency = hist.Summary()
	r.hist = hist
	window := pubEnd.Sub(start)
	if lastNanos > 0 {
		window = max(window, time.Unix(0, lastNanos).Sub(start))
	}
	r.DeliverySecs = window.Seconds()
	if window > 0 {
		r.MsgsPerSec = float64(r.Delivered) / window.Seconds()
	}
	r.PublishSecs = pubEnd.Sub(start).Seconds()
	m.stop(r, measureEnd)
	// The CPU interval includes the drain; so does the delivery window. Deliveries per CPU
	// second are computed on unique deliveries so duplicates never look like efficiency.
	for _, e := range pubErrs {
		r.Notes = append(r.Notes, e.Error())
	}
	if r.QoS > 0 && (r.Lost > 0 || r.Duplicates > 0) && scenario != Shared {
		r.Notes = append(r.Notes, "QoS > 0 promises no loss or duplicates while connected: a broker fault, unless its queue limits (max_online_messages, max_queued_messages) allowed the drop")
	}
	return nil
}

// warmUp publishes a probe on every publisher's topic (QoS 0) every 100 ms until every
// subscriber has received one, or fails after within.
func warmUp(ctx context.Context, pubs []*mqttclient.Client, topics []string, subs []*subscriber, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		for i, c := range pubs {
			if err := c.Publish(ctx, topics[i], 0, false, []byte(probePayload)); err != nil {
				return fmt.Errorf("warm-up probe: %w", err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		waiting := 0
		for _, s := range subs {
			if s.probes.Load() == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: %d of %d subscribers received no probe within %v (subscriptions not replicated to the publishers' node?)", waiting, len(subs), within)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func isClosedRead(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection")
}

// publishLoop publishes until end, stamping each payload; with perRate > 0 it paces itself so
// that message i leaves at start + i/perRate (catching up after a stall rather than drifting).
func publishLoop(ctx context.Context, c *mqttclient.Client, id uint32, topic string, cfg *Config, end time.Time, perRate float64) (uint64, error) {
	payload := make([]byte, cfg.PayloadSize)
	start := time.Now()
	var n uint64
	for {
		now := time.Now()
		if !now.Before(end) {
			return n, nil
		}
		if perRate > 0 {
			due := start.Add(time.Duration(float64(n) / perRate * float64(time.Second)))
			if d := due.Sub(now); d > 0 {
				if !due.Before(end) {
					return n, nil
				}
				time.Sleep(d)
				now = time.Now()
			}
		}
		stats.Stamp(payload, id, n, now)
		if err := c.Publish(ctx, topic, cfg.QoS, false, payload); err != nil {
			return n, err
		}
		n++
	}
}

func suffix(cfg *Config) string {
	i := strings.LastIndexByte(cfg.TopicPrefix, '/')
	return cfg.TopicPrefix[i+1:]
}

// runConnections opens Connections clients with Dialers at a time. connect measures the
// handshakes and closes everything; idle keeps the clients open for Settle and reads how much
// the broker's RSS grew per connection.
func runConnections(ctx context.Context, scenario string, cfg *Config, r *Result) error {
	r.Connections = cfg.Connections
	var rss0 int64
	if cfg.PID > 0 {
		var err error
		if rss0, err = stats.ProcessRSS(cfg.PID); err != nil {
			return err
		}
		r.RSSBefore = rss0
	}
	clients := make([]*mqttclient.Client, cfg.Connections)
	defer func() {
		// Close in parallel: a few thousand sequential DISCONNECTs take longer than the run.
		var wg sync.WaitGroup
		ch := make(chan *mqttclient.Client)
		for range cfg.Dialers * 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range ch {
					c.Close()
				}
			}()
		}
		for _, c := range clients {
			if c != nil {
				ch <- c
			}
		}
		close(ch)
		wg.Wait()
	}()
	hists := make([]*stats.Histogram, cfg.Dialers)
	var next atomic.Int64
	var firstErr error
	var emu sync.Mutex
	m := startMeter(cfg.PID)
	var wg sync.WaitGroup
	for w := range cfg.Dialers {
		hists[w] = stats.NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(clients) {
					return
				}
				start := time.Now()
				c, lat, err := dial(ctx, cfg, fmt.Sprintf("nb-conn-%d-%s", i, suffix(cfg)), nil, true)
				if err == nil && cfg.Subscribe {
					// A device subscribes to its own topic as soon as it is connected.
					if _, err = c.Subscribe(ctx, fmt.Sprintf("%s/dev/%d", cfg.TopicPrefix, i), 1); err == nil {
						lat = time.Since(start)
					} else {
						c.Close()
					}
				}
				if err != nil {
					emu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					emu.Unlock()
					next.Store(int64(len(clients))) // stop the others
					return
				}
				clients[i] = c
				hists[w].Record(lat)
			}
		}()
	}
	wg.Wait()
	connEnd := time.Now()
	if firstErr != nil {
		return firstErr
	}
	h := stats.NewHistogram()
	for _, x := range hists {
		h.Merge(x)
	}
	r.Latency = h.Summary()
	r.hist = h
	el := connEnd.Sub(m.start).Seconds()
	r.DeliverySecs = el
	r.ConnectsPerSec = float64(cfg.Connections) / el
	m.stop(r, connEnd)
	if scenario == Idle && cfg.PID > 0 {
		select {
		case <-time.After(cfg.Settle):
		case <-ctx.Done():
			return ctx.Err()
		}
		rss1, err := stats.ProcessRSS(cfg.PID)
		if err != nil {
			return err
		}
		r.RSSAfter = rss1
		r.RSSPerConn = float64(rss1-rss0) / float64(cfg.Connections)
	} else if scenario == Idle {
		r.Notes = append(r.Notes, "no --pid: broker RSS per connection not measured")
	}
	return nil
}

// runRetained stores Retained retained messages (QoS 1, so they are acknowledged before the
// clock starts), then times one subscription to prefix/ret/# receiving all of them, and
// finally clears them so that later runs start from an empty store.
func runRetained(ctx context.Context, scenario string, cfg *Config, r *Result) error {
	n := cfg.Retained
	r.Retained = n
	pub, _, err := dial(ctx, cfg, "nb-ret-pub-"+suffix(cfg), nil, false)
	if err != nil {
		return err
	}
	defer pub.Close()
	payload := make([]byte, cfg.PayloadSize)
	topic := func(i int) string { return fmt.Sprintf("%s/ret/%d", cfg.TopicPrefix, i) }
	m := startMeter(cfg.PID)
	for i := range n {
		stats.Stamp(payload, 0, uint64(i), time.Now())
		if err := pub.Publish(ctx, topic(i), 1, true, payload); err != nil {
			return fmt.Errorf("store retained: %w", err)
		}
	}
	if err := pub.WaitInflight(ctx); err != nil {
		return fmt.Errorf("store retained: %w", err)
	}
	if scenario == RetainedStore {
		// The publisher keeps its window of QoS 1 messages in flight; the clock stops when
		// the last PUBACK arrived, each one meaning the broker stored the message.
		el := time.Since(m.start).Seconds()
		r.Sent, r.Expected, r.Delivered = uint64(n), uint64(n), uint64(n)
		r.DeliverySecs, r.MsgsPerSec = el, float64(n)/el
		m.stop(r, time.Now())
	}
	defer func() {
		for i := range n {
			if err := pub.Publish(ctx, topic(i), 1, true, nil); err != nil {
				return
			}
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.Drain)
		defer cancel()
		_ = pub.WaitInflight(cctx)
	}()
	if scenario == RetainedStore {
		return nil
	}
	r.Sent, r.Expected = uint64(n), uint64(n)

	s := &subscriber{}
	c, _, err := dial(ctx, cfg, "nb-ret-sub-"+suffix(cfg), s, false)
	if err != nil {
		return err
	}
	m = startMeter(cfg.PID)
	if _, err := c.Subscribe(ctx, cfg.TopicPrefix+"/ret/#", cfg.QoS); err != nil {
		c.Close()
		return err
	}
	deadline := time.Now().Add(cfg.Drain)
	for s.count.Load() < uint64(n) && time.Now().Before(deadline) && c.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	last := time.Unix(0, s.last.Load())
	c.Close()
	lost, unexpected := s.tracker.Loss(map[uint32]uint64{0: uint64(n)})
	r.Lost, r.Duplicates, r.Unexpected = lost, s.tracker.Dups, unexpected+s.tracker.Foreign
	r.Delivered = s.tracker.UniqueTotal()
	if r.Delivered > 0 {
		el := last.Sub(m.start)
		r.DeliverySecs = el.Seconds()
		r.MsgsPerSec = float64(r.Delivered) / el.Seconds()
	}
	// Latency here is from storing to delivery, which mostly measures the store phase; the
	// figure that matters is the time to receive all of them (DeliverySecs).
	m.stop(r, time.Now())
	return nil
}
