package mqttload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nautilus-mq/nautilus/bench/stats"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Broker names used in comparisons.
const (
	NautilusName  = "nautilus"
	MosquittoName = "mosquitto"
)

// Spec is one named scenario of a comparison with its parameters.
type Spec struct {
	Name     string
	Scenario string
	Cfg      Config // scenario parameters; Addr, PID, Label and Duration are filled per run
}

// DefaultSpecs is the scenario list of `nautilus-bench compare` and `make bench`. The shapes
// follow the targets of the bench issue: QoS 0/1 fan-in, fan-out and pairs for throughput and
// CPU efficiency, the same with persistent subscribers (what durability costs), QoS 2 fan-in
// and a shared group for exactly-once and no-loss, fixed-rate latency, connection storm, idle
// connection memory and retained delivery.
func DefaultSpecs() []Spec {
	return []Spec{
		{Name: "fan-in-q0", Scenario: FanIn, Cfg: Config{QoS: 0, Publishers: 8}},
		{Name: "fan-in-q1", Scenario: FanIn, Cfg: Config{QoS: 1, Publishers: 8}},
		{Name: "fan-in-q2", Scenario: FanIn, Cfg: Config{QoS: 2, Publishers: 8}},
		{Name: "fan-out-q0", Scenario: FanOut, Cfg: Config{QoS: 0, Subscribers: 8}},
		{Name: "fan-out-q1", Scenario: FanOut, Cfg: Config{QoS: 1, Subscribers: 8}},
		{Name: "pairs-q0", Scenario: Pairs, Cfg: Config{QoS: 0, Pairs: 8}},
		{Name: "pairs-q1", Scenario: Pairs, Cfg: Config{QoS: 1, Pairs: 8}},
		{Name: "fan-out-q1-persist", Scenario: FanOut, Cfg: Config{QoS: 1, Subscribers: 8, Persistent: true}},
		{Name: "pairs-q1-persist", Scenario: Pairs, Cfg: Config{QoS: 1, Pairs: 8, Persistent: true}},
		{Name: "shared-q1", Scenario: Shared, Cfg: Config{QoS: 1, Publishers: 4, Subscribers: 4}},
		{Name: "latency-q1", Scenario: Latency, Cfg: Config{QoS: 1, Publishers: 1, Rate: 2000}},
		{Name: "connect", Scenario: Connect, Cfg: Config{Connections: 2000, Dialers: 8}},
		{Name: "connect-sub", Scenario: Connect, Cfg: Config{Connections: 2000, Dialers: 8, Subscribe: true, Version: packet.V311}},
		{Name: "connect-sub-v5", Scenario: Connect, Cfg: Config{Connections: 2000, Dialers: 8, Subscribe: true, Version: packet.V5}},
		{Name: "idle", Scenario: Idle, Cfg: Config{Connections: 2000, Dialers: 8, Settle: time.Second}},
		{Name: "retained", Scenario: Retained, Cfg: Config{QoS: 1, Retained: 5000}},
		{Name: "retained-store", Scenario: RetainedStore, Cfg: Config{QoS: 1, Retained: 5000}},
	}
}

// BrokerProc is a broker started for a comparison on its own loopback port, with a
// temporary directory for its configuration, data and log.
type BrokerProc struct {
	Name    string
	Version string
	Addr    string
	PID     int
	Dir     string
	cmd     *exec.Cmd
	done    chan error
}

// FreePort returns a loopback address with a port nobody listens on right now.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartNautilus starts bin/nautilus (path) with anonymous access, no plugins, a queue limit no
// run reaches (a million messages) and a generous inflight window, so that the comparison
// measures routing rather than policy: with such queues on both brokers, a message lost at
// QoS 1 or 2 is a fault and not a drop the configuration asked for.
func StartNautilus(ctx context.Context, path string) (*BrokerProc, error) {
	return StartNautilusPinned(ctx, path, "")
}

// StartNautilusPinned is StartNautilus with the broker bound to the CPUs cpus (taskset's list
// form, "0" or "0-1"); "" leaves it free.
func StartNautilusPinned(ctx context.Context, path, cpus string) (*BrokerProc, error) {
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nautilus-bench-nautilus-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	conf := NautilusConfig(addr, filepath.Join(dir, "data"))
	cf := filepath.Join(dir, "nautilus.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	ver := firstLine(exec.CommandContext(ctx, path, "version"))
	return startProc(ctx, NautilusName, ver, addr, dir, cpus, path, "start", "--config", cf)
}

// NautilusConfig is the configuration compare gives Nautilus.
func NautilusConfig(addr, dataDir string) string {
	return fmt.Sprintf(`# written by nautilus-bench compare
listener.tcp.default = %s
platform_data_dir = %s
allow_anonymous = on
plugins.vmq_passwd = off
plugins.vmq_acl = off
max_inflight_messages = 1000
max_online_messages = 1000000
log.console.level = warning
`, addr, dataDir)
}

// MosquittoConfig is the configuration compare gives Mosquitto: a listener and anonymous
// access, plus the same queue and inflight limits as Nautilus (Mosquitto's defaults, 20 in
// flight and 1000 queued, would make it drop QoS 1 messages under fan-in, and the comparison
// would be of configurations rather than brokers). The limit is a million rather than 0 ("no
// limit"): with 0, Mosquitto 2.0.11 stalled a QoS 2 subscriber in one of our runs, and a
// million is more than any run here queues.
func MosquittoConfig(port string) string {
	return fmt.Sprintf(`# written by nautilus-bench compare
listener %s 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 1000000
log_dest stderr
log_type error
log_type warning
`, port)
}

// StartMosquitto starts Debian's mosquitto (path) with MosquittoConfig.
func StartMosquitto(ctx context.Context, path string) (*BrokerProc, error) {
	return StartMosquittoPinned(ctx, path, "")
}

// StartMosquittoPinned is StartMosquitto with the broker bound to the CPUs cpus.
func StartMosquittoPinned(ctx context.Context, path, cpus string) (*BrokerProc, error) {
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nautilus-bench-mosquitto-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(MosquittoConfig(port)), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	ver := firstLine(exec.CommandContext(ctx, path, "-h"))
	return startProc(ctx, MosquittoName, ver, addr, dir, cpus, path, "-c", cf)
}

func firstLine(cmd *exec.Cmd) string {
	out, _ := cmd.CombinedOutput() // mosquitto -h exits 3 after printing its version
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func startProc(ctx context.Context, name, version, addr, dir, cpus, path string, args ...string) (*BrokerProc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	// The broker runs in its temporary directory (relative paths in its config and logs land
	// there), so a relative binary path such as bin/nautilus is resolved first.
	if abs, err := exec.LookPath(path); err == nil {
		if abs, err = filepath.Abs(abs); err == nil {
			path = abs
		}
	}
	cmd := exec.Command(path, args...)
	if cpus != "" {
		// taskset execs the broker in place, so the PID measured is the broker's own.
		cmd = exec.Command("taskset", append([]string{"-c", cpus, path}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	b := &BrokerProc{Name: name, Version: version, Addr: addr, PID: cmd.Process.Pid, Dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() {
		b.done <- cmd.Wait()
		logf.Close()
	}()
	// Ready when an MQTT connection succeeds, not merely when the port accepts.
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		c, _, err := dialProbe(cctx, addr)
		cancel()
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case werr := <-b.done:
			log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			return nil, fmt.Errorf("%s exited while starting (%v): %s", name, werr, tail(log))
		default:
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("%s did not accept MQTT on %s within 20 s: %w", name, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func dialProbe(ctx context.Context, addr string) (interface{ Close() error }, time.Duration, error) {
	cfg := Config{Addr: addr, Version: packet.V311, TopicPrefix: "nautilus-bench/probe"}
	cfg.defaults(Connect)
	return dial(ctx, &cfg, "nb-probe", nil, true)
}

// Stop sends SIGTERM, waits up to 15 s (then kills), and removes the temporary directory
// unless keep is set in the environment (NAUTILUS_BENCH_KEEP=1, to read the broker's log).
func (b *BrokerProc) Stop() error {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		err = <-b.done
	}
	if os.Getenv("NAUTILUS_BENCH_KEEP") == "" {
		os.RemoveAll(b.Dir)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		err = nil // ended by our signal
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", b.Name, err)
	}
	return nil
}

// CompareOptions configure Compare.
type CompareOptions struct {
	Nautilus  string // path of the nautilus binary
	Mosquitto string // path of the mosquitto binary
	Rounds    int
	Duration  time.Duration
	Specs     []Spec
	Version   packet.Version
	Progress  func(done, total int, what string)
	Log       func(format string, args ...any)
	// Pin, when set, binds each broker to these CPUs (taskset's list, e.g. "0"): the brokers
	// then compete on one core each, as on a small machine, and the load tool has the rest.
	Pin string
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Date     time.Time
	Machine  Machine
	Brokers  map[string]string // name → version line
	Rounds   int
	Duration time.Duration
	Version  packet.Version
	Specs    []Spec
	Results  []*Result
}

// Machine describes where a comparison ran.
type Machine struct {
	CPU     string  `json:"cpu"`
	Cores   int     `json:"cores"`
	MemGiB  float64 `json:"mem_gib"`
	Kernel  string  `json:"kernel"`
	Go      string  `json:"go"`
	LoadAvg string  `json:"loadavg_at_start"`
}

// DescribeMachine reads the machine's description from /proc.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemGiB = kb / (1 << 20)
		}
	}
	return m
}

// Compare starts both brokers and runs every spec against each, Rounds times. Within a round
// the order of the brokers alternates, so neither always runs on the warmer (or busier)
// machine; both brokers stay up for the whole comparison, idle while the other is measured.
func Compare(ctx context.Context, o CompareOptions) (*Comparison, error) {
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Specs == nil {
		o.Specs = DefaultSpecs()
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	cmp := &Comparison{Date: time.Now().UTC(), Machine: DescribeMachine(), Brokers: map[string]string{},
		Rounds: o.Rounds, Duration: o.Duration, Version: o.Version, Specs: o.Specs}
	if cmp.Version == 0 {
		cmp.Version = packet.V311
	}
	naut, err := StartNautilusPinned(ctx, o.Nautilus, o.Pin)
	if err != nil {
		return nil, err
	}
	defer naut.Stop()
	mosq, err := StartMosquittoPinned(ctx, o.Mosquitto, o.Pin)
	if err != nil {
		return nil, err
	}
	defer mosq.Stop()
	o.Log("nautilus %s on %s (pid %d), mosquitto %s on %s (pid %d)", naut.Version, naut.Addr, naut.PID, mosq.Version, mosq.Addr, mosq.PID)
	cmp.Brokers[NautilusName], cmp.Brokers[MosquittoName] = naut.Version, mosq.Version
	brokers := []*BrokerProc{naut, mosq}
	start := map[string]func(context.Context, string) (*BrokerProc, error){
		NautilusName:  func(ctx context.Context, p string) (*BrokerProc, error) { return StartNautilusPinned(ctx, p, o.Pin) },
		MosquittoName: func(ctx context.Context, p string) (*BrokerProc, error) { return StartMosquittoPinned(ctx, p, o.Pin) },
	}
	paths := map[string]string{NautilusName: o.Nautilus, MosquittoName: o.Mosquitto}
	total, done := o.Rounds*len(o.Specs)*2, 0
	for round := 1; round <= o.Rounds; round++ {
		for si, sp := range o.Specs {
			order := brokers
			if (round+si)%2 == 0 {
				order = []*BrokerProc{mosq, naut}
			}
			for _, b := range order {
				if o.Progress != nil {
					o.Progress(done, total, fmt.Sprintf("round %d/%d %s %s", round, o.Rounds, sp.Name, b.Name))
				}
				cfg := sp.Cfg
				cfg.Addr, cfg.PID, cfg.Label = b.Addr, b.PID, b.Name
				if cfg.Version == 0 { // a spec that names its protocol keeps it
					cfg.Version = o.Version
				}
				if cfg.Duration == 0 {
					cfg.Duration = o.Duration
				}
				cfg.Drain = 10 * time.Second
				var r *Result
				var err error
				if sp.Scenario == Idle {
					// RSS growth per connection needs a broker that has never held many
					// connections: memory freed after earlier scenarios stays mapped (malloc
					// arenas, the Go heap) and would absorb the new connections unseen.
					r, err = runFresh(ctx, start[b.Name], paths[b.Name], sp.Scenario, cfg)
				} else {
					r, err = Run(ctx, sp.Scenario, cfg)
				}
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					// One failed run must not lose the others: record it and go on.
					r = &Result{Time: time.Now().UTC(), Broker: b.Name, Scenario: sp.Scenario, QoS: int(sp.Cfg.QoS),
						Notes: []string{"run failed: " + err.Error()}}
					o.Log("%s %s round %d failed: %v", b.Name, sp.Name, round, err)
				}
				r.Name, r.Round = sp.Name, round
				cmp.Results = append(cmp.Results, r)
				done++
				// Let the broker finish closing the run's sessions before the next starts.
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if o.Progress != nil {
		o.Progress(total, total, "done")
	}
	select {
	case <-naut.done:
		return cmp, errors.New("nautilus exited during the comparison")
	default:
	}
	return cmp, nil
}

// runFresh runs one scenario against a broker started for it alone.
func runFresh(ctx context.Context, start func(context.Context, string) (*BrokerProc, error), path, scenario string, cfg Config) (*Result, error) {
	b, err := start(ctx, path)
	if err != nil {
		return nil, err
	}
	defer b.Stop()
	// Let the broker finish starting (background goroutines, first GC) before the baseline.
	time.Sleep(500 * time.Millisecond)
	cfg.Addr, cfg.PID = b.Addr, b.PID
	return Run(ctx, scenario, cfg)
}

// Summary is the median over rounds of one spec on one broker; losses and duplicates are
// summed over rounds, since one lost message in any round is a fault.
type Summary struct {
	Runs, Failed        int
	MsgsPerSec          float64
	MsgsPerBrokerCPUSec float64
	P50, P99, Max       float64
	ConnectsPerSec      float64
	RSSPerConn          float64
	RetainedSecs        float64
	BrokerCPUPct        float64
	GenCPUPct           float64
	Lost, Duplicates    uint64
	Expected            uint64
	GenSaturated        int // rounds flagged
	MachineBusy         int
	Hist                *stats.Histogram
}

// Summaries returns the per-spec, per-broker summaries.
func (c *Comparison) Summaries() map[string]map[string]*Summary {
	out := map[string]map[string]*Summary{}
	vals := map[[2]string]map[string][]float64{}
	for _, r := range c.Results {
		if out[r.Name] == nil {
			out[r.Name] = map[string]*Summary{}
		}
		s := out[r.Name][r.Broker]
		if s == nil {
			s = &Summary{Hist: stats.NewHistogram()}
			out[r.Name][r.Broker] = s
		}
		s.Runs++
		if len(r.Notes) > 0 && strings.HasPrefix(r.Notes[0], "run failed") {
			s.Failed++
			continue
		}
		s.Lost += r.Lost
		s.Duplicates += r.Duplicates
		s.Expected += r.Expected
		if r.GenSaturated {
			s.GenSaturated++
		}
		if r.MachineBusy {
			s.MachineBusy++
		}
		if r.hist != nil {
			s.Hist.Merge(r.hist)
		}
		k := [2]string{r.Name, r.Broker}
		if vals[k] == nil {
			vals[k] = map[string][]float64{}
		}
		v := vals[k]
		v["msgs"] = append(v["msgs"], r.MsgsPerSec)
		v["eff"] = append(v["eff"], r.MsgsPerBrokerCPUSec)
		v["p50"] = append(v["p50"], r.Latency.P50)
		v["p99"] = append(v["p99"], r.Latency.P99)
		v["max"] = append(v["max"], r.Latency.Max)
		v["cps"] = append(v["cps"], r.ConnectsPerSec)
		v["rss"] = append(v["rss"], r.RSSPerConn)
		v["ret"] = append(v["ret"], r.DeliverySecs)
		v["bcpu"] = append(v["bcpu"], r.BrokerCPUPct)
		v["gcpu"] = append(v["gcpu"], r.GenCPUPct)
	}
	for k, v := range vals {
		s := out[k[0]][k[1]]
		s.MsgsPerSec, s.MsgsPerBrokerCPUSec = Median(v["msgs"]), Median(v["eff"])
		s.P50, s.P99, s.Max = Median(v["p50"]), Median(v["p99"]), Median(v["max"])
		s.ConnectsPerSec, s.RSSPerConn, s.RetainedSecs = Median(v["cps"]), Median(v["rss"]), Median(v["ret"])
		s.BrokerCPUPct, s.GenCPUPct = Median(v["bcpu"]), Median(v["gcpu"])
	}
	return out
}

// Median of xs (0 for none); the mean of the middle two for an even count.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ratio is a/b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Caveat is printed with every comparison.
const Caveat = "These machines are shared and noisy: only the ratios (nautilus / mosquitto) measured in one run are meaningful, not absolute figures or ratios across runs."

// WriteTable prints the medians and ratios.
func (c *Comparison) WriteTable(w io.Writer) {
	sum := c.Summaries()
	fmt.Fprintf(w, "\nmedians over %d rounds of %s (nautilus / mosquitto ratios)\n", c.Rounds, c.Duration)
	for _, row := range c.rows(sum) {
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w, "\n"+Caveat)
}

func (c *Comparison) rows(sum map[string]map[string]*Summary) []string {
	var out []string
	out = append(out, fmt.Sprintf("%-12s %-10s %12s %12s %9s %9s %12s %10s %10s", "scenario", "broker", "msgs/s", "msgs/cpu-s", "p50 µs", "p99 µs", "conn/s", "RSS/conn", "lost/dup"))
	for _, sp := range c.Specs {
		n, m := sum[sp.Name][NautilusName], sum[sp.Name][MosquittoName]
		for _, x := range []struct {
			name string
			s    *Summary
		}{{NautilusName, n}, {MosquittoName, m}} {
			if x.s == nil {
				continue
			}
			out = append(out, fmt.Sprintf("%-12s %-10s %12s %12s %9s %9s %12s %10s %10s%s", sp.Name, x.name, num(x.s.MsgsPerSec), num(x.s.MsgsPerBrokerCPUSec),
				num(x.s.P50), num(x.s.P99), num(x.s.ConnectsPerSec), bytesOrDash(x.s.RSSPerConn), fmt.Sprintf("%d/%d", x.s.Lost, x.s.Duplicates), summaryFlags(x.s)))
		}
		if n != nil && m != nil {
			out = append(out, fmt.Sprintf("%-12s %-10s %12s %12s %9s %9s %12s %10s", "", "ratio", ratioStr(n.MsgsPerSec, m.MsgsPerSec), ratioStr(n.MsgsPerBrokerCPUSec, m.MsgsPerBrokerCPUSec),
				ratioStr(n.P50, m.P50), ratioStr(n.P99, m.P99), ratioStr(n.ConnectsPerSec, m.ConnectsPerSec), ratioStr(n.RSSPerConn, m.RSSPerConn)))
		}
	}
	return out
}

func summaryFlags(s *Summary) string {
	var f []string
	if s.Failed > 0 {
		f = append(f, fmt.Sprintf("%d FAILED", s.Failed))
	}
	if s.GenSaturated > 0 {
		f = append(f, fmt.Sprintf("generator saturated in %d", s.GenSaturated))
	}
	if len(f) == 0 {
		return ""
	}
	return "  [" + strings.Join(f, "; ") + "]"
}

func ratioStr(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
