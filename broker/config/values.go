package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is a number of bytes. In the file it is written as plain bytes or with a binary suffix
// (KB = 1024 bytes, as in VerneMQ's cuttlefish bytesize).
type Size int64

const (
	KB Size = 1 << (10 * (iota + 1))
	MB
	GB
	TB
)

var sizeUnits = []struct {
	suffix string
	mult   Size
}{{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB}}

func (s Size) String() string {
	if s != 0 {
		for _, u := range sizeUnits {
			if s%u.mult == 0 {
				return strconv.FormatInt(int64(s/u.mult), 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

const sizeExpected = "a size such as 512KB, 64MB or 2GB, or a whole number of bytes"

func parseSize(raw string) (Size, error) {
	s := strings.TrimSpace(raw)
	upper := strings.ToUpper(s)
	mult := Size(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(upper, u.suffix) {
			mult, s = u.mult, strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	if mult == 1 && strings.HasSuffix(upper, "B") {
		s = strings.TrimSpace(s[:len(s)-1])
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected %s, got %q", sizeExpected, raw)
	}
	if n > math.MaxInt64/int64(mult) || n < math.MinInt64/int64(mult) {
		return 0, fmt.Errorf("size %q is too large", raw)
	}
	return Size(n) * mult, nil
}

// Duration units accepted in the file. "m" is minutes: VerneMQ's persistent_client_expiration
// read it as months, which docs/configuration.md warns about.
var durationUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

func durationExpected(unit time.Duration) string {
	return fmt.Sprintf("a duration such as 10s, 5m, 1h, 1d or 1w, or a whole number of %s", unitName(unit))
}

func unitName(unit time.Duration) string {
	if unit == time.Millisecond {
		return "milliseconds"
	}
	return "seconds"
}

// parseDuration reads "90", "500ms", "10s", "1h30m", "2d", "1w". A bare integer counts in unit,
// which is the unit VerneMQ documents for that key, so VerneMQ files keep their meaning.
func parseDuration(raw string, unit time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(raw)
	bad := fmt.Errorf("expected %s, got %q", durationExpected(unit), raw)
	if s == "" {
		return 0, bad
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("expected a non-negative duration, got %q", raw)
		}
		return time.Duration(n) * unit, nil
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		j := i
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		if i == 0 || j == i {
			return 0, bad
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, bad
		}
		var d time.Duration
		for _, u := range durationUnits {
			if s[i:j] == u.suffix {
				d = u.d
			}
		}
		if d == 0 || n > int64(1<<62)/int64(d) {
			return 0, bad
		}
		total += time.Duration(n) * d
		s = s[j:]
	}
	return total, nil
}

// formatDuration writes d the way an operator would: "20s", "1w", "1h30m", "500ms".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range durationUnits {
		if d >= u.d {
			fmt.Fprintf(&b, "%d%s", d/u.d, u.suffix)
			d %= u.d
		}
	}
	if d != 0 { // below a millisecond: not writable in the file, but never lose it on show
		fmt.Fprintf(&b, "%dns", d)
	}
	return b.String()
}

const boolExpected = "on, off, true or false"

func parseBool(raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("expected %s, got %q", boolExpected, raw)
}

func formatBool(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// enum is implemented by string types whose value must be one of a fixed set. The schema
// checks membership, so an enum type needs nothing but this method.
type enum interface{ Values() []string }

// ProtocolVersions is a listener's allowed MQTT protocol levels, written as "3,4,5".
type ProtocolVersions []int

// Known protocol levels: 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0, and 131/132, the bridge
// variants of 3 and 4 that VerneMQ and Mosquitto bridges send.
var knownProtocolVersions = []int{3, 4, 5, 131, 132}

func (p ProtocolVersions) String() string {
	parts := make([]string, len(p))
	for i, v := range p {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

// Allows reports whether a CONNECT with this protocol level may use the listener.
func (p ProtocolVersions) Allows(level int) bool {
	for _, v := range p {
		if v == level {
			return true
		}
	}
	return false
}

func parseProtocolVersions(raw string) (ProtocolVersions, error) {
	var out ProtocolVersions
	for part := range strings.SplitSeq(raw, ",") {
		part = strings.TrimSpace(part)
		v, err := strconv.Atoi(part)
		known := err == nil
		if known {
			known = false
			for _, k := range knownProtocolVersions {
				known = known || k == v
			}
		}
		if !known {
			return nil, fmt.Errorf("expected a comma-separated list of 3, 4, 5, 131, 132, got %q", raw)
		}
		out = append(out, v)
	}
	return out, nil
}
