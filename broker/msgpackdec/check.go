package msgpackdec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// CheckLengths scans the msgpack values in b without decoding them and
// rejects any string, binary, extension, array or map whose declared length
// exceeds the bytes left (an array or map element takes at least one byte),
// and nesting deeper than maxDepth. It allocates nothing.
//
// It runs before every decode of untrusted bytes (Unmarshal) because msgpack v5.4.1 trusts declared
// lengths: it sizes a decoded slice from its declared length without a limit
// (the limit test in decodeSliceValue is inverted), and it reserves up to
// 1 MiB for any string or extension it reads or skips. Five bytes of a
// corrupt or hostile record could otherwise make a node allocate gigabytes
// (found by FuzzDecodeSubscriberRecord). After this check every allocation
// is bounded by the size of the input.
func CheckLengths(b []byte) error {
	i, err := scanValue(b, 0, 0)
	if err != nil {
		return err
	}
	if i != len(b) {
		return fmt.Errorf("%d trailing bytes", len(b)-i)
	}
	return nil
}

// maxDepth bounds nesting; the records nest four deep.
const maxDepth = 16

var errTruncated = errors.New("truncated value")

// scanValue returns the offset just past the value starting at b[i].
func scanValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	if i >= len(b) {
		return 0, errTruncated
	}
	c := b[i]
	i++
	var (
		size  int // payload bytes that follow the header
		elems int // nested values that follow the header
		err   error
	)
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, false, true
		return i, nil
	case c <= 0x8f: // fixmap
		elems = 2 * int(c&0x0f)
	case c <= 0x9f: // fixarray
		elems = int(c & 0x0f)
	case c <= 0xbf: // fixstr
		size = int(c & 0x1f)
	case c == 0xc4, c == 0xd9: // bin8, str8
		size, i, err = readLen(b, i, 1)
	case c == 0xc5, c == 0xda: // bin16, str16
		size, i, err = readLen(b, i, 2)
	case c == 0xc6, c == 0xdb: // bin32, str32
		size, i, err = readLen(b, i, 4)
	case c >= 0xc7 && c <= 0xc9: // ext8, ext16, ext32: length, then type byte
		size, i, err = readLen(b, i, 1<<(c-0xc7))
		size++
	case c == 0xca, c == 0xcb: // float32, float64
		size = 4 << (c - 0xca)
	case c >= 0xcc && c <= 0xcf: // uint8 .. uint64
		size = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3: // int8 .. int64
		size = 1 << (c - 0xd0)
	case c >= 0xd4 && c <= 0xd8: // fixext1 .. fixext16, plus the type byte
		size = 1<<(c-0xd4) + 1
	case c == 0xdc: // array16
		elems, i, err = readLen(b, i, 2)
	case c == 0xdd: // array32
		elems, i, err = readLen(b, i, 4)
	case c == 0xde: // map16
		elems, i, err = readLen(b, i, 2)
		elems *= 2
	case c == 0xdf: // map32
		elems, i, err = readLen(b, i, 4)
		elems *= 2
	default: // 0xc1, never used
		return 0, fmt.Errorf("invalid code 0x%02x", c)
	}
	if err != nil {
		return 0, err
	}
	left := len(b) - i
	if size > left || elems > left {
		return 0, fmt.Errorf("length %d declared with %d bytes left", max(size, elems), left)
	}
	i += size
	for range elems {
		if i, err = scanValue(b, i, depth+1); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// readLen reads a big-endian length of n bytes (1, 2 or 4) at b[i].
func readLen(b []byte, i, n int) (int, int, error) {
	if len(b)-i < n {
		return 0, 0, errTruncated
	}
	switch n {
	case 1:
		return int(b[i]), i + 1, nil
	case 2:
		return int(binary.BigEndian.Uint16(b[i:])), i + 2, nil
	default:
		return int(binary.BigEndian.Uint32(b[i:])), i + 4, nil
	}
}
