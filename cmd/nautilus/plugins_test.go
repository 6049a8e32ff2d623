package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/plugins/acl"
	"github.com/nautilus-mq/nautilus/broker/plugins/passwd"
)

func TestLoadPluginsMissingFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Auth.PasswordFile = filepath.Join(dir, "vmq.passwd")
	cfg.Auth.ACLFile = filepath.Join(dir, "vmq.acl")
	cfg.Auth.PluginVmqWebhooks = true
	var buf bytes.Buffer
	plugins, err := loadPlugins(t.Context(), cfg, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(plugins) != 2 {
		t.Fatalf("plugins %v", plugins)
	}
	if _, ok := plugins[0].(*passwd.Plugin); !ok {
		t.Errorf("first plugin %T, want passwd", plugins[0])
	}
	if _, ok := plugins[1].(*acl.Plugin); !ok {
		t.Errorf("second plugin %T, want acl", plugins[1])
	}
	out := buf.String()
	for _, want := range []string{
		"password file not found", cfg.Auth.PasswordFile,
		"ACL file not found", cfg.Auth.ACLFile,
		"every client will be refused",
		"vmq_webhooks is on but webhooks are not implemented",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestLoadPluginsDisabled(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.PluginVmqPasswd, cfg.Auth.PluginVmqACL = false, false
	plugins, err := loadPlugins(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil || len(plugins) != 0 {
		t.Fatalf("%v %v", plugins, err)
	}
}

func TestLoadPluginsRelativePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := config.Default() // ./etc/vmq.passwd, ./etc/vmq.acl
	plugins, err := loadPlugins(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := plugins[0].(*passwd.Plugin).Path(); got != filepath.Join(dir, "etc", "vmq.passwd") {
		t.Errorf("password file %q", got)
	}
}
