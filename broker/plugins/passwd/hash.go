package passwd

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// SaltLen is the salt length vmq-passwd and mosquitto_passwd use.
const SaltLen = 12

// maxIterations bounds a $7$ entry's PBKDF2 rounds so a typo cannot make every CONNECT
// burn seconds of CPU.
const maxIterations = 10_000_000

// maxBcryptCost bounds a bcrypt entry's cost for the same reason: each step doubles the work,
// and cost 16 already takes seconds.
const maxBcryptCost = 16

// DefaultBcryptCost is the cost "nautilus passwd" writes: 50-100 ms a check on a current core,
// slow enough that a stolen file is expensive to crack, fast enough for a CONNECT.
const DefaultBcryptCost = bcrypt.DefaultCost

// Hash kinds.
const (
	KindBcrypt = 2
	KindSHA512 = 6
	KindPBKDF2 = 7
)

// Hash is one parsed password hash.
//
//   - "$6$<salt>$<hash>": VerneMQ's vmq_passwd and mosquitto 1.x; hash = SHA-512(password ‖ salt),
//     salt and hash in standard base64 with padding.
//   - "$7$<iterations>$<salt>$<hash>": mosquitto 2.x; hash = PBKDF2-HMAC-SHA512(password, salt,
//     iterations, len(hash)).
//   - "$2b$<cost>$<salt+hash>" (also $2a$, $2y$): bcrypt, as "nautilus passwd" and
//     "htpasswd -B" write it. VerneMQ cannot read it.
type Hash struct {
	Kind       int // KindBcrypt, KindSHA512 or KindPBKDF2
	Iterations int // $7$: PBKDF2 rounds; bcrypt: the cost
	Salt       []byte
	Sum        []byte
	crypt      []byte // bcrypt: the whole string, which the bcrypt package parses itself
}

// ParseHash parses the part of a password line after "username:".
func ParseHash(s string) (Hash, error) {
	if strings.HasPrefix(s, "$2") {
		return parseBcrypt(s)
	}
	parts := strings.Split(s, "$")
	// A leading '$' gives an empty first field.
	if len(parts) < 2 || parts[0] != "" {
		return Hash{}, errors.New("not a $6$, $7$ or bcrypt hash")
	}
	var h Hash
	switch {
	case parts[1] == "6" && len(parts) == 4:
		h.Kind = 6
		parts = parts[2:]
	case parts[1] == "7" && len(parts) == 5:
		h.Kind = 7
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || n > maxIterations {
			return Hash{}, fmt.Errorf("bad $7$ iteration count %q", parts[2])
		}
		h.Iterations = n
		parts = parts[3:]
	default:
		return Hash{}, errors.New("not a $6$, $7$ or bcrypt hash")
	}
	var err error
	if h.Salt, err = decode64(parts[0]); err != nil || len(h.Salt) == 0 {
		return Hash{}, fmt.Errorf("bad salt %q", parts[0])
	}
	if h.Sum, err = decode64(parts[1]); err != nil || len(h.Sum) == 0 {
		return Hash{}, errors.New("bad hash encoding")
	}
	if h.Kind == 6 && len(h.Sum) != sha512.Size {
		return Hash{}, fmt.Errorf("$6$ hash is %d bytes, want %d", len(h.Sum), sha512.Size)
	}
	return h, nil
}

// parseBcrypt checks a "$2a$", "$2b$" or "$2y$" entry; they differ only in bugs of old C
// implementations that Go's bcrypt does not have, so all three verify the same way.
func parseBcrypt(s string) (Hash, error) {
	if len(s) < 4 || s[3] != '$' || !strings.ContainsRune("aby", rune(s[2])) {
		return Hash{}, fmt.Errorf("bcrypt hash must start with $2a$, $2b$ or $2y$, not %.4q", s)
	}
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return Hash{}, fmt.Errorf("bad bcrypt hash: %w", err)
	}
	if cost > maxBcryptCost {
		return Hash{}, fmt.Errorf("bcrypt cost %d is above %d: each check would take seconds", cost, maxBcryptCost)
	}
	return Hash{Kind: KindBcrypt, Iterations: cost, crypt: []byte(s)}, nil
}

// decode64 accepts standard base64 with or without padding (hand-made files drop it).
func decode64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Verify reports whether password matches, in time independent of where they differ.
func (h Hash) Verify(password []byte) bool {
	if h.Kind == KindBcrypt {
		return bcrypt.CompareHashAndPassword(h.crypt, password) == nil
	}
	return subtle.ConstantTimeCompare(h.compute(password), h.Sum) == 1
}

func (h Hash) compute(password []byte) []byte {
	if h.Kind == 7 {
		k, err := pbkdf2.Key(sha512.New, string(password), h.Salt, h.Iterations, len(h.Sum))
		if err != nil {
			return nil
		}
		return k
	}
	return Sum6(password, h.Salt)
}

// Sum6 is VerneMQ's $6$ digest: SHA-512 over the password followed by the raw salt bytes.
func Sum6(password, salt []byte) []byte {
	d := sha512.New()
	d.Write(password)
	d.Write(salt)
	return d.Sum(nil)
}

// String renders the hash in file form ("$6$salt$hash", "$7$n$salt$hash" or bcrypt's).
func (h Hash) String() string {
	if h.Kind == KindBcrypt {
		return string(h.crypt)
	}
	enc := base64.StdEncoding
	if h.Kind == 7 {
		return fmt.Sprintf("$7$%d$%s$%s", h.Iterations, enc.EncodeToString(h.Salt), enc.EncodeToString(h.Sum))
	}
	return "$6$" + enc.EncodeToString(h.Salt) + "$" + enc.EncodeToString(h.Sum)
}

// New6 hashes password with a fresh random salt in VerneMQ's $6$ form, the one vmq-passwd
// writes and VerneMQ itself can read back.
func New6(password []byte) Hash {
	salt := make([]byte, SaltLen)
	rand.Read(salt) // never fails (crypto/rand panics rather than return an error)
	return Hash{Kind: 6, Salt: salt, Sum: Sum6(password, salt)}
}

// NewBcrypt hashes password with bcrypt at cost, in the "$2b$" form. bcrypt reads at most 72
// bytes of a password; a longer one is refused rather than silently cut.
func NewBcrypt(password []byte, cost int) (Hash, error) {
	if err := checkBcryptCost(cost); err != nil {
		return Hash{}, err
	}
	b, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return Hash{}, fmt.Errorf("bcrypt: %w", err)
	}
	// Go writes "$2a$" but hashes as "$2b$" does (no length wrap-around); "$2b$" says so to
	// other readers.
	b[2] = 'b'
	return Hash{Kind: KindBcrypt, Iterations: cost, crypt: b}, nil
}

// cost estimates how long a check against h takes, in SHA-512 blocks, to pick the dearest entry.
func (h Hash) cost() float64 {
	switch h.Kind {
	case KindBcrypt:
		// One bcrypt round is about two hundred SHA-512 blocks' worth of work.
		return 200 * float64(uint64(1)<<h.Iterations)
	case KindPBKDF2:
		return 2 * float64(h.Iterations)
	}
	return 1
}

func checkBcryptCost(cost int) error {
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return fmt.Errorf("bcrypt cost %d: want %d to %d", cost, bcrypt.MinCost, maxBcryptCost)
	}
	return nil
}
