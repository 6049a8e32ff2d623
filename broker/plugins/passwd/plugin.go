// Package passwd is VerneMQ's vmq_passwd plugin: auth_on_register against a password file of
// "username:$6$salt$hash" lines (VerneMQ, mosquitto 1.x), "$7$" PBKDF2 lines (mosquitto 2) or
// bcrypt lines ("nautilus passwd", htpasswd -B), re-read periodically. It also holds the file
// editing behind "nautilus passwd", which writes bcrypt unless asked for VerneMQ's $6$.
package passwd

import (
	"context"
	"errors"
	"log/slog"
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
//
// Checks run on the table snapshot without any lock, so a slow bcrypt comparison (tens of
// milliseconds) holds up no other CONNECT. Nothing is cached: a cache of verified passwords
// would be a second, faster target for guessing.
type Plugin struct {
	file  *filewatch.File[Table]
	log   *slog.Logger
	decoy atomic.Pointer[decoy]
}

// decoy is the hash an unknown user's password is checked against, so that answering for an
// unknown user costs as much as for a known one and the timing does not tell which names exist.
// It is the dearest entry of the table it was picked from: a fixed cheap decoy would give the
// game away in a bcrypt file, a fixed dear one would make unknown names a way to burn CPU.
type decoy struct {
	table *Table
	hash  Hash
}

// fallbackDecoy serves an empty table.
var fallbackDecoy = New6([]byte("nautilus"))

// New loads the password file at path. A missing or unreadable file is not an error: the
// plugin starts with no users and logs a warning, and a later reload picks the file up.
func New(path string, log *slog.Logger) *Plugin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("plugin", "vmq_passwd", "file", path)
	return &Plugin{log: log, file: filewatch.Open(path, log, filewatch.Spec[Table]{
		What:     "password file",
		Kind:     "password",
		Item:     "users",
		Line:     lineOf,
		Load:     Load,
		Empty:    Table{},
		NotFound: "no user can log in through vmq_passwd until it is created (see nautilus passwd)",
		Describe: func(t Table) []any { return []any{"users", len(t)} },
	})}
}

// Path is the password file the plugin reads.
func (p *Plugin) Path() string { return p.file.Path() }

// Users is the number of users in the current table.
func (p *Plugin) Users() int { return len(*p.file.Current()) }

// Reload re-reads the password file now. On failure the previous table stays in force and
// the error is logged (once per distinct error) and returned.
func (p *Plugin) Reload() error { return p.file.Reload() }

// Start re-reads the file every interval when it has changed, until ctx ends. An interval of
// zero or less disables reloading.
func (p *Plugin) Start(ctx context.Context, interval time.Duration) { p.file.Start(ctx, interval) }

// AuthOnRegister implements hooks.AuthOnRegister.
func (p *Plugin) AuthOnRegister(_ context.Context, r *hooks.Register) hooks.RegisterResult {
	if r.Username == "" || r.Password == nil {
		return hooks.RegisterResult{Verdict: hooks.Next}
	}
	t := p.file.Current()
	h, ok := (*t)[r.Username]
	if !ok {
		p.decoyFor(t).Verify(r.Password)
		return hooks.RegisterResult{Verdict: hooks.Next}
	}
	if !h.Verify(r.Password) {
		return hooks.RegisterResult{Verdict: hooks.Deny, Reason: packet.BadUserNameOrPassword}
	}
	return hooks.RegisterResult{Verdict: hooks.Allow}
}

var _ hooks.AuthOnRegister = (*Plugin)(nil)

// decoyFor returns the decoy of table t, picking it on t's first use (once per reload).
func (p *Plugin) decoyFor(t *Table) Hash {
	if d := p.decoy.Load(); d != nil && d.table == t {
		return d.hash
	}
	d := &decoy{table: t, hash: fallbackDecoy}
	for _, h := range *t {
		if h.cost() > d.hash.cost() {
			d.hash = h
		}
	}
	p.decoy.Store(d)
	return d.hash
}

// lineOf takes the line number and cause out of a skipped line's error.
func lineOf(err error) (int, error, bool) {
	var le *LineError
	if errors.As(err, &le) {
		return le.Line, le.Err, true
	}
	return 0, nil, false
}
