package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validateLines(t *testing.T, c *Config) []string {
	t.Helper()
	err := c.Validate()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Validate = %v, want Errors", err)
	}
	return strings.Split(es.Error(), "\n")
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidateBuiltInGo checks a Config changed in Go, with no sources: errors name the key only.
func TestValidateBuiltInGo(t *testing.T) {
	c := Default()
	c.MQTT5.TopicAliasMaxClient = -1
	c.MQTT5.TopicAliasMaxBroker = 65536
	c.MQTT5.ReceiveMaxBroker = 0
	c.Sessions.MaxMessageSize = -5
	c.Store.WriteBufferSize = 10
	c.Sessions.RetryInterval = -1
	c.Node.Nodename = "nautilus"
	c.Node.PlatformDataDir = ""
	c.Auth.PasswordFile = ""
	c.Log.SyslogAddress = "http://syslog.example:514"
	c.Log.SyslogFacility = "local9"
	c.Listeners[0].MaxConnections = -2
	c.Listeners = append(c.Listeners,
		NewListener("udp", "x", ":1"),
		NewListener(ListenerTCP, "Bad.Name", "127.0.0.1:1884"),
		NewListener(ListenerWS, "noport", "127.0.0.1"),
		NewListener(ListenerWS, "bigport", "127.0.0.1:70000"),
	)
	assertLines(t, validateLines(t, c), []string{
		`listener.tcp.Bad.Name: listener name "Bad.Name" must be lower-case letters, digits, _ or -`,
		`listener.tcp.default.max_connections: must be at least -1, got -2`,
		`listener.udp.x: unknown listener type "udp"`,
		`listener.ws.bigport: expected an address host:port (e.g. 127.0.0.1:1883, [::1]:1883, :1883), got "127.0.0.1:70000"`,
		`listener.ws.noport: expected an address host:port (e.g. 127.0.0.1:1883, [::1]:1883, :1883), got "127.0.0.1"`,
		`log.syslog.address: expected udp://host:port, tcp://host:port, unix:///path or host:port (UDP), or empty for the local syslog, got "http://syslog.example:514"`,
		`log.syslog.facility: expected one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0 … local7, got "local9"`,
		`max_message_size: must be between 0 and 268435460, got -5`,
		`nodename: expected name@host, got "nautilus"`,
		`platform_data_dir: must not be empty`,
		`receive_max_broker: must be between 1 and 65535, got 0`,
		`retry_interval: must be at least 0s, got -1ns`,
		`store.write_buffer_size: must be at least 1MB, got 10`,
		`topic_alias_max_broker: must be between 0 and 65535, got 65536`,
		`topic_alias_max_client: must be between 0 and 65535, got -1`,
		`vmq_passwd.password_file: must be set while plugins.vmq_passwd is on`,
	})
}

func TestListenerAddressClashes(t *testing.T) {
	path := writeConf(t, `listener.tcp.a = 127.0.0.1:1883
listener.tcp.b = 127.0.0.1:1883
listener.tcp.c = 127.0.0.2:1883
listener.ws.d = 0.0.0.0:1883
listener.ws.e = 127.0.0.1:8080
listener.http.f = :8080
listener.tcp.g = 127.0.0.1:0
listener.tcp.h = 127.0.0.1:0
listener.vmq.i = [::1]:44053
listener.vmq.j = [::1]:44054
`)
	p := path + ":"
	assertLines(t, loadErrors(t, path), []string{
		p + `2: listener.tcp.b: address 127.0.0.1:1883 clashes with listener.tcp.a (file:` + path + `:1)`,
		p + `4: listener.ws.d: address 0.0.0.0:1883 clashes with listener.tcp.a (file:` + path + `:1)`,
		p + `5: listener.ws.e: address 127.0.0.1:8080 clashes with listener.http.f (file:` + path + `:6)`,
	})
}

func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConf(t, `listener.ssl.default = 127.0.0.1:8883
listener.ssl.certfile = `+cert+`
listener.ssl.default.keyfile = `+filepath.Join(dir, "missing.pem")+`
listener.ssl.require_certificate = on
listener.wss.default = 127.0.0.1:8443
listener.wss.default.use_identity_as_username = on
`)
	p := path + ":"
	assertLines(t, loadErrors(t, path), []string{
		p + `3: listener.ssl.default.keyfile: cannot use ` + filepath.Join(dir, "missing.pem") + `: no such file or directory`,
		p + `4: listener.ssl.default.require_certificate: needs cafile to verify client certificates against`,
		p + `5: listener.wss.default: wss listeners need certfile (set listener.wss.default.certfile or listener.wss.certfile)`,
		p + `5: listener.wss.default: wss listeners need keyfile (set listener.wss.default.keyfile or listener.wss.keyfile)`,
		p + `6: listener.wss.default.use_identity_as_username: needs require_certificate = on, or clients without a certificate would have no username`,
	})
}

// A vmqs peer listener needs its certificate, key and the cluster's CA; TLS options for other
// listener types do not apply to it and the reverse.
func TestVMQSListener(t *testing.T) {
	path := writeConf(t, `listener.vmqs.clustering = 127.0.0.1:44053
listener.vmqs.clustering.require_certificate = on
`)
	p := path + ":"
	assertLines(t, loadErrors(t, path), []string{
		p + `1: listener.vmqs.clustering: vmqs listeners need certfile (set listener.vmqs.clustering.certfile or listener.vmqs.certfile)`,
		p + `1: listener.vmqs.clustering: vmqs listeners need keyfile (set listener.vmqs.clustering.keyfile or listener.vmqs.keyfile)`,
		p + `1: listener.vmqs.clustering: vmqs listeners need cafile: peer links are mutual TLS, each node verifies the other's certificate (set listener.vmqs.clustering.cafile or listener.vmqs.cafile)`,
		p + `2: listener.vmqs.clustering.require_certificate: require_certificate does not apply to vmqs listeners, only to ssl, wss`,
	})
}

// TestEverySchemaDefaultIsShownAsWritten guards the round trip `config show` relies on: each
// default formats back to a value that parses to the same thing.
func TestEverySchemaDefaultRoundTrips(t *testing.T) {
	for _, f := range append(schema().keys, schema().options...) {
		v, err := f.parse(f.Def)
		if err != nil {
			t.Fatalf("%s: %v", f.Key, err)
		}
		s := f.format(v)
		raw, err := parseValue(s)
		if err != nil {
			t.Fatalf("%s: formatted %q does not parse: %v", f.Key, s, err)
		}
		back, err := f.parse(raw)
		if err != nil || back.Interface() != nil && !equal(back.Interface(), v.Interface()) {
			t.Errorf("%s: default %q shows as %q, which reads back as %v, %v", f.Key, f.Def, s, back, err)
		}
	}
}

func equal(a, b any) bool {
	if pa, ok := a.(ProtocolVersions); ok {
		return pa.String() == b.(ProtocolVersions).String()
	}
	return a == b
}

func TestSyslogAddresses(t *testing.T) {
	for a, ok := range map[string]bool{
		"udp://127.0.0.1:514": true, "tcp://logs:601": true, "unix:///dev/log": true, "logs:514": true,
		"udp://:514": false, "tcp://logs": false, "unix://dev/log": false, "logs": false, "http://logs:80": false,
	} {
		if validSyslogAddress(a) != ok {
			t.Errorf("validSyslogAddress(%q) = %v, want %v", a, !ok, ok)
		}
	}
}
