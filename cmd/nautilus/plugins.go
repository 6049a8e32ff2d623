package main

import (
	"context"
	"log/slog"

	"github.com/nautilus-mq/nautilus/broker/config"
)

// loadPlugins builds the enabled plugins in hook order.
func loadPlugins(_ context.Context, cfg *config.Config, log *slog.Logger) ([]any, error) {
	var plugins []any
	if cfg.Auth.PluginVmqPasswd || cfg.Auth.PluginVmqACL || cfg.Auth.PluginVmqWebhooks {
		log.Warn("plugins vmq_passwd, vmq_acl and vmq_webhooks are not implemented yet; only allow_anonymous admits clients")
	}
	return plugins, nil
}
