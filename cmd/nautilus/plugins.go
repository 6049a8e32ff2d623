package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/plugins/acl"
	"github.com/nautilus-mq/nautilus/broker/plugins/passwd"
)

// loadPlugins builds the enabled plugins in hook order (vmq_passwd, then vmq_acl) and starts
// their reload loops, which stop when ctx ends. Missing files are logged, not fatal: with
// anonymous access off, a node whose password file is missing admits nobody, which is the
// intended secure default.
func loadPlugins(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]any, error) {
	var plugins []any
	a := &cfg.Auth
	if a.PluginVmqPasswd {
		p := passwd.New(absPath(a.PasswordFile), log)
		p.Start(ctx, a.PasswordReloadInterval)
		plugins = append(plugins, p)
		if p.Users() == 0 && !a.AllowAnonymous {
			log.Warn("vmq_passwd has no users and allow_anonymous is off: every client will be refused until users are added with nautilus passwd",
				"file", p.Path())
		}
	}
	if a.PluginVmqACL {
		p := acl.New(absPath(a.ACLFile), log)
		p.Start(ctx, a.ACLReloadInterval)
		plugins = append(plugins, p)
		if p.Rules().Count() == 0 {
			log.Warn("vmq_acl has no rules: every publish and subscribe will be refused until the ACL file grants them", "file", p.Path())
		}
	}
	if a.PluginVmqWebhooks {
		log.Warn("plugins.vmq_webhooks is on but webhooks are not implemented yet; ignoring it")
	}
	return plugins, nil
}

// absPath makes relative plugin file paths absolute so logs name the file unambiguously.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
