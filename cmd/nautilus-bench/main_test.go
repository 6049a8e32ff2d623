package main

import (
	"bytes"
	"encoding/json"
	"errors"
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

func TestReplicationNotAvailable(t *testing.T) {
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).Run([]string{"nautilus-bench", "replication"})
	if !errors.Is(err, errNotAvailable) || !strings.Contains(err.Error(), "not available yet") {
		t.Fatalf("err = %v", err)
	}
	err = newApp(&out, &errOut).Run([]string{"nautilus-bench", "mqtt", "cross-node", "--addr", "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "not available yet") {
		t.Fatalf("cross-node: %v", err)
	}
}
