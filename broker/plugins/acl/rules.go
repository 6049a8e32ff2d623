package acl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nautilus-mq/nautilus/broker/topic"
)

// Access is what a rule grants.
type Access int

// The two rights a rule can grant; a rule without one grants both.
const (
	Read  Access = 1 << iota // subscribe
	Write                    // publish
)

// level kinds of a parsed ACL filter.
const (
	litLevel    = iota // a literal word
	plusLevel          // '+'
	hashLevel          // '#'
	userLevel          // %u (patterns only)
	clientLevel        // %c (patterns only)
	mountLevel         // %m (patterns only)
)

type level struct {
	kind int
	word string
}

// Rule is one topic or pattern line.
type Rule struct {
	Access  Access
	Filter  string
	Pattern bool
	levels  []level
}

// Rules is a parsed ACL file.
type Rules struct {
	All      []Rule            // "topic" lines before the first "user" line: everyone, anonymous too
	Users    map[string][]Rule // "topic" lines in a "user <name>" section
	Patterns []Rule            // "pattern" lines, wherever they are: every client, with substitutions
}

// LineError is a malformed line, skipped when loading.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Count is the number of rules.
func (r *Rules) Count() int {
	n := len(r.All) + len(r.Patterns)
	for _, u := range r.Users {
		n += len(u)
	}
	return n
}

// Parse reads an ACL file in VerneMQ's vmq_acl format:
//
//	# comment
//	topic [read|write] <filter>      before any user line: applies to every client
//	user <name>                      starts the rules of one user
//	topic [read|write] <filter>      in a user section: applies to that user
//	pattern [read|write] <filter>    anywhere: every client, with %c, %u, %m substituted
//
// A rule without read or write grants both ("readwrite" is accepted as mosquitto spells it).
// Lines and words may be indented with spaces or tabs; a filter may contain spaces. Malformed
// lines are skipped and returned as *LineError values; err is set only when r fails.
func Parse(r io.Reader, name string) (rules *Rules, bad []error, err error) {
	rules = &Rules{Users: map[string][]Rule{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	user, inUser := "", false
	n := 0
	for sc.Scan() {
		n++
		line := strings.Trim(sc.Text(), " \t\r")
		if line == "" || line[0] == '#' {
			continue
		}
		keyword, rest, _ := strings.Cut(line, " ")
		if k, r, ok := strings.Cut(line, "\t"); ok && len(k) < len(keyword) {
			keyword, rest = k, r
		}
		rest = strings.Trim(rest, " \t")
		switch keyword {
		case "user":
			if rest == "" {
				bad = append(bad, &LineError{name, n, errors.New("user without a name")})
				continue
			}
			user, inUser = rest, true
		case "topic", "pattern":
			rule, rerr := parseRule(rest, keyword == "pattern")
			if rerr != nil {
				bad = append(bad, &LineError{name, n, rerr})
				continue
			}
			switch {
			case rule.Pattern:
				rules.Patterns = append(rules.Patterns, rule)
			case inUser:
				rules.Users[user] = append(rules.Users[user], rule)
			default:
				rules.All = append(rules.All, rule)
			}
		default:
			bad = append(bad, &LineError{name, n, fmt.Errorf("unknown keyword %q (want topic, user or pattern)", keyword)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, bad, fmt.Errorf("%s: line %d: %w", name, n+1, err)
	}
	return rules, bad, nil
}

func parseRule(rest string, pattern bool) (Rule, error) {
	access := Read | Write
	if word, filter, ok := cutSpace(rest); ok {
		switch word {
		case "read":
			access, rest = Read, filter
		case "write":
			access, rest = Write, filter
		case "readwrite":
			rest = filter
		case "deny":
			return Rule{}, errors.New(`"deny" rules are not supported (vmq_acl only grants)`)
		}
	}
	if rest == "" {
		return Rule{}, errors.New("no topic filter")
	}
	if err := topic.ValidateFilter(rest, 0); err != nil {
		return Rule{}, err
	}
	r := Rule{Access: access, Filter: rest, Pattern: pattern}
	for w := range strings.SplitSeq(rest, "/") {
		l := level{kind: litLevel, word: w}
		switch w {
		case "+":
			l.kind = plusLevel
		case "#":
			l.kind = hashLevel
		}
		if pattern {
			switch w {
			case "%u":
				l.kind = userLevel
			case "%c":
				l.kind = clientLevel
			case "%m":
				l.kind = mountLevel
			}
		}
		r.levels = append(r.levels, l)
	}
	return r, nil
}

// cutSpace splits s at its first run of spaces or tabs.
func cutSpace(s string) (before, after string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), true
}

// Load reads and parses the ACL file at path.
func Load(path string) (*Rules, []error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// Client is who asks: the values %c, %u and %m stand for.
type Client struct {
	Mountpoint string
	ClientID   string
	Username   string
}

// Allowed reports whether c may use the topic or filter t with the given access (Read to
// subscribe, Write to publish). t is checked against the rules for everyone, then the user's
// own rules, then the patterns; the first rule that covers t grants it.
func (r *Rules) Allowed(access Access, t string, c Client) bool {
	words := strings.Split(t, "/")
	check := func(rules []Rule) bool {
		for i := range rules {
			if rules[i].Access&access != 0 && rules[i].covers(words, c) {
				return true
			}
		}
		return false
	}
	if check(r.All) {
		return true
	}
	if c.Username != "" && check(r.Users[c.Username]) {
		return true
	}
	return check(r.Patterns)
}

// covers reports whether every topic that words (a topic name or a subscription filter) can
// match is matched by the rule's filter. For a topic name this is ordinary MQTT matching; for a
// filter, a '+' in it is only covered by '+' or '#' in the rule, and a '#' in it only by '#'.
// A substituted %u or %c that is empty or holds '/', '+' or '#' makes the rule not apply, so
// a client cannot widen a pattern with its own identifiers.
func (rule *Rule) covers(words []string, c Client) bool {
	for i, l := range rule.levels {
		if l.kind == hashLevel {
			return true
		}
		if i >= len(words) {
			return false
		}
		w := words[i]
		switch l.kind {
		case plusLevel:
			if w == "#" {
				return false
			}
			continue
		case userLevel:
			if !safeWord(c.Username) || w != c.Username {
				return false
			}
		case clientLevel:
			if !safeWord(c.ClientID) || w != c.ClientID {
				return false
			}
		case mountLevel:
			if strings.ContainsAny(c.Mountpoint, "/+#") || w != c.Mountpoint {
				return false
			}
		default:
			if w != l.word {
				return false
			}
		}
	}
	return len(words) == len(rule.levels)
}

func safeWord(s string) bool { return s != "" && !strings.ContainsAny(s, "/+#") }
