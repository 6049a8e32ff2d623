package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/admin"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

const testKey = "s3cret-key"

// startNode runs a broker with an MQTT listener and an admin listener on free ports; mutate
// adjusts the configuration.
func startNode(t *testing.T, mutate func(*config.Config)) (*brokertest.Node, string) {
	t.Helper()
	n := brokertest.Start(t, func(c *config.Config) {
		c.Node.Nodename = "admintest@127.0.0.1"
		c.Listeners = append(c.Listeners, config.NewListener(config.ListenerHTTP, "default", "127.0.0.1:0"))
		c.Admin.APIKey = testKey
		if mutate != nil {
			mutate(c)
		}
	})
	addrs := n.Admin().Addrs()
	if len(addrs) != 1 {
		t.Fatalf("admin listeners: %v", addrs)
	}
	return n, "http://" + addrs[0].String()
}

// get sends a request with the given headers and returns the status and body.
func request(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var bearer = map[string]string{"Authorization": "Bearer " + testKey}

func TestKeyIsRequired(t *testing.T) {
	_, base := startNode(t, nil)
	for _, path := range []string{"/", "/api/v1/status", "/api/v1/cluster", "/api/v1/sessions?client_id=x"} {
		code, body := request(t, "GET", base+path, "", nil)
		if code != http.StatusUnauthorized || !strings.Contains(body, `"error": "missing API key`) {
			t.Errorf("%s without a key: %d %s", path, code, body)
		}
		code, body = request(t, "GET", base+path, "", map[string]string{"Authorization": "Bearer wrong"})
		if code != http.StatusUnauthorized || !strings.Contains(body, `"error": "wrong API key"`) {
			t.Errorf("%s with a wrong key: %d %s", path, code, body)
		}
	}
	code, _ := request(t, "POST", base+"/api/v1/cluster/join", `{"address":"127.0.0.1:1"}`, map[string]string{"X-API-Key": "wrong"})
	if code != http.StatusUnauthorized {
		t.Errorf("join with a wrong key: %d", code)
	}
	// Every accepted form of the key.
	for name, h := range map[string]map[string]string{
		"bearer":         bearer,
		"x-api-key":      {"X-API-Key": testKey},
		"basic user":     {"Authorization": "Basic " + b64(testKey+":")},
		"basic password": {"Authorization": "Basic " + b64("admin:"+testKey)},
	} {
		if code, body := request(t, "GET", base+"/api/v1/status", "", h); code != http.StatusOK {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	// The client reports a wrong key as ErrUnauthorized.
	_, err := (&admin.Client{URL: base, Key: "wrong"}).Status(context.Background())
	if !errors.Is(err, admin.ErrUnauthorized) {
		t.Errorf("client with a wrong key: %v", err)
	}
}

func TestMetricsOpenUnlessConfigured(t *testing.T) {
	n, base := startNode(t, nil)
	c, _ := brokertest.Connect(t, n.Addr, packet.V311, "m1", nil)
	c.Publish(1, 1, false, "a/b", []byte("x"))
	code, body := request(t, "GET", base+"/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics without a key: %d %s", code, body)
	}
	for _, want := range []string{
		"# TYPE mqtt_connect_accepted counter\n",
		`mqtt_connect_accepted{node="admintest@127.0.0.1"} 1` + "\n",
		`mqtt_publish_received{node="admintest@127.0.0.1"} 1` + "\n",
		"# TYPE socket_open gauge\n",
		"# HELP mqtt_publish_received PUBLISH packets received\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}

	_, base = startNode(t, func(c *config.Config) { c.Admin.MetricsRequireKey = true })
	if code, _ := request(t, "GET", base+"/metrics", "", nil); code != http.StatusUnauthorized {
		t.Errorf("/metrics with admin.metrics_require_api_key: %d without a key", code)
	}
	if code, _ := request(t, "GET", base+"/metrics", "", bearer); code != http.StatusOK {
		t.Errorf("/metrics with admin.metrics_require_api_key and the key: %d", code)
	}
}

func TestStatusSessionsAndPage(t *testing.T) {
	n, base := startNode(t, nil)
	cl := &admin.Client{URL: base, Key: testKey}
	ctx := context.Background()
	c, _ := brokertest.Connect(t, n.Addr, packet.V311, "dev-1", func(cp *packet.Connect) { cp.CleanStart = false })
	c.Subscribe(1, 1, "t/#")
	// Not under its own t/#: the delivery back to it could come before the PUBACK.
	c.Publish(2, 1, true, "r/kept", []byte("kept"))

	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "admintest@127.0.0.1" || st.Connections != 1 || st.Sessions != 1 || st.Subscriptions != 1 ||
		st.Retained != 1 || st.Clustered || st.ClusterMembers != 1 || st.Backend != "none" || st.Version == "" ||
		len(st.Listeners) != 1 || st.Listeners[0].Address != n.Addr || st.Listeners[0].Connections != 1 {
		t.Errorf("status: %+v", st)
	}

	s, err := cl.Session(ctx, "", "dev-1")
	if err != nil || !s.Exists || !s.Online || s.Peer != c.Conn.LocalAddr().String() || s.Listener != "listener.tcp.default" {
		t.Errorf("online session: %+v %v; want peer %s on listener.tcp.default", s, err, c.Conn.LocalAddr())
	}
	c.Send(&packet.Disconnect{})
	c.ExpectClosed()
	brokertest.Eventually(t, 5*time.Second, "the session goes offline", func() bool {
		s, err := cl.Session(ctx, "", "dev-1")
		return err == nil && s.Exists && !s.Online && s.Peer == "" && s.Listener == ""
	})
	if s, err := cl.Session(ctx, "", "nobody"); err != nil || s.Exists {
		t.Errorf("unknown session: %+v %v", s, err)
	}
	if code, body := request(t, "GET", base+"/api/v1/sessions", "", bearer); code != http.StatusBadRequest || !strings.Contains(body, "client_id is required") {
		t.Errorf("sessions without client_id: %d %s", code, body)
	}

	code, body := request(t, "GET", base+"/", "", bearer)
	if code != http.StatusOK || !strings.Contains(body, "<td>admintest@127.0.0.1 (this node)</td>") || !strings.Contains(body, "<h1>Nautilus node admintest@127.0.0.1</h1>") {
		t.Errorf("status page: %d\n%s", code, body)
	}
}

// TestNotClustered: a node without listener.vmq reports itself alone and refuses join and
// leave; bad requests get JSON errors.
func TestNotClusteredAndBadRequests(t *testing.T) {
	_, base := startNode(t, nil)
	cl := &admin.Client{URL: base, Key: testKey}
	ctx := context.Background()
	info, err := cl.Cluster(ctx)
	if err != nil || info.Clustered || len(info.Members) != 1 || !info.Members[0].Self || info.Members[0].Status != "alive" {
		t.Errorf("cluster: %+v %v", info, err)
	}
	var ae *admin.APIError
	if _, err := cl.Join(ctx, "127.0.0.1:7946"); !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "not clustered") {
		t.Errorf("join on a single node: %v", err)
	}
	if _, err := cl.Leave(ctx, "", false); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Errorf("leave on a single node: %v", err)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"GET", "/api/v1/nothing", "", http.StatusNotFound, "no such endpoint"},
		{"GET", "/api/v1/cluster/join", "", http.StatusMethodNotAllowed, "takes POST"},
		{"POST", "/api/v1/cluster/join", "", http.StatusBadRequest, "missing JSON body"},
		{"POST", "/api/v1/cluster/join", `{"adress":"x"}`, http.StatusBadRequest, "unknown field"},
		{"POST", "/api/v1/cluster/join", `{"address":"nohost"}`, http.StatusBadRequest, "gossip address host:port"},
	} {
		code, body := request(t, tc.method, base+tc.path, tc.body, bearer)
		var e admin.Error
		if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, code, body)
		}
	}
}

// TestGeneratedKey: without admin.api_key the node generates a key at first start, keeps it
// (mode 0600) and reuses it after a restart; ReadKey finds it for the CLI.
func TestGeneratedKey(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Node.PlatformDataDir = dir
	if _, err := admin.ReadKey(cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("ReadKey before the first start: %v", err)
	}
	_, base := startNode(t, func(c *config.Config) { c.Admin.APIKey = ""; c.Node.PlatformDataDir = dir })
	key, err := admin.ReadKey(cfg)
	if err != nil || len(key) != 64 {
		t.Fatalf("ReadKey: %q %v", key, err)
	}
	fi, err := os.Stat(admin.KeyPath(cfg))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, err := (&admin.Client{URL: base, Key: key}).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A restart reads the same key.
	if k, err := admin.LoadOrCreateKey(cfg, slog.New(slog.DiscardHandler)); k != key || err != nil {
		t.Fatalf("the key after a restart: %q %v", k, err)
	}
	// admin.api_key, when set, wins over the file.
	cfg.Admin.APIKey = "configured"
	if k, _ := admin.ReadKey(cfg); k != "configured" {
		t.Errorf("ReadKey with admin.api_key: %q", k)
	}
}

func TestURLFromConfig(t *testing.T) {
	cfg := config.Default()
	if _, err := admin.URLFromConfig(cfg); err == nil || !strings.Contains(err.Error(), "listener.http.default = 127.0.0.1:8888") {
		t.Errorf("no http listener: %v", err)
	}
	for addr, want := range map[string]string{
		"127.0.0.2:8888": "http://127.0.0.2:8888",
		"0.0.0.0:8888":   "http://127.0.0.1:8888",
		":8888":          "http://127.0.0.1:8888",
		"[::]:8888":      "http://[::1]:8888",
	} {
		cfg.Listeners = []config.Listener{config.NewListener(config.ListenerTCP, "default", "127.0.0.1:1883"), config.NewListener(config.ListenerHTTP, "a", addr)}
		if got, err := admin.URLFromConfig(cfg); got != want || err != nil {
			t.Errorf("%s: %q %v", addr, got, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	_, err := (&admin.Client{URL: "http://127.0.0.1:1", Key: "k"}).Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach the node's admin API at http://127.0.0.1:1") {
		t.Errorf("unreachable node: %v", err)
	}
}
