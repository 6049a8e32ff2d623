package config

import (
	"reflect"
	"slices"
	"strings"
)

// Setting is one effective key as `nautilus config show` prints it.
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"` // as it would be written in the file
	Source Source `json:"-"`
	From   string `json:"source"` // Source.String(), for JSON
	Doc    string `json:"doc"`
}

// hiddenValue is what `config show` prints for a secret key that is set.
const hiddenValue = "(hidden)"

// Settings lists every effective key with its value and origin, sorted by key. Listeners
// appear as their address key followed by each option resolved for that listener, so the
// outcome of the cascade is visible per listener.
func (c *Config) Settings() []Setting {
	var out []Setting
	add := func(key, value, doc string) {
		src := c.Source(key)
		out = append(out, Setting{Key: key, Value: value, Source: src, From: src.String(), Doc: doc})
	}
	root := reflect.ValueOf(c).Elem()
	for _, f := range schema().keys {
		v := f.format(root.FieldByIndex(f.index))
		if f.secret && v != `""` {
			v = hiddenValue
		}
		add(f.Key, v, f.Doc)
	}
	for _, ln := range c.Listeners {
		add(ln.Key(), quoteIfNeeded(ln.Address), listenerDoc(ln.Type))
		opts := reflect.ValueOf(&ln.ListenerOptions).Elem()
		for _, f := range schema().options {
			if f.appliesTo(ln.Type) {
				add(ln.Key()+"."+f.Key, f.format(opts.FieldByIndex(f.index[len(f.index)-1:])), f.Doc)
			}
		}
	}
	slices.SortFunc(out, func(a, b Setting) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func listenerDoc(t ListenerType) string {
	switch t {
	case ListenerTCP:
		return "MQTT over TCP listener address"
	case ListenerSSL:
		return "MQTT over TLS listener address"
	case ListenerWS:
		return "MQTT over WebSocket listener address"
	case ListenerWSS:
		return "MQTT over secure WebSocket listener address"
	case ListenerVMQ:
		return "cluster peer listener address"
	case ListenerVMQS:
		return "cluster peer listener address, links over mutual TLS (certfile, keyfile, cafile)"
	case ListenerHTTP:
		return "admin HTTP API, status and /metrics listener address"
	case ListenerUnix:
		return "MQTT over a unix domain socket: the socket's path"
	}
	return "listener address"
}
