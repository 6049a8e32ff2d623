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
	"log/slog"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/plugins/internal/filewatch"
	"github.com/nautilus-mq/nautilus/broker/topic"
)

// Refused is the QoS a SubscribeResult gives a filter it refuses (SUBACK 0x80).
const Refused = 0x80

// Plugin answers auth_on_publish and auth_on_subscribe from an ACL file.
type Plugin struct {
	file *filewatch.File[*Rules]
	log  *slog.Logger
}

// New loads the ACL file at path. A missing or unreadable file is not an error: the plugin
// starts with no rules (it grants nothing) and logs a warning; a later reload picks it up.
func New(path string, log *slog.Logger) *Plugin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("plugin", "vmq_acl", "file", path)
	return &Plugin{log: log, file: filewatch.Open(path, log, filewatch.Spec[*Rules]{
		What:     "ACL file",
		Kind:     "ACL",
		Item:     "rules",
		Line:     lineOf,
		Load:     Load,
		Empty:    &Rules{Users: map[string][]Rule{}},
		NotFound: "vmq_acl grants no publish or subscribe until it is created",
		Describe: func(r *Rules) []any { return []any{"rules", r.Count()} },
	})}
}

// Path is the ACL file the plugin reads.
func (p *Plugin) Path() string { return p.file.Path() }

// Rules is the rule set in force.
func (p *Plugin) Rules() *Rules { return *p.file.Current() }

// Reload re-reads the ACL file now. On failure the previous rules stay in force and the error
// is logged (once per distinct error) and returned.
func (p *Plugin) Reload() error { return p.file.Reload() }

// Start re-reads the file every interval when it has changed, until ctx ends. An interval of
// zero or less disables reloading.
func (p *Plugin) Start(ctx context.Context, interval time.Duration) { p.file.Start(ctx, interval) }

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

// lineOf takes the line number and cause out of a skipped line's error.
func lineOf(err error) (int, error, bool) {
	var le *LineError
	if errors.As(err, &le) {
		return le.Line, le.Err, true
	}
	return 0, nil, false
}
