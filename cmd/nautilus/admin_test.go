package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/packet"
)

// runAdmin runs `nautilus admin args...` and returns its stdout, stderr and error.
func runAdmin(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"admin"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustAdmin runs `nautilus admin args...` and fails the test unless it succeeds.
func mustAdmin(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runAdmin(t, args...)
	if err != nil {
		t.Fatalf("nautilus admin %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// adminNode is a clustered node with an admin API, started without seeds.
type adminNode struct {
	clusterNode
	http string
}

func startAdminNode(t *testing.T, i int) *adminNode {
	t.Helper()
	n := &adminNode{clusterNode: clusterNode{name: fmt.Sprintf("n%d@127.0.0.1", i), mqtt: freePort(t), link: freePort(t), gossip: freePort(t)}, http: freePort(t)}
	// No admin.api_key: the node generates one, and `admin --config` finds it.
	n.conf = writeNodeConf(t, t.TempDir(), n.mqtt, fmt.Sprintf(
		"nodename = %s\ncluster.secret = "+testClusterSecret+"\nlistener.vmq.clustering = %s\ncluster.gossip = %s\nlistener.http.default = %s\nplumtree.lazy_tick = 500ms\nplumtree.exchange_tick = 500ms\n",
		n.name, n.link, n.gossip, n.http))
	n.proc = startNode(t, n.conf, n.mqtt)
	return n
}

// memberLine returns the line of `cluster show` output describing node, or "".
func memberLine(show, node string) string {
	for line := range strings.SplitSeq(show, "\n") {
		if strings.HasPrefix(line, node+" ") {
			return line
		}
	}
	return ""
}

// TestAdminClusterJoinShowLeave runs two real nodes started without seeds and administers
// them with the real CLI: join, show, status, metrics, wrong key and unreachable node, leave.
func TestAdminClusterJoinShowLeave(t *testing.T) {
	n1, n2 := startAdminNode(t, 1), startAdminNode(t, 2)

	out := mustAdmin(t, "--config", n2.conf, "cluster", "join", n1.gossip)
	if !strings.Contains(out, "n2@127.0.0.1 joined the cluster at "+n1.gossip) {
		t.Fatalf("join output:\n%s", out)
	}
	eventually(t, 10*time.Second, "n1 shows both nodes alive", func() bool {
		out = mustAdmin(t, "--config", n1.conf, "cluster", "show")
		return strings.Contains(memberLine(out, "n1@127.0.0.1"), "(this node)  alive") &&
			strings.Contains(memberLine(out, "n2@127.0.0.1"), " alive ")
	})
	if !strings.Contains(out, "metadata backend: "+metadataBackend) || !strings.Contains(out, n2.gossip) {
		t.Errorf("cluster show:\n%s", out)
	}

	// The nodes are one cluster: a retained message published on n1 is seen on n2.
	publishRetained(t, n1.mqtt, "admin/r", "via-join")
	eventually(t, 15*time.Second, "n2 sees the retained message published on n1", func() bool {
		return retainedOn(t, n2.mqtt, "admin/#", 300*time.Millisecond)["admin/r"] == "via-join"
	})

	out = mustAdmin(t, "--config", n1.conf, "status")
	for _, want := range []string{`node:\s+n1@127.0.0.1\n`, `cluster:\s+2 live members\n`, `metadata backend:\s+` + metadataBackend + `\n`, `retained messages:\s+1\n`,
		`listener.tcp.default: tcp ` + n1.mqtt} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// /metrics: Prometheus text, no key needed; the CLI prints the same.
	resp, err := http.Get("http://" + n1.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"# TYPE mqtt_publish_received counter", `mqtt_publish_received{node="n1@127.0.0.1"} 1`, `cluster_members{node="n1@127.0.0.1"} 2`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("/metrics (%d) lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
	if out := mustAdmin(t, "--config", n1.conf, "metrics"); !strings.Contains(out, "# TYPE mqtt_connect_accepted counter") {
		t.Errorf("admin metrics:\n%s", out)
	}

	// --url and --api-key name a node without its config file.
	key, err := os.ReadFile(filepath.Join(filepath.Dir(n1.conf), "data", "admin_api_key"))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + n1.http
	if out := mustAdmin(t, "--url", url, "--api-key", strings.TrimSpace(string(key)), "status", "--json"); !strings.Contains(out, `"node": "n1@127.0.0.1"`) {
		t.Errorf("status --json with --url:\n%s", out)
	}
	_, errOut, err := runAdmin(t, "--url", url, "--api-key", "wrong", "cluster", "show")
	if err == nil || !strings.Contains(errOut, "the node refused the API key at "+url+": wrong API key") {
		t.Errorf("wrong key: %v\n%s", err, errOut)
	}
	down := "http://" + freePort(t)
	_, errOut, err = runAdmin(t, "--url", down, "--api-key", "k", "status")
	if err == nil || !strings.Contains(errOut, "cannot reach the node's admin API at "+down) {
		t.Errorf("unreachable node: %v\n%s", err, errOut)
	}

	// n2 leaves with --kill-sessions: its persistent session ends instead of moving to n1.
	// Once it is stopped, n1 has seen it leave (not fail) and is alone.
	kc, _ := dialClient(t, n2.mqtt, packet.V5, "killme", false, 3600)
	kc.subscribe("k/#@1")
	kc.send(&packet.Disconnect{})
	out = mustAdmin(t, "--config", n2.conf, "cluster", "leave", "n2@127.0.0.1", "--kill-sessions")
	if !strings.Contains(out, "n2@127.0.0.1 left the cluster (sessions handed to other members: 0, ended: 1)") {
		t.Errorf("leave output:\n%s", out)
	}
	if c, ack := dialClient(t, n1.mqtt, packet.V5, "killme", false, 3600); ack.SessionPresent {
		t.Error("a session killed by leave --kill-sessions is present on n1")
	} else {
		c.nc.Close()
	}
	n2.proc.stop()
	eventually(t, 15*time.Second, "n1 sees n2 gone", func() bool {
		out = mustAdmin(t, "--config", n1.conf, "cluster", "show")
		l := memberLine(out, "n2@127.0.0.1")
		return l == "" || strings.Contains(l, " left ")
	})
	if out := mustAdmin(t, "--config", n1.conf, "status"); !regexp.MustCompile(`cluster:\s+1 live member\n`).MatchString(out) {
		t.Errorf("status after the leave:\n%s", out)
	}
	if strings.Contains(n1.proc.log(), "member fail") {
		t.Errorf("n1 saw n2 fail rather than leave:\n%s", n1.proc.log())
	}
}

// TestAdminWithoutHTTPListener: the CLI says what to add when the config has no admin API.
func TestAdminWithoutHTTPListener(t *testing.T) {
	conf := writeNodeConf(t, t.TempDir(), "127.0.0.1:1883", "")
	_, errOut, err := runAdmin(t, "--config", conf, "status")
	if err == nil || !strings.Contains(errOut, conf+" configures no admin API listener: add `listener.http.default = 127.0.0.1:8888`") {
		t.Errorf("no listener.http: %v\n%s", err, errOut)
	}
	_, errOut, err = runAdmin(t, "--config", conf, "cluster", "join")
	if err == nil || !strings.Contains(errOut, "cluster join takes one argument") {
		t.Errorf("join without an address: %v\n%s", err, errOut)
	}
}
