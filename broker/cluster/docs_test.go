package cluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/config"
)

// TestSecurityDocExample runs the cluster-secret example of docs/security.md: its shell lines
// make the secret file, and its configuration, loaded by the real loader, gives a node that may
// cluster; without the secret line the same file is refused.
func TestSecurityDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)[strings.Index(string(doc), "## The cluster secret"):]
	conf := regexp.MustCompile("(?s)```conf\n(.*?)```").FindStringSubmatch(section)
	sh := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if conf == nil || sh == nil {
		t.Fatal("docs/security.md lost its cluster-secret example")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	place := func(s string) string { return strings.ReplaceAll(s, "/etc/nautilus/cluster.secret", secret) }
	if out, err := exec.Command("bash", "-euc", place(sh[1])).CombinedOutput(); err != nil {
		t.Fatalf("the example's shell lines: %v\n%s", err, out)
	}
	load := func(body string) (Options, error) {
		path := filepath.Join(dir, "nautilus.conf")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("the example does not load: %v", err)
		}
		return OptionsFromConfig(c)
	}
	o, err := load(place(conf[1]))
	if err != nil {
		t.Fatalf("the example: %v", err)
	}
	if len(o.Secret) < 32 {
		t.Fatalf("secret of %d bytes from %s", len(o.Secret), secret)
	}
	without := regexp.MustCompile(`(?m)^cluster\.secret_file.*\n`).ReplaceAllString(place(conf[1]), "")
	if _, err := load(without); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("the example without its secret: %v, want ErrNoSecret", err)
	}
}
