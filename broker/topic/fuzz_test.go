package topic

import (
	"errors"
	"strings"
	"testing"
)

// FuzzValidateFilter checks that validation never panics and that what it
// accepts obeys the wildcard rules level by level, and that names are the
// filters without wildcards.
func FuzzValidateFilter(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/+", "a/#/b", "a+", "$share/g/a/#", "/", "a//b", "\x00", "\xff", "$SYS/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ferr := ValidateFilter(s, 0)
		nerr := ValidateName(s, 0)
		if nerr == nil && ferr != nil {
			t.Fatalf("valid name %q is an invalid filter: %v", s, ferr)
		}
		if nerr == nil && strings.ContainsAny(s, "+#") {
			t.Fatalf("name %q with a wildcard accepted", s)
		}
		if ferr == nil {
			levels := strings.Split(s, "/")
			for i, l := range levels {
				if strings.ContainsAny(l, "+#") && l != "+" && !(l == "#" && i == len(levels)-1) {
					t.Fatalf("filter %q accepted with bad level %q", s, l)
				}
			}
			if err := ValidateFilter(s, len(levels)); err != nil {
				t.Fatalf("depth %d rejected for %q: %v", len(levels), s, err)
			}
			if err := ValidateFilter(s, len(levels)-1); len(levels) > 1 && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("depth %d accepted for %q", len(levels)-1, s)
			}
		}
		if g, rest, shared, err := ParseShared(s); shared && err == nil {
			if g == "" || strings.ContainsAny(g, "/+#") || rest == "" || "$share/"+g+"/"+rest != s {
				t.Fatalf("ParseShared(%q) = %q, %q", s, g, rest)
			}
		}
	})
}

// FuzzMatch checks that the trie and the retained index agree with the naive
// matcher for any valid filter and name, and that nothing panics on invalid
// input.
func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.filter, tt.topic)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		var tr Trie[int, int]
		var x RetainedIndex[int]
		_, serr := tr.Subscribe(filter, 1, 1)
		tr.Match(topic, nil) // must not panic, valid or not
		xerr := x.Set(topic, 1)
		x.Match(filter, func(string, int) bool { return true })
		if ValidateFilter(filter, 0) != nil || ValidateName(topic, 0) != nil {
			return
		}
		if serr != nil || xerr != nil {
			t.Fatalf("valid input rejected: %v, %v", serr, xerr)
		}
		want := naiveMatch(filter, topic)
		if got := len(tr.Match(topic, nil)) == 1; got != want {
			t.Fatalf("Trie: %q matching %q = %v, naive %v", filter, topic, got, want)
		}
		got := false
		x.Match(filter, func(string, int) bool { got = true; return true })
		if got != want {
			t.Fatalf("RetainedIndex: %q matching %q = %v, naive %v", filter, topic, got, want)
		}
		if !tr.Unsubscribe(filter, 1) || tr.Len() != 0 || !x.Delete(topic) || x.Len() != 0 {
			t.Fatal("cleanup failed")
		}
	})
}
