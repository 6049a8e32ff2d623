package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// SourceKind says which layer a setting came from. The order is the precedence order: a later
// kind overrides an earlier one.
type SourceKind int

const (
	FromDefault SourceKind = iota
	FromFile
	FromEnv
)

// Source is where an effective value came from, so that `config show` and error messages can
// point the operator at the line to edit.
type Source struct {
	Kind SourceKind
	File string // FromFile: the path as given to Load
	Line int    // FromFile: 1-based
	Var  string // FromEnv: the variable name
}

// String renders the source as `config show` prints it: default, file:<path>:<line>, env:<VAR>.
func (s Source) String() string {
	switch s.Kind {
	case FromFile:
		return fmt.Sprintf("file:%s:%d", s.File, s.Line)
	case FromEnv:
		return "env:" + s.Var
	default:
		return "default"
	}
}

// prefix is how an error message starts: the compiler-style "file:line:" that editors can jump
// to, "env:VAR:" for the environment, nothing for defaults.
func (s Source) prefix() string {
	switch s.Kind {
	case FromFile:
		return fmt.Sprintf("%s:%d: ", s.File, s.Line)
	case FromEnv:
		return "env:" + s.Var + ": "
	default:
		return ""
	}
}

// Error is one problem in the configuration: where, which key, and what was expected.
type Error struct {
	Source Source
	Key    string // empty for a line that does not parse as `key = value`
	Msg    string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return e.Source.prefix() + e.Msg
	}
	return e.Source.prefix() + e.Key + ": " + e.Msg
}

// Errors is every problem found while loading, in a stable order: file lines first by line,
// then environment variables by name, then problems not tied to any input.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// sorted returns the errors in report order. The sort is stable so that two problems on the
// same line keep the order in which they were found.
func (es Errors) sorted() Errors {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(rank(a.Source.Kind), rank(b.Source.Kind)),
			cmp.Compare(a.Source.File, b.Source.File),
			cmp.Compare(a.Source.Line, b.Source.Line),
			cmp.Compare(a.Source.Var, b.Source.Var),
			cmp.Compare(a.Key, b.Key),
		)
	})
	return out
}

// rank orders error sources for reporting: the file the operator is editing comes first.
func rank(k SourceKind) int {
	switch k {
	case FromFile:
		return 0
	case FromEnv:
		return 1
	default:
		return 2
	}
}

// errorList accumulates problems; nil when there were none, so callers can return it directly.
type errorList struct{ errs Errors }

func (l *errorList) add(src Source, key, format string, args ...any) {
	l.errs = append(l.errs, &Error{Source: src, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs.sorted()
}
