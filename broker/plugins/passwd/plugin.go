// Package passwd is VerneMQ's vmq_passwd plugin: auth_on_register against a password file of
// "username:$6$salt$hash" lines (VerneMQ, mosquitto 1.x) or "$7$" PBKDF2 lines (mosquitto 2),
// re-read periodically. It also holds the file editing behind "nautilus passwd".
package passwd

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/internal/filewatch"
)

// Plugin answers auth_on_register from a password file:
//   - a known user with the right password: Allow;
//   - a known user with a wrong password: Deny (bad user name or password);
//   - no user name, no password or an unknown user: Next, so a later plugin may answer (when
//     none does the client is refused).
//
// The table is replaced whole on each successful read, so checks never wait for a reload.
type Plugin struct {
	path string
	log  *slog.Logger

	users atomic.Pointer[Table]

	mu      sync.Mutex // serialises reloads and guards the fields below
	stamp   filewatch.Stamp
	lastErr string
}

// dummy is checked against unknown users so that answering for them costs as much as for
// known ones.
var dummy = New6([]byte("nautilus"))

// New loads the password file at path. A missing or unreadable file is not an error: the
// plugin starts with no users and logs a warning, and a later reload picks the file up.
func New(path string, log *slog.Logger) *Plugin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Plugin{path: path, log: log.With("plugin", "vmq_passwd", "file", path)}
	p.users.Store(&Table{})
	p.Reload()
	return p
}

// Path is the password file the plugin reads.
func (p *Plugin) Path() string { return p.path }

// Users is the number of users in the current table.
func (p *Plugin) Users() int { return len(*p.users.Load()) }

// Reload re-reads the password file now. On failure the previous table stays in force and
// the error is logged (once per distinct error) and returned.
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
	var t Table
	var bad []error
	if err == nil {
		t, bad, err = Load(p.path)
	}
	if err != nil {
		if msg := err.Error(); msg != p.lastErr {
			p.lastErr = msg
			switch {
			case errors.Is(err, fs.ErrNotExist) && p.stamp == (filewatch.Stamp{}):
				p.log.Warn("password file not found: no user can log in through vmq_passwd until it is created (see nautilus passwd)")
			default:
				p.log.Error("cannot read password file; keeping the last users read", "users", p.Users(), "error", err)
			}
		}
		return err
	}
	for _, e := range bad {
		var le *LineError
		if errors.As(e, &le) {
			p.log.Warn("malformed password line skipped", "line", le.Line, "error", le.Err)
		}
	}
	p.users.Store(&t)
	p.stamp, p.lastErr = st, ""
	p.log.Info("password file loaded", "users", len(t), "skipped_lines", len(bad))
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

// AuthOnRegister implements hooks.AuthOnRegister.
func (p *Plugin) AuthOnRegister(_ context.Context, r *hooks.Register) hooks.RegisterResult {
	if r.Username == "" || r.Password == nil {
		return hooks.RegisterResult{Verdict: hooks.Next}
	}
	h, ok := (*p.users.Load())[r.Username]
	if !ok {
		dummy.Verify(r.Password)
		return hooks.RegisterResult{Verdict: hooks.Next}
	}
	if !h.Verify(r.Password) {
		return hooks.RegisterResult{Verdict: hooks.Deny, Reason: packet.BadUserNameOrPassword}
	}
	return hooks.RegisterResult{Verdict: hooks.Allow}
}

var _ hooks.AuthOnRegister = (*Plugin)(nil)
