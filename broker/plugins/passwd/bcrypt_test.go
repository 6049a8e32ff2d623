package passwd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// bcryptVectors were written by libxcrypt's crypt(3) (Python's crypt module), an implementation
// independent of Go's, in the three prefixes htpasswd, PHP and OpenBSD use. The first is
// OpenBSD's own test vector.
var bcryptVectors = []struct{ line, user, password string }{
	{"openbsd:$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "openbsd", "U*U"},
	{"php:$2y$06$abcdefghijklmnopqrstuu9iE8GGYj0.Y8Dz1eenke86C6L58D3Ai", "php", "wonderland"},
	{"old:$2a$06$abcdefghijklmnopqrstuu9iE8GGYj0.Y8Dz1eenke86C6L58D3Ai", "old", "wonderland"},
}

func TestBcryptLinesFromOtherTools(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	writeLines(t, path, bcryptVectors[0].line, bcryptVectors[1].line, bcryptVectors[2].line)
	p := New(path, nil)
	for _, v := range bcryptVectors {
		if res := p.AuthOnRegister(context.Background(), register(v.user, []byte(v.password))); res.Verdict != hooks.Allow {
			t.Errorf("%s: right password got %v", v.user, res.Verdict)
		}
		if res := p.AuthOnRegister(context.Background(), register(v.user, []byte(v.password+"x"))); res.Verdict != hooks.Deny || res.Reason != packet.BadUserNameOrPassword {
			t.Errorf("%s: wrong password got %v/%v", v.user, res.Verdict, res.Reason)
		}
	}
}

func TestBcryptLinesRefused(t *testing.T) {
	for _, s := range []string{
		"$2x$06$abcdefghijklmnopqrstuu9iE8GGYj0.Y8Dz1eenke86C6L58D3Ai", // the buggy-implementation marker
		"$2b$17$abcdefghijklmnopqrstuu9iE8GGYj0.Y8Dz1eenke86C6L58D3Ai", // seconds per CONNECT
		"$2b$06$abc",
	} {
		if h, err := ParseHash(s); err == nil {
			t.Errorf("%s parsed as %+v", s, h)
		}
	}
}

// TestSetPasswordWritesBcryptAndKeepsSHA512: a VerneMQ file with $6$ and $7$ entries gains a
// bcrypt entry; the plugin admits all three users, and --hash sha512's scheme still writes $6$.
func TestSetPasswordWritesBcryptAndKeepsSHA512(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	writeLines(t, path, vectors[0].line, vectors[2].line)
	if err := SetPassword(path, "alice", []byte("wonderland"), false, Scheme{}); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "legacy", []byte("verne"), false, Scheme{SHA512: true}); err != nil {
		t.Fatal(err)
	}
	tab, bad, err := Load(path)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	if s := tab["alice"].String(); !strings.HasPrefix(s, "$2b$10$") {
		t.Errorf("new entry %q, want bcrypt at cost 10", s)
	}
	if s := tab["legacy"].String(); !strings.HasPrefix(s, "$6$") {
		t.Errorf("sha512 entry %q, want $6$", s)
	}
	if s := tab["test"].String(); "test:"+s != vectors[0].line {
		t.Errorf("untouched $6$ line rewritten: %q", s)
	}
	p := New(path, nil)
	for user, pw := range map[string]string{"alice": "wonderland", "legacy": "verne", "test": "test", "robots": "robots"} {
		if res := p.AuthOnRegister(context.Background(), register(user, []byte(pw))); res.Verdict != hooks.Allow {
			t.Errorf("%s: right password got %v", user, res.Verdict)
		}
		if res := p.AuthOnRegister(context.Background(), register(user, []byte(pw+"!"))); res.Verdict != hooks.Deny {
			t.Errorf("%s: wrong password got %v", user, res.Verdict)
		}
	}
}

func TestBcryptLimits(t *testing.T) {
	if _, err := NewBcrypt([]byte(strings.Repeat("x", 73)), 4); err == nil {
		t.Error("a 73-byte password was hashed; bcrypt would ignore its end")
	}
	for _, cost := range []int{3, 17} {
		if err := (Scheme{Cost: cost}).Validate(); err == nil {
			t.Errorf("cost %d accepted", cost)
		}
	}
	h, err := (Scheme{Cost: 5}).Hash([]byte("pw"))
	if err != nil || !strings.HasPrefix(h.String(), "$2b$05$") || !h.Verify([]byte("pw")) {
		t.Errorf("cost 5: %v %v", h, err)
	}
}

// TestUnknownUserCostsAsMuchAsKnown: in a bcrypt file, refusing an unknown user takes about as
// long as refusing a known one, so timing does not tell which user names exist.
func TestUnknownUserCostsAsMuchAsKnown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmq.passwd")
	writeLines(t, path, vectors[0].line)
	if err := SetPassword(path, "alice", []byte("wonderland"), false, Scheme{Cost: 8}); err != nil {
		t.Fatal(err)
	}
	p := New(path, nil)
	fastest := func(user string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			p.AuthOnRegister(context.Background(), register(user, []byte("guess")))
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := fastest("alice"), fastest("mallory")
	if unknown < known/4 {
		t.Errorf("unknown user answered in %v, known in %v: the timing tells them apart", unknown, known)
	}
}
