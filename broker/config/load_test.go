package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConf writes a configuration file into a fresh directory and returns its path.
func writeConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nautilus.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadErrors loads and returns the error lines, failing the test if loading succeeded.
func loadErrors(t *testing.T, path string, env ...string) []string {
	t.Helper()
	_, err := Load(path, env)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load: got %v, want configuration errors", err)
	}
	return strings.Split(es.Error(), "\n")
}

func assertLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no nautilus.conf here
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "" {
		t.Errorf("File = %q, want none", c.File)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load with nothing differs from Default()")
	}
	want := []Listener{{Type: ListenerTCP, Name: "default", Address: "127.0.0.1:1883", ListenerOptions: ListenerOptions{
		MaxConnections: -1, ConnectTimeout: 5 * time.Second, AllowedProtocolVersions: ProtocolVersions{3, 4, 5},
		ProxyProtocolUseCNAsUsername: true,
	}}}
	if !reflect.DeepEqual(c.Listeners, want) {
		t.Errorf("Listeners = %+v, want %+v", c.Listeners, want)
	}
	if c.Auth.AllowAnonymous || c.Node.PlatformDataDir != "./data" || c.Node.Nodename != "nautilus@127.0.0.1" ||
		c.Sessions.MaxClientIDSize != 100 || c.Sessions.MaxInflightMessages != 20 || c.Sessions.QueueType != QueueFIFO ||
		c.Sessions.PersistentClientExpiration != 0 || c.SysTree.Interval != 20*time.Second || c.Cluster.MaxDrainTime != 60*time.Second {
		t.Errorf("unexpected defaults: %+v", c)
	}
	for _, s := range c.Settings() {
		if s.From != "default" {
			t.Errorf("%s comes from %s, want default", s.Key, s.From)
		}
	}
}

func TestLoadFindsDefaultFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(DefaultFile, []byte("max_inflight_messages = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != DefaultFile || c.Sessions.MaxInflightMessages != 7 {
		t.Errorf("File = %q, max_inflight_messages = %d", c.File, c.Sessions.MaxInflightMessages)
	}
	if got := c.Source("max_inflight_messages").String(); got != "file:nautilus.conf:1" {
		t.Errorf("source = %s", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.conf"), nil)
	var es Errors
	if err == nil || errors.As(err, &es) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.conf") {
		t.Errorf("Load(missing) = %v, want a wrapped not-exist error naming the file", err)
	}
}

func TestLoadValues(t *testing.T) {
	path := writeConf(t, `
allow_anonymous = on
max_inflight_messages = 50
queue_type = lifo
retry_interval = 30          # bare number: seconds for this key
systree_interval = 5000      # bare number: milliseconds, as in VerneMQ
persistent_client_expiration = 1w
max_message_size = 64KB
store.block_cache_size = 1GB
log.console.format = json
log.file = "/var/log/nautilus/console log.txt"
plugins.vmq_webhooks = true
listener.max_connections = 1000
`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Auth.AllowAnonymous || c.Sessions.MaxInflightMessages != 50 || c.Sessions.QueueType != QueueLIFO ||
		c.Sessions.RetryInterval != 30*time.Second || c.SysTree.Interval != 5*time.Second ||
		c.Sessions.PersistentClientExpiration != 7*24*time.Hour || c.Sessions.MaxMessageSize != 64*KB ||
		c.Store.BlockCacheSize != GB || c.Log.ConsoleFormat != FormatJSON ||
		c.Log.File != "/var/log/nautilus/console log.txt" || !c.Auth.PluginVmqWebhooks ||
		c.Listeners[0].MaxConnections != 1000 {
		t.Errorf("unexpected values: %+v %+v", c, c.Listeners)
	}
	if got := c.Source("queue_type").String(); got != "file:"+path+":4" {
		t.Errorf("queue_type source = %s", got)
	}
	if got := c.Source("listener.tcp.default.max_connections").String(); got != "file:"+path+":13" {
		t.Errorf("cascaded max_connections source = %s", got)
	}
	if got := c.Source("listener.tcp.default").String(); got != "default" {
		t.Errorf("default listener source = %s", got)
	}
}

func TestListenerCascade(t *testing.T) {
	certs := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem", "other.pem"} {
		if err := os.WriteFile(filepath.Join(certs, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := writeConf(t, `
listener.tcp.default = 127.0.0.1:1883
listener.tcp.internal = 10.0.0.1:1883
listener.ssl.default = :8883
listener.ws.default = [::1]:8080
listener.vmq.clustering = 0.0.0.0:44053
listener.http.admin = 127.0.0.1:8888

listener.max_connections = 100
listener.mountpoint = global
listener.tcp.max_connections = 200
listener.tcp.internal.max_connections = 300
listener.tcp.internal.mountpoint = "internal/"
listener.ssl.certfile = `+filepath.Join(certs, "cert.pem")+`
listener.ssl.keyfile = `+filepath.Join(certs, "key.pem")+`
listener.ssl.default.keyfile = `+filepath.Join(certs, "other.pem")+`
listener.ssl.tls_version = tlsv1.3
listener.tcp.allowed_protocol_versions = 4,5
listener.connect_timeout = 2s
`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range c.Listeners {
		got = append(got, l.Key())
	}
	assertLines(t, got, []string{
		"listener.http.admin", "listener.ssl.default", "listener.tcp.default", "listener.tcp.internal",
		"listener.vmq.clustering", "listener.ws.default",
	})
	byKey := map[string]Listener{}
	for _, l := range c.Listeners {
		byKey[l.Key()] = l
	}
	check := func(key string, gotV, want any) {
		t.Helper()
		if !reflect.DeepEqual(gotV, want) {
			t.Errorf("%s: got %v, want %v", key, gotV, want)
		}
	}
	tcpDef, tcpInt, ssl, ws, vmq, http := byKey["listener.tcp.default"], byKey["listener.tcp.internal"],
		byKey["listener.ssl.default"], byKey["listener.ws.default"], byKey["listener.vmq.clustering"], byKey["listener.http.admin"]
	check("tcp.default max_connections (type level)", tcpDef.MaxConnections, 200)
	check("tcp.internal max_connections (listener level)", tcpInt.MaxConnections, 300)
	check("ssl.default max_connections (global)", ssl.MaxConnections, 100)
	check("vmq max_connections (global)", vmq.MaxConnections, 100)
	check("tcp.default mountpoint (global)", tcpDef.Mountpoint, "global")
	check("tcp.internal mountpoint (listener)", tcpInt.Mountpoint, "internal/")
	check("http mountpoint (does not apply)", http.Mountpoint, "")
	check("ssl certfile (type)", ssl.CertFile, filepath.Join(certs, "cert.pem"))
	check("ssl keyfile (listener)", ssl.KeyFile, filepath.Join(certs, "other.pem"))
	check("ssl tls_version", ssl.TLSVersion, TLS13)
	check("tcp protocol versions", tcpDef.AllowedProtocolVersions, ProtocolVersions{4, 5})
	check("ws protocol versions (default)", ws.AllowedProtocolVersions, ProtocolVersions{3, 4, 5})
	check("ws connect_timeout (global)", ws.ConnectTimeout, 2*time.Second)
	check("ws address", ws.Address, "[::1]:8080")
	check("source of cascaded option", c.Source("listener.tcp.default.max_connections").Line, 11)
	check("source of listener option", c.Source("listener.tcp.internal.max_connections").Line, 12)
}

func TestEnvOverrides(t *testing.T) {
	path := writeConf(t, "max_inflight_messages = 10\nlistener.tcp.default = 127.0.0.1:1883\n")
	c, err := Load(path, []string{
		"HOME=/root",
		"NAUTILUS_CONFIG=/elsewhere", // single underscore: not an override
		"NAUTILUS__MAX_INFLIGHT_MESSAGES=50",
		"NAUTILUS__LISTENER__TCP__DEFAULT=0.0.0.0:1884",
		"NAUTILUS__LISTENER__TCP__DEFAULT__MOUNTPOINT=a b",
		"NAUTILUS__LOG__CONSOLE__LEVEL=debug",
		"NAUTILUS__PLUGINS__VMQ_ACL=off",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sessions.MaxInflightMessages != 50 || c.Listeners[0].Address != "0.0.0.0:1884" ||
		c.Listeners[0].Mountpoint != "a b" || c.Log.ConsoleLevel != LevelDebug || c.Auth.PluginVmqACL {
		t.Errorf("env not applied: %+v %+v", c, c.Listeners)
	}
	if got := c.Source("max_inflight_messages").String(); got != "env:NAUTILUS__MAX_INFLIGHT_MESSAGES" {
		t.Errorf("source = %s", got)
	}
	if got := EnvVar("listener.tcp.default.max_connections"); got != "NAUTILUS__LISTENER__TCP__DEFAULT__MAX_CONNECTIONS" {
		t.Errorf("EnvVar = %s", got)
	}
}

func TestEnvErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	got := loadErrors(t, "",
		"NAUTILUS__MAX_INFLIGHT_MESAGES=5",
		"NAUTILUS__QUEUE_TYPE=stack",
		"NAUTILUS__=x",
		"NAUTILUS__NO_SUCH_THING_AT_ALL=1",
	)
	assertLines(t, got, []string{
		"env:NAUTILUS__: does not name a configuration key: after NAUTILUS__, use the key's dots as __, e.g. NAUTILUS__MAX_INFLIGHT_MESSAGES",
		"env:NAUTILUS__MAX_INFLIGHT_MESAGES: max_inflight_mesages: unknown key; did you mean NAUTILUS__MAX_INFLIGHT_MESSAGES?",
		"env:NAUTILUS__NO_SUCH_THING_AT_ALL: no_such_thing_at_all: unknown key",
		`env:NAUTILUS__QUEUE_TYPE: queue_type: expected one of fifo, lifo, got "stack"`,
	})
}

// TestAllErrorsOfAFile checks that one bad file yields every problem in line order, each with
// file, line, key and what was expected.
func TestAllErrorsOfAFile(t *testing.T) {
	path := writeConf(t, `# a broken file
max_inflight_messages = ten
allow_anonymus = on
retry_interval = soon
max_message_size = 1.5MB
allow_anonymous = maybe
this line has no equals sign
queue_type = lifo
queue_type = fifo
listener.tcp.default = 127.0.0.1:1883
listener.tcp.default.max_conections = 5
listener.tcp.defualt.max_connections = 5
listener.ssl.max_conections = 5
listener.udp.default = 1.2.3.4:5
listener.http.mountpoint = x
topic_alias_max_client = 70000
persistent_client_expiration = forever
`)
	got := loadErrors(t, path)
	p := path + ":"
	assertLines(t, got, []string{
		p + `2: max_inflight_messages: expected a whole number, got "ten"`,
		p + `3: allow_anonymus: unknown key; did you mean allow_anonymous?`,
		p + `4: retry_interval: expected a duration such as 10s, 5m, 1h, 1d or 1w, or a whole number of seconds, got "soon"`,
		p + `5: max_message_size: expected a size such as 512KB, 64MB or 2GB, or a whole number of bytes, got "1.5MB"`,
		p + `6: allow_anonymous: expected on, off, true or false, got "maybe"`,
		p + "7: expected `key = value`, got \"this line has no equals sign\"",
		p + `9: queue_type: set again; it was already set on line 8`,
		p + `11: listener.tcp.default.max_conections: unknown key; did you mean listener.tcp.default.max_connections?`,
		p + `12: listener.tcp.defualt.max_connections: there is no listener listener.tcp.defualt; did you mean listener.tcp.default?`,
		p + `13: listener.ssl.max_conections: unknown key; did you mean listener.ssl.max_connections?`,
		p + `14: listener.udp.default: unknown listener type "udp": expected one of tcp, ssl, ws, wss, vmq, vmqs, http, unix`,
		p + `15: listener.http.mountpoint: mountpoint does not apply to http listeners, only to tcp, ssl, ws, wss, unix`,
		p + `16: topic_alias_max_client: must be between 0 and 65535, got 70000`,
		p + `17: persistent_client_expiration: expected a duration such as 10s, 5m, 1h, 1d or 1w, or a whole number of seconds or never, got "forever"`,
	})
}

func TestErrorOrderIsDeterministic(t *testing.T) {
	path := writeConf(t, "b_unknown = 1\na_unknown = 2\nmax_inflight_messages = x\n")
	env := []string{"NAUTILUS__ZZZ=1", "NAUTILUS__AAA=1"}
	first := loadErrors(t, path, env...)
	for range 20 {
		assertLines(t, loadErrors(t, path, env[1], env[0]), first)
	}
	if !strings.HasPrefix(first[0], path+":1:") || !strings.HasPrefix(first[3], "env:NAUTILUS__AAA:") {
		t.Errorf("order: %q", first)
	}
}

func TestUnknownKeySuggestions(t *testing.T) {
	for key, want := range map[string]string{
		"max_inflight_message":         "max_inflight_messages",
		"log.consol.level":             "log.console.level",
		"sytree_enabled":               "systree_enabled",
		"listener.tpc.default":         "",
		"listener.max_connection":      "listener.max_connections",
		"listener.wss.certfle":         "listener.wss.certfile",
		"plugins.vmq_paswd":            "plugins.vmq_passwd",
		"completely_unrelated_setting": "",
	} {
		if got := suggest(key, candidates(key)); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestConfigShowHidesSecrets(t *testing.T) {
	c := Default()
	show := func() string {
		for _, s := range c.Settings() {
			if s.Key == "admin.api_key" {
				return s.Value
			}
		}
		return "missing"
	}
	if v := show(); v != `""` {
		t.Errorf("unset admin.api_key shows as %s", v)
	}
	c.Admin.APIKey = "s3cret"
	if v := show(); v != hiddenValue {
		t.Errorf("admin.api_key shows as %s", v)
	}
}
