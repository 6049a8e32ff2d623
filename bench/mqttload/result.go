package mqttload

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nautilus-mq/nautilus/bench/stats"
)

// Result is one run. It is written as one JSON line; the field names are the JSON keys a
// reader of --json output sees.
type Result struct {
	Time        time.Time `json:"time"`
	Broker      string    `json:"broker"`
	Scenario    string    `json:"scenario"`
	Name        string    `json:"name,omitempty"` // the compare scenario name, e.g. fan-in-q1
	Round       int       `json:"round,omitempty"`
	Addr        string    `json:"addr"`
	SubAddr     string    `json:"sub_addr,omitempty"` // cross-node: the subscribers' node
	MQTT        string    `json:"mqtt"`
	QoS         int       `json:"qos"`
	PayloadSize int       `json:"payload_bytes"`
	Publishers  int       `json:"publishers,omitempty"`
	Subscribers int       `json:"subscribers,omitempty"`
	Rate        int       `json:"rate,omitempty"`

	Sent       uint64 `json:"sent"`
	Expected   uint64 `json:"expected"`  // deliveries owed: sent times the subscribers each reaches
	Delivered  uint64 `json:"delivered"` // unique deliveries
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	Reordered  uint64 `json:"reordered"`
	Unexpected uint64 `json:"unexpected"` // deliveries that were never sent (should be 0)

	PublishSecs  float64       `json:"publish_s"`
	DeliverySecs float64       `json:"delivery_s"` // from the first publish to the last delivery
	MsgsPerSec   float64       `json:"msgs_per_s"`
	Latency      stats.Summary `json:"latency"`

	Wall                float64 `json:"wall_s"` // the interval the CPU figures cover
	BrokerCPU           float64 `json:"broker_cpu_s,omitempty"`
	BrokerCPUPct        float64 `json:"broker_cpu_pct,omitempty"`
	MsgsPerBrokerCPUSec float64 `json:"msgs_per_broker_cpu_s,omitempty"`
	GenCPU              float64 `json:"gen_cpu_s"`
	GenCPUPct           float64 `json:"gen_cpu_pct"`
	GenSaturated        bool    `json:"gen_saturated"`
	MachineBusy         bool    `json:"machine_busy"` // broker + generator near every core

	Connections    int     `json:"connections,omitempty"`
	ConnectsPerSec float64 `json:"connects_per_s,omitempty"`
	RSSBefore      int64   `json:"rss_before,omitempty"`
	RSSAfter       int64   `json:"rss_after,omitempty"`
	RSSPerConn     float64 `json:"rss_per_conn_bytes,omitempty"`
	Retained       int     `json:"retained,omitempty"`

	Timeline []TimelinePoint `json:"timeline,omitempty"`
	Notes    []string        `json:"notes,omitempty"`

	hist *stats.Histogram
}

// TimelinePoint is the delivery rate over one 100 ms interval.
type TimelinePoint struct {
	T    float64 `json:"t"`
	Rate float64 `json:"rate"`
}

// Histogram is the latency histogram of the run (nil when none was recorded or the result was
// read back from JSON).
func (r *Result) Histogram() *stats.Histogram { return r.hist }

// WriteJSON writes r as one JSON line.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// Flags summarises what makes a result doubtful or a broker faulty, for the table.
func (r *Result) Flags() string {
	var f []string
	if r.GenSaturated {
		f = append(f, "GENERATOR SATURATED")
	} else if r.MachineBusy {
		f = append(f, "machine busy")
	}
	if r.QoS > 0 && (r.Lost > 0 || r.Duplicates > 0) {
		f = append(f, "QoS>0 LOSS")
	}
	if r.Unexpected > 0 {
		f = append(f, "UNEXPECTED MESSAGES")
	}
	return strings.Join(f, ", ")
}

// WriteTable prints results as an aligned table.
func WriteTable(w io.Writer, rs []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "broker\tscenario\tqos\tmsgs/s\tp50 µs\tp99 µs\tmax µs\tsent\tdelivered\tlost\tdup\tbroker cpu%\tmsgs/cpu-s\tgen cpu%\tconn/s\tRSS/conn\tflags\t")
	for _, r := range rs {
		name := r.Scenario
		if r.Name != "" {
			name = r.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n",
			r.Broker, name, r.QoS, num(r.MsgsPerSec), num(r.Latency.P50), num(r.Latency.P99), num(r.Latency.Max),
			r.Sent, r.Delivered, r.Lost, r.Duplicates, num(r.BrokerCPUPct), num(r.MsgsPerBrokerCPUSec), r.GenCPUPct,
			num(r.ConnectsPerSec), bytesOrDash(r.RSSPerConn), r.Flags())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, r := range rs {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s %s: %s\n", r.Broker, r.Scenario, n)
		}
	}
	return nil
}

func num(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func bytesOrDash(b float64) string {
	if b == 0 {
		return "-"
	}
	if b >= 10240 || b <= -10240 {
		return fmt.Sprintf("%.1f KiB", b/1024)
	}
	return fmt.Sprintf("%.0f B", b)
}
