package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter the protocol can carry: a UTF-8
// string with a two-byte length prefix [MQTT-1.5.3].
const MaxLen = 65535

// Validation errors. Callers map them onto reason codes (0x8F Topic Filter
// invalid, 0x90 Topic Name invalid) with errors.Is; the wrapping error names
// the offending topic.
var (
	// ErrEmpty: topic names and filters must be at least one character long
	// [MQTT-4.7.3-1].
	ErrEmpty = errors.New("empty")
	// ErrTooLong: longer than MaxLen bytes.
	ErrTooLong = errors.New("longer than 65535 bytes")
	// ErrNullChar: U+0000 must not appear [MQTT-4.7.3-2].
	ErrNullChar = errors.New("contains U+0000")
	// ErrBadUTF8: strings must be well-formed UTF-8 [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]).
	ErrBadUTF8 = errors.New("not well-formed UTF-8")
	// ErrWildcardInName: a topic name in PUBLISH must not contain wildcards
	// [MQTT-3.3.2-2].
	ErrWildcardInName = errors.New("wildcard in topic name")
	// ErrMisplacedWildcard: '#' must be the last level and '+' a whole
	// level [MQTT-4.7.1-1] [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-2] [MQTT-4.7.1-3]).
	ErrMisplacedWildcard = errors.New("wildcard not occupying a whole level, or '#' not last")
	// ErrTooDeep: more levels than the configured topic_max_depth.
	ErrTooDeep = errors.New("too many levels")
	// ErrBadShare: a malformed $share/<group>/<filter> [MQTT-4.8.2-1] [MQTT-4.8.2-2].
	ErrBadShare = errors.New("malformed shared subscription")
)

// ValidateName checks a topic name as used in PUBLISH and in will messages.
// maxDepth limits the number of levels when it is greater than zero.
func ValidateName(name string, maxDepth int) error {
	if err := validate(name, maxDepth, false); err != nil {
		return fmt.Errorf("topic name %s: %w", quote(name), err)
	}
	return nil
}

// ValidateFilter checks a topic filter as used in SUBSCRIBE and UNSUBSCRIBE.
// A shared subscription must be split with ParseShared first; its filter part
// is what this function checks. maxDepth limits the number of levels when it
// is greater than zero.
func ValidateFilter(filter string, maxDepth int) error {
	if err := validate(filter, maxDepth, true); err != nil {
		return fmt.Errorf("topic filter %s: %w", quote(filter), err)
	}
	return nil
}

// validate makes one pass over s: it runs for every PUBLISH, so it must
// not allocate on success.
func validate(s string, maxDepth int, filter bool) error {
	switch {
	case s == "":
		return ErrEmpty // [MQTT-4.7.3-1]
	case len(s) > MaxLen:
		return ErrTooLong
	case !utf8.ValidString(s):
		return ErrBadUTF8 // [MQTT-1.5.4-1], surrogates included (3.1.1: [MQTT-1.5.3-1])
	}
	depth := 1
	levelStart := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0:
			return ErrNullChar // [MQTT-4.7.3-2]
		case '/':
			depth++
			levelStart = i + 1
		case '+':
			if !filter {
				return ErrWildcardInName // [MQTT-3.3.2-2]
			}
			// '+' fills its level: preceded by start or '/', followed by end or '/' [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]).
			if i != levelStart || (i+1 < len(s) && s[i+1] != '/') {
				return ErrMisplacedWildcard
			}
		case '#':
			if !filter {
				return ErrWildcardInName // [MQTT-3.3.2-2]
			}
			// '#' alone in the last level [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]).
			if i != levelStart || i != len(s)-1 {
				return ErrMisplacedWildcard
			}
		}
	}
	if maxDepth > 0 && depth > maxDepth {
		return ErrTooDeep
	}
	return nil
}

const sharePrefix = "$share/"

// ParseShared splits a shared subscription "$share/<group>/<filter>" (MQTT 5
// §4.8.2). For any other filter it returns the filter unchanged and shared
// false. The group must be non-empty and free of '/', '+' and '#', and a
// filter must follow it [MQTT-4.8.2-1] [MQTT-4.8.2-2]; the filter itself is
// not validated here, so callers run ValidateFilter on it.
func ParseShared(filter string) (group, topicFilter string, shared bool, err error) {
	rest, ok := strings.CutPrefix(filter, sharePrefix)
	if !ok {
		return "", filter, false, nil
	}
	group, topicFilter, ok = strings.Cut(rest, "/")
	switch {
	case !ok:
		err = errors.New("no '/' after the share name")
	case group == "":
		err = errors.New("empty share name")
	case strings.ContainsAny(group, "+#"):
		err = errors.New("wildcard in share name")
	case topicFilter == "":
		err = errors.New("no topic filter after the share name")
	}
	if err != nil {
		return "", "", true, fmt.Errorf("topic filter %s: %w: %w", quote(filter), ErrBadShare, err)
	}
	return group, topicFilter, true, nil
}

// quote keeps error messages readable for 64 KiB filters.
func quote(s string) string {
	const max = 128
	if len(s) > max {
		return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}
