package passwd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Table maps user names to their password hashes.
type Table map[string]Hash

// LineError is a malformed line, skipped when loading.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// maxLine bounds one line of a password or plaintext file.
const maxLine = 1 << 20

// Parse reads a password file: "username:$6$salt$hash", "username:$7$n$salt$hash" or
// "username:$2b$cost$saltandhash" (bcrypt) lines;
// blank lines and lines starting with '#' are ignored. Malformed lines are skipped and returned
// as *LineError values naming file (name) and line; err is set only when r fails. When a user
// appears twice the later line wins, as in VerneMQ.
func Parse(r io.Reader, name string) (t Table, bad []error, err error) {
	t = Table{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if s := strings.TrimSpace(line); s == "" || s[0] == '#' {
			continue
		}
		user, rest, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			bad = append(bad, &LineError{name, n, errors.New(`want "username:hash"`)})
			continue
		}
		h, herr := ParseHash(strings.TrimSpace(rest))
		if herr != nil {
			bad = append(bad, &LineError{name, n, fmt.Errorf("user %q: %w", user, herr)})
			continue
		}
		t[user] = h
	}
	if err := sc.Err(); err != nil {
		return nil, bad, fmt.Errorf("%s: line %d: %w", name, n+1, err)
	}
	return t, bad, nil
}

// Load reads and parses the password file at path.
func Load(path string) (Table, []error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// ValidUsername reports whether name can be stored in a password file.
func ValidUsername(name string) error {
	switch {
	case name == "":
		return errors.New("empty user name")
	case strings.ContainsAny(name, ":\r\n"):
		return fmt.Errorf("user name %q contains ':' or a line break", name)
	case name[0] == '#':
		return fmt.Errorf("user name %q starts with '#', which marks a comment", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("user name %q starts or ends with white space", name)
	}
	return nil
}

// Line renders one password file line (with its newline).
func Line(user string, h Hash) string { return user + ":" + h.String() + "\n" }

// lineUser is the user a line is about, or "" for comments and blank lines.
func lineUser(line string) string {
	if s := strings.TrimSpace(line); s == "" || s[0] == '#' {
		return ""
	}
	u, _, _ := strings.Cut(line, ":")
	return u
}

// splitLines splits data keeping each line's terminator; a last line without one gets one.
func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, string(data)+"\n")
			break
		}
		lines = append(lines, string(data[:i+1]))
		data = data[i+1:]
	}
	return lines
}

// Scheme is how new entries are hashed: bcrypt by default, since one round of SHA-512 lets a
// stolen file be cracked at billions of guesses a second; VerneMQ's $6$ when the file must
// stay readable by VerneMQ.
type Scheme struct {
	SHA512 bool // write VerneMQ's $6$ instead of bcrypt
	Cost   int  // bcrypt cost; 0 = DefaultBcryptCost
}

// Validate reports a bcrypt cost out of range, before any password is asked for.
func (s Scheme) Validate() error {
	if s.SHA512 || s.Cost == 0 {
		return nil
	}
	return checkBcryptCost(s.Cost)
}

// Hash hashes password with a fresh salt.
func (s Scheme) Hash(password []byte) (Hash, error) {
	if s.SHA512 {
		return New6(password), nil
	}
	cost := s.Cost
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	return NewBcrypt(password, cost)
}

// SetPassword stores a fresh hash of password, made by s, for user in the file at path,
// replacing the user's line or appending one; every other line (in whatever format) is kept
// as it is. With create the file is started afresh (overwriting one that exists); without it
// the file must exist.
func SetPassword(path, user string, password []byte, create bool, s Scheme) error {
	if err := ValidUsername(user); err != nil {
		return err
	}
	if len(password) == 0 {
		return errors.New("empty password")
	}
	h, err := s.Hash(password)
	if err != nil {
		return fmt.Errorf("user %q: %w", user, err)
	}
	entry := Line(user, h)
	if create {
		return WriteAtomic(path, []byte(entry))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out strings.Builder
	found := false
	for _, l := range splitLines(data) {
		if lineUser(l) == user {
			if !found {
				out.WriteString(entry)
			}
			found = true
			continue
		}
		out.WriteString(l)
	}
	if !found {
		out.WriteString(entry)
	}
	return WriteAtomic(path, []byte(out.String()))
}

// DeleteUser removes every line for user; found reports whether there was one (the file is
// left untouched when there was not).
func DeleteUser(path, user string) (found bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var out strings.Builder
	for _, l := range splitLines(data) {
		if u := lineUser(l); u != "" && u == user {
			found = true
			continue
		}
		out.WriteString(l)
	}
	if !found {
		return false, nil
	}
	return true, WriteAtomic(path, []byte(out.String()))
}

// HashPlaintext converts a file of plaintext "username:password" lines into a password file,
// in place, hashing with s. Lines that already hold a hash, comments and blank lines are kept
// as they are, so running it twice is harmless. A line without ':' or with an empty user or
// password stops the conversion and leaves the file untouched. It returns how many lines were
// hashed.
func HashPlaintext(path string, s Scheme) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var out strings.Builder
	n := 0
	for i, l := range splitLines(data) {
		body := strings.TrimRight(l, "\r\n")
		if s := strings.TrimSpace(body); s == "" || s[0] == '#' {
			out.WriteString(l)
			continue
		}
		user, pw, ok := strings.Cut(body, ":")
		if !ok || user == "" || pw == "" {
			return 0, &LineError{path, i + 1, errors.New(`want "username:password"`)}
		}
		if _, err := ParseHash(pw); err == nil {
			out.WriteString(l)
			continue
		}
		if err := ValidUsername(user); err != nil {
			return 0, &LineError{path, i + 1, err}
		}
		h, err := s.Hash([]byte(pw))
		if err != nil {
			return 0, &LineError{path, i + 1, err}
		}
		out.WriteString(Line(user, h))
		n++
	}
	return n, WriteAtomic(path, []byte(out.String()))
}

// WriteAtomic replaces the file at path with data: it writes a temporary file in the same
// directory with mode 0600, syncs it and renames it over path, so a reader (the broker's reload
// loop) sees the old file or the new one, never a half-written one.
func WriteAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
