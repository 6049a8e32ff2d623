// Package metrics is the broker's one registry of counters and gauges. Every figure an operator
// sees — on /metrics, under $SYS, in Graphite — is read from here, so the three never disagree.
// Counters are plain atomics so that the hot path pays one atomic add and nothing else.
package metrics

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Counter only grows.
type Counter struct{ v atomic.Int64 }

// Add adds n.
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Load returns the value.
func (c *Counter) Load() int64 { return c.v.Load() }

// Gauge goes up and down, or is computed on read.
type Gauge struct {
	v  atomic.Int64
	fn func() int64
}

// Add adds n (negative to subtract).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Set stores v.
func (g *Gauge) Set(v int64) { g.v.Store(v) }

// Load returns the value.
func (g *Gauge) Load() int64 {
	if g.fn != nil {
		return g.fn()
	}
	return g.v.Load()
}

// Kind says whether a metric is a counter or a gauge, for exposition formats that care.
type Kind int

// Metric kinds.
const (
	KindCounter Kind = iota
	KindGauge
)

// Sample is one metric's value at read time.
type Sample struct {
	Name  string
	Help  string
	Kind  Kind
	Value int64
}

type entry struct {
	name, help string
	kind       Kind
	load       func() int64
}

// Registry names every metric of a node.
type Registry struct {
	mu      sync.Mutex
	entries map[string]entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[string]entry{}} }

// Counter registers (or returns the already registered) counter under name.
func (r *Registry) Counter(name, help string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &Counter{}
	r.entries[name] = entry{name: name, help: help, kind: KindCounter, load: c.Load}
	return c
}

// Gauge registers a gauge under name.
func (r *Registry) Gauge(name, help string) *Gauge {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := &Gauge{}
	r.entries[name] = entry{name: name, help: help, kind: KindGauge, load: g.Load}
	return g
}

// GaugeFunc registers a gauge computed by fn at read time.
func (r *Registry) GaugeFunc(name, help string, fn func() int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[name] = entry{name: name, help: help, kind: KindGauge, load: fn}
}

// Snapshot returns every metric, sorted by name.
func (r *Registry) Snapshot() []Sample {
	r.mu.Lock()
	es := make([]entry, 0, len(r.entries))
	for _, e := range r.entries {
		es = append(es, e)
	}
	r.mu.Unlock()
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	out := make([]Sample, len(es))
	for i, e := range es {
		out[i] = Sample{Name: e.name, Help: e.help, Kind: e.kind, Value: e.load()}
	}
	return out
}

// Broker holds the counters the MQTT layer updates on its hot paths.
type Broker struct {
	ConnectsAccepted *Counter
	ConnectsRefused  *Counter
	Connections      *Gauge
	PacketsIn        *Counter
	PacketsOut       *Counter
	BytesIn          *Counter
	BytesOut         *Counter
	PublishIn        *Counter
	PublishOut       *Counter
	PublishRefused   *Counter
	Dropped          *Counter
	DroppedQueueFull *Counter
	DroppedExpired   *Counter
	DroppedTooLarge  *Counter
	ProtocolErrors   *Counter
	AuthFailures     *Counter
	AuthThrottled    *Counter
}

// NewBroker registers the broker counters in r.
func NewBroker(r *Registry) *Broker {
	return &Broker{
		ConnectsAccepted: r.Counter("mqtt_connect_accepted", "CONNECTs answered with success"),
		ConnectsRefused:  r.Counter("mqtt_connect_refused", "CONNECTs refused (auth, protocol, limits)"),
		Connections:      r.Gauge("socket_open", "open client connections"),
		PacketsIn:        r.Counter("mqtt_packets_received", "MQTT packets received"),
		PacketsOut:       r.Counter("mqtt_packets_sent", "MQTT packets sent"),
		BytesIn:          r.Counter("bytes_received", "bytes received from clients"),
		BytesOut:         r.Counter("bytes_sent", "bytes sent to clients"),
		PublishIn:        r.Counter("mqtt_publish_received", "PUBLISH packets received"),
		PublishOut:       r.Counter("mqtt_publish_sent", "PUBLISH packets sent"),
		PublishRefused:   r.Counter("mqtt_publish_refused", "PUBLISHes refused: not authorised, not stored for a persistent subscriber, or the cluster partitioned"),
		Dropped:          r.Counter("queue_message_drop", "messages dropped for any reason"),
		DroppedQueueFull: r.Counter("queue_message_drop_full", "messages dropped because a queue was full"),
		DroppedExpired:   r.Counter("queue_message_expired", "messages dropped because they expired"),
		DroppedTooLarge:  r.Counter("mqtt_publish_too_large", "messages not sent because they exceed the client's maximum packet size"),
		ProtocolErrors:   r.Counter("mqtt_protocol_error", "connections closed for malformed or disallowed packets"),
		AuthFailures:     r.Counter("mqtt_auth_failure", "connections refused by authentication"),
		AuthThrottled:    r.Counter("mqtt_auth_throttled", "CONNECTs refused without authentication because their address or username failed too often (auth_throttle)"),
	}
}
