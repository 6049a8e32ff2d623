package passwd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/internal/logtest"
)

// Known lines: the first two are from mosquitto's test suite (test/broker/09-pwfile-parse-invalid.py:
// user "test" with password "test", user "empty" with the empty password), written by
// mosquitto_passwd 1.x, whose $6$ format vmq-passwd shares. The $7$ line (mosquitto 2,
// PBKDF2-SHA512, 101 rounds) is user "robots" with password "robots". The last is hand-computed
// (python: base64(sha512(b"secret" + b"0123456789ab"))).
var vectors = []struct {
	line, user, password string
}{
	{"test:$6$njERlZMi/7DzNB9E$iiavfuXvUm8iyDZArTy7smTxh07GXXOrOsqxfW6gkOYVXHGk+W+i/8d3xDxrMwEPygEBhoA8A/gjQC0N2M4Lkw==", "test", "test"},
	{"empty:$6$o+53eGXtmlfHeYrg$FY7X9DNQ4uU1j0NiPmGOOSU05ZSzhqNmNhXIof/0nLpVb1zDhcRHdaC72E3YryH7dtTiG/r6jH6C8J+30cZBgA==", "empty", ""},
	{"robots:$7$101$TdwP4Y1uJ+tFo9Bn$84rK4XGZEuBmuKJHABOT4pQOzQQPX2LIhN/m/kLG6OgxT+vS8w6vCofgzd7YonvcKXTGIwK5tFe6nAWLpCT4Ow==", "robots", "robots"},
	{"hand:$6$MDEyMzQ1Njc4OWFi$qEXipeLbgxRlwd06QHfY5WITkUZg0jLg9SZbXzq3ifXjfj+v3GbJGrSfC5PAg3UNCS+UFfbhUIZX4bmIAs330w==", "hand", "secret"},
}

func TestKnownVectors(t *testing.T) {
	for _, v := range vectors {
		tab, bad, err := Parse(strings.NewReader(v.line+"\n"), "vectors")
		if err != nil || len(bad) != 0 {
			t.Fatalf("%s: err %v, bad %v", v.user, err, bad)
		}
		h, ok := tab[v.user]
		if !ok {
			t.Fatalf("%s: not parsed", v.user)
		}
		if !h.Verify([]byte(v.password)) {
			t.Errorf("%s: right password refused", v.user)
		}
		if h.Verify([]byte(v.password + "x")) {
			t.Errorf("%s: wrong password accepted", v.user)
		}
		// Rendering gives back the file's bytes.
		if got := Line(v.user, h); got != v.line+"\n" {
			t.Errorf("Line = %q, want %q", got, v.line)
		}
	}
}

func TestSum6Order(t *testing.T) {
	// SHA-512 over password then salt, not salt then password.
	h, err := ParseHash(strings.TrimPrefix(vectors[3].line, "hand:"))
	if err != nil {
		t.Fatal(err)
	}
	if string(h.Salt) != "0123456789ab" {
		t.Fatalf("salt = %q", h.Salt)
	}
	if string(Sum6([]byte("secret"), h.Salt)) != string(h.Sum) {
		t.Error("Sum6(password, salt) differs from the vector")
	}
	if string(Sum6(h.Salt, []byte("secret"))) == string(h.Sum) {
		t.Error("order does not matter?")
	}
}

func TestNew6RoundTrip(t *testing.T) {
	h := New6([]byte("pässwörd"))
	if len(h.Salt) != SaltLen || h.Kind != 6 {
		t.Fatalf("hash %+v", h)
	}
	back, err := ParseHash(h.String())
	if err != nil {
		t.Fatal(err)
	}
	if !back.Verify([]byte("pässwörd")) || back.Verify([]byte("password")) {
		t.Error("round trip does not verify")
	}
	if a, b := New6([]byte("x")), New6([]byte("x")); a.String() == b.String() {
		t.Error("salt is not random")
	}
}

func TestParseSkipsMalformed(t *testing.T) {
	file := strings.Join([]string{
		"# comment",
		"",
		"   ",
		"  # indented comment",
		vectors[0].line + "\r", // CRLF file
		"nocolon",
		":$6$MDEyMzQ1Njc4OWFi$qEXipeLbgxRlwd06QHfY5WITkUZg0jLg9SZbXzq3ifXjfj+v3GbJGrSfC5PAg3UNCS+UFfbhUIZX4bmIAs330w==",
		"plain:password",
		"md5:$1$abc$def",
		"badsalt:$6$!!!$qEXipeLbgxRlwd06QHfY5WITkUZg0jLg9SZbXzq3ifXjfj+v3GbJGrSfC5PAg3UNCS+UFfbhUIZX4bmIAs330w==",
		"short:$6$MDEyMzQ1Njc4OWFi$AAAA",
		"iter:$7$0$TdwP4Y1uJ+tFo9Bn$84rK4XGZEuBmuKJHABOT4pQOzQQPX2LIhN/m/kLG6OgxT+vS8w6vCofgzd7YonvcKXTGIwK5tFe6nAWLpCT4Ow==",
		vectors[3].line,
		"test:$6$MDEyMzQ1Njc4OWFi$qEXipeLbgxRlwd06QHfY5WITkUZg0jLg9SZbXzq3ifXjfj+v3GbJGrSfC5PAg3UNCS+UFfbhUIZX4bmIAs330w==", // later line wins
	}, "\n")
	tab, bad, err := Parse(strings.NewReader(file), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if len(tab) != 2 {
		t.Errorf("users = %v, want test and hand", tab)
	}
	if !tab["test"].Verify([]byte("secret")) {
		t.Error("the later line for test does not win")
	}
	var lines []int
	for _, e := range bad {
		var le *LineError
		if !errors.As(e, &le) || le.File != "pw" {
			t.Fatalf("bad entry %v", e)
		}
		lines = append(lines, le.Line)
	}
	if want := []int{6, 7, 8, 9, 10, 11, 12}; !equalInts(lines, want) {
		t.Errorf("malformed lines %v, want %v (%v)", lines, want, bad)
	}
	if !strings.HasPrefix(bad[0].Error(), "pw:6: ") {
		t.Errorf("error text %q does not name file and line", bad[0])
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func register(user string, pw []byte) *hooks.Register {
	return &hooks.Register{Client: hooks.Client{ClientID: "c", Username: user}, Password: pw}
}

func TestAuthOnRegister(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	writeLines(t, path, vectors[0].line, vectors[1].line, vectors[2].line)
	p := New(path, nil)
	ctx := context.Background()
	cases := []struct {
		name   string
		user   string
		pw     []byte
		want   hooks.Verdict
		reason packet.ReasonCode
	}{
		{"right password", "test", []byte("test"), hooks.Allow, 0},
		{"right $7$ password", "robots", []byte("robots"), hooks.Allow, 0},
		{"empty password that is right", "empty", []byte{}, hooks.Allow, 0},
		{"wrong password", "test", []byte("nope"), hooks.Deny, packet.BadUserNameOrPassword},
		{"wrong $7$ password", "robots", []byte("robot"), hooks.Deny, packet.BadUserNameOrPassword},
		{"no password", "test", nil, hooks.Next, 0},
		{"unknown user", "who", []byte("test"), hooks.Next, 0},
		{"no user name", "", []byte("test"), hooks.Next, 0},
	}
	for _, c := range cases {
		res := p.AuthOnRegister(ctx, register(c.user, c.pw))
		if res.Verdict != c.want || res.Reason != c.reason {
			t.Errorf("%s: got %v/%v, want %v/%v", c.name, res.Verdict, res.Reason, c.want, c.reason)
		}
	}
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := WriteAtomic(path, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
		t.Fatal(err)
	}
}

func TestMissingFileThenReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	log, buf := logtest.New()
	p := New(path, log)
	if p.Users() != 0 {
		t.Fatal("users from a missing file")
	}
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "password file not found") || !strings.Contains(out, path) {
		t.Errorf("missing file not logged as a warning naming it:\n%s", out)
	}
	if res := p.AuthOnRegister(context.Background(), register("test", []byte("test"))); res.Verdict != hooks.Next {
		t.Errorf("verdict %v with no file", res.Verdict)
	}
	writeLines(t, path, vectors[0].line, "garbage")
	buf.Reset()
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if p.Users() != 1 {
		t.Fatalf("users = %d", p.Users())
	}
	if out := buf.String(); !strings.Contains(out, "malformed password line skipped") || !strings.Contains(out, "line=2") || !strings.Contains(out, path) {
		t.Errorf("malformed line not logged with file and line:\n%s", out)
	}
	// The file disappears (or becomes unreadable): the last good table stays.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := p.Reload(); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if p.Users() != 1 {
		t.Error("table dropped after a failed reload")
	}
	if res := p.AuthOnRegister(context.Background(), register("test", []byte("test"))); res.Verdict != hooks.Allow {
		t.Errorf("verdict %v after a failed reload", res.Verdict)
	}
	if out := buf.String(); !strings.Contains(out, "keeping the last users read") {
		t.Errorf("failed reload not logged:\n%s", out)
	}
	// The same failure is not logged again on every tick.
	buf.Reset()
	p.Reload()
	if buf.String() != "" {
		t.Errorf("repeated failure logged again:\n%s", buf.String())
	}
}

func TestUnreadableFileKeepsTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	writeLines(t, path, vectors[0].line)
	p := New(path, nil)
	// A directory in the file's place opens but cannot be read, even by root.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err == nil {
		t.Fatal("reload of an unreadable file succeeded")
	}
	if p.Users() != 1 {
		t.Error("table dropped")
	}
}

func TestReloadLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	writeLines(t, path, vectors[0].line)
	p := New(path, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx, 10*time.Millisecond)
	writeLines(t, path, vectors[0].line, vectors[3].line)
	waitFor(t, func() bool { return p.Users() == 2 })
	if res := p.AuthOnRegister(ctx, register("hand", []byte("secret"))); res.Verdict != hooks.Allow {
		t.Errorf("new user: %v", res.Verdict)
	}
	writeLines(t, path, vectors[3].line)
	waitFor(t, func() bool { return p.Users() == 1 })
	if res := p.AuthOnRegister(ctx, register("test", []byte("test"))); res.Verdict != hooks.Next {
		t.Errorf("removed user: %v", res.Verdict)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEditFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	if err := SetPassword(path, "alice", []byte("a1"), false, Scheme{Cost: 4}); err == nil {
		t.Fatal("update of a missing file without create succeeded")
	}
	if err := SetPassword(path, "alice", []byte("a1"), true, Scheme{Cost: 4}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, err %v", fi.Mode(), err)
	}
	// Comments and other users survive edits.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("# users\n"), data...), 0o600)
	for _, u := range []struct{ user, pw string }{{"bob", "b1"}, {"alice", "a2"}, {"carol", "c1"}} {
		if err := SetPassword(path, u.user, []byte(u.pw), false, Scheme{Cost: 4}); err != nil {
			t.Fatal(err)
		}
	}
	if found, err := DeleteUser(path, "bob"); !found || err != nil {
		t.Fatalf("delete bob: %v %v", found, err)
	}
	if found, err := DeleteUser(path, "bob"); found || err != nil {
		t.Fatalf("delete bob again: %v %v", found, err)
	}
	data, _ = os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "# users" || !strings.HasPrefix(lines[1], "alice:$2b$04$") || !strings.HasPrefix(lines[2], "carol:$2b$04$") {
		t.Fatalf("file:\n%s", data)
	}
	tab, bad, err := Load(path)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	if !tab["alice"].Verify([]byte("a2")) || !tab["carol"].Verify([]byte("c1")) {
		t.Error("passwords do not verify")
	}
	for _, bad := range []string{"", "a:b", "a\nb", "#x", " x"} {
		if err := SetPassword(path, bad, []byte("p"), false, Scheme{Cost: 4}); err == nil {
			t.Errorf("user name %q accepted", bad)
		}
	}
	if err := SetPassword(path, "dave", nil, false, Scheme{Cost: 4}); err == nil {
		t.Error("empty password accepted")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestHashPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(path, []byte("# plaintext\nalice:wonder:land\r\n\n"+vectors[0].line+"\nbob:builder"), 0o644)
	n, err := HashPlaintext(path, Scheme{Cost: 4})
	if err != nil || n != 2 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
	tab, bad, err := Load(path)
	if err != nil || len(bad) != 0 || len(tab) != 3 {
		t.Fatalf("tab %v bad %v err %v", tab, bad, err)
	}
	for user, pw := range map[string]string{"alice": "wonder:land", "bob": "builder", "test": "test"} {
		if !tab[user].Verify([]byte(pw)) {
			t.Errorf("%s does not verify", user)
		}
	}
	// Running it again changes nothing.
	before, _ := os.ReadFile(path)
	if n, err := HashPlaintext(path, Scheme{Cost: 4}); n != 0 || err != nil {
		t.Fatalf("second run: %d %v", n, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("second run rewrote hashes")
	}
	// A line it cannot read leaves the file alone.
	os.WriteFile(path, []byte("alice:a\nnocolon\n"), 0o600)
	if _, err := HashPlaintext(path, Scheme{Cost: 4}); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("err = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "alice:a\nnocolon\n" {
		t.Errorf("file changed: %q", data)
	}
}
