package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// line is one `key = value` assignment read from a file.
type line struct {
	key, value string
	src        Source
}

// parseFile splits a nautilus.conf into assignments. It knows nothing about keys: that is the
// loader's job, so every syntax problem and every key problem end up in one report.
//
// The syntax is VerneMQ's: one `key = value` per line, blank lines and lines starting with #
// ignored. Beyond VerneMQ, a value may be double-quoted (with \" \\ \n \t \r escapes) to keep
// spaces or a #, and an unquoted value ends at a # preceded by white space.
func parseFile(name string, r io.Reader, errs *errorList) []line {
	var out []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		src := Source{Kind: FromFile, File: name, Line: n}
		text := strings.TrimSpace(sc.Text())
		if n == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text == "" || text[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		k = strings.TrimSpace(k)
		if !ok {
			errs.add(src, "", "expected `key = value`, got %q", text)
			continue
		}
		if !validKey(k) {
			errs.add(src, "", "%q is not a valid key: keys are lower-case words separated by dots", k)
			continue
		}
		val, err := parseValue(v)
		if err != nil {
			errs.add(src, k, "%v", err)
			continue
		}
		out = append(out, line{key: k, value: val, src: src})
	}
	if err := sc.Err(); err != nil {
		errs.add(Source{Kind: FromFile, File: name, Line: n + 1}, "", "reading: %v", err)
	}
	return out
}

// validKey accepts dotted words of lower-case letters, digits, _ and -, as VerneMQ's keys are.
func validKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// parseValue reads what follows the = sign: a quoted string, or bare text up to a comment.
func parseValue(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
				return strings.TrimSpace(s[:i]), nil
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			rest := strings.TrimSpace(s[i+1:])
			if rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("unexpected %q after the closing quote", rest)
			}
			return b.String(), nil
		case '\\':
			i++
			if i == len(s) {
				return "", fmt.Errorf("quoted value has no closing quote")
			}
			switch s[i] {
			case '"', '\\':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				return "", fmt.Errorf("unknown escape \\%c in quoted value; use \\\\ for a backslash", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("quoted value has no closing quote")
}

// quoteIfNeeded writes a string value so that parseValue reads it back unchanged. Values with
// spaces are quoted too, though the parser would not need it, so that they read as one value
// in the columns of `config show`.
func quoteIfNeeded(s string) string {
	plain := s != "" && s[0] != '"' && !strings.ContainsAny(s, " \n\r\t")
	if plain {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}
