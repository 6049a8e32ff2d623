package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name     string
		maxDepth int
		want     error
	}{
		{"a", 0, nil},
		{"a/b/c", 0, nil},
		{"/", 0, nil},      // two empty levels (§4.7.1.1 example)
		{"a//b", 0, nil},   // empty levels are levels
		{"$SYS/x", 0, nil}, // '$' is allowed in names
		{"sport/tennis player1", 0, nil},
		{"ü/日本", 0, nil},
		{strings.Repeat("a", MaxLen), 0, nil},
		{"a/b/c", 3, nil},
		{"", 0, ErrEmpty},                              // [MQTT-4.7.3-1]
		{strings.Repeat("a", MaxLen+1), 0, ErrTooLong}, // [MQTT-1.5.3]
		{"a\x00b", 0, ErrNullChar},                     // [MQTT-4.7.3-2]
		{"a\xffb", 0, ErrBadUTF8},                      // [MQTT-1.5.4-1]
		{"a\xed\xa0\x80", 0, ErrBadUTF8},               // surrogate U+D800 [MQTT-1.5.4-1]
		{"a/+", 0, ErrWildcardInName},                  // [MQTT-3.3.2-2]
		{"a/#", 0, ErrWildcardInName},                  // [MQTT-3.3.2-2]
		{"a+b", 0, ErrWildcardInName},                  // [MQTT-3.3.2-2]
		{"a/b/c/d", 3, ErrTooDeep},                     // topic_max_depth
		{"a/b/c/", 3, ErrTooDeep},                      // trailing empty level counts
	}
	for _, tt := range tests {
		err := ValidateName(tt.name, tt.maxDepth)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidateName(%.40q, %d) = %v, want %v", tt.name, tt.maxDepth, err, tt.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		filter   string
		maxDepth int
		want     error
	}{
		{"#", 0, nil},                       // [MQTT-4.7.1-1]
		{"a/#", 0, nil},                     // [MQTT-4.7.1-1]
		{"+", 0, nil},                       // [MQTT-4.7.1-2]
		{"+/+", 0, nil},                     // [MQTT-4.7.1-2]
		{"/+", 0, nil},                      // [MQTT-4.7.1-2]
		{"+/tennis/#", 0, nil},              // [MQTT-4.7.1-2]
		{"a//+/#", 0, nil},                  // empty levels
		{"$SYS/#", 0, nil},                  // [MQTT-4.7.2]
		{"$share/g/a", 0, nil},              // a literal filter to ValidateFilter
		{"a/b/#", 3, nil},                   // '#' counts as a level
		{"", 0, ErrEmpty},                   // [MQTT-4.7.3-1]
		{"a\x00", 0, ErrNullChar},           // [MQTT-4.7.3-2]
		{"\xc3", 0, ErrBadUTF8},             // [MQTT-1.5.4-1]
		{"a/#/b", 0, ErrMisplacedWildcard},  // '#' must be last [MQTT-4.7.1-1]
		{"a#", 0, ErrMisplacedWildcard},     // '#' must be a whole level [MQTT-4.7.1-1]
		{"a/#b", 0, ErrMisplacedWildcard},   // [MQTT-4.7.1-1]
		{"##", 0, ErrMisplacedWildcard},     // [MQTT-4.7.1-1]
		{"#/", 0, ErrMisplacedWildcard},     // [MQTT-4.7.1-1]
		{"a+", 0, ErrMisplacedWildcard},     // '+' must be a whole level [MQTT-4.7.1-2]
		{"+a", 0, ErrMisplacedWildcard},     // [MQTT-4.7.1-2]
		{"a/++", 0, ErrMisplacedWildcard},   // [MQTT-4.7.1-2]
		{"a/b+/c", 0, ErrMisplacedWildcard}, // [MQTT-4.7.1-2]
		{"a/b/c/#", 3, ErrTooDeep},
		{strings.Repeat("+/", MaxLen/2+1) + "#", 0, ErrTooLong},
	}
	for _, tt := range tests {
		err := ValidateFilter(tt.filter, tt.maxDepth)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidateFilter(%.40q, %d) = %v, want %v", tt.filter, tt.maxDepth, err, tt.want)
		}
	}
}

func TestValidateNoAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		_ = ValidateName("site/42/dev/17/temp", 8)
		_ = ValidateFilter("site/+/dev/#", 8)
	}); n != 0 {
		t.Errorf("validation of good input allocates %v times", n)
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in                string
		group, filter     string
		shared, wantError bool
	}{
		{"a/b", "", "a/b", false, false},
		{"$share", "", "$share", false, false}, // no '/': not the shared form
		{"$SYS/#", "", "$SYS/#", false, false},
		{"$share/g/a/b", "g", "a/b", true, false}, // MQTT 5 §4.8.2
		{"$share/g/#", "g", "#", true, false},     // [MQTT-4.8.2-2]
		{"$share/group-1//", "group-1", "/", true, false},
		{"$share/", "", "", true, true},     // [MQTT-4.8.2-1] share name at least one character
		{"$share//a", "", "", true, true},   // [MQTT-4.8.2-1]
		{"$share/g", "", "", true, true},    // [MQTT-4.8.2-2] must be followed by '/'
		{"$share/g/", "", "", true, true},   // [MQTT-4.8.2-2] '/' must be followed by a filter
		{"$share/g+/a", "", "", true, true}, // [MQTT-4.8.2-2] no '+'
		{"$share/#/a", "", "", true, true},  // [MQTT-4.8.2-2] no '#'
	}
	for _, tt := range tests {
		g, f, shared, err := ParseShared(tt.in)
		if g != tt.group || f != tt.filter || shared != tt.shared || (err != nil) != tt.wantError {
			t.Errorf("ParseShared(%q) = %q, %q, %v, %v", tt.in, g, f, shared, err)
		}
		if err != nil && !errors.Is(err, ErrBadShare) {
			t.Errorf("ParseShared(%q) error %v is not ErrBadShare", tt.in, err)
		}
	}
}

func TestErrorNamesTopic(t *testing.T) {
	err := ValidateFilter("a/#/b", 0)
	if err == nil || !strings.Contains(err.Error(), `"a/#/b"`) {
		t.Errorf("error = %v", err)
	}
	long := strings.Repeat("x", MaxLen+1)
	if err := ValidateName(long, 0); len(err.Error()) > 300 {
		t.Errorf("error message is %d bytes long", len(err.Error()))
	}
}
