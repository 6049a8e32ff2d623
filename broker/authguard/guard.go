// Package authguard slows password guessing: it counts failed logins per client address and
// per username and, once a key has failed too often within a window, blocks it for a while so
// that the broker refuses its CONNECTs without asking the authentication plugins.
//
// It knows nothing of MQTT or plugins, so every authentication path can share it. Its memory is
// bounded: at most Limits.MaxKeys keys are tracked, the least recently failing one making room
// for a new one, and usernames are kept as salted 64-bit hashes, so neither many usernames nor
// long ones can grow it.
package authguard

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

// Limits configure a Guard. A zero failure limit turns that kind of key off.
type Limits struct {
	IPFailures   int           // failures from one address that block it
	UserFailures int           // failures for one username that block it
	Window       time.Duration // failures older than this (counted from the first) are forgotten
	Block        time.Duration // how long a blocked key stays blocked
	MaxKeys      int           // keys tracked at most; <= 0 means DefaultMaxKeys
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// DefaultMaxKeys bounds the table when Limits.MaxKeys is not set: about 200 bytes a key, so 20 MB at most.
const DefaultMaxKeys = 100_000

// Kind says what a key counts.
type Kind uint8

// Key kinds.
const (
	IP Kind = iota + 1
	Username
)

func (k Kind) String() string {
	if k == IP {
		return "ip"
	}
	return "username"
}

// Block is a key that has just become blocked, for the caller to log once per burst.
type Block struct {
	Kind     Kind
	Value    string // the address or username as the caller gave it
	Failures int
	Until    time.Time
	For      time.Duration // the block period
}

type key struct {
	kind Kind
	sum  uint64
}

type entry struct {
	key      key
	first    time.Time // start of the current window
	failures int
	until    time.Time // blocked before this instant
	elem     *list.Element
}

// Guard tracks failures. It is safe for concurrent use.
type Guard struct {
	lim  Limits
	seed maphash.Seed

	mu   sync.Mutex
	keys map[key]*entry
	lru  *list.List // of *entry, least recently failed first
}

// New returns a Guard with lim, or nil when both failure limits are zero: a nil Guard admits
// everyone and records nothing.
func New(lim Limits) *Guard {
	if lim.IPFailures <= 0 && lim.UserFailures <= 0 {
		return nil
	}
	if lim.MaxKeys <= 0 {
		lim.MaxKeys = DefaultMaxKeys
	}
	if lim.Now == nil {
		lim.Now = time.Now
	}
	return &Guard{lim: lim, seed: maphash.MakeSeed(), keys: map[key]*entry{}, lru: list.New()}
}

// Len is the number of keys tracked.
func (g *Guard) Len() int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.keys)
}

// Blocked reports whether a login from ip for username must be refused now, and which key
// blocks it. An empty ip or username is not checked.
func (g *Guard) Blocked(ip, username string) (Kind, bool) {
	if g == nil {
		return 0, false
	}
	now := g.lim.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range g.keysOf(ip, username) {
		if e := g.keys[k]; e != nil && now.Before(e.until) {
			return k.kind, true
		}
	}
	return 0, false
}

// Fail records a failed login and returns the keys it blocked (none, usually).
func (g *Guard) Fail(ip, username string) []Block {
	if g == nil {
		return nil
	}
	now := g.lim.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.evictExpired(now)
	var blocked []Block
	for _, k := range g.keysOf(ip, username) {
		e := g.touch(k, now)
		if now.Before(e.until) {
			continue // already blocked: the burst was reported when it started
		}
		if now.Sub(e.first) >= g.lim.Window {
			e.first, e.failures = now, 0
		}
		e.failures++
		if e.failures >= g.limit(k.kind) {
			e.until = now.Add(g.lim.Block)
			value := ip
			if k.kind == Username {
				value = username
			}
			blocked = append(blocked, Block{Kind: k.kind, Value: value, Failures: e.failures, Until: e.until, For: g.lim.Block})
			// The next failure after the block opens a new window.
			e.first, e.failures = time.Time{}, 0
		}
	}
	return blocked
}

// Succeed forgets the failures of ip and username after a successful login, so that a user who
// mistyped a few times starts afresh. A block in force stays.
func (g *Guard) Succeed(ip, username string) {
	if g == nil {
		return
	}
	now := g.lim.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range g.keysOf(ip, username) {
		switch e := g.keys[k]; {
		case e == nil:
		case now.Before(e.until):
			e.failures = 0
		default:
			g.remove(e)
		}
	}
}

func (g *Guard) limit(k Kind) int {
	if k == IP {
		return g.lim.IPFailures
	}
	return g.lim.UserFailures
}

// keysOf lists the keys a login counts against, skipping kinds that are off.
func (g *Guard) keysOf(ip, username string) []key {
	ks := make([]key, 0, 2)
	if ip != "" && g.lim.IPFailures > 0 {
		ks = append(ks, key{IP, maphash.String(g.seed, ip)})
	}
	if username != "" && g.lim.UserFailures > 0 {
		ks = append(ks, key{Username, maphash.String(g.seed, username)})
	}
	return ks
}

// touch returns k's entry, creating it (and evicting the least recently failed key when the
// table is full), and marks it most recently failed.
func (g *Guard) touch(k key, now time.Time) *entry {
	if e := g.keys[k]; e != nil {
		g.lru.MoveToBack(e.elem)
		return e
	}
	if len(g.keys) >= g.lim.MaxKeys {
		g.remove(g.lru.Front().Value.(*entry))
	}
	e := &entry{key: k, first: now}
	e.elem = g.lru.PushBack(e)
	g.keys[k] = e
	return e
}

// evictExpired drops keys whose window and block are both over. The list is in order of last
// failure, so the expired ones are at its front.
func (g *Guard) evictExpired(now time.Time) {
	for el := g.lru.Front(); el != nil; el = g.lru.Front() {
		e := el.Value.(*entry)
		if now.Sub(e.first) < g.lim.Window || now.Before(e.until) {
			return
		}
		g.remove(e)
	}
}

func (g *Guard) remove(e *entry) {
	g.lru.Remove(e.elem)
	delete(g.keys, e.key)
}
