// Package acl is VerneMQ's vmq_acl plugin: auth_on_publish and auth_on_subscribe against an
// ACL file of topic, user and pattern lines, re-read periodically.
//
// The plugin only grants. A publish or subscription no rule covers gets Next, so a later
// plugin may still allow it; when every plugin answers Next the broker refuses.
//
// Subscriptions are checked filter by filter, for read access. A filter is granted when the
// ACL filter covers it, that is when every topic the subscription could receive is one the ACL
// filter matches: "a/+" in the ACL grants subscribing to "a/b" and "a/+" but not "a/#" (VerneMQ
// compares a subscription's wildcards as literal words, which lets "a/+" grant "a/#"). A shared
// subscription "$share/<group>/<filter>" is checked as <filter>. Topics are checked without the
// client's mountpoint, which %m stands for in patterns.
package acl

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/plugins/internal/filewatch"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

// Refused is the QoS a SubscribeResult gives a filter it refuses (SUBACK 0x80).
const Refused = 0x80

// Plugin answers auth_on_publish and auth_on_subscribe from an ACL file.
type Plugin struct {
	path string
	log  *slog.Logger

	rules atomic.Pointer[Rules]

	mu      sync.Mutex // serialises reloads and guards the fields below
	stamp   filewatch.Stamp
	lastErr string
}

// New loads the ACL file at path. A missing or unreadable file is not an error: the plugin
// starts with no rules (it grants nothing) and logs a warning; a later reload picks it up.
func New(path string, log *slog.Logger) *Plugin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Plugin{path: path, log: log.With("plugin", "vmq_acl", "file", path)}
	p.rules.Store(&Rules{Users: map[string][]Rule{}})
	p.Reload()
	return p
}

// Path is the ACL file the plugin reads.
func (p *Plugin) Path() string { return p.path }

// Rules is the rule set in force.
func (p *Plugin) Rules() *Rules { return p.rules.Load() }

// Reload re-reads the ACL file now. On failure the previous rules stay in force and the error
// is logged (once per distinct error) and returned.
func (p *Plugin) Reload() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reload(true)
}

func (p *Plugin) reload(force bool) error {
	st, err := filewatch.StampOf(p.path)
	if err == nil && !force && st == p.stamp {
		return nil
	}
	var r *Rules
	var bad []error
	if err == nil {
		r, bad, err = Load(p.path)
	}
	if err != nil {
		if msg := err.Error(); msg != p.lastErr {
			p.lastErr = msg
			switch {
			case errors.Is(err, fs.ErrNotExist) && p.stamp == (filewatch.Stamp{}):
				p.log.Warn("ACL file not found: vmq_acl grants no publish or subscribe until it is created")
			default:
				p.log.Error("cannot read ACL file; keeping the last rules read", "rules", p.Rules().Count(), "error", err)
			}
		}
		return err
	}
	for _, e := range bad {
		var le *LineError
		if errors.As(e, &le) {
			p.log.Warn("malformed ACL line skipped", "line", le.Line, "error", le.Err)
		}
	}
	p.rules.Store(r)
	p.stamp, p.lastErr = st, ""
	p.log.Info("ACL file loaded", "rules", r.Count(), "skipped_lines", len(bad))
	return nil
}

// Start re-reads the file every interval when it has changed, until ctx ends. An interval of
// zero or less disables reloading.
func (p *Plugin) Start(ctx context.Context, interval time.Duration) {
	go filewatch.Every(ctx, interval, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.reload(false)
	})
}

func clientOf(c hooks.Client) Client {
	return Client{Mountpoint: c.Mountpoint, ClientID: c.ClientID, Username: c.Username}
}

// AuthOnPublish implements hooks.AuthOnPublish: Allow when a rule grants write on the topic,
// Next otherwise.
func (p *Plugin) AuthOnPublish(_ context.Context, pub *hooks.Publish) hooks.PublishResult {
	if p.Rules().Allowed(Write, pub.Topic, clientOf(pub.Client)) {
		return hooks.PublishResult{Verdict: hooks.Allow}
	}
	return hooks.PublishResult{Verdict: hooks.Next}
}

// AuthOnSubscribe implements hooks.AuthOnSubscribe: Allow when rules grant read on every
// filter; Next when they grant none; otherwise Allow with Topics refusing (QoS 0x80) the
// filters no rule grants, so the others still succeed.
func (p *Plugin) AuthOnSubscribe(_ context.Context, s *hooks.Subscribe) hooks.SubscribeResult {
	rules, c := p.Rules(), clientOf(s.Client)
	var out []hooks.Topic
	granted := 0
	for i, t := range s.Topics {
		filter := t.Filter
		if _, f, shared, err := topic.ParseShared(filter); shared && err == nil {
			filter = f
		}
		if rules.Allowed(Read, filter, c) {
			granted++
			continue
		}
		if out == nil {
			out = append([]hooks.Topic(nil), s.Topics...)
		}
		out[i].QoS = Refused
	}
	switch {
	case len(s.Topics) == 0:
		return hooks.SubscribeResult{Verdict: hooks.Allow}
	case granted == 0:
		return hooks.SubscribeResult{Verdict: hooks.Next}
	case out == nil:
		return hooks.SubscribeResult{Verdict: hooks.Allow}
	default:
		return hooks.SubscribeResult{Verdict: hooks.Allow, Topics: out}
	}
}

var (
	_ hooks.AuthOnPublish   = (*Plugin)(nil)
	_ hooks.AuthOnSubscribe = (*Plugin)(nil)
)
