package mqttload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nautilusBinary is the nautilus binary the process tests run: $NAUTILUS_BIN, else the
// repository's bin/nautilus; the test is skipped when neither exists (make build makes it).
func nautilusBinary(t *testing.T) string {
	p := os.Getenv("NAUTILUS_BIN")
	if p == "" {
		p, _ = filepath.Abs("../../bin/nautilus")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no nautilus binary (%s): run make build or set NAUTILUS_BIN", p)
	}
	return p
}

// TestClusterBenchSmoke starts a single node and a 2-node cluster of real processes, runs the
// cross-node flow briefly in every setup, and checks the books, the ratios and the section.
func TestClusterBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nautilus processes")
	}
	rep, err := ClusterBench(context.Background(), ClusterOptions{Nautilus: nautilusBinary(t), Nodes: 2, Duration: 300 * time.Millisecond,
		QoS: []byte{1}, Pairs: 2, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(ClusterSetups) {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if len(r.Notes) > 0 && strings.HasPrefix(r.Notes[0], "run failed") {
			t.Fatalf("%s: %v", r.Broker, r.Notes)
		}
		if r.Sent == 0 || r.Delivered != r.Sent || r.Lost != 0 || r.Duplicates != 0 {
			t.Errorf("%s: sent %d delivered %d lost %d dup %d", r.Broker, r.Sent, r.Delivered, r.Lost, r.Duplicates)
		}
	}
	if r := rep.Results[0]; r.Broker == SetupCrossNode && r.SubAddr == r.Addr {
		t.Errorf("cross-node ran on one address: %+v", r)
	}
	rows := rep.Rows()
	if len(rows) != 3 || rows[0].Setup != SetupSingle || rows[0].MsgsRatio != 1 || rows[2].MsgsRatio <= 0 {
		t.Fatalf("rows %+v", rows)
	}
	var sb strings.Builder
	rep.WriteTable(&sb)
	if !strings.Contains(sb.String(), "cross-node") {
		t.Fatal(sb.String())
	}
}

// TestClusterSection checks that the cluster section is inserted before the replication
// section, replaced in place later, and kept by the comparison's rewrite.
func TestClusterSection(t *testing.T) {
	rep := &ClusterReport{Date: time.Now(), Nodes: 2, Rounds: 1, Duration: time.Second, Pairs: 2, QoS: []byte{0},
		Results: []*Result{{Name: "q0", Broker: SetupSingle, MsgsPerSec: 100}, {Name: "q0", Broker: SetupCrossNode, MsgsPerSec: 50}}}
	doc := []byte("# B\n\n" + ReplicationBegin + "\nrep\n" + ReplicationEnd + "\n\n" + NotesBegin + "\nmine\n" + NotesEnd + "\n")
	out := ReplaceSection(doc, ClusterBegin, ClusterEnd, rep.Markdown("cmd"))
	s := string(out)
	if !strings.Contains(s, "| q0 | cross-node | 50.0 |") || !strings.Contains(s, "0.50x") ||
		strings.Index(s, ClusterBegin) > strings.Index(s, ReplicationBegin) {
		t.Fatal(s)
	}
	again := string(ReplaceSection(out, ClusterBegin, ClusterEnd, "new"))
	if strings.Count(again, ClusterBegin) != 1 || !strings.Contains(again, ClusterBegin+"\nnew\n"+ClusterEnd) || !strings.Contains(again, "mine") {
		t.Fatal(again)
	}
	path := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cmp := &Comparison{Date: time.Now(), Rounds: 1, Duration: time.Second, Brokers: map[string]string{}}
	if err := cmp.WriteMarkdown(path, "img", nil, "cmd"); err != nil {
		t.Fatal(err)
	}
	kept, _ := os.ReadFile(path)
	if !strings.Contains(string(kept), "| q0 | cross-node | 50.0 |") || !strings.Contains(string(kept), "mine") {
		t.Fatal(string(kept))
	}
}
