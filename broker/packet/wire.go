package packet

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Data representation (spec §1.5): integers, Variable Byte Integers, UTF-8
// strings and binary data, read from a body and appended to a buffer.

const (
	// MaxRemainingLength is the largest value a 4-byte Variable Byte Integer
	// holds, hence the largest Remaining Length of any packet.
	MaxRemainingLength = 268435455
	// MaxPacketSize is the largest possible packet: 1 type byte, 4 length
	// bytes and MaxRemainingLength.
	MaxPacketSize = 1 + 4 + MaxRemainingLength
	maxStringLen  = 65535
)

// vbiLen is the size of n as a Variable Byte Integer (n <= MaxRemainingLength).
func vbiLen(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

func appendVBI(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// decodeVBI reads a Variable Byte Integer from the start of b. It returns the
// value and the bytes used; used == 0 with a nil error means b ends first.
func decodeVBI(b []byte) (value, used int, err error) {
	shift := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		value |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			// A trailing zero continuation byte adds nothing: the encoding is
			// longer than needed [MQTT-1.5.5-1].
			if c == 0 && i > 0 {
				return 0, 0, malformed("variable byte integer is not minimally encoded")
			}
			return value, i + 1, nil
		}
		if i == 3 {
			return 0, 0, malformed("variable byte integer longer than 4 bytes")
		}
		shift += 7
	}
	return 0, 0, nil
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString writes a length-prefixed string; callers check the length
// limit first (checkLen) so this cannot fail.
func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

func checkLen(n int, what string) error {
	if n > maxStringLen {
		return malformed(what + " longer than 65535 bytes")
	}
	return nil
}

// aliasString returns a string sharing b's memory. The decoded packet keeps
// pointing into the body; see the package documentation on aliasing.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// validUTF8 enforces [MQTT-1.5.4-1] (well-formed UTF-8, which in Go's
// definition already excludes surrogates U+D800..U+DFFF and overlong forms)
// and [MQTT-1.5.4-2] (no U+0000). Control characters U+0001..U+001F,
// U+007F..U+009F and Unicode non-characters are accepted: the spec says only
// that they SHOULD NOT be sent and a receiver MAY treat them as malformed
// (§1.5.4), and accepting them keeps clients that put, say, a tab in a user
// property working. The U+FEFF byte order mark is kept, never stripped
// [MQTT-1.5.4-3], which aliasing does by construction.
func validUTF8(b []byte) error {
	if bytes.IndexByte(b, 0) >= 0 {
		return malformed("UTF-8 string contains U+0000")
	}
	if !utf8.Valid(b) {
		return malformed("string is not well-formed UTF-8")
	}
	return nil
}

// hasWildcard reports whether a topic name contains a wildcard character,
// which topic names must not [MQTT-3.3.2-2] [MQTT-4.7.0-1].
func hasWildcard(s string) bool {
	return strings.IndexByte(s, '+') >= 0 || strings.IndexByte(s, '#') >= 0
}

// cursor reads the fields of one packet body. Every read checks the bounds,
// so a length field can never reach past the body (or, for properties, past
// the property block).
type cursor struct {
	b   []byte
	off int
}

func (c *cursor) left() int { return len(c.b) - c.off }

var errShort = malformed("packet ends inside a field")

func (c *cursor) byte() (byte, error) {
	if c.off >= len(c.b) {
		return 0, errShort
	}
	v := c.b[c.off]
	c.off++
	return v, nil
}

func (c *cursor) uint16() (uint16, error) {
	if c.left() < 2 {
		return 0, errShort
	}
	v := uint16(c.b[c.off])<<8 | uint16(c.b[c.off+1])
	c.off += 2
	return v, nil
}

func (c *cursor) uint32() (uint32, error) {
	if c.left() < 4 {
		return 0, errShort
	}
	b := c.b[c.off:]
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	c.off += 4
	return v, nil
}

func (c *cursor) vbi() (int, error) {
	v, n, err := decodeVBI(c.b[c.off:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errShort
	}
	c.off += n
	return v, nil
}

// binary reads Binary Data (§1.5.6). The result is capped at its length so
// that an append by the caller reallocates instead of overwriting the body.
// Empty data decodes as nil, so absent and empty compare equal.
func (c *cursor) binary() ([]byte, error) {
	n, err := c.uint16()
	if err != nil {
		return nil, err
	}
	if int(n) > c.left() {
		return nil, errShort
	}
	if n == 0 {
		return nil, nil
	}
	end := c.off + int(n)
	v := c.b[c.off:end:end]
	c.off = end
	return v, nil
}

// rest returns the remaining bytes (a PUBLISH payload), capped like binary.
func (c *cursor) rest() []byte {
	if c.off == len(c.b) {
		return nil
	}
	v := c.b[c.off:len(c.b):len(c.b)]
	c.off = len(c.b)
	return v
}

// str reads a UTF-8 Encoded String (§1.5.4), validated.
func (c *cursor) str() (string, error) {
	b, err := c.binary()
	if err != nil {
		return "", err
	}
	if err := validUTF8(b); err != nil {
		return "", err
	}
	return aliasString(b), nil
}

// end reports bytes left over after the last field: the packet is longer
// than its contents, which the spec treats as malformed (§4.13).
func (c *cursor) end() error {
	if c.off != len(c.b) {
		return malformed("unexpected bytes after the last field")
	}
	return nil
}
