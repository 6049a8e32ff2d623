package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// field is one key of the schema, read from a struct tag.
type field struct {
	Key   string // for listener options: the option name, e.g. max_connections
	Group string
	Doc   string
	Def   string // default as written in the file

	index   []int // path from Config (or ListenerOptions) to the field
	typ     reflect.Type
	unit    time.Duration     // unit of a bare integer for durations
	aliases map[string]string // word → value as written, e.g. infinity → -1
	min     *reflect.Value
	max     *reflect.Value
	types   []ListenerType // listener options: types it applies to; nil = all
	secret  bool           // `config show` hides the value (secret:"on")
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
	versionsType = reflect.TypeFor[ProtocolVersions]()
	enumType     = reflect.TypeFor[enum]()
)

// keySet is the whole schema: the keys of Config and the per-listener options.
type keySet struct {
	keys    []*field // in struct order, which is the order of the reference
	byKey   map[string]*field
	options []*field
	byOpt   map[string]*field
}

// schema is built once from the struct tags. A broken tag is a programming error that every
// test run catches, so it panics rather than returning an error nobody can handle.
var schema = sync.OnceValue(func() *keySet {
	s := &keySet{
		keys:    walk(reflect.TypeFor[Config](), nil, ""),
		options: walk(reflect.TypeFor[ListenerOptions](), nil, "Listeners"),
	}
	s.byKey = index(s.keys)
	s.byOpt = index(s.options)
	return s
})

func index(fs []*field) map[string]*field {
	m := make(map[string]*field, len(fs))
	for _, f := range fs {
		if m[f.Key] != nil {
			panic("config: key " + f.Key + " defined twice")
		}
		m[f.Key] = f
	}
	return m
}

func walk(t reflect.Type, path []int, group string) []*field {
	var out []*field
	for i := range t.NumField() {
		sf := t.Field(i)
		p := append(slices.Clone(path), i)
		key, ok := sf.Tag.Lookup("key")
		if !ok {
			if g, ok := sf.Tag.Lookup("group"); ok && sf.Type.Kind() == reflect.Struct {
				out = append(out, walk(sf.Type, p, g)...)
			}
			continue
		}
		out = append(out, newField(sf, p, key, group))
	}
	return out
}

func newField(sf reflect.StructField, path []int, key, group string) *field {
	f := &field{
		Key: key, Group: group, Doc: sf.Tag.Get("doc"), Def: sf.Tag.Get("default"),
		index: path, typ: sf.Type, unit: time.Second,
	}
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("config: field %s (%s): %s", sf.Name, key, fmt.Sprintf(format, args...)))
	}
	if f.Doc == "" {
		fail("no doc tag")
	}
	if u := sf.Tag.Get("unit"); u == "ms" {
		f.unit = time.Millisecond
	} else if u != "" && u != "s" {
		fail("unit %q is neither s nor ms", u)
	}
	if a := sf.Tag.Get("alias"); a != "" {
		f.aliases = map[string]string{}
		for pair := range strings.SplitSeq(a, ",") {
			word, val, ok := strings.Cut(pair, "=")
			if !ok {
				fail("alias %q is not word=value", pair)
			}
			f.aliases[word] = val
		}
	}
	for _, b := range []struct {
		tag string
		dst **reflect.Value
	}{{"min", &f.min}, {"max", &f.max}} {
		if raw, ok := sf.Tag.Lookup(b.tag); ok {
			v, err := f.parseRaw(raw)
			if err != nil {
				fail("%s: %v", b.tag, err)
			}
			*b.dst = &v
		}
	}
	f.secret = sf.Tag.Get("secret") == "on"
	if ts := sf.Tag.Get("types"); ts != "" {
		for t := range strings.SplitSeq(ts, ",") {
			if !slices.Contains(ListenerType("").Values(), t) {
				fail("unknown listener type %q", t)
			}
			f.types = append(f.types, ListenerType(t))
		}
	}
	if _, err := f.parse(f.Def); err != nil {
		fail("default: %v", err)
	}
	return f
}

// appliesTo reports whether a listener option makes sense for listeners of type t.
func (f *field) appliesTo(t ListenerType) bool {
	return f.types == nil || slices.Contains(f.types, t)
}

// Kind describes the value type for the reference table.
func (f *field) Kind() string {
	switch {
	case f.typ == durationType:
		return "duration"
	case f.typ == sizeType:
		return "size"
	case f.typ == versionsType:
		return "list"
	case f.typ.Implements(enumType):
		return "enum"
	}
	switch f.typ.Kind() {
	case reflect.Bool:
		return "flag"
	case reflect.Int, reflect.Int64:
		return "integer"
	}
	return "string"
}

// parse turns a value as written into a value of the field's type, words included.
func (f *field) parse(raw string) (reflect.Value, error) {
	if v, ok := f.aliases[strings.TrimSpace(raw)]; ok {
		raw = v
	}
	return f.parseRaw(raw)
}

func (f *field) parseRaw(raw string) (reflect.Value, error) {
	v := reflect.New(f.typ).Elem()
	words := ""
	if len(f.aliases) > 0 {
		ws := make([]string, 0, len(f.aliases))
		for w := range f.aliases {
			ws = append(ws, w)
		}
		slices.Sort(ws)
		words = " or " + strings.Join(ws, ", ")
	}
	switch {
	case f.typ == durationType:
		d, err := parseDuration(raw, f.unit)
		if err != nil {
			if words != "" {
				return v, fmt.Errorf("expected %s%s, got %q", durationExpected(f.unit), words, raw)
			}
			return v, err
		}
		v.SetInt(int64(d))
	case f.typ == sizeType:
		s, err := parseSize(raw)
		if err != nil {
			return v, err
		}
		v.SetInt(int64(s))
	case f.typ == versionsType:
		p, err := parseProtocolVersions(raw)
		if err != nil {
			return v, err
		}
		v.Set(reflect.ValueOf(p))
	case f.typ.Implements(enumType):
		vals := v.Interface().(enum).Values()
		s := strings.TrimSpace(raw)
		if !slices.Contains(vals, s) {
			return v, fmt.Errorf("expected one of %s, got %q", strings.Join(vals, ", "), raw)
		}
		v.SetString(s)
	case f.typ.Kind() == reflect.Bool:
		b, err := parseBool(raw)
		if err != nil {
			return v, err
		}
		v.SetBool(b)
	case f.typ.Kind() == reflect.Int || f.typ.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return v, fmt.Errorf("expected a whole number%s, got %q", words, raw)
		}
		v.SetInt(n)
	case f.typ.Kind() == reflect.String:
		v.SetString(raw)
	default:
		panic("config: no parser for " + f.typ.String())
	}
	return v, nil
}

// format writes a value the way the file would, so `config show` output can be pasted back.
func (f *field) format(v reflect.Value) string {
	for word, raw := range f.aliases {
		if a, err := f.parseRaw(raw); err == nil && reflect.DeepEqual(a.Interface(), v.Interface()) {
			return word
		}
	}
	return f.formatPlain(v)
}

func (f *field) formatPlain(v reflect.Value) string {
	switch {
	case f.typ == durationType:
		return formatDuration(time.Duration(v.Int()))
	case f.typ == sizeType:
		return Size(v.Int()).String()
	case f.typ == versionsType:
		return v.Interface().(ProtocolVersions).String()
	case f.typ.Kind() == reflect.Bool:
		return formatBool(v.Bool())
	case f.typ.Kind() == reflect.Int || f.typ.Kind() == reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return quoteIfNeeded(v.String())
}

// checkRange reports a value outside the field's min/max tags.
func (f *field) checkRange(v reflect.Value) error {
	if f.typ.Kind() != reflect.Int && f.typ.Kind() != reflect.Int64 {
		return nil
	}
	n := v.Int()
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if f.min != nil {
		lo = f.min.Int()
	} else if f.typ == sizeType || f.typ == durationType {
		lo = 0 // sizes and durations are never negative, whoever built the Config
	}
	if f.max != nil {
		hi = f.max.Int()
	}
	if n >= lo && n <= hi {
		return nil
	}
	show := func(x int64) string { return f.formatPlain(reflect.ValueOf(x).Convert(f.typ)) }
	switch {
	case f.max == nil:
		return fmt.Errorf("must be at least %s, got %s", show(lo), show(n))
	case lo == int64(-1<<63):
		return fmt.Errorf("must be at most %s, got %s", show(hi), show(n))
	}
	return fmt.Errorf("must be between %s and %s, got %s", show(lo), show(hi), show(n))
}
