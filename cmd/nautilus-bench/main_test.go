package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
)

// TestMQTTCommand runs the real CLI in-process: flags after the scenario name, table on
// stdout, one JSON line and plots written.
func TestMQTTCommand(t *testing.T) {
	// Unbounded queues: with the default max_online_messages the broker may drop by policy.
	n := brokertest.Start(t, func(c *config.Config) { c.Sessions.MaxOnlineMessages = -1 })
	dir := t.TempDir()
	jf := filepath.Join(dir, "runs.jsonl")
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).Run([]string{"nautilus-bench", "mqtt", "pairs", "--addr", n.Addr, "--pid", "0", "--qos", "1",
		"--pairs", "2", "--duration", "200ms", "--json", jf, "--plot", dir, "--mqtt", "5"})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "pairs") || !strings.Contains(out.String(), "plot:") {
		t.Fatalf("output:\n%s", out.String())
	}
	b, err := os.ReadFile(jf)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Scenario  string `json:"scenario"`
		Sent      uint64 `json:"sent"`
		Delivered uint64 `json:"delivered"`
		MQTT      string `json:"mqtt"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
		t.Fatalf("json %q: %v", b, err)
	}
	if r.Scenario != "pairs" || r.Sent == 0 || r.Delivered != r.Sent || r.MQTT != "5.0" {
		t.Fatalf("result %+v", r)
	}
	if err := newApp(&out, &errOut).Run([]string{"nautilus-bench", "mqtt", "fan-in", "--qos", "3"}); err == nil {
		t.Fatal("--qos 3 accepted")
	}
}

// TestReplicationCommand runs the replication CLI at tiny scale: tables, JSON lines, plots
// and the docs section; bad flags are refused.
func TestReplicationCommand(t *testing.T) {
	dir := t.TempDir()
	jf, doc := filepath.Join(dir, "runs.jsonl"), filepath.Join(dir, "benchmarks.md")
	if err := os.WriteFile(doc, []byte("# Benchmarks\n\n<!-- notes:begin (kept by make bench) -->\nmine\n<!-- notes:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).Run([]string{"nautilus-bench", "replication", "--scenarios", "burst,join,steady", "--nodes", "3",
		"--burst-keys", "50", "--join-keys", "50,100", "--steady", "2s", "--json", jf, "--plot", dir, "--doc", doc})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"sim burst (3 nodes, 50 keys)", "swc / plumtree", "plot:", "replication-convergence.png"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(jf)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 1+2+2*2*2 {
		t.Fatalf("%d JSON lines, want a header and 10 results:\n%s", n, b)
	}
	md, _ := os.ReadFile(doc)
	if !strings.Contains(string(md), "## Replication: Plumtree and SWC") || !strings.Contains(string(md), "mine") {
		t.Fatalf("doc:\n%s", md)
	}
	// An earlier run's results are added to the tables and the doc, not to this run's --json.
	earlier := filepath.Join(dir, "earlier.jsonl")
	if err := os.WriteFile(earlier, []byte(`{"mode":"sim","scenario":"join","backend":"swc","nodes":4,"keys":1000000,"metrics":[{"name":"join time","value":42,"unit":"virtual s"}],"date":"2026-12-03T13:00:00Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	jf2 := filepath.Join(dir, "runs2.jsonl")
	out.Reset()
	err = newApp(&out, &errOut).Run([]string{"nautilus-bench", "replication", "--scenarios", "burst", "--nodes", "3", "--burst-keys", "20",
		"--include-json", earlier, "--json", jf2, "--doc", doc})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "sim join (4 nodes, 1000000 keys)") {
		t.Fatalf("output lacks the included join:\n%s", out.String())
	}
	if b, _ := os.ReadFile(jf2); bytes.Count(b, []byte("\n")) != 3 || bytes.Contains(b, []byte(`"keys":1000000`)) {
		t.Fatalf("--json got:\n%s", b)
	}
	md, _ = os.ReadFile(doc)
	if !strings.Contains(string(md), "4 nodes, 1000000 keys") || !strings.Contains(string(md), "--include-json") {
		t.Fatalf("doc:\n%s", md)
	}

	// --from-json renders the last run of the file again without running it.
	out.Reset()
	err = newApp(&out, &errOut).Run([]string{"nautilus-bench", "replication", "--from-json", jf2, "--include-json", earlier, "--doc", doc})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"sim burst (3 nodes, 20 keys)", "sim join (4 nodes, 1000000 keys)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("--from-json output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "50 keys") {
		t.Fatalf("--from-json rendered an earlier report of the file too:\n%s", out.String())
	}
	md, _ = os.ReadFile(doc)
	if !strings.Contains(string(md), "rendered from its JSON lines") || !strings.Contains(string(md), "3 nodes, 20 keys") {
		t.Fatalf("doc after --from-json:\n%s", md)
	}
	for _, args := range [][]string{{"--scenarios", "nope"}, {"--join-keys", "10x"}, {"burst"}, {"--backends", "raft"},
		{"--include-json", filepath.Join(dir, "missing.jsonl")}, {"--from-json", earlier}, {"--from-json", jf2, "--json", jf}} {
		if err := newApp(&out, &errOut).Run(append([]string{"nautilus-bench", "replication"}, args...)); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}

func TestCrossNodeNeedsSubAddr(t *testing.T) {
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).Run([]string{"nautilus-bench", "mqtt", "cross-node", "--addr", "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "--sub-addr") {
		t.Fatalf("cross-node: %v", err)
	}
}

// TestClusterFlags checks the cluster command's flag validation (no processes are started).
func TestClusterFlags(t *testing.T) {
	for _, args := range [][]string{{"--qos", "3"}, {"--nodes", "1"}, {"extra"}} {
		var out, errOut strings.Builder
		if err := newApp(&out, &errOut).Run(append([]string{"nautilus-bench", "cluster"}, args...)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
