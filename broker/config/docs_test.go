package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated key reference in docs/configuration.md")

const (
	docPath   = "../../docs/configuration.md"
	beginMark = "<!-- BEGIN GENERATED KEY REFERENCE -->\n"
	endMark   = "<!-- END GENERATED KEY REFERENCE -->"
)

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsReference keeps the key reference in docs/configuration.md equal to the schema.
func TestDocsReference(t *testing.T) {
	doc := readDoc(t)
	begin, end := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the generated reference markers", docPath)
	}
	want := doc[:begin+len(beginMark)] + ReferenceMarkdown() + doc[end:]
	if doc == want {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the key reference in %s is out of date: run go test ./broker/config -run TestDocs -update", docPath)
}

// TestDocsMentionEveryKey is the plain check behind the generated table: an operator searching
// the document for a key finds it.
func TestDocsMentionEveryKey(t *testing.T) {
	doc := readDoc(t)
	for _, f := range schema().keys {
		if !strings.Contains(doc, "`"+f.Key+"`") {
			t.Errorf("%s does not mention key %s", docPath, f.Key)
		}
	}
	for _, f := range schema().options {
		if !strings.Contains(doc, "`"+f.Key+"`") {
			t.Errorf("%s does not mention listener option %s", docPath, f.Key)
		}
	}
	for _, lt := range ListenerType("").Values() {
		if !strings.Contains(doc, "`listener."+lt+".<name>`") {
			t.Errorf("%s does not mention listener type %s", docPath, lt)
		}
	}
}

var fence = regexp.MustCompile("(?s)```(conf|sh)\n(.*?)```")

// TestDocsExamplesAreValid runs every conf and sh example of the document through the real
// loader. Certificate and password files named in examples do not exist here, so "cannot use
// FILE" is the one error allowed.
func TestDocsExamplesAreValid(t *testing.T) {
	doc := readDoc(t)
	t.Chdir(t.TempDir()) // so that no nautilus.conf of the developer's is picked up
	blocks := fence.FindAllStringSubmatch(doc, -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d examples, expected more", len(blocks))
	}
	for i, b := range blocks {
		var err error
		switch b[1] {
		case "conf":
			path := filepath.Join(t.TempDir(), "example.conf")
			if werr := os.WriteFile(path, []byte(b[2]), 0o600); werr != nil {
				t.Fatal(werr)
			}
			_, err = Load(path, nil)
		case "sh":
			var env []string
			for l := range strings.SplitSeq(b[2], "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "export "); ok {
					env = append(env, v)
				}
			}
			_, err = Load("", env)
		}
		var es Errors
		if err != nil && !errors.As(err, &es) {
			t.Errorf("example %d: %v", i+1, err)
			continue
		}
		for _, e := range es {
			if !strings.HasPrefix(e.Msg, "cannot use ") {
				t.Errorf("example %d (%s):\n%s\nerror: %v", i+1, b[1], b[2], e)
			}
		}
	}
}
