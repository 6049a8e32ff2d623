package replication

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nautilus-mq/nautilus/bench/mqttload"
)

// Real is the scenario name selecting the real-node runs (burst, delete, disk, idle).
const Real = "real"

// AllScenarios are the names Options.Scenarios accepts.
var AllScenarios = append(slices.Clone(SimScenarios), Real)

// Options select and size a replication comparison.
type Options struct {
	// Scenarios to run (default AllScenarios).
	Scenarios []string
	// Backends to run (default both): one backend per process lets a long run (the 1M join)
	// be split, and its results merged with RenderJSON.
	Backends []string
	Sim      SimOptions
	Real     RealOptions
	// RealNodes are the cluster sizes of the real-node runs, one run per size (default
	// Real.Nodes, itself 3 by default).
	RealNodes []int
	// Progress is called before each run (done of total); Log with what each run found.
	Progress func(done, total int, what string)
	Log      func(format string, args ...any)
}

// Report is a whole comparison.
type Report struct {
	Date    time.Time        `json:"date"`
	Machine mqttload.Machine `json:"machine"`
	Sim     SimOptions       `json:"sim"`
	Real    RealOptions      `json:"real"`
	// RealNodes are the cluster sizes of the real-node runs.
	RealNodes []int     `json:"real_nodes"`
	Results   []*Result `json:"-"`
	// Included are the results of earlier runs added by Include (also in Results).
	Included []*Result `json:"-"`
	// Ran are the scenarios run.
	Ran []string `json:"scenarios"`
	// Command is the command line that ran them, when the caller sets it (kept in the JSON
	// header so that tables rendered later from the JSON lines can name it).
	Command string `json:"command,omitempty"`
	// FromJSON is set by ReadReport: the report was read back, not run by this process.
	FromJSON bool `json:"-"`
}

// ParseScenarios checks a comma-separated scenario list ("" means all).
func ParseScenarios(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return slices.Clone(AllScenarios), nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(AllScenarios, f) {
			return nil, fmt.Errorf("unknown replication scenario %q (want some of %s)", f, strings.Join(AllScenarios, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// ParseSizes parses a comma-separated list of key counts; "10k" and "1M" are accepted.
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := 1
		switch {
		case strings.HasSuffix(f, "k") || strings.HasSuffix(f, "K"):
			mult, f = 1000, f[:len(f)-1]
		case strings.HasSuffix(f, "M") || strings.HasSuffix(f, "m"):
			mult, f = 1_000_000, f[:len(f)-1]
		}
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != f {
			return nil, fmt.Errorf("bad key count %q: want a positive integer, optionally with k or M", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty key count list")
	}
	return out, nil
}

// Run runs the selected scenarios for both backends, one after the other on identical input,
// and returns what was measured. A run that fails is logged and the others still run; the
// error returned is the first failure.
func Run(ctx context.Context, o Options) (*Report, error) {
	if len(o.Scenarios) == 0 {
		o.Scenarios = slices.Clone(AllScenarios)
	}
	if o.Progress == nil {
		o.Progress = func(int, int, string) {}
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	backends := Backends()
	if len(o.Backends) > 0 {
		backends = nil
		for _, name := range o.Backends {
			b, err := BackendByName(name)
			if err != nil {
				return nil, err
			}
			backends = append(backends, b)
		}
	}
	o.Sim = o.Sim.withDefaults()
	o.Real.Log = o.Log
	o.Real = o.Real.withDefaults()
	if len(o.RealNodes) == 0 {
		o.RealNodes = []int{o.Real.Nodes}
	}
	rep := &Report{Date: time.Now().UTC(), Machine: mqttload.DescribeMachine(), Sim: o.Sim, Real: o.Real, RealNodes: o.RealNodes, Ran: o.Scenarios}
	want := func(s string) bool { return slices.Contains(o.Scenarios, s) }

	type job struct {
		what string
		run  func(b Backend) ([]*Result, error)
	}
	var jobs []job
	single := func(f func(Backend, SimOptions) (*Result, error)) func(Backend) ([]*Result, error) {
		return func(b Backend) ([]*Result, error) {
			r, err := f(b, o.Sim)
			if r == nil {
				return nil, err
			}
			return []*Result{r}, err
		}
	}
	if want(Burst) {
		jobs = append(jobs, job{fmt.Sprintf("sim burst, %d keys", o.Sim.BurstKeys), single(SimBurst)})
	}
	if want(Partition) {
		jobs = append(jobs, job{fmt.Sprintf("sim partition, %d keys", o.Sim.BurstKeys), single(SimPartition)})
	}
	if want(Steady) || want(Join) {
		for _, k := range o.Sim.JoinKeys {
			jobs = append(jobs, job{fmt.Sprintf("sim steady + join, %d keys", k), func(b Backend) ([]*Result, error) {
				s, j, err := SimSteadyJoin(b, o.Sim, k)
				var out []*Result
				if s != nil && want(Steady) {
					out = append(out, s)
				}
				if j != nil && want(Join) {
					out = append(out, j)
				}
				return out, err
			}})
		}
	}
	if want(Churn) {
		jobs = append(jobs, job{fmt.Sprintf("sim churn, %d client ids", o.Sim.ChurnKeys), single(SimChurn)})
	}
	if want(Real) {
		for _, n := range o.RealNodes {
			ro := o.Real
			ro.Nodes = n
			jobs = append(jobs, job{fmt.Sprintf("real %d nodes, bursts of %v keys", n, ro.BurstKeys), func(b Backend) ([]*Result, error) {
				return RunReal(ctx, b, ro)
			}})
		}
	}
	var first error
	total := len(backends) * len(jobs)
	done := 0
	for _, j := range jobs {
		for _, b := range backends {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			what := b.Name + ": " + j.what
			o.Progress(done, total, what)
			t0 := time.Now()
			rs, err := j.run(b)
			done++
			if err != nil {
				o.Log("%s: FAILED after %v: %v", what, time.Since(t0).Round(time.Millisecond), err)
				if first == nil {
					first = fmt.Errorf("%s: %w", what, err)
				}
				continue
			}
			o.Log("%s: %v", what, time.Since(t0).Round(time.Millisecond))
			rep.Results = append(rep.Results, rs...)
		}
	}
	o.Progress(total, total, "done")
	return rep, first
}

// groupKey identifies a table row: one backend's run of one scenario at one size.
func groupKey(r *Result) string {
	return fmt.Sprintf("%s/%s/%s/%d/%d", r.Mode, r.Scenario, r.Backend, r.Nodes, r.Keys)
}

// Include adds results of earlier runs (read back from --json files) to the report's tables,
// plots and document, so that a run too long to repeat with every report (the 1M join, the 1M
// churn) still appears in it. A result this run measured wins over an included one for the
// same backend, scenario, cluster size and key count, and of included duplicates the last
// read wins (a later rerun appended to the same file).
func (rep *Report) Include(rs []*Result) {
	have := map[string]bool{}
	for _, r := range rep.Results {
		have[groupKey(r)] = true
	}
	last := map[string]*Result{}
	var order []string
	for _, r := range rs {
		k := groupKey(r)
		if have[k] {
			continue
		}
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = r
	}
	for _, k := range order {
		rep.Results = append(rep.Results, last[k])
		rep.Included = append(rep.Included, last[k])
	}
}
