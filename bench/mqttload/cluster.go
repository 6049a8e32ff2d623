package mqttload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Setups of a cluster run: the same cross-node flow (N pairs, publishers on one address and
// subscribers on another) with both addresses on a standalone node, both on node A of the
// cluster, and publishers on A with subscribers on B.
const (
	SetupSingle       = "single"        // a standalone node (not clustered)
	SetupClusterLocal = "cluster-local" // publishers and subscribers on node A of the cluster
	SetupCrossNode    = "cross-node"    // publishers on node A, subscribers on node B
)

// ClusterSetups in table order.
var ClusterSetups = []string{SetupSingle, SetupClusterLocal, SetupCrossNode}

// Markers of the section `nautilus-bench cluster --doc` writes in docs/benchmarks.md.
const (
	ClusterBegin = "<!-- cluster:begin (written by nautilus-bench cluster) -->"
	ClusterEnd   = "<!-- cluster:end -->"
)

// NautilusClusterConfig is NautilusConfig plus clustering on loopback: node name, peer link and
// gossip addresses, the seed (empty for the first node), fast Plumtree ticks, and clients and
// publishes allowed during a netsplit, so that a slow join never turns into refused clients.
func NautilusClusterConfig(addr, dataDir, name, link, gossip, seed string) string {
	c := NautilusConfig(addr, dataDir) + fmt.Sprintf(`nodename = %s
cluster.secret = nautilus-bench-cluster-secret
listener.vmq.clustering = %s
cluster.gossip = %s
plumtree.lazy_tick = 500ms
plumtree.exchange_tick = 500ms
allow_register_during_netsplit = on
allow_publish_during_netsplit = on
allow_subscribe_during_netsplit = on
allow_unsubscribe_during_netsplit = on
`, name, link, gossip)
	if seed != "" {
		c += "cluster.seeds = " + seed + "\n"
	}
	return c
}

// StartNautilusCluster starts n nautilus processes (path) clustered on loopback, each with its
// own temporary directory, the later ones seeded with the first. On error, the nodes already
// started are stopped.
func StartNautilusCluster(ctx context.Context, path string, n int) (_ []*BrokerProc, err error) {
	if n < 2 {
		return nil, fmt.Errorf("a cluster needs at least 2 nodes, not %d", n)
	}
	var nodes []*BrokerProc
	defer func() {
		if err != nil {
			StopAll(nodes)
		}
	}()
	ver := firstLine(exec.CommandContext(ctx, path, "version"))
	seed := ""
	for i := range n {
		var addrs [3]string
		for j := range addrs {
			if addrs[j], err = FreePort(); err != nil {
				return nil, err
			}
		}
		dir, err := os.MkdirTemp("", fmt.Sprintf("nautilus-bench-n%d-", i+1))
		if err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		name := fmt.Sprintf("n%d@127.0.0.1", i+1)
		conf := NautilusClusterConfig(addrs[0], filepath.Join(dir, "data"), name, addrs[1], addrs[2], seed)
		cf := filepath.Join(dir, "nautilus.conf")
		if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("write config: %w", err)
		}
		b, err := startProc(ctx, fmt.Sprintf("%s-n%d", NautilusName, i+1), ver, addrs[0], dir, "", path, "start", "--config", cf)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		nodes = append(nodes, b)
		if seed == "" {
			seed = addrs[2]
		}
	}
	return nodes, nil
}

// StopAll stops every process, returning the errors joined.
func StopAll(ps []*BrokerProc) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Stop())
	}
	return errors.Join(errs...)
}

// ClusterOptions configure ClusterBench.
type ClusterOptions struct {
	Nautilus string // path of the nautilus binary
	Nodes    int    // cluster size (default 2)
	Rounds   int    // default 1
	Duration time.Duration
	QoS      []byte // default 0 and 1
	Pairs    int    // publisher/subscriber pairs (default 8)
	Version  packet.Version
	Progress func(done, total int, what string)
	Log      func(format string, args ...any)
}

// ClusterReport is the outcome of ClusterBench.
type ClusterReport struct {
	Date     time.Time
	Machine  Machine
	Nautilus string // version line
	Nodes    int
	Rounds   int
	Duration time.Duration
	Pairs    int
	QoS      []byte
	Version  packet.Version
	Results  []*Result // Name is q<QoS>, Broker the setup
}

// ClusterBench starts a standalone node and a cluster of Nodes nodes, runs the cross-node flow
// in every setup (single, cluster-local, cross-node) at every QoS, Rounds times with the setup
// order rotating, and stops every process. A failed run is recorded and the others go on.
func ClusterBench(ctx context.Context, o ClusterOptions) (*ClusterReport, error) {
	if o.Nodes < 2 {
		o.Nodes = 2
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if len(o.QoS) == 0 {
		o.QoS = []byte{0, 1}
	}
	if o.Pairs <= 0 {
		o.Pairs = 8
	}
	if o.Version == 0 {
		o.Version = packet.V311
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	rep := &ClusterReport{Date: time.Now().UTC(), Machine: DescribeMachine(), Nodes: o.Nodes, Rounds: o.Rounds,
		Duration: o.Duration, Pairs: o.Pairs, QoS: o.QoS, Version: o.Version}
	single, err := StartNautilus(ctx, o.Nautilus)
	if err != nil {
		return nil, err
	}
	defer single.Stop()
	rep.Nautilus = single.Version
	nodes, err := StartNautilusCluster(ctx, o.Nautilus, o.Nodes)
	if err != nil {
		return nil, err
	}
	defer StopAll(nodes)
	a, b := nodes[0], nodes[1]
	o.Log("single node on %s (pid %d); cluster of %d: A %s (pid %d), B %s (pid %d)", single.Addr, single.PID, o.Nodes, a.Addr, a.PID, b.Addr, b.PID)
	addrs := map[string][2]*BrokerProc{SetupSingle: {single, single}, SetupClusterLocal: {a, a}, SetupCrossNode: {a, b}}
	total, done := o.Rounds*len(o.QoS)*len(ClusterSetups), 0
	for round := 1; round <= o.Rounds; round++ {
		for qi, q := range o.QoS {
			for k := range ClusterSetups {
				setup := ClusterSetups[(k+round+qi)%len(ClusterSetups)]
				if o.Progress != nil {
					o.Progress(done, total, fmt.Sprintf("round %d/%d q%d %s", round, o.Rounds, q, setup))
				}
				p := addrs[setup]
				cfg := Config{Addr: p[0].Addr, SubAddr: p[1].Addr, PID: p[0].PID, SubPID: p[1].PID, Label: setup,
					Version: o.Version, QoS: q, Pairs: o.Pairs, Duration: o.Duration, Drain: 10 * time.Second}
				r, err := Run(ctx, CrossNode, cfg)
				if err != nil {
					if ctx.Err() != nil {
						return rep, ctx.Err()
					}
					r = &Result{Time: time.Now().UTC(), Broker: setup, Scenario: CrossNode, QoS: int(q),
						Notes: []string{"run failed: " + err.Error()}}
					o.Log("%s q%d round %d failed: %v", setup, q, round, err)
				}
				r.Name, r.Round = fmt.Sprintf("q%d", q), round
				rep.Results = append(rep.Results, r)
				done++
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if o.Progress != nil {
		o.Progress(total, total, "done")
	}
	return rep, nil
}

// ClusterRow is one line of the cluster table: medians over rounds of one setup at one QoS,
// with ratios to the single node.
type ClusterRow struct {
	QoS                           string
	Setup                         string
	S                             *Summary
	MsgsRatio, P50Ratio, P99Ratio float64
}

// Rows returns the table rows, by QoS then setup.
func (rep *ClusterReport) Rows() []ClusterRow {
	sum := (&Comparison{Results: rep.Results}).Summaries()
	var out []ClusterRow
	for _, q := range rep.QoS {
		name := fmt.Sprintf("q%d", q)
		base := sum[name][SetupSingle]
		for _, setup := range ClusterSetups {
			s := sum[name][setup]
			if s == nil {
				continue
			}
			row := ClusterRow{QoS: name, Setup: setup, S: s}
			if base != nil {
				row.MsgsRatio, row.P50Ratio, row.P99Ratio = Ratio(s.MsgsPerSec, base.MsgsPerSec), Ratio(s.P50, base.P50), Ratio(s.P99, base.P99)
			}
			out = append(out, row)
		}
	}
	return out
}

func ratioOrDash(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

// WriteTable prints the medians and the ratios to the single node.
func (rep *ClusterReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\n%d pairs, publishers on node A, subscribers on node B (cross-node), medians over %d rounds of %s; ratios to the single node\n",
		rep.Pairs, rep.Rounds, rep.Duration)
	fmt.Fprintf(w, "%-4s %-14s %12s %12s %9s %9s %9s %10s %9s %9s %9s\n", "qos", "setup", "msgs/s", "msgs/cpu-s", "p50 µs", "p99 µs", "max µs", "lost/dup", "msgs/s x", "p50 x", "p99 x")
	for _, r := range rep.Rows() {
		fmt.Fprintf(w, "%-4s %-14s %12s %12s %9s %9s %9s %10s %9s %9s %9s%s\n", r.QoS, r.Setup, num(r.S.MsgsPerSec), num(r.S.MsgsPerBrokerCPUSec),
			num(r.S.P50), num(r.S.P99), num(r.S.Max), fmt.Sprintf("%d/%d", r.S.Lost, r.S.Duplicates),
			ratioOrDash(r.MsgsRatio), ratioOrDash(r.P50Ratio), ratioOrDash(r.P99Ratio), summaryFlags(r.S))
	}
	fmt.Fprintln(w, "\nmsgs/cpu-s divides by the CPU of every node the run used (A and B for cross-node). These machines are shared and noisy: only ratios within one run are meaningful.")
}

// Markdown renders the cluster section of docs/benchmarks.md.
func (rep *ClusterReport) Markdown(command string) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	m := rep.Machine
	w("## Cross-node MQTT: a cluster against a single node\n\n")
	w("<!-- This section is generated by `%s`; `make bench` rewrites it. -->\n\n", command)
	w("`nautilus-bench cluster` starts a standalone `nautilus` and a cluster of %d `nautilus` processes on loopback (temporary data directories, ", rep.Nodes)
	w("Plumtree ticks of 500 ms, clients allowed during netsplits), then runs the same flow in three setups, interleaved: %d publisher/subscriber pairs, ", rep.Pairs)
	w("payload 64 B, MQTT %s, %s of publishing, publishers and subscribers on the single node (`single`), both on node A of the cluster (`cluster-local`), ", rep.Version, rep.Duration)
	w("and publishers on node A with subscribers on node B (`cross-node`). Before the clock starts, probes are published until every subscriber has one, ")
	w("so the subscriptions have replicated. Ratios are to `single` in the same run; `msgs/CPU-s` divides by the CPU of every node the setup used. ")
	w("Medians over %d round(s); lost and duplicated messages are summed over rounds.\n\n", rep.Rounds)
	w("| | |\n|---|---|\n| date | %s |\n| CPU | %s, %d cores (load average at start %s) |\n| Go | %s |\n| nautilus | %s |\n\n",
		rep.Date.Format("2006-01-02 15:04 UTC"), m.CPU, m.Cores, m.LoadAvg, m.Go, rep.Nautilus)
	w("| QoS | setup | msgs/s | msgs/CPU-s | p50 µs | p99 µs | max µs | lost | dup | msgs/s vs single | p50 vs single | p99 vs single |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Rows() {
		setup := r.Setup
		if r.S.Failed > 0 {
			setup += fmt.Sprintf(" (%d failed)", r.S.Failed)
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %s |\n", r.QoS, setup, num(r.S.MsgsPerSec), num(r.S.MsgsPerBrokerCPUSec),
			num(r.S.P50), num(r.S.P99), num(r.S.Max), r.S.Lost, r.S.Duplicates, ratioOrDash(r.MsgsRatio), ratioOrDash(r.P50Ratio), ratioOrDash(r.P99Ratio))
	}
	return b.String()
}

// ReplaceSection returns doc with the block between begin and end replaced by section; without
// the markers, the block goes before the replication section, else before the notes, else at
// the end.
func ReplaceSection(doc []byte, begin, end, section string) []byte {
	block := begin + "\n" + strings.TrimSpace(section) + "\n" + end
	if i := bytes.Index(doc, []byte(begin)); i >= 0 {
		if j := bytes.Index(doc[i:], []byte(end)); j >= 0 {
			return append(append(append([]byte(nil), doc[:i]...), block...), doc[i+j+len(end):]...)
		}
	}
	for _, before := range []string{ReplicationBegin, NotesBegin} {
		if i := bytes.Index(doc, []byte(before)); i >= 0 {
			return append(append(append([]byte(nil), doc[:i]...), block+"\n\n"...), doc[i:]...)
		}
	}
	out := append([]byte(nil), doc...)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return append(out, "\n"+block+"\n"...)
}

// WriteMarkdown rewrites the cluster section of the markdown file at path (creating it if
// missing), keeping everything else.
func (rep *ClusterReport) WriteMarkdown(path, command string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(path, ReplaceSection(old, ClusterBegin, ClusterEnd, rep.Markdown(command)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
