package mqttload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

func testBroker(t *testing.T) *brokertest.Node {
	return brokertest.Start(t, func(c *config.Config) {
		c.Sessions.MaxOnlineMessages = -1
		c.Sessions.MaxInflightMessages = 1000
	})
}

// TestFlowsCountExactly runs each publish/subscribe scenario briefly against an in-process
// broker and checks the books: every message sent is delivered exactly once to everyone owed
// it, and the counts add up.
func TestFlowsCountExactly(t *testing.T) {
	n := testBroker(t)
	pid := os.Getpid() // the broker runs in this process, so its CPU is ours too
	cases := []struct {
		scenario string
		cfg      Config
		perMsg   uint64 // deliveries owed per message sent
	}{
		{FanIn, Config{QoS: 2, Publishers: 3}, 1},
		{FanIn, Config{QoS: 1, Publishers: 2, Version: packet.V5}, 1},
		{FanOut, Config{QoS: 1, Subscribers: 3}, 3},
		{Pairs, Config{QoS: 2, Pairs: 3, Version: packet.V5}, 1},
		{Shared, Config{QoS: 1, Publishers: 2, Subscribers: 3}, 1},
		{Latency, Config{QoS: 1, Rate: 500}, 1},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			cfg := c.cfg
			cfg.Addr, cfg.PID, cfg.Duration, cfg.Timeline = n.Addr, pid, 300*time.Millisecond, true
			r, err := Run(context.Background(), c.scenario, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sent == 0 || r.Expected != r.Sent*c.perMsg {
				t.Fatalf("sent %d expected %d, want %d per message", r.Sent, r.Expected, c.perMsg)
			}
			if r.Delivered != r.Expected || r.Lost != 0 || r.Duplicates != 0 || r.Unexpected != 0 {
				t.Fatalf("delivered %d of %d, lost %d dup %d unexpected %d; notes %v", r.Delivered, r.Expected, r.Lost, r.Duplicates, r.Unexpected, r.Notes)
			}
			if r.Latency.Count != int64(r.Delivered) || r.Latency.P50 <= 0 || r.MsgsPerSec <= 0 {
				t.Fatalf("latency %+v msgs/s %v", r.Latency, r.MsgsPerSec)
			}
			if r.GenCPU <= 0 || (r.BrokerCPU >= 0.05) != (r.MsgsPerBrokerCPUSec > 0) {
				t.Fatalf("cpu broker %v gen %v per-cpu %v", r.BrokerCPU, r.GenCPU, r.MsgsPerBrokerCPUSec)
			}
			if c.scenario == Latency && (r.MsgsPerSec > 600 || r.Sent > 160) {
				t.Fatalf("fixed rate 500/s for 0.3 s sent %d at %.0f msgs/s", r.Sent, r.MsgsPerSec)
			}
			var sb strings.Builder
			if err := WriteTable(&sb, []*Result{r}); err != nil || !strings.Contains(sb.String(), c.scenario) {
				t.Fatalf("table: %v\n%s", err, sb.String())
			}
			if err := r.WriteJSON(&sb); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConnectionsAndRetained(t *testing.T) {
	n := testBroker(t)
	pid := os.Getpid()
	r, err := Run(context.Background(), Connect, Config{Addr: n.Addr, PID: pid, Connections: 50, Dialers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Latency.Count != 50 || r.ConnectsPerSec <= 0 {
		t.Fatalf("connect: %+v", r)
	}
	r, err = Run(context.Background(), Idle, Config{Addr: n.Addr, PID: pid, Connections: 50, Dialers: 4, Settle: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.RSSAfter == 0 || r.RSSBefore == 0 {
		t.Fatalf("idle: RSS not read: %+v", r)
	}
	r, err = Run(context.Background(), Retained, Config{Addr: n.Addr, Retained: 300, QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered != 300 || r.Lost != 0 || r.Duplicates != 0 || r.Unexpected != 0 {
		t.Fatalf("retained: %+v", r)
	}
	if _, err := Run(context.Background(), CrossNode, Config{Addr: n.Addr}); !errors.Is(err, ErrNeedsSubAddr) {
		t.Fatalf("cross-node without a second node: %v", err)
	}
	// One node standing in for both: the warm-up and the books of the cross-node flow.
	r, err = Run(context.Background(), CrossNode, Config{Addr: n.Addr, SubAddr: n.Addr, PID: os.Getpid(), SubPID: os.Getpid(),
		QoS: 1, Pairs: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent == 0 || r.Delivered != r.Sent || r.Lost != 0 || r.Duplicates != 0 || r.Unexpected != 0 || r.SubAddr != n.Addr {
		t.Fatalf("cross-node: %+v", r)
	}
	if _, err := Run(context.Background(), "nope", Config{Addr: n.Addr}); err == nil {
		t.Fatal("unknown scenario: no error")
	}
}

// TestReport builds a comparison from synthetic results and checks medians, ratios, the
// markdown (notes kept) and that the plots are written.
func TestReport(t *testing.T) {
	specs := []Spec{{Name: "fan-in-q1", Scenario: FanIn, Cfg: Config{QoS: 1, Publishers: 8}},
		{Name: "latency-q1", Scenario: Latency, Cfg: Config{QoS: 1, Rate: 100}}}
	cmp := &Comparison{Date: time.Now(), Machine: DescribeMachine(), Brokers: map[string]string{NautilusName: "n", MosquittoName: "m"},
		Rounds: 3, Duration: time.Second, Specs: specs}
	for i, v := range []float64{100, 300, 200} {
		cmp.Results = append(cmp.Results,
			&Result{Name: "fan-in-q1", Broker: NautilusName, Scenario: FanIn, QoS: 1, MsgsPerSec: v * 2, MsgsPerBrokerCPUSec: v, Round: i + 1},
			&Result{Name: "fan-in-q1", Broker: MosquittoName, Scenario: FanIn, QoS: 1, MsgsPerSec: v, MsgsPerBrokerCPUSec: v, Lost: 1, Round: i + 1})
	}
	sum := cmp.Summaries()
	if n, m := sum["fan-in-q1"][NautilusName], sum["fan-in-q1"][MosquittoName]; n.MsgsPerSec != 400 || m.MsgsPerSec != 200 || m.Lost != 3 || n.Runs != 3 {
		t.Fatalf("medians: %+v %+v", n, m)
	}
	if Median([]float64{4, 1, 3, 2}) != 2.5 || Median(nil) != 0 || Ratio(1, 0) != 0 {
		t.Fatal("Median/Ratio")
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "benchmarks.md")
	os.WriteFile(doc, []byte("old\n"+NotesBegin+"\nmy profile notes\n"+NotesEnd+"\nold tail\n"), 0o644)
	plots, err := cmp.WritePlots(filepath.Join(dir, "img"))
	if err != nil || len(plots) == 0 {
		t.Fatalf("plots %v %v", plots, err)
	}
	if err := cmp.WriteMarkdown(doc, "img", plots, "test"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	s := string(b)
	for _, want := range []string{"my profile notes", "| fan-in-q1 | nautilus | 400 |", "**2.00x**", "❌", "img/throughput.png"} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "old tail") {
		t.Error("markdown kept text outside the notes")
	}
}
