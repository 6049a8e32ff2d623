package config

import (
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	src := "\uFEFF# a comment\n" +
		"\n" +
		"   # indented comment\n" +
		"nodename = a@b\n" +
		"mountpoint=plain # trailing comment\n" +
		"k.a = a#b\n" +
		`k.b = "with spaces # and hash"` + "\n" +
		`k.c = "esc \" \\ \n \t end"   # comment after quotes` + "\n" +
		"k.d =\n" +
		`k.e = ""` + "\n" +
		"k.f = C:\\path\\file\n" +
		"k.g = x = y\n"
	var errs errorList
	lines := parseFile("n.conf", strings.NewReader(src), &errs)
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key, value string
		line       int
	}{
		{"nodename", "a@b", 4},
		{"mountpoint", "plain", 5},
		{"k.a", "a#b", 6},
		{"k.b", "with spaces # and hash", 7},
		{"k.c", "esc \" \\ \n \t end", 8},
		{"k.d", "", 9},
		{"k.e", "", 10},
		{"k.f", `C:\path\file`, 11},
		{"k.g", "x = y", 12},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %+v", len(lines), len(want), lines)
	}
	for i, w := range want {
		l := lines[i]
		if l.key != w.key || l.value != w.value || l.src.Line != w.line || l.src.File != "n.conf" {
			t.Errorf("line %d: got %q = %q at %v, want %q = %q at line %d", i, l.key, l.value, l.src, w.key, w.value, w.line)
		}
	}
}

func TestParseFileErrors(t *testing.T) {
	src := "no equals sign\n" +
		"Upper.Case = 1\n" +
		"= 5\n" +
		"bad..key = 1\n" +
		`a.b = "unterminated` + "\n" +
		`a.c = "bad \q escape"` + "\n" +
		`a.d = "x" trailing` + "\n" +
		"fine = 1\n"
	var errs errorList
	lines := parseFile("n.conf", strings.NewReader(src), &errs)
	if len(lines) != 1 || lines[0].key != "fine" {
		t.Errorf("good lines = %+v, want only fine", lines)
	}
	want := []string{
		`n.conf:1: expected ` + "`key = value`" + `, got "no equals sign"`,
		`n.conf:2: "Upper.Case" is not a valid key: keys are lower-case words separated by dots`,
		`n.conf:3: "" is not a valid key: keys are lower-case words separated by dots`,
		`n.conf:4: "bad..key" is not a valid key: keys are lower-case words separated by dots`,
		`n.conf:5: a.b: quoted value has no closing quote`,
		`n.conf:6: a.c: unknown escape \q in quoted value; use \\ for a backslash`,
		`n.conf:7: a.d: unexpected "trailing" after the closing quote`,
	}
	got := strings.Split(errs.err().Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestQuoteIfNeededRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", " lead", "x #y", "a#b", `q"uote`, "tab\there", "line\nbreak", `back\slash`, `"starts`} {
		q := quoteIfNeeded(s)
		back, err := parseValue(q)
		if err != nil || back != s {
			t.Errorf("quoteIfNeeded(%q) = %s, parses back as %q, %v", s, q, back, err)
		}
	}
}
