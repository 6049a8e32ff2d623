package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/passwd"
)

// runStdin runs the real command tree with stdin as standard input.
func runStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp(&out, &errOut)
	app.Reader = strings.NewReader(stdin)
	err = app.Run(append([]string{"nautilus"}, args...))
	return out.String(), errOut.String(), err
}

func verify(t *testing.T, path, user, pw string) bool {
	t.Helper()
	tab, bad, err := passwd.Load(path)
	if err != nil || len(bad) != 0 {
		t.Fatalf("load %s: %v %v", path, err, bad)
	}
	h, ok := tab[user]
	return ok && h.Verify([]byte(pw))
}

func TestPasswdCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	if _, _, err := runStdin(t, "s3cret\n", "passwd", path, "alice"); err == nil || !strings.Contains(err.Error(), "-c") {
		t.Fatalf("update of a missing file: %v", err)
	}
	if _, stderr, err := runStdin(t, "s3cret\n", "passwd", "-c", path, "alice"); err != nil {
		t.Fatalf("-c: %v %s", err, stderr)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if !verify(t, path, "alice", "s3cret") {
		t.Fatal("alice does not verify")
	}
	// Add a user (a last line without newline is fine), change alice's password.
	if _, _, err := runStdin(t, "builder", "passwd", path, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runStdin(t, "n3w\r\n", "passwd", path, "alice"); err != nil {
		t.Fatal(err)
	}
	if !verify(t, path, "alice", "n3w") || !verify(t, path, "bob", "builder") {
		t.Fatalf("after updates:\n%s", readFile(t, path))
	}
	// Errors.
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"passwd", path, "carol"}, "empty password"},
		{"\n", []string{"passwd", path, "carol"}, "empty password"},
		{"x\n", []string{"passwd", path, "ca:rol"}, "':'"},
		{"x\n", []string{"passwd", "-c", "-D", path, "alice"}, "exclude"},
		{"x\n", []string{"passwd", path}, "usage"},
		{"x\n", []string{"passwd", "-U", path, "alice"}, "usage"},
	} {
		if _, _, err := runStdin(t, c.stdin, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	// Delete.
	if _, stderr, err := runStdin(t, "", "passwd", "-D", path, "bob"); err != nil || stderr != "" {
		t.Fatalf("-D: %v %q", err, stderr)
	}
	if verify(t, path, "bob", "builder") {
		t.Error("bob still there")
	}
	if _, stderr, err := runStdin(t, "", "passwd", "-D", path, "bob"); err != nil || !strings.Contains(stderr, "not found") {
		t.Errorf("-D of a missing user: %v %q", err, stderr)
	}
	// -c overwrites.
	if _, stderr, err := runStdin(t, "zz\n", "passwd", "-c", path, "zed"); err != nil || !strings.Contains(stderr, "overwritten") {
		t.Fatalf("-c over a file: %v %q", err, stderr)
	}
	if tab, _, _ := passwd.Load(path); len(tab) != 1 || !verify(t, path, "zed", "zz") {
		t.Errorf("after -c: %v", tab)
	}
}

func TestPasswdConvertPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	os.WriteFile(path, []byte("# devices\nsensor1:abc\nsensor2:def\n"), 0o644)
	stdout, _, err := runStdin(t, "", "passwd", "-U", path)
	if err != nil || !strings.Contains(stdout, "hashed 2") {
		t.Fatalf("-U: %v %q", err, stdout)
	}
	if !verify(t, path, "sensor1", "abc") || !verify(t, path, "sensor2", "def") {
		t.Fatalf("file:\n%s", readFile(t, path))
	}
	if !strings.HasPrefix(readFile(t, path), "# devices\nsensor1:$2b$10$") {
		t.Errorf("file:\n%s", readFile(t, path))
	}
}

// TestPasswdHashChoice: bcrypt by default, VerneMQ's $6$ with --hash sha512 for a file VerneMQ
// must still read, and both kinds verify side by side.
func TestPasswdHashChoice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	if _, _, err := runStdin(t, "verne\n", "passwd", "--hash", "sha512", "-c", path, "legacy"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runStdin(t, "fast\n", "passwd", "--cost", "5", path, "quick"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runStdin(t, "slow\n", "passwd", path, "alice"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(readFile(t, path), "\n")
	if !strings.HasPrefix(lines[0], "legacy:$6$") || !strings.HasPrefix(lines[1], "quick:$2b$05$") || !strings.HasPrefix(lines[2], "alice:$2b$10$") {
		t.Fatalf("file:\n%s", readFile(t, path))
	}
	if !verify(t, path, "legacy", "verne") || !verify(t, path, "quick", "fast") || !verify(t, path, "alice", "slow") {
		t.Fatalf("entries do not verify:\n%s", readFile(t, path))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"passwd", "--hash", "md5", path, "bob"}, "want bcrypt or sha512"},
		{[]string{"passwd", "--cost", "40", path, "bob"}, "--cost"},
	} {
		if _, _, err := runStdin(t, "x\n", c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	if _, _, err := runStdin(t, strings.Repeat("p", 73)+"\n", "passwd", path, "bob"); err == nil || !strings.Contains(err.Error(), "72 bytes") {
		t.Errorf("a 73-byte password: err = %v, want bcrypt's 72-byte limit", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPasswdFileAuthenticatesClients goes from the CLI to a CONNACK: the file the command
// writes, loaded the way nautilus start loads it, admits the user.
func TestPasswdFileAuthenticatesClients(t *testing.T) {
	dir := t.TempDir()
	pwPath, aclPath := filepath.Join(dir, "vmq.passwd"), filepath.Join(dir, "vmq.acl")
	if _, _, err := runStdin(t, "wonderland\n", "passwd", "-c", pwPath, "alice"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(aclPath, []byte("user alice\ntopic alice/#\n"), 0o600)
	cfg := config.Default()
	cfg.Auth.PasswordFile, cfg.Auth.ACLFile = pwPath, aclPath
	plugins, err := loadPlugins(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil || len(plugins) != 2 {
		t.Fatalf("loadPlugins: %v %v", plugins, err)
	}
	n := brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false }, plugins...)
	login := func(pw string) func(*packet.Connect) {
		return func(c *packet.Connect) {
			c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = true, "alice", true, []byte(pw)
		}
	}
	c, ack := brokertest.Connect(t, n.Addr, packet.V311, "a1", login("wonderland"))
	if ack.ReasonCode != packet.Success {
		t.Fatalf("right password: CONNACK %v", ack.ReasonCode)
	}
	if sa := c.Subscribe(1, 0, "alice/x", "bob/x"); sa.ReasonCodes[0] != packet.GrantedQoS0 || sa.ReasonCodes[1] != 0x80 {
		t.Errorf("SUBACK %v", sa.ReasonCodes)
	}
	if _, ack := brokertest.Connect(t, n.Addr, packet.V311, "a2", login("wonderlant")); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Errorf("wrong password: CONNACK %v", ack.ReasonCode)
	}
}
