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
)

// SaltLen is the salt length vmq-passwd and mosquitto_passwd use.
const SaltLen = 12

// maxIterations bounds a $7$ entry's PBKDF2 rounds so a typo cannot make every CONNECT
// burn seconds of CPU.
const maxIterations = 10_000_000

// Hash is one parsed password hash.
//
//   - "$6$<salt>$<hash>": VerneMQ's vmq_passwd and mosquitto 1.x; hash = SHA-512(password ‖ salt),
//     salt and hash in standard base64 with padding.
//   - "$7$<iterations>$<salt>$<hash>": mosquitto 2.x; hash = PBKDF2-HMAC-SHA512(password, salt,
//     iterations, len(hash)).
type Hash struct {
	Kind       int // 6 or 7
	Iterations int // $7$ only
	Salt       []byte
	Sum        []byte
}

// ParseHash parses the part of a password line after "username:".
func ParseHash(s string) (Hash, error) {
	parts := strings.Split(s, "$")
	// A leading '$' gives an empty first field.
	if len(parts) < 2 || parts[0] != "" {
		return Hash{}, errors.New("not a $6$ or $7$ hash")
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
		return Hash{}, errors.New("not a $6$ or $7$ hash")
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

// decode64 accepts standard base64 with or without padding (hand-made files drop it).
func decode64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Verify reports whether password matches, in time independent of where they differ.
func (h Hash) Verify(password []byte) bool {
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

// String renders the hash in file form ("$6$salt$hash" or "$7$n$salt$hash").
func (h Hash) String() string {
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
