package replication

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/bench/mqttload"
	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

func TestRatioAndFormat(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{{1, 2, "0.50x"}, {30, 2, "15x"}, {0, 5, "0x"}, {5, 0, "-"}, {0, 0, "1.00x"}, {1, 1000, "0.0010x"}, {math.NaN(), 1, "-"}} {
		if got := FormatRatio(Ratio(c.a, c.b)); got != c.want {
			t.Errorf("Ratio(%v, %v) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	for v, want := range map[float64]string{12: "12", 1234.6: "1235", 0.123456: "0.123", 3.14159: "3.14", math.NaN(): "-"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
}

func res(mode, scen, backend string, keys int, kv ...any) *Result {
	r := &Result{Mode: mode, Scenario: scen, Backend: backend, Nodes: 3, Keys: keys}
	for i := 0; i < len(kv); i += 2 {
		r.Add(kv[i].(string), kv[i+1].(float64), "B")
	}
	return r
}

func TestGroupsAndRows(t *testing.T) {
	rs := []*Result{
		res("sim", Join, SWC, 1000, "bytes", 50.0),
		res("sim", Burst, Plumtree, 10, "msgs", 8.0),
		res("sim", Join, Plumtree, 100, "bytes", 20.0),
		res("sim", Join, Plumtree, 1000, "bytes", 200.0, "extra", 1.0),
		res("sim", Burst, SWC, 10, "msgs", 2.0),
		res("sim", Join, SWC, 100, "bytes", 10.0),
	}
	gs := Groups(rs)
	if len(gs) != 3 {
		t.Fatalf("%d groups", len(gs))
	}
	if gs[0].Scenario != Join || gs[0].Keys != 100 || gs[1].Keys != 1000 || gs[2].Scenario != Burst {
		t.Fatalf("order: %s %s %s", gs[0].Title(), gs[1].Title(), gs[2].Title())
	}
	rows := gs[1].Rows()
	want := [][]string{{"backend", "bytes (B)", "extra (B)"}, {"plumtree", "200", "1"}, {"swc", "50", "-"}, {"swc / plumtree", "0.25x", "-"}}
	if len(rows) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}
	var b bytes.Buffer
	if err := WriteTables(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "== sim join (3 nodes, 100 keys)") || !strings.Contains(b.String(), "0.50x") {
		t.Fatalf("tables:\n%s", b.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := res("real", RealDisk, SWC, 7, "disk", 41.5)
	r.Series = []Point{{T: 1, Tombstones: 2, Objects: 3, Bytes: 4}}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n{\"scenario\":\"fan-in\",\"broker\":\"mosquitto\"}\n") // an MQTT line: skipped
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Backend != SWC || got[0].Keys != 7 || got[0].Series[0].Bytes != 4 {
		t.Fatalf("%+v", got)
	}
	if v, ok := got[1].Get("disk"); !ok || v != 41.5 {
		t.Fatalf("disk = %v %v", v, ok)
	}
	if _, err := ReadJSON(strings.NewReader("{bad")); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestParse(t *testing.T) {
	got, err := ParseSizes("10k, 100K,1M,7")
	if err != nil || len(got) != 4 || got[0] != 10_000 || got[1] != 100_000 || got[2] != 1_000_000 || got[3] != 7 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "1.5k", "12x", "k"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
	s, err := ParseScenarios("churn, burst,churn")
	if err != nil || strings.Join(s, ",") != "churn,burst" {
		t.Fatalf("%v %v", s, err)
	}
	if s, _ := ParseScenarios(""); len(s) != len(AllScenarios) {
		t.Fatalf("default %v", s)
	}
	if _, err := ParseScenarios("burst,nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

func TestSection(t *testing.T) {
	notes := mqttload.NotesBegin + "\nmine\n" + mqttload.NotesEnd + "\n"
	doc := []byte("# B\n\ntables\n\n" + notes)
	one := Section(doc, "first")
	if !bytes.Contains(one, []byte("tables\n\n"+mqttload.ReplicationBegin+"\nfirst\n"+mqttload.ReplicationEnd+"\n\n"+mqttload.NotesBegin)) {
		t.Fatalf("inserted:\n%s", one)
	}
	two := Section(one, "second\n")
	if bytes.Contains(two, []byte("first")) || !bytes.Contains(two, []byte("second")) || !bytes.HasSuffix(two, []byte(notes)) {
		t.Fatalf("replaced:\n%s", two)
	}
	if got := Section([]byte("x"), "s"); string(got) != "x\n\n"+mqttload.ReplicationBegin+"\ns\n"+mqttload.ReplicationEnd+"\n" {
		t.Fatalf("appended: %q", got)
	}
	// The MQTT half keeps the section when it rewrites the page.
	dir := t.TempDir()
	path := filepath.Join(dir, "b.md")
	if err := os.WriteFile(path, two, 0o644); err != nil {
		t.Fatal(err)
	}
	cmp := &mqttload.Comparison{Rounds: 1, Duration: time.Second}
	if err := cmp.WriteMarkdown(path, "img", nil, "cmd"); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	if !bytes.Contains(out, []byte(mqttload.ReplicationBegin+"\nsecond\n"+mqttload.ReplicationEnd)) || !bytes.Contains(out, []byte("mine")) {
		t.Fatalf("mqtt rewrite lost the section:\n%s", out)
	}
}

// TestSizedCore checks the stored-bytes accounting against the engine's contents, across a
// restart (which reads the sizes back from the engine).
func TestSizedCore(t *testing.T) {
	for _, b := range Backends() {
		r, err := newSimRun(b, 3, 3, 16)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if err := r.put(nodeName(i%3), clientKey("k", i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 20 {
			if err := r.del(nodeName(i%3), clientKey("k", i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.settle(100*time.Millisecond, time.Minute); err != nil {
			t.Fatal(err)
		}
		r.s.Wait(10 * time.Second)
		_, before := r.stats("n2")
		if before <= 0 {
			t.Fatalf("%s: %d stored bytes", b.Name, before)
		}
		var counted int64
		if err := r.s.Crash("n2"); err != nil {
			t.Fatal(err)
		}
		if err := r.s.Restart("n2"); err != nil {
			t.Fatal(err)
		}
		_ = r.s.WithCore("n2", func(c sim.Core) { counted = c.(*sizedCore).total })
		if counted != before {
			t.Fatalf("%s: %d bytes tracked, %d read back from the engine after a restart", b.Name, before, counted)
		}
		r.s.Close()
	}
}

func TestDigest(t *testing.T) {
	set := func(r *simRun, k, v string) { r.setModel([]byte(k), pairHash([]byte(k), []byte(v)), true) }
	r := &simRun{model: map[string]uint64{}}
	set(r, "a", "1")
	set(r, "b", "2")
	d := r.modelDigest()
	r2 := &simRun{model: map[string]uint64{}}
	set(r2, "b", "2")
	set(r2, "a", "1")
	if d != r2.modelDigest() || d.n != 2 || r.want != d || r2.want != d {
		t.Fatal("digest depends on order")
	}
	set(r2, "a", "3")
	if d == r2.modelDigest() || r2.want != r2.modelDigest() {
		t.Fatal("digest ignores values")
	}
	set(r2, "a", "1")
	r2.setModel([]byte("c"), 0, false) // deleting an absent key changes nothing
	if r2.want != d {
		t.Fatal("overwriting a key back does not restore the digest")
	}
	r2.setModel([]byte("b"), 0, false)
	if r2.want != r2.modelDigest() || r2.want.n != 1 {
		t.Fatal("a delete is not in the incremental digest")
	}
}

// TestSmoke runs every scenario, simulator and real nodes, at tiny scale for both backends
// and draws the plots and the docs section.
func TestSmoke(t *testing.T) {
	o := Options{
		Sim: SimOptions{Nodes: 3, BurstKeys: 40, JoinKeys: []int{30, 60}, ChurnKeys: 100, ChurnRate: 200, SteadyTime: 2 * time.Second},
		// Timeout only bounds a run that does not converge: SWC's deletes on 5 nodes settle in
		// seconds on an idle machine and took over 20 s on a loaded one.
		Real:      RealOptions{BurstKeys: []int{30, 60}, AEPeriod: 100 * time.Millisecond, Idle: 200 * time.Millisecond, Timeout: time.Minute},
		RealNodes: []int{3, 5},
		Log:       t.Logf,
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rep.Results {
		seen[r.Mode+"/"+r.Scenario]++
		if len(r.Metrics) == 0 {
			t.Errorf("%s %s %s: no metrics", r.Mode, r.Scenario, r.Backend)
		}
	}
	for k, n := range map[string]int{"sim/burst": 2, "sim/partition": 2, "sim/steady": 4, "sim/join": 4, "sim/churn": 2,
		"real/burst": 8, "real/delete": 4, "real/disk": 4, "real/idle": 4, "real/memory": 4} {
		if seen[k] != n {
			t.Errorf("%s: %d results, want %d", k, seen[k], n)
		}
	}
	nodes := map[int]int{}
	for _, r := range rep.Results {
		if r.Mode == "real" {
			nodes[r.Nodes]++
		}
		if r.Scenario == RealMemory {
			if v, _ := r.Get("process peak RSS"); v <= 0 {
				t.Errorf("%s %d nodes: peak RSS %v", r.Backend, r.Nodes, v)
			}
		}
		switch {
		case r.Mode == "sim" && r.Scenario == Churn && r.Backend == SWC:
			if v, _ := r.Get("tombstones/node at end"); v != 0 {
				t.Errorf("swc churn left %v tombstones per node", v)
			}
		case r.Mode == "sim" && r.Scenario == Churn && r.Backend == Plumtree:
			if v, _ := r.Get("tombstones/node at end"); v != 100 {
				t.Errorf("plumtree churn: %v tombstones per node, want 100", v)
			}
		}
	}
	if nodes[3] != nodes[5] || nodes[3] == 0 {
		t.Errorf("real results by cluster size: %v", nodes)
	}
	dir := t.TempDir()
	plots, err := rep.WritePlots(dir)
	if err != nil || len(plots) != 4 {
		t.Fatalf("plots %v %v", plots, err)
	}
	md := rep.Markdown("img", plots, "cmd")
	for _, want := range []string{"### Simulator: churn", "### Real nodes: disk", "### Real nodes: memory", "5 nodes, 90 keys", "3 and 5 real nodes", "**", "replication-tombstones.png"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

// TestRunBackends: a run restricted to one backend measures that backend only, and an unknown
// name is refused before anything runs.
func TestRunBackends(t *testing.T) {
	o := Options{Scenarios: []string{Burst}, Backends: []string{SWC}, Sim: SimOptions{Nodes: 3, BurstKeys: 20}}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Backend != SWC {
		t.Fatalf("results %+v, want one swc result", rep.Results)
	}
	o.Backends = []string{"raft"}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "raft") {
		t.Fatalf("unknown backend: %v", err)
	}
}

// TestInclude: results of earlier runs join the report unless this run measured the same
// backend, scenario and size; of duplicates among them the last wins; the document says
// which tables came from earlier runs.
func TestInclude(t *testing.T) {
	mk := func(backend string, nodes, keys int, v float64) *Result {
		r := &Result{Mode: "sim", Scenario: Join, Backend: backend, Nodes: nodes, Keys: keys, Date: time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)}
		r.Add("join time", v, "virtual s")
		return r
	}
	rep := &Report{Results: []*Result{mk(Plumtree, 6, 1000, 1), mk(SWC, 6, 1000, 2)}}
	rep.Include([]*Result{mk(SWC, 6, 1000, 99), mk(SWC, 4, 1_000_000, 5), mk(Plumtree, 4, 1_000_000, 3), mk(SWC, 4, 1_000_000, 7)})
	got := map[string]float64{}
	for _, r := range rep.Results {
		v, _ := r.Get("join time")
		got[fmt.Sprintf("%s/%d/%d", r.Backend, r.Nodes, r.Keys)] = v
	}
	want := map[string]float64{"plumtree/6/1000": 1, "swc/6/1000": 2, "plumtree/4/1000000": 3, "swc/4/1000000": 7}
	if !maps.Equal(got, want) || len(rep.Results) != 4 || len(rep.Included) != 2 {
		t.Fatalf("results %v (%d, %d included), want %v", got, len(rep.Results), len(rep.Included), want)
	}
	md := rep.Markdown("img", nil, "cmd")
	for _, s := range []string{"4 nodes, 1000000 keys", "sim join swc, 4 nodes, 1000000 keys (2026-12-03 13:00 UTC)", "**2.33x**"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

// TestReadReport: the JSON header and results written by a run read back as that run's
// report; of several runs in one file the last is returned with only its own results, and a
// file without a header is refused.
func TestReadReport(t *testing.T) {
	var buf bytes.Buffer
	for i, keys := range []int{10, 20} {
		rep := &Report{Sim: SimOptions{Nodes: 3 + i}, Ran: []string{Burst}, Command: fmt.Sprintf("run %d", i)}
		if err := rep.WriteJSONHeader(&buf); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{Plumtree, SWC} {
			r := &Result{Mode: "sim", Scenario: Burst, Backend: b, Nodes: 3 + i, Keys: keys}
			r.Add("converge", float64(keys), "virtual s")
			if err := r.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := ReadReport(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.FromJSON || rep.Command != "run 1" || rep.Sim.Nodes != 4 || len(rep.Results) != 2 || rep.Results[0].Keys != 20 {
		t.Fatalf("read %+v with %d results", rep, len(rep.Results))
	}
	if md := rep.Markdown("img", nil, "render"); !strings.Contains(md, "generated by `run 1` and rendered from its JSON lines by `render`") {
		t.Fatalf("markdown:\n%s", md)
	}
	// ReadJSON, which --include-json uses, skips the header lines.
	if rs, err := ReadJSON(bytes.NewReader(buf.Bytes())); err != nil || len(rs) != 4 {
		t.Fatalf("ReadJSON: %d results, %v", len(rs), err)
	}
	if _, err := ReadReport(strings.NewReader(`{"mode":"sim","backend":"swc"}` + "\n")); err == nil {
		t.Fatal("no header accepted")
	}
}

// TestScenarioTextSizes: a scenario's text names every size its tables have.
func TestScenarioTextSizes(t *testing.T) {
	var rs []*Result
	for _, k := range []int{100000, 10000, 1000000} {
		r := &Result{Mode: "sim", Scenario: Join, Backend: SWC, Nodes: 6, Keys: k}
		r.Add("join time", 1, "virtual s")
		rs = append(rs, r)
	}
	md := (&Report{Results: rs}).Markdown("img", nil, "cmd")
	if want := "joins a converged cluster of 10000, 100000 and 1000000 keys"; !strings.Contains(md, want) {
		t.Fatalf("markdown lacks %q:\n%s", want, md)
	}
}
