package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit time.Duration
		want time.Duration
	}{
		{"10s", time.Second, 10 * time.Second},
		{"5m", time.Second, 5 * time.Minute},
		{"1h", time.Second, time.Hour},
		{"1d", time.Second, 24 * time.Hour},
		{"1w", time.Second, 7 * 24 * time.Hour},
		{"500ms", time.Second, 500 * time.Millisecond},
		{"1h30m", time.Second, 90 * time.Minute},
		{" 20 ", time.Second, 20 * time.Second},
		{"20", time.Millisecond, 20 * time.Millisecond},
		{"0", time.Second, 0},
	} {
		got, err := parseDuration(tc.in, tc.unit)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q, %v) = %v, %v; want %v", tc.in, tc.unit, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "ten", "10x", "s", "10 s", "-5", "1.5h", "10S", "99999999999999w"} {
		if _, err := parseDuration(in, time.Second); err == nil {
			t.Errorf("parseDuration(%q) succeeded, want an error", in)
		}
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, 20 * time.Second, 90 * time.Minute, 8 * 24 * time.Hour, 36*time.Hour + 500*time.Millisecond} {
		s := formatDuration(d)
		back, err := parseDuration(s, time.Second)
		if err != nil || back != d {
			t.Errorf("formatDuration(%v) = %q, which parses back as %v, %v", d, s, back, err)
		}
	}
	if got := formatDuration(7 * 24 * time.Hour); got != "1w" {
		t.Errorf("formatDuration(1 week) = %q, want 1w", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1024": 1024, "64KB": 64 << 10, "1MB": 1 << 20, "2GB": 2 << 30, "1TB": 1 << 40,
		"64kb": 64 << 10, "10 MB": 10 << 20, "100B": 100, "-1": -1,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "1.5MB", "ten", "1PB", "9999999999TB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded, want an error", in)
		}
	}
	for s, want := range map[Size]string{0: "0", 1000: "1000", 1024: "1KB", 64 << 20: "64MB", 3 << 30: "3GB", 1536: "1536"} {
		if got := s.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), got, want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"on": true, "off": false, "true": true, "false": false, "ON": true, " Off ": false} {
		got, err := parseBool(in)
		if err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "yes", "1", "enabled"} {
		if _, err := parseBool(in); err == nil || !strings.Contains(err.Error(), boolExpected) {
			t.Errorf("parseBool(%q) error = %v, want one listing %q", in, err, boolExpected)
		}
	}
}

func TestProtocolVersions(t *testing.T) {
	p, err := parseProtocolVersions("3, 4,5,131")
	if err != nil || p.String() != "3,4,5,131" || !p.Allows(5) || p.Allows(132) {
		t.Fatalf("parseProtocolVersions = %v, %v", p, err)
	}
	for _, in := range []string{"", "6", "3,,4", "three"} {
		if _, err := parseProtocolVersions(in); err == nil {
			t.Errorf("parseProtocolVersions(%q) succeeded, want an error", in)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "abd", 1}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"", "ab", 2}} {
		if got := distance(tc.a, tc.b); got != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
