package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/admin"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
)

// TestListenerReloadAPI: POST /api/v1/listeners/reload without a body reloads every TLS
// listener, with {"listener": …} the one named; names that fit no TLS listener, a wrong
// method, a bad body and a missing key get JSON errors; a broken key file gets 500 with the
// outcome of each listener, which the client returns along with the error.
func TestListenerReloadAPI(t *testing.T) {
	pki := brokertest.NewPKI(t, "reload")
	_, base := startNode(t, func(c *config.Config) {
		l := config.NewListener(config.ListenerSSL, "default", "127.0.0.1:0")
		l.CertFile, l.KeyFile, l.ConnectTimeout = pki.ServerCert, pki.ServerKey, time.Second
		c.Listeners = append(c.Listeners, l)
	})
	url := base + "/api/v1/listeners/reload"
	code, body := request(t, "POST", url, "", bearer)
	var res admin.ReloadResult
	if code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || len(res.Listeners) != 1 ||
		res.Listeners[0] != (admin.ListenerReload{Name: "listener.ssl.default", Kind: "ssl", Reloaded: true}) || res.Node != "admintest@127.0.0.1" {
		t.Errorf("reload without a body: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, body string
		header       map[string]string
		code         int
		msg          string
	}{
		{"POST", "", nil, http.StatusUnauthorized, "missing API key"},
		{"GET", "", bearer, http.StatusMethodNotAllowed, "takes POST"},
		{"POST", `{"name":"x"}`, bearer, http.StatusBadRequest, "unknown field"},
		{"POST", `{"listener":"listener.tcp.default"}`, bearer, http.StatusBadRequest, "is a tcp listener"},
		{"POST", `{"listener":"ssl.other"}`, bearer, http.StatusNotFound, "no MQTT listener listener.ssl.other"},
	} {
		code, body := request(t, tc.method, url, tc.body, tc.header)
		var e admin.Error
		if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s %s: %d %s; want %d %q", tc.method, tc.body, code, body, tc.code, tc.msg)
		}
	}

	cl := &admin.Client{URL: base, Key: testKey}
	ctx := context.Background()
	if res, err := cl.ReloadListeners(ctx, "ssl.default"); err != nil || len(res.Listeners) != 1 || !res.Listeners[0].Reloaded {
		t.Errorf("client reload by name: %+v %v", res, err)
	}
	if err := os.WriteFile(pki.ServerKey, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := cl.ReloadListeners(ctx, "")
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError || !strings.Contains(ae.Message, "1 of 1 listeners could not load") {
		t.Fatalf("reload with a broken key: %v", err)
	}
	if len(res.Listeners) != 1 || res.Listeners[0].Reloaded || !strings.HasPrefix(res.Listeners[0].Error, "certfile/keyfile: ") {
		t.Errorf("outcome of a failed reload: %+v", res)
	}
}

// TestListenerReloadWithoutTLS: a node without TLS listeners has nothing to reload, and says
// so with an empty list rather than an error, so a script can reload every node alike.
func TestListenerReloadWithoutTLS(t *testing.T) {
	_, base := startNode(t, nil)
	res, err := (&admin.Client{URL: base, Key: testKey}).ReloadListeners(context.Background(), "")
	if err != nil || res.Listeners == nil || len(res.Listeners) != 0 {
		t.Errorf("reload on a node without TLS listeners: %+v %v", res, err)
	}
}
