// Command nautilus-bench is the Nautilus benchmark suite: MQTT load against any broker
// (`mqtt`), a side-by-side comparison of Nautilus and Mosquitto (`compare`), cross-node
// publishing on a cluster of nautilus processes against a single node (`cluster`), and the
// comparison of the Plumtree and SWC replication backends (`replication`). See docs/benchmarks.md.
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/nautilus-mq/nautilus/bench/mqttload"
	"github.com/nautilus-mq/nautilus/bench/replication"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "nautilus-bench:", err)
		os.Exit(1)
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "nautilus-bench",
		Usage:     "measure MQTT brokers and Nautilus's replication backends",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  []*cli.Command{mqttCommand(), compareCommand(), clusterCommand(), replicationCommand()},
	}
}

func versionFlag(c *cli.Context) (packet.Version, error) {
	switch c.String("mqtt") {
	case "3.1.1", "4":
		return packet.V311, nil
	case "5", "5.0":
		return packet.V5, nil
	}
	return 0, fmt.Errorf("--mqtt %q: want 3.1.1 or 5", c.String("mqtt"))
}

var scenarioUsage = map[string]string{
	mqttload.FanIn:         "P publishers → 1 subscriber on a wildcard",
	mqttload.FanOut:        "1 publisher → S subscribers",
	mqttload.Pairs:         "N independent publisher/subscriber pairs",
	mqttload.Shared:        "P publishers → a $share group of S subscribers",
	mqttload.Latency:       "fixed --rate, latency percentiles",
	mqttload.Connect:       "connection storm: connects/s and handshake latency",
	mqttload.Idle:          "idle connections: broker RSS per connection (needs --pid)",
	mqttload.Retained:      "store R retained messages, then time a # subscription",
	mqttload.RetainedStore: "store R retained messages (QoS 1, distinct topics): stored/s",
	mqttload.CrossNode:     "N pairs: publishers on --addr, subscribers on --sub-addr (another node of the cluster); `nautilus-bench cluster` starts one",
}

// mqttCommand has one subcommand per scenario, so that flags may follow the scenario name
// (`nautilus-bench mqtt fan-in --addr …`): urfave/cli stops parsing flags at the first argument.
func mqttCommand() *cli.Command {
	var subs []*cli.Command
	for _, name := range append(append([]string(nil), mqttload.Scenarios...), mqttload.CrossNode) {
		subs = append(subs, &cli.Command{Name: name, Usage: scenarioUsage[name], Flags: mqttFlags(),
			Action: func(c *cli.Context) error { return runMQTT(c, name) }})
	}
	return &cli.Command{
		Name:        "mqtt",
		Usage:       "run one MQTT load scenario against a broker",
		ArgsUsage:   "<scenario> --addr host:port [--pid PID] [flags]",
		Subcommands: subs,
	}
}

func mqttFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:1883", Usage: "broker host:port"},
		&cli.IntFlag{Name: "pid", Usage: "broker process id: broker CPU (/proc/PID/stat) and RSS (/proc/PID/status)"},
		&cli.StringFlag{Name: "sub-addr", Usage: "cross-node: host:port of the node the subscribers connect to"},
		&cli.IntFlag{Name: "sub-pid", Usage: "cross-node: process id of the --sub-addr node (its CPU is added to --pid's)"},
		&cli.StringFlag{Name: "label", Usage: "broker name in the output (default: the address)"},
		&cli.StringFlag{Name: "mqtt", Value: "3.1.1", Usage: "protocol version: 3.1.1 or 5"},
		&cli.IntFlag{Name: "qos", Usage: "QoS of publishes and subscriptions (0, 1, 2)"},
		&cli.IntFlag{Name: "payload", Value: 64, Usage: "payload bytes (at least 20: publisher, sequence, timestamp)"},
		&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "publishing time"},
		&cli.IntFlag{Name: "publishers", Aliases: []string{"P"}, Usage: "publishers (fan-in, shared, latency; default 8, latency 1)"},
		&cli.IntFlag{Name: "subscribers", Aliases: []string{"S"}, Usage: "subscribers (fan-out, shared; default 8, shared 4)"},
		&cli.IntFlag{Name: "pairs", Aliases: []string{"N"}, Usage: "pairs (default 8)"},
		&cli.IntFlag{Name: "rate", Usage: "total messages/s, 0 = as fast as possible (latency default 1000)"},
		&cli.IntFlag{Name: "inflight", Value: 100, Usage: "QoS 1/2 window per publisher (capped by the broker's Receive Maximum)"},
		&cli.IntFlag{Name: "connections", Value: 1000, Usage: "connections (connect, idle)"},
		&cli.BoolFlag{Name: "subscribe", Usage: "connect: each client subscribes to a topic of its own once connected, as a device does"},
		&cli.IntFlag{Name: "dialers", Value: 8, Usage: "concurrent connects (connect, idle)"},
		&cli.IntFlag{Name: "retained", Value: 1000, Usage: "retained messages (retained)"},
		&cli.DurationFlag{Name: "drain", Value: 15 * time.Second, Usage: "longest wait for deliveries after publishing"},
		&cli.StringFlag{Name: "json", Usage: "append the result as a JSON line to `FILE`"},
		&cli.StringFlag{Name: "plot", Usage: "write PNG plots (latency percentiles, delivery rate) into `DIR`"},
	}
}

func runMQTT(c *cli.Context, scenario string) error {
	v, err := versionFlag(c)
	if err != nil {
		return err
	}
	if q := c.Int("qos"); q < 0 || q > 2 {
		return fmt.Errorf("--qos %d: want 0, 1 or 2", q)
	}
	cfg := mqttload.Config{Addr: c.String("addr"), PID: c.Int("pid"), SubAddr: c.String("sub-addr"), SubPID: c.Int("sub-pid"), Label: c.String("label"), Version: v,
		QoS: byte(c.Int("qos")), PayloadSize: c.Int("payload"), Duration: c.Duration("duration"),
		Publishers: c.Int("publishers"), Subscribers: c.Int("subscribers"), Pairs: c.Int("pairs"), Rate: c.Int("rate"),
		Inflight: c.Int("inflight"), Connections: c.Int("connections"), Dialers: c.Int("dialers"), Subscribe: c.Bool("subscribe"),
		Retained: c.Int("retained"), Drain: c.Duration("drain"), Timeline: c.String("plot") != ""}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := mqttload.Run(ctx, scenario, cfg)
	if err != nil {
		return err
	}
	if err := mqttload.WriteTable(c.App.Writer, []*mqttload.Result{r}); err != nil {
		return err
	}
	if r.GenSaturated {
		fmt.Fprintln(c.App.Writer, "warning: the generator used nearly all the cores it may use; the broker was not the bottleneck")
	}
	if f := c.String("json"); f != "" {
		if err := appendJSON(f, []*mqttload.Result{r}); err != nil {
			return err
		}
	}
	if d := c.String("plot"); d != "" {
		files, err := mqttload.WriteRunPlots(d, r)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintln(c.App.Writer, "plot:", filepath.Join(d, f))
		}
	}
	return nil
}

func appendJSON(path string, rs []*mqttload.Result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open --json file: %w", err)
	}
	for _, r := range rs {
		if err := r.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close --json file: %w", err)
	}
	return nil
}

func compareCommand() *cli.Command {
	return &cli.Command{
		Name:  "compare",
		Usage: "run every scenario against Nautilus and Mosquitto, interleaved, and print medians and ratios",
		Description: "Starts bin/nautilus (built first if missing) and Debian's mosquitto, each on its own free loopback port\n" +
			"with a temporary config and data directory, runs the scenarios against each over several rounds,\n" +
			"prints medians and nautilus/mosquitto ratios, and stops both. " + mqttload.Caveat,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nautilus", Value: "bin/nautilus", Usage: "nautilus binary (built with go build ./cmd/nautilus when it is bin/nautilus and missing)"},
			&cli.StringFlag{Name: "mosquitto", Value: "mosquitto", Usage: "mosquitto binary (scripts/setup.sh installs Debian's)"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "rounds; medians are taken over them"},
			&cli.DurationFlag{Name: "duration", Value: 2 * time.Second, Usage: "publishing time of each throughput run"},
			&cli.StringFlag{Name: "scenarios", Usage: "comma-separated subset of the scenario names (default: all)"},
			&cli.StringFlag{Name: "pin", Usage: "bind each broker to these CPUs with taskset (e.g. 0); default: unbound"},
			&cli.StringFlag{Name: "mqtt", Value: "3.1.1", Usage: "protocol version: 3.1.1 or 5"},
			&cli.StringFlag{Name: "json", Usage: "append every run as a JSON line to `FILE`"},
			&cli.StringFlag{Name: "plot", Usage: "write PNG plots into `DIR`"},
			&cli.StringFlag{Name: "doc", Usage: "rewrite this markdown `FILE` (docs/benchmarks.md) with the tables, keeping its notes section"},
		},
		Action: func(c *cli.Context) error {
			v, err := versionFlag(c)
			if err != nil {
				return err
			}
			specs := mqttload.DefaultSpecs()
			if s := c.String("scenarios"); s != "" {
				want := map[string]bool{}
				for _, n := range strings.Split(s, ",") {
					want[strings.TrimSpace(n)] = true
				}
				var sel []mqttload.Spec
				for _, sp := range specs {
					if want[sp.Name] || want[sp.Scenario] {
						sel = append(sel, sp)
					}
				}
				if len(sel) == 0 {
					return fmt.Errorf("--scenarios %q matches none of the scenarios", s)
				}
				specs = sel
			}
			naut := c.String("nautilus")
			if err := ensureNautilus(c, naut); err != nil {
				return err
			}
			mosq, err := exec.LookPath(c.String("mosquitto"))
			if err != nil {
				return fmt.Errorf("mosquitto not found (run scripts/setup.sh): %w", err)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			prog := newProgress(c.App.ErrWriter)
			cmp, err := mqttload.Compare(ctx, mqttload.CompareOptions{Nautilus: naut, Mosquitto: mosq, Rounds: c.Int("rounds"),
				Duration: c.Duration("duration"), Specs: specs, Version: v, Progress: prog.update, Pin: c.String("pin"),
				Log: func(f string, a ...any) { prog.log(fmt.Sprintf(f, a...)) }})
			if err != nil && cmp == nil {
				return err
			}
			if err2 := mqttload.WriteTable(c.App.Writer, cmp.Results); err2 != nil {
				return err2
			}
			cmp.WriteTable(c.App.Writer)
			if f := c.String("json"); f != "" {
				if err := appendJSON(f, cmp.Results); err != nil {
					return err
				}
			}
			var plots []string
			if d := c.String("plot"); d != "" {
				if plots, err = cmp.WritePlots(d); err != nil {
					return err
				}
			}
			if f := c.String("doc"); f != "" {
				rel := "img"
				if d := c.String("plot"); d != "" {
					if r, err := filepath.Rel(filepath.Dir(f), d); err == nil {
						rel = r
					}
				}
				cmd := "nautilus-bench compare " + strings.Join(os.Args[2:], " ")
				if err := cmp.WriteMarkdown(f, rel, plots, strings.TrimSpace(cmd)); err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, "wrote", f)
			}
			return err
		},
	}
}

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "cross-node publishing on a cluster of nautilus processes, against a single node in the same run",
		Description: "Starts bin/nautilus (built first if missing) as one standalone node and as a cluster of --nodes\n" +
			"processes on loopback (temporary config and data directories), runs N publisher/subscriber pairs with\n" +
			"publishers and subscribers on the single node, both on node A, and publishers on A with subscribers on\n" +
			"node B, at each QoS, interleaved over the rounds; prints medians, loss and duplicates, and ratios to\n" +
			"the single node; stops every process.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nautilus", Value: "bin/nautilus", Usage: "nautilus binary (built with go build ./cmd/nautilus when it is bin/nautilus and missing)"},
			&cli.IntFlag{Name: "nodes", Value: 2, Usage: "cluster size (2 or more)"},
			&cli.IntFlag{Name: "rounds", Value: 1, Usage: "rounds; medians are taken over them"},
			&cli.DurationFlag{Name: "duration", Value: 2 * time.Second, Usage: "publishing time of each run"},
			&cli.StringFlag{Name: "qos", Value: "0,1", Usage: "comma-separated QoS levels"},
			&cli.IntFlag{Name: "pairs", Aliases: []string{"N"}, Value: 8, Usage: "publisher/subscriber pairs"},
			&cli.StringFlag{Name: "mqtt", Value: "3.1.1", Usage: "protocol version: 3.1.1 or 5"},
			&cli.StringFlag{Name: "json", Usage: "append every run as a JSON line to `FILE`"},
			&cli.StringFlag{Name: "doc", Usage: "rewrite the cluster section of this markdown `FILE` (docs/benchmarks.md)"},
		},
		Action: runCluster,
	}
}

func runCluster(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return fmt.Errorf("cluster takes flags only (got %q)", c.Args().Slice())
	}
	v, err := versionFlag(c)
	if err != nil {
		return err
	}
	var qos []byte
	for _, f := range strings.Split(c.String("qos"), ",") {
		switch strings.TrimSpace(f) {
		case "0", "1", "2":
			qos = append(qos, byte(strings.TrimSpace(f)[0]-'0'))
		default:
			return fmt.Errorf("--qos %q: want a comma-separated list of 0, 1, 2", c.String("qos"))
		}
	}
	if c.Int("nodes") < 2 {
		return fmt.Errorf("--nodes %d: a cluster needs at least 2", c.Int("nodes"))
	}
	naut := c.String("nautilus")
	if err := ensureNautilus(c, naut); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	prog := newProgress(c.App.ErrWriter)
	rep, err := mqttload.ClusterBench(ctx, mqttload.ClusterOptions{Nautilus: naut, Nodes: c.Int("nodes"), Rounds: c.Int("rounds"),
		Duration: c.Duration("duration"), QoS: qos, Pairs: c.Int("pairs"), Version: v, Progress: prog.update,
		Log: func(f string, a ...any) { prog.log(fmt.Sprintf(f, a...)) }})
	if rep == nil {
		return err
	}
	if err2 := mqttload.WriteTable(c.App.Writer, rep.Results); err2 != nil {
		return err2
	}
	rep.WriteTable(c.App.Writer)
	if f := c.String("json"); f != "" {
		if err := appendJSON(f, rep.Results); err != nil {
			return err
		}
	}
	if f := c.String("doc"); f != "" && len(rep.Results) > 0 {
		cmd := strings.TrimSpace("nautilus-bench cluster " + strings.Join(os.Args[2:], " "))
		if err := rep.WriteMarkdown(f, cmd); err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, "wrote", f)
	}
	return err
}

// ensureNautilus builds bin/nautilus when it is the default path and missing, so that
// `nautilus-bench compare` works from a fresh checkout.
func ensureNautilus(c *cli.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if path != "bin/nautilus" {
		return fmt.Errorf("--nautilus %s: not found", path)
	}
	fmt.Fprintln(c.App.ErrWriter, "building bin/nautilus")
	cmd := exec.CommandContext(c.Context, "go", "build", "-o", path, "./cmd/nautilus")
	cmd.Stdout, cmd.Stderr = c.App.ErrWriter, c.App.ErrWriter
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build bin/nautilus (run from the repository root, or pass --nautilus): %w", err)
	}
	return nil
}

func replicationCommand() *cli.Command {
	return &cli.Command{
		Name:  "replication",
		Usage: "compare the Plumtree and SWC metadata backends (simulator and real nodes)",
		Description: "Runs both backends on identical, seeded work: in the deterministic simulator (burst, partition,\n" +
			"steady, join, churn) and as real nodes over loopback with RocksDB (real). Prints one table per\n" +
			"scenario with both backends and the SWC / Plumtree ratio. See docs/benchmarks.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scenarios", Usage: "comma-separated subset of " + strings.Join(replication.AllScenarios, ",") + " (default: all)"},
			&cli.StringFlag{Name: "backends", Usage: "comma-separated subset of " + replication.Plumtree + "," + replication.SWC + " (default: both); split a long run into one process per backend"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "simulator seed"},
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "simulated nodes"},
			&cli.IntFlag{Name: "burst-keys", Value: 1000, Usage: "keys of the simulated write burst (and partition preload)"},
			&cli.StringFlag{Name: "join-keys", Value: "1000,3000,10000", Usage: "cluster sizes an empty node joins (steady, join), e.g. 10k,100k,1M"},
			&cli.IntFlag{Name: "churn-keys", Value: 10000, Usage: "client ids created and deleted (churn)"},
			&cli.IntFlag{Name: "churn-rate", Value: 1000, Usage: "client ids connecting per virtual second (churn)"},
			&cli.DurationFlag{Name: "steady", Value: 30 * time.Second, Usage: "virtual time of steady-state anti-entropy measured"},
			&cli.BoolFlag{Name: "large", Usage: "the issue's large sizes: join 10k,100k,1M keys and churn 100k client ids (long)"},
			&cli.StringFlag{Name: "real-nodes", Value: "3,5", Usage: "cluster sizes of the real-node runs, comma-separated (one run per size)"},
			&cli.StringFlag{Name: "real-keys", Value: "2000,5000,10000", Usage: "sizes of the real write bursts (all keys are then deleted)"},
			&cli.DurationFlag{Name: "ae-period", Value: 500 * time.Millisecond, Usage: "anti-entropy period of both backends in real runs"},
			&cli.StringFlag{Name: "json", Usage: "append every result as a JSON line to `FILE`"},
			&cli.StringFlag{Name: "from-json", Usage: "run nothing: render the last report in `FILE` (written by --json) again, for --plot and --doc (with --include-json: together with other runs)"},
			&cli.StringFlag{Name: "include-json", Usage: "comma-separated `FILES` of JSON lines from earlier runs (--json) to add to the tables, plots and --doc; this run's results win for the same scenario, backend and size"},
			&cli.StringFlag{Name: "plot", Usage: "write PNG plots into `DIR`"},
			&cli.StringFlag{Name: "doc", Usage: "rewrite the replication section of this markdown `FILE` (docs/benchmarks.md)"},
		},
		Action: runReplication,
	}
}

func runReplication(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return fmt.Errorf("replication takes flags only (got %q); pick scenarios with --scenarios", c.Args().Slice())
	}
	scen, err := replication.ParseScenarios(c.String("scenarios"))
	if err != nil {
		return err
	}
	join, err := replication.ParseSizes(c.String("join-keys"))
	if err != nil {
		return fmt.Errorf("--join-keys: %w", err)
	}
	realKeys, err := replication.ParseSizes(c.String("real-keys"))
	if err != nil {
		return fmt.Errorf("--real-keys: %w", err)
	}
	realNodes, err := replication.ParseSizes(c.String("real-nodes"))
	if err != nil {
		return fmt.Errorf("--real-nodes: %w", err)
	}
	var included []*replication.Result
	for _, f := range strings.Split(c.String("include-json"), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		rs, err := readReplicationJSON(f)
		if err != nil {
			return fmt.Errorf("--include-json: %w", err)
		}
		included = append(included, rs...)
	}
	churn := c.Int("churn-keys")
	if c.Bool("large") {
		join = []int{10_000, 100_000, 1_000_000}
		churn = 100_000
	}
	cmdline := strings.TrimSpace("nautilus-bench replication " + strings.Join(os.Args[2:], " "))
	var rep *replication.Report
	var runErr error
	if f := c.String("from-json"); f != "" {
		if c.String("json") != "" {
			return fmt.Errorf("--from-json renders results already in a file; --json would append them again")
		}
		if rep, err = readReplicationReport(f); err != nil {
			return fmt.Errorf("--from-json: %w", err)
		}
	} else {
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		prog := newProgress(c.App.ErrWriter)
		var backends []string
		for _, b := range strings.Split(c.String("backends"), ",") {
			if b = strings.TrimSpace(b); b != "" {
				backends = append(backends, b)
			}
		}
		rep, runErr = replication.Run(ctx, replication.Options{
			Scenarios: scen,
			Backends:  backends,
			Sim: replication.SimOptions{Seed: c.Uint64("seed"), Nodes: c.Int("nodes"), BurstKeys: c.Int("burst-keys"), JoinKeys: join,
				ChurnKeys: churn, ChurnRate: c.Int("churn-rate"), SteadyTime: c.Duration("steady")},
			Real:      replication.RealOptions{BurstKeys: realKeys, AEPeriod: c.Duration("ae-period")},
			RealNodes: realNodes,
			Progress:  prog.update,
			Log:       func(f string, a ...any) { prog.log(fmt.Sprintf(f, a...)) },
		})
		if rep == nil {
			return runErr
		}
		rep.Command = cmdline
		// This run's results go to --json before the included ones join them: those are
		// already in their files.
		if f := c.String("json"); f != "" {
			if err := appendReplicationJSON(f, rep); err != nil {
				return err
			}
		}
	}
	rep.Include(included)
	if err := replication.WriteTables(c.App.Writer, rep.Results); err != nil {
		return err
	}
	var plots []string
	if d := c.String("plot"); d != "" {
		if plots, err = rep.WritePlots(d); err != nil {
			return err
		}
		for _, p := range plots {
			fmt.Fprintln(c.App.Writer, "plot:", filepath.Join(d, p))
		}
	}
	if f := c.String("doc"); f != "" && len(rep.Results) > 0 {
		rel := "img"
		if d := c.String("plot"); d != "" {
			if r, err := filepath.Rel(filepath.Dir(f), d); err == nil {
				rel = r
			}
		}
		if err := rep.WriteMarkdown(f, rel, plots, cmdline); err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, "wrote", f)
	}
	return runErr
}

func readReplicationJSON(path string) ([]*replication.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := replication.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

func readReplicationReport(path string) (*replication.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep, err := replication.ReadReport(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// appendReplicationJSON appends the report's header line and then one line per result.
func appendReplicationJSON(path string, rep *replication.Report) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open --json file: %w", err)
	}
	if err := rep.WriteJSONHeader(f); err != nil {
		f.Close()
		return err
	}
	for _, r := range rep.Results {
		if err := r.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// progress shows a one-line progress bar on a terminal and plain lines otherwise (logs, CI).
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) update(done, total int, what string) {
	if p.tty {
		const width = 30
		fill := width * done / max(total, 1)
		fmt.Fprintf(p.w, "\r[%s%s] %3d/%d %-40s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total, what)
		if done == total {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintf(p.w, "[%d/%d] %s\n", done, total, what)
}

func (p *progress) log(s string) {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
}
