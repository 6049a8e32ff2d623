package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
)

// DefaultFile is the file Load reads when no path is given, if it exists.
const DefaultFile = "nautilus.conf"

// EnvPrefix starts every environment override: NAUTILUS__MAX_INFLIGHT_MESSAGES=50 sets
// max_inflight_messages. Each double underscore stands for a dot, so single underscores inside
// key names survive, and the rest is lower-cased.
const EnvPrefix = "NAUTILUS__"

// The listener a node has when no listener is configured at all: MQTT on loopback only, so a
// node started without a file is never exposed by accident.
const (
	DefaultListenerType    = ListenerTCP
	DefaultListenerName    = "default"
	DefaultListenerAddress = "127.0.0.1:1883"
)

// Load resolves a node's configuration: built-in defaults, then the file, then NAUTILUS__*
// variables from environ (in os.Environ form), then Validate. An empty path means ./nautilus.conf
// if it exists, else no file. Every problem found is returned together as Errors; a file that
// cannot be read is returned as a wrapped error instead.
func Load(path string, environ []string) (*Config, error) {
	l := newLoader()
	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: looking for %s: %w", DefaultFile, err)
		}
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		lines := parseFile(path, f, &l.errs)
		f.Close()
		for _, ln := range lines {
			l.set(ln.key, ln.value, ln.src)
		}
		l.cfg.File = path
	}
	l.env(environ)
	l.resolveListeners()
	if err := l.cfg.Validate(); err != nil {
		var es Errors
		if !errors.As(err, &es) {
			return nil, err
		}
		l.errs.errs = append(l.errs.errs, es...)
	}
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return l.cfg, nil
}

// Default returns the built-in configuration, the one a node runs with no file and no
// environment overrides.
func Default() *Config {
	l := newLoader()
	l.resolveListeners()
	return l.cfg
}

// loader applies settings one at a time onto a Config, remembering where each came from.
type loader struct {
	cfg  *Config
	errs errorList
	// fromFile is where each key was set in the file, to report a key set twice.
	fromFile map[string]Source
	// addrs are listener.<type>.<name> settings; opts are listener options at any of the three
	// cascade levels, keyed by their full key. Both are resolved once all input is read.
	addrs map[string]setting
	opts  map[string]setting
}

type setting struct {
	raw string
	val reflect.Value
	src Source
}

func newLoader() *loader {
	l := &loader{
		cfg:      &Config{sources: map[string]Source{}},
		fromFile: map[string]Source{},
		addrs:    map[string]setting{},
		opts:     map[string]setting{},
	}
	root := reflect.ValueOf(l.cfg).Elem()
	for _, f := range schema().keys {
		v, _ := f.parse(f.Def) // defaults are checked when the schema is built
		root.FieldByIndex(f.index).Set(v)
	}
	return l
}

// env applies NAUTILUS__* variables. Anything else in the environment is none of our business.
func (l *loader) env(environ []string) {
	vars := slices.Clone(environ)
	slices.Sort(vars) // deterministic order, whatever order the OS hands them over in
	for _, kv := range vars {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		src := Source{Kind: FromEnv, Var: name}
		key := envKey(name)
		if !validKey(key) {
			l.errs.add(src, "", "does not name a configuration key: after %s, use the key's dots as __, e.g. %sMAX_INFLIGHT_MESSAGES", EnvPrefix, EnvPrefix)
			continue
		}
		l.set(key, val, src)
	}
}

// envKey maps NAUTILUS__LISTENER__TCP__DEFAULT to listener.tcp.default.
func envKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, EnvPrefix), "__", "."))
}

// EnvVar is the environment variable that overrides key, the inverse of the rule Load applies.
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

func (l *loader) set(key, raw string, src Source) {
	if src.Kind == FromFile {
		if first, dup := l.fromFile[key]; dup {
			l.errs.add(src, key, "set again; it was already set on line %d", first.Line)
			return
		}
		l.fromFile[key] = src
	}
	if f := schema().byKey[key]; f != nil {
		v, err := f.parse(raw)
		if err != nil {
			l.errs.add(src, key, "%v", err)
			return
		}
		reflect.ValueOf(l.cfg).Elem().FieldByIndex(f.index).Set(v)
		l.cfg.sources[key] = src
		return
	}
	if strings.HasPrefix(key, "listener.") {
		l.setListener(key, raw, src)
		return
	}
	l.unknown(key, src)
}

// setListener sorts a listener key into an address or an option at one cascade level.
func (l *loader) setListener(key, raw string, src Source) {
	parts := strings.Split(key, ".")
	var typ ListenerType
	if len(parts) >= 3 {
		typ = ListenerType(parts[1])
		if !slices.Contains(typ.Values(), parts[1]) {
			l.errs.add(src, key, "unknown listener type %q: expected one of %s", parts[1], strings.Join(typ.Values(), ", "))
			return
		}
	}
	var opt string
	switch {
	case len(parts) == 2:
		opt = parts[1]
	case len(parts) == 3 && schema().byOpt[parts[2]] != nil:
		opt = parts[2]
	case len(parts) == 3:
		// A misspelt option would otherwise define a listener named after the typo and fail
		// later with a confusing address error, so a non-address close to an option is a typo.
		if _, _, err := net.SplitHostPort(strings.TrimSpace(raw)); err != nil && typ != ListenerUnix && suggest(parts[2], optionNames()) != "" {
			l.unknown(key, src)
			return
		}
		l.addrs[key] = setting{raw: strings.TrimSpace(raw), src: src}
		return
	case len(parts) == 4:
		opt = parts[3]
	default:
		l.unknown(key, src)
		return
	}
	f := schema().byOpt[opt]
	if f == nil {
		l.unknown(key, src)
		return
	}
	if typ != "" && !f.appliesTo(typ) {
		l.errs.add(src, key, "%s does not apply to %s listeners, only to %s", opt, typ, joinTypes(f.types))
		return
	}
	v, err := f.parse(raw)
	if err != nil {
		l.errs.add(src, key, "%v", err)
		return
	}
	l.opts[key] = setting{raw: raw, val: v, src: src}
}

func joinTypes(ts []ListenerType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func (l *loader) unknown(key string, src Source) {
	msg := "unknown key"
	if s := suggest(key, candidates(key)); s != "" {
		if src.Kind == FromEnv {
			s = EnvVar(s)
		}
		msg += "; did you mean " + s + "?"
	}
	l.errs.add(src, key, "%s", msg)
}

// resolveListeners builds Config.Listeners from the addresses and the option cascade.
func (l *loader) resolveListeners() {
	addrs := l.addrs
	if len(addrs) == 0 {
		key := "listener." + string(DefaultListenerType) + "." + DefaultListenerName
		addrs = map[string]setting{key: {raw: DefaultListenerAddress, src: Source{Kind: FromDefault}}}
	}
	for _, key := range sortedKeys(addrs) {
		parts := strings.Split(key, ".")
		a := addrs[key]
		ln := Listener{Type: ListenerType(parts[1]), Name: parts[2], Address: a.raw}
		l.cfg.setSource(key, a.src)
		opts := reflect.ValueOf(&ln.ListenerOptions).Elem()
		for _, f := range schema().options {
			if !f.appliesTo(ln.Type) {
				continue
			}
			v, _ := f.parse(f.Def)
			src := Source{Kind: FromDefault}
			for _, k := range []string{key + "." + f.Key, "listener." + parts[1] + "." + f.Key, "listener." + f.Key} {
				if s, ok := l.opts[k]; ok {
					v, src = s.val, s.src
					break
				}
			}
			opts.FieldByIndex(f.index[len(f.index)-1:]).Set(v)
			l.cfg.setSource(key+"."+f.Key, src)
		}
		l.cfg.Listeners = append(l.cfg.Listeners, ln)
	}
	// An option for a listener that does not exist is almost always a typo in the name.
	for _, key := range sortedKeys(l.opts) {
		parts := strings.Split(key, ".")
		if len(parts) != 4 {
			continue
		}
		name := strings.Join(parts[:3], ".")
		if _, ok := addrs[name]; !ok {
			hint := "define it with " + name + " = host:port"
			if s := suggest(name, sortedKeys(addrs)); s != "" {
				hint = "did you mean " + s + "?"
			}
			l.errs.add(l.opts[key].src, key, "there is no listener %s; %s", name, hint)
		}
	}
}

func (c *Config) setSource(key string, src Source) {
	if c.sources == nil {
		c.sources = map[string]Source{}
	}
	if src.Kind == FromDefault {
		delete(c.sources, key)
		return
	}
	c.sources[key] = src
}

// Source reports where the effective value of key came from: the file line, the environment
// variable, or the built-in default.
func (c *Config) Source(key string) Source {
	return c.sources[key]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func optionNames() []string {
	names := make([]string, len(schema().options))
	for i, f := range schema().options {
		names[i] = f.Key
	}
	return names
}
