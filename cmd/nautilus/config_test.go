package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run executes the real command tree in-process, as a user would from a shell.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = newApp(&out, &errOut).Run(append([]string{"nautilus"}, args...))
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nautilus.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodConf = `# a node
listener.tcp.default = 127.0.0.1:1883
listener.tcp.internal = 127.0.0.1:1884
listener.tcp.max_connections = 500
max_inflight_messages = 42
log.file = "/tmp/nautilus log.txt"
`

func TestConfigCheckOK(t *testing.T) {
	path := writeFile(t, goodConf)
	stdout, stderr, err := run(t, "config", "check", "--config", path)
	if err != nil || stderr != "" {
		t.Fatalf("err = %v, stderr = %q", err, stderr)
	}
	if want := "configuration OK (" + path + ")\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestConfigCheckDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	stdout, _, err := run(t, "config", "check")
	if err != nil || stdout != "configuration OK (built-in defaults)\n" {
		t.Errorf("stdout = %q, err = %v", stdout, err)
	}
	// ./nautilus.conf is used when present.
	if err := os.WriteFile("nautilus.conf", []byte("max_inflight_messages = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = run(t, "config", "check")
	if err != nil || stdout != "configuration OK (nautilus.conf)\n" {
		t.Errorf("with ./nautilus.conf: stdout = %q, err = %v", stdout, err)
	}
}

func TestConfigCheckFromEnvVar(t *testing.T) {
	path := writeFile(t, goodConf)
	t.Setenv("NAUTILUS_CONFIG", path)
	stdout, _, err := run(t, "config", "check")
	if err != nil || stdout != "configuration OK ("+path+")\n" {
		t.Errorf("stdout = %q, err = %v", stdout, err)
	}
}

func TestConfigCheckReportsEveryError(t *testing.T) {
	path := writeFile(t, `max_inflight_messages = ten
allow_anonymus = on
listener.tcp.default = 127.0.0.1:1883
listener.tcp.other = 127.0.0.1:1883
no equals here
`)
	t.Setenv("NAUTILUS__QUEUE_TYPE", "stack")
	stdout, stderr, err := run(t, "config", "check", "--config", path)
	if err == nil || err.Error() != "configuration has 5 problems" {
		t.Fatalf("err = %v, want a summary of 5 problems", err)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	want := path + `:1: max_inflight_messages: expected a whole number, got "ten"
` + path + `:2: allow_anonymus: unknown key; did you mean allow_anonymous?
` + path + `:4: listener.tcp.other: address 127.0.0.1:1883 clashes with listener.tcp.default (file:` + path + `:3)
` + path + ":5: expected `key = value`, got \"no equals here\"\n" +
		`env:NAUTILUS__QUEUE_TYPE: queue_type: expected one of fifo, lifo, got "stack"
`
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

func TestConfigCheckMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.conf")
	_, _, err := run(t, "config", "check", "--config", missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not-exist naming %s", err, missing)
	}
}

func TestConfigShowTable(t *testing.T) {
	path := writeFile(t, goodConf)
	t.Setenv("NAUTILUS__LOG__CONSOLE__LEVEL", "debug")
	stdout, _, err := run(t, "config", "show", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if lines[0] != "# configuration: "+path {
		t.Errorf("first line = %q", lines[0])
	}
	header := lines[1]
	valueCol, sourceCol := strings.Index(header, "VALUE"), strings.Index(header, "SOURCE")
	if !strings.HasPrefix(header, "KEY ") || valueCol < 0 || sourceCol < 0 {
		t.Fatalf("header = %q", header)
	}
	rows := map[string][]string{}
	var keys []string
	for _, l := range lines[2:] {
		// Aligned: every row's value and source start under their headings.
		if l[valueCol-1] != ' ' || l[valueCol] == ' ' || l[sourceCol-1] != ' ' || l[sourceCol] == ' ' {
			t.Errorf("misaligned row %q", l)
		}
		key := strings.TrimSpace(l[:valueCol])
		rows[key] = []string{strings.TrimSpace(l[valueCol:sourceCol]), strings.Fields(l[sourceCol:])[0]}
		keys = append(keys, key)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Errorf("not sorted: %s before %s", keys[i-1], keys[i])
		}
	}
	for key, want := range map[string][]string{
		"max_inflight_messages":                 {"42", "file:" + path + ":5"},
		"log.file":                              {`"/tmp/nautilus log.txt"`, "file:" + path + ":6"},
		"log.console.level":                     {"debug", "env:NAUTILUS__LOG__CONSOLE__LEVEL"},
		"queue_type":                            {"fifo", "default"},
		"listener.tcp.internal":                 {"127.0.0.1:1884", "file:" + path + ":3"},
		"listener.tcp.internal.max_connections": {"500", "file:" + path + ":4"},
		"listener.tcp.default.mountpoint":       {`""`, "default"},
		"persistent_client_expiration":          {"never", "default"},
	} {
		if got := rows[key]; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: got %q, want %q", key, got, want)
		}
	}
	if !strings.Contains(stdout, "QoS 1/2 messages in flight to one client at a time") {
		t.Errorf("show does not include the keys' descriptions")
	}
}

func TestConfigShowJSON(t *testing.T) {
	path := writeFile(t, goodConf)
	stdout, _, err := run(t, "config", "show", "--json", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	var settings []struct{ Key, Value, Source, Doc string }
	if err := json.Unmarshal([]byte(stdout), &settings); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	found := false
	for _, s := range settings {
		if s.Doc == "" {
			t.Errorf("%s has no doc", s.Key)
		}
		if s.Key == "max_inflight_messages" {
			found = s.Value == "42" && s.Source == "file:"+path+":5"
		}
	}
	if !found {
		t.Errorf("max_inflight_messages missing or wrong in %s", stdout)
	}
}

func TestConfigShowInvalid(t *testing.T) {
	path := writeFile(t, "queue_type = stack\n")
	stdout, stderr, err := run(t, "config", "show", "--config", path)
	if err == nil || stdout != "" || !strings.Contains(stderr, path+`:1: queue_type: expected one of fifo, lifo, got "stack"`) {
		t.Errorf("err = %v, stdout = %q, stderr = %q", err, stdout, stderr)
	}
}

// TestBinary builds the real executable and checks what a shell sees: exit codes and output.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := binary(t) // built with this test binary's backend tag

	bad := writeFile(t, "max_inflight_messages = ten\nlistener.tcp.default = 127.0.0.1\n")
	cmd := exec.Command(bin, "config", "check", "--config", bad)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("config check on a bad file: err = %v, want exit status 1", err)
	}
	want := bad + `:1: max_inflight_messages: expected a whole number, got "ten"
` + bad + `:2: listener.tcp.default: expected an address host:port (e.g. 127.0.0.1:1883, [::1]:1883, :1883), got "127.0.0.1"
nautilus: configuration has 2 problems
`
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr:\n%s\nwant:\n%s\nstdout: %q", stderr.String(), want, stdout.String())
	}

	good := writeFile(t, goodConf)
	out, err := exec.Command(bin, "config", "check", "--config", good).Output()
	if err != nil || string(out) != "configuration OK ("+good+")\n" {
		t.Errorf("config check on a good file: %q, %v", out, err)
	}

	// config show through the real binary: each key's value and where it came from, a file
	// line, the environment (the NAUTILUS__ rule) or the default.
	show := exec.Command(bin, "config", "show", "--config", good)
	show.Env = []string{"PATH=" + os.Getenv("PATH"), "NAUTILUS__MAX_ONLINE_MESSAGES=33"}
	out, err = show.Output()
	if err != nil {
		t.Fatalf("config show: %v", err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^max_inflight_messages\s+42\s+file:` + regexp.QuoteMeta(good) + `:5\s`),
		regexp.MustCompile(`(?m)^max_online_messages\s+33\s+env:NAUTILUS__MAX_ONLINE_MESSAGES\s`),
		regexp.MustCompile(`(?m)^retry_interval\s+20s\s+default\s`),
	} {
		if !want.Match(out) {
			t.Errorf("config show lacks a line matching %s:\n%s", want, out)
		}
	}

	out, err = exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "nautilus ") || !strings.Contains(string(out), "metadata: "+metadataBackend+"\n") {
		t.Errorf("version: %q, %v", out, err)
	}
}
