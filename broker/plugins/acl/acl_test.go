package acl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/plugins/internal/logtest"
)

// simpleACL is VerneMQ's vmq_acl_SUITE simple_acl_list file.
const simpleACL = `# simple comment
topic read a/b/c
# other comment 
topic write a/b/c
topic write x/y/z

#
# ACL for user 'test'
user test


##
topic x/y/z/#
# some patterns
pattern read %m/%u/%c
pattern write %m/%u/%c`

func parse(t *testing.T, s string) *Rules {
	t.Helper()
	r, bad, err := Parse(strings.NewReader(s), "test.acl")
	if err != nil || len(bad) != 0 {
		t.Fatalf("err %v, bad %v", err, bad)
	}
	return r
}

func filters(rules []Rule) string {
	var s []string
	for _, r := range rules {
		a := map[Access]string{Read: "r", Write: "w", Read | Write: "rw"}[r.Access]
		s = append(s, a+" "+r.Filter)
	}
	return strings.Join(s, ", ")
}

func TestParseVerneMQSuite(t *testing.T) {
	for name, file := range map[string]string{
		"simple": simpleACL,
		// spaces_acl_list: extra spaces between and around words.
		"spaces": "topic read  a/b/c \ntopic write   a/b/c\ntopic write  x/y/z  \n\nuser    test   \ntopic  x/y/z/# \n",
	} {
		r := parse(t, file)
		if got, want := filters(r.All), "r a/b/c, w a/b/c, w x/y/z"; got != want {
			t.Errorf("%s: all = %q, want %q", name, got, want)
		}
		if got, want := filters(r.Users["test"]), "rw x/y/z/#"; got != want {
			t.Errorf("%s: user test = %q, want %q", name, got, want)
		}
		if name == "simple" {
			if got, want := filters(r.Patterns), "r %m/%u/%c, w %m/%u/%c"; got != want {
				t.Errorf("patterns = %q, want %q", got, want)
			}
		}
	}
}

// TestVerneMQSuiteChecks runs the checks of VerneMQ's simple_acl_list test case.
func TestVerneMQSuiteChecks(t *testing.T) {
	p := New(t.TempDir()+"/none.acl", nil)
	r := parse(t, simpleACL)
	p.file.Set(&r)
	ctx := context.Background()
	client := func(user string) hooks.Client {
		return hooks.Client{Mountpoint: "", ClientID: "my-client-id", Username: user}
	}
	sub := func(user string) hooks.Verdict {
		return p.AuthOnSubscribe(ctx, &hooks.Subscribe{Client: client(user), Topics: []hooks.Topic{
			{Filter: "a/b/c"}, {Filter: "x/y/z/#"}, {Filter: "/test/my-client-id"}}}).Verdict
	}
	pub := func(user, topic string) hooks.Verdict {
		return p.AuthOnPublish(ctx, &hooks.Publish{Client: client(user), Topic: topic}).Verdict
	}
	if v := sub("test"); v != hooks.Allow {
		t.Errorf("subscribe as test: %v", v)
	}
	for _, tp := range []string{"a/b/c", "x/y/z/blabla", "/test/my-client-id"} {
		if v := pub("test", tp); v != hooks.Allow {
			t.Errorf("publish %s as test: %v", tp, v)
		}
	}
	for _, tp := range []string{"x/y/z/blabla", "/test/my-client-id"} {
		if v := pub("invalid-user", tp); v != hooks.Next {
			t.Errorf("publish %s as invalid-user: %v", tp, v)
		}
	}
	// VerneMQ answers next for the whole SUBSCRIBE here; Nautilus grants a/b/c (readable by
	// all) and refuses the other two filters one by one.
	res := p.AuthOnSubscribe(ctx, &hooks.Subscribe{Client: client("invalid-user"), Topics: []hooks.Topic{
		{Filter: "a/b/c", QoS: 1}, {Filter: "x/y/z/#", QoS: 2}, {Filter: "/test/my-client-id"}}})
	want := []hooks.Topic{{Filter: "a/b/c", QoS: 1}, {Filter: "x/y/z/#", QoS: Refused}, {Filter: "/test/my-client-id", QoS: Refused}}
	if res.Verdict != hooks.Allow || !equalTopics(res.Topics, want) {
		t.Errorf("subscribe as invalid-user: %v %v, want allow %v", res.Verdict, res.Topics, want)
	}
}

func equalTopics(a, b []hooks.Topic) bool {
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

func TestParseForms(t *testing.T) {
	r := parse(t, "topic read\ntopic readme/x\n\ttopic\twrite\tsp ace/x\ntopic readwrite rw/#\npattern %u/#\nuser  bob smith \ntopic write %u/x\n")
	if got, want := filters(r.All), "rw read, rw readme/x, w sp ace/x, rw rw/#"; got != want {
		t.Errorf("all = %q, want %q", got, want)
	}
	if got, want := filters(r.Users["bob smith"]), "w %u/x"; got != want {
		t.Errorf("user = %q, want %q", got, want)
	}
	if got, want := filters(r.Patterns), "rw %u/#"; got != want {
		t.Errorf("patterns = %q, want %q", got, want)
	}
}

func TestParseSkipsMalformed(t *testing.T) {
	file := "topic a/b\nuser\ntopic read\t\ntopic a/#/b\ntopic deny a\nfoo bar\ntopic a+/b\ntopic read \nuser x\ntopic ok\n"
	r, bad, err := Parse(strings.NewReader(file), "f.acl")
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, e := range bad {
		var le *LineError
		if !errors.As(e, &le) || le.File != "f.acl" {
			t.Fatalf("bad entry %v", e)
		}
		lines = append(lines, le.Line)
	}
	// "topic read\t" trims to "topic read": a rule for the topic "read", as in VerneMQ.
	if want := "[2 4 5 6 7]"; fmt.Sprint(lines) != want {
		t.Errorf("malformed lines %v, want %s (%v)", lines, want, bad)
	}
	if got := filters(r.All); got != "rw a/b, rw read, rw read" {
		t.Errorf("all = %q", got)
	}
	if got := filters(r.Users["x"]); got != "rw ok" {
		t.Errorf("user x = %q", got)
	}
}

func TestAllowed(t *testing.T) {
	r := parse(t, `topic read public/#
topic write inbox/+
topic $SYS/broker/uptime
pattern read devices/%c/cmd/#
pattern write devices/%c/state
pattern %m/users/%u/+
user alice
topic read sensors/+/temp
topic write sensors/alice/#
user bob
topic #
`)
	anon := Client{ClientID: "anon-1"}
	alice := Client{ClientID: "dev1", Username: "alice"}
	bob := Client{ClientID: "b", Username: "bob"}
	mp := Client{Mountpoint: "tenant", ClientID: "c9", Username: "carol"}
	cases := []struct {
		c      Client
		access Access
		topic  string
		want   bool
	}{
		// Rules before any user line apply to everyone, anonymous clients too.
		{anon, Read, "public/news", true},
		{anon, Read, "public", true}, // '#' also matches the parent level
		{anon, Write, "public/news", false},
		{anon, Write, "inbox/x", true},
		{anon, Write, "inbox/x/y", false},
		{anon, Read, "inbox/x", false},
		{alice, Read, "public/#", true},
		{anon, Read, "$SYS/broker/uptime", true},
		{anon, Write, "$SYS/broker/uptime", true},
		// User sections.
		{alice, Read, "sensors/kitchen/temp", true},
		{alice, Read, "sensors/+/temp", true},
		{alice, Read, "sensors/#", false},
		{alice, Read, "sensors/+/+", false},
		{alice, Write, "sensors/kitchen/temp", false},
		{alice, Write, "sensors/alice/x/y", true},
		{anon, Read, "sensors/kitchen/temp", false},
		{bob, Read, "sensors/kitchen/temp", true}, // bob has topic #
		{bob, Write, "anything/at/all", true},
		{bob, Read, "#", true},
		{bob, Read, "$SYS/x", true}, // as VerneMQ: '#' in an ACL grants $ topics too
		// %c patterns.
		{alice, Read, "devices/dev1/cmd/reboot", true},
		{alice, Read, "devices/dev1/cmd/#", true},
		{alice, Read, "devices/+/cmd/#", false},
		{alice, Read, "devices/dev2/cmd/reboot", false},
		{alice, Write, "devices/dev1/state", true},
		{alice, Write, "devices/dev1/cmd/x", false},
		{anon, Read, "devices/anon-1/cmd/x", true}, // patterns without %u apply to anonymous clients
		// %u and %m; an empty mountpoint substitutes an empty level.
		{alice, Write, "/users/alice/x", true},
		{alice, Read, "/users/alice/x", true},
		{alice, Read, "users/alice/x", false},
		{alice, Read, "/users/bob/x", false},
		{anon, Read, "/users//x", false}, // %u never matches a client without a user name
		{mp, Write, "tenant/users/carol/x", true},
		{mp, Write, "/users/carol/x", false},
		{mp, Write, "other/users/carol/x", false},
	}
	for _, c := range cases {
		if got := r.Allowed(c.access, c.topic, c.c); got != c.want {
			t.Errorf("%+v %v %q: got %v, want %v", c.c, c.access, c.topic, got, c.want)
		}
	}
}

func TestSubstitutionCannotWiden(t *testing.T) {
	r := parse(t, "pattern read %u/#\npattern read c/%c\n")
	for _, c := range []Client{
		{Username: "+", ClientID: "x"},
		{Username: "#", ClientID: "x"},
		{Username: "a/b", ClientID: "x"},
	} {
		if r.Allowed(Read, c.Username+"/t", c) {
			t.Errorf("user name %q granted %q", c.Username, c.Username+"/t")
		}
	}
	if r.Allowed(Read, "c/+", Client{ClientID: "+"}) || r.Allowed(Read, "c/#", Client{ClientID: "#"}) {
		t.Error("client id with a wildcard widened a pattern")
	}
	// %u outside a pattern is a literal word.
	r = parse(t, "topic read %u/x\n")
	if r.Allowed(Read, "alice/x", Client{Username: "alice"}) || !r.Allowed(Read, "%u/x", Client{Username: "alice"}) {
		t.Error("%u substituted in a topic rule")
	}
}

func TestSubscribeVerdicts(t *testing.T) {
	p := New(t.TempDir()+"/none.acl", nil)
	r := parse(t, "topic read a/#\n")
	p.file.Set(&r)
	ctx := context.Background()
	c := hooks.Client{ClientID: "c"}
	res := p.AuthOnSubscribe(ctx, &hooks.Subscribe{Client: c, Topics: []hooks.Topic{{Filter: "a/b", QoS: 1}, {Filter: "$share/g/a/+", QoS: 2}}})
	if res.Verdict != hooks.Allow || res.Topics != nil {
		t.Errorf("all granted: %+v", res)
	}
	res = p.AuthOnSubscribe(ctx, &hooks.Subscribe{Client: c, Topics: []hooks.Topic{{Filter: "b"}, {Filter: "$share/g/b"}}})
	if res.Verdict != hooks.Next {
		t.Errorf("none granted: %+v", res)
	}
	in := []hooks.Topic{{Filter: "b", QoS: 1}, {Filter: "a", QoS: 2}}
	res = p.AuthOnSubscribe(ctx, &hooks.Subscribe{Client: c, Topics: in})
	if res.Verdict != hooks.Allow || !equalTopics(res.Topics, []hooks.Topic{{Filter: "b", QoS: Refused}, {Filter: "a", QoS: 2}}) {
		t.Errorf("some granted: %+v", res)
	}
	if in[0].QoS != 1 {
		t.Error("request modified in place")
	}
	if v := p.AuthOnPublish(ctx, &hooks.Publish{Client: c, Topic: "a/b"}).Verdict; v != hooks.Next {
		t.Errorf("publish without write: %v", v)
	}
}

func TestMissingFileAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.acl")
	log, buf := logtest.New()
	p := New(path, log)
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "ACL file not found") || !strings.Contains(out, path) {
		t.Errorf("missing file not logged as a warning naming it:\n%s", out)
	}
	ctx := context.Background()
	pub := func(topic string) hooks.Verdict {
		return p.AuthOnPublish(ctx, &hooks.Publish{Client: hooks.Client{ClientID: "c"}, Topic: topic}).Verdict
	}
	if pub("a") != hooks.Next {
		t.Error("publish granted with no file")
	}
	if err := os.WriteFile(path, []byte("topic write a\nbogus line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if pub("a") != hooks.Allow {
		t.Error("reloaded rule not applied")
	}
	if out := buf.String(); !strings.Contains(out, "malformed ACL line skipped") || !strings.Contains(out, "line=2") {
		t.Errorf("malformed line not logged:\n%s", out)
	}
	os.Remove(path)
	if err := p.Reload(); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if pub("a") != hooks.Allow {
		t.Error("rules dropped after a failed reload")
	}
	// The loop picks up a new file.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.Start(cctx, 10*time.Millisecond)
	os.WriteFile(path, []byte("topic write b\n"), 0o600)
	deadline := time.Now().Add(5 * time.Second)
	for pub("b") != hooks.Allow {
		if time.Now().After(deadline) {
			t.Fatal("reload loop did not pick up the new file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if pub("a") != hooks.Next {
		t.Error("old rule survived the reload")
	}
}
