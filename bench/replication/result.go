package replication

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Metric is one measured figure of a run.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Unit is informative ("s", "B", "virtual s"); for every metric here, lower is better.
	Unit string `json:"unit,omitempty"`
}

// Point is one sample of a time series (churn: tombstones and stored bytes over time).
type Point struct {
	T          float64 `json:"t"` // seconds (virtual in the simulator)
	Tombstones float64 `json:"tombstones"`
	Objects    float64 `json:"objects"`
	Bytes      float64 `json:"bytes"`
}

// Result is one backend's run of one scenario at one size.
type Result struct {
	Mode     string    `json:"mode"` // "sim" or "real"
	Scenario string    `json:"scenario"`
	Backend  string    `json:"backend"`
	Nodes    int       `json:"nodes"`
	Keys     int       `json:"keys"`
	Seed     uint64    `json:"seed,omitempty"`
	Metrics  []Metric  `json:"metrics"`
	Series   []Point   `json:"series,omitempty"`
	Date     time.Time `json:"date"`
	Err      string    `json:"error,omitempty"`
}

// Add appends a metric.
func (r *Result) Add(name string, v float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: v, Unit: unit})
}

// Get returns the named metric.
func (r *Result) Get(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// WriteJSON writes r as one JSON line.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteJSONHeader writes the report's description (date, machine, options, scenarios,
// command; not its results) as one JSON line {"report": …}, to precede its results' lines.
func (rep *Report) WriteJSONHeader(w io.Writer) error {
	b, err := json.Marshal(struct {
		Report *Report `json:"report"`
	}{rep})
	if err != nil {
		return fmt.Errorf("replication: encode report header: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadReport parses JSON lines written by WriteJSONHeader and WriteJSON and returns the last
// report in them with the results that follow its header, so that its tables, plots and
// document can be rendered again without running it.
func ReadReport(r io.Reader) (*Report, error) {
	dec := json.NewDecoder(r)
	var rep *Report
	for line := 1; ; line++ {
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("replication: parse JSON line %d: %w", line, err)
		}
		if h, ok := raw["report"]; ok {
			rep = &Report{FromJSON: true}
			if err := json.Unmarshal(h, rep); err != nil {
				return nil, fmt.Errorf("replication: parse report header on line %d: %w", line, err)
			}
			continue
		}
		if _, ok := raw["backend"]; !ok || rep == nil {
			continue
		}
		var res Result
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("replication: parse result on line %d: %w", line, err)
		}
		rep.Results = append(rep.Results, &res)
	}
	if rep == nil {
		return nil, fmt.Errorf("replication: no report header (a line {\"report\": …}) in the JSON lines")
	}
	return rep, nil
}

// ReadJSON parses JSON lines written by WriteJSON (blank lines are skipped; lines of other
// tools, such as the MQTT half's, are skipped when they carry no "backend").
func ReadJSON(r io.Reader) ([]*Result, error) {
	dec := json.NewDecoder(r)
	var out []*Result
	for {
		var res Result
		if err := dec.Decode(&res); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("replication: parse JSON line %d: %w", len(out)+1, err)
		}
		if res.Backend != "" {
			out = append(out, &res)
		}
	}
}

// Ratio is a / b (SWC / Plumtree), NaN when b is 0 or either is missing.
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		if a == 0 && b == 0 {
			return 1
		}
		return math.NaN()
	}
	return a / b
}

// FormatRatio prints a ratio as "0.12x", "-" when undefined, and "0x" when SWC's figure is 0.
func FormatRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "-"
	case r == 0:
		return "0x"
	case r < 0.01:
		return fmt.Sprintf("%.4fx", r)
	case r < 10:
		return fmt.Sprintf("%.2fx", r)
	}
	return fmt.Sprintf("%.0fx", r)
}

// FormatValue prints a metric compactly: integers without decimals, small values with three
// significant digits.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Group is the results of one scenario at one size: one per backend.
type Group struct {
	Mode, Scenario string
	Keys, Nodes    int
	ByBackend      map[string]*Result
	Metrics        []Metric // names and units in first-seen order
}

// Title names the group in tables ("sim burst, 5 nodes, 10000 keys").
func (g *Group) Title() string {
	return fmt.Sprintf("%s %s (%d nodes, %d keys)", g.Mode, g.Scenario, g.Nodes, g.Keys)
}

// Groups collects results by (mode, scenario, keys, nodes), in first-seen order of scenarios
// and ascending nodes, then keys, within a scenario.
func Groups(rs []*Result) []*Group {
	var out []*Group
	idx := map[string]*Group{}
	order := map[string]int{}
	for _, r := range rs {
		k := fmt.Sprintf("%s/%s/%d/%d", r.Mode, r.Scenario, r.Keys, r.Nodes)
		g := idx[k]
		if g == nil {
			g = &Group{Mode: r.Mode, Scenario: r.Scenario, Keys: r.Keys, Nodes: r.Nodes, ByBackend: map[string]*Result{}}
			idx[k] = g
			if _, ok := order[r.Mode+"/"+r.Scenario]; !ok {
				order[r.Mode+"/"+r.Scenario] = len(order)
			}
			out = append(out, g)
		}
		g.ByBackend[r.Backend] = r
		for _, m := range r.Metrics {
			if !hasMetric(g.Metrics, m.Name) {
				g.Metrics = append(g.Metrics, Metric{Name: m.Name, Unit: m.Unit})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, oj := order[out[i].Mode+"/"+out[i].Scenario], order[out[j].Mode+"/"+out[j].Scenario]
		if oi != oj {
			return oi < oj
		}
		if out[i].Nodes != out[j].Nodes {
			return out[i].Nodes < out[j].Nodes
		}
		return out[i].Keys < out[j].Keys
	})
	return out
}

func hasMetric(ms []Metric, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}

// Rows returns the group's table: a header, one row per backend, and the ratio row.
func (g *Group) Rows() [][]string {
	head := []string{"backend"}
	for _, m := range g.Metrics {
		h := m.Name
		if m.Unit != "" {
			h += " (" + m.Unit + ")"
		}
		head = append(head, h)
	}
	rows := [][]string{head}
	for _, b := range []string{Plumtree, SWC} {
		r := g.ByBackend[b]
		if r == nil {
			continue
		}
		row := []string{b}
		if r.Err != "" {
			row[0] += " (failed: " + r.Err + ")"
		}
		for _, m := range g.Metrics {
			v, ok := r.Get(m.Name)
			if !ok {
				v = math.NaN()
			}
			row = append(row, FormatValue(v))
		}
		rows = append(rows, row)
	}
	p, s := g.ByBackend[Plumtree], g.ByBackend[SWC]
	if p != nil && s != nil {
		row := []string{"swc / plumtree"}
		for _, m := range g.Metrics {
			pv, ok1 := p.Get(m.Name)
			sv, ok2 := s.Get(m.Name)
			r := math.NaN()
			if ok1 && ok2 {
				r = Ratio(sv, pv)
			}
			row = append(row, FormatRatio(r))
		}
		rows = append(rows, row)
	}
	return rows
}

// WriteTables prints one aligned table per group.
func WriteTables(w io.Writer, rs []*Result) error {
	for _, g := range Groups(rs) {
		fmt.Fprintf(w, "\n== %s\n", g.Title())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, row := range g.Rows() {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
