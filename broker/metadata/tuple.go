package metadata

import (
	"bytes"
	"fmt"
	"strings"
)

// Keys are tuples of strings encoded so that bytes.Compare of two encodings
// equals the lexicographic order of the tuples (as in FoundationDB's tuple
// layer, with strings only). Each element is its bytes with 0x00 escaped as
// 0x00 0xFF, followed by the terminator 0x00 0x01. The terminator sorts below
// any other continuation (a real byte is >= 0x01 after the 0x00 would have
// been escaped, and an escaped NUL continues with 0xFF), so a tuple sorts
// before every tuple that extends one of its elements, and the encoding is
// prefix-free: no element's encoding is a prefix of another's.
//
// A sorted store can then keep every table in one keyspace and fold a
// FullPrefix, or any leading part of a typed key, with one range scan.
const (
	tupleEsc    = 0x00 // first byte of an escape or terminator
	tupleEscNul = 0xFF // 0x00 0xFF encodes a NUL inside an element
	tupleEnd    = 0x01 // 0x00 0x01 ends an element
)

// AppendTupleElem appends the encoding of one tuple element to dst.
func AppendTupleElem(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, tupleEsc)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, tupleEsc, tupleEnd)
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, tupleEscNul)
		s = s[i+1:]
	}
}

// AppendTuple appends the encoding of the tuple elems to dst.
func AppendTuple(dst []byte, elems ...string) []byte {
	for _, e := range elems {
		dst = AppendTupleElem(dst, e)
	}
	return dst
}

// EncodeTuple returns the encoding of the tuple elems.
func EncodeTuple(elems ...string) []byte {
	n := 0
	for _, e := range elems {
		n += len(e) + 2
	}
	return AppendTuple(make([]byte, 0, n), elems...)
}

// ReadTupleElem decodes the first element of an encoded tuple and returns
// the remaining bytes.
func ReadTupleElem(b []byte) (elem string, rest []byte, err error) {
	i := bytes.IndexByte(b, tupleEsc)
	if i < 0 {
		return "", nil, fmt.Errorf("%w: unterminated element", ErrMalformedKey)
	}
	if i+1 < len(b) && b[i+1] == tupleEnd { // common case: no NUL inside
		return string(b[:i]), b[i+2:], nil
	}
	var sb []byte
	for {
		if i+1 >= len(b) {
			return "", nil, fmt.Errorf("%w: truncated escape", ErrMalformedKey)
		}
		switch b[i+1] {
		case tupleEnd:
			sb = append(sb, b[:i]...)
			return string(sb), b[i+2:], nil
		case tupleEscNul:
			sb = append(sb, b[:i+1]...)
			b = b[i+2:]
		default:
			return "", nil, fmt.Errorf("%w: bad escape 0x00 0x%02x", ErrMalformedKey, b[i+1])
		}
		i = bytes.IndexByte(b, tupleEsc)
		if i < 0 {
			return "", nil, fmt.Errorf("%w: unterminated element", ErrMalformedKey)
		}
	}
}

// DecodeTuple decodes a whole encoded tuple.
func DecodeTuple(b []byte) ([]string, error) {
	var elems []string
	for len(b) > 0 {
		e, rest, err := ReadTupleElem(b)
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
		b = rest
	}
	return elems, nil
}

// AppendKey appends the store key of (fp, key) to dst: the tuple
// (fp.Prefix, fp.Sub) followed by key as is. key needs no escaping because it
// is last; within one FullPrefix, store keys sort as the keys do.
func AppendKey(dst []byte, fp FullPrefix, key []byte) []byte {
	dst = AppendTuple(dst, fp.Prefix, fp.Sub)
	return append(dst, key...)
}

// EncodeKey returns the store key of (fp, key), which a backend uses to keep
// all FullPrefixes in one sorted keyspace. bytes.Compare of two store keys
// orders by fp.Prefix, then fp.Sub, then bytes.Compare of the keys.
func EncodeKey(fp FullPrefix, key []byte) []byte {
	return AppendKey(make([]byte, 0, len(fp.Prefix)+len(fp.Sub)+4+len(key)), fp, key)
}

// DecodeKey splits a store key made by EncodeKey. The returned key aliases b.
func DecodeKey(b []byte) (fp FullPrefix, key []byte, err error) {
	p, rest, err := ReadTupleElem(b)
	if err != nil {
		return FullPrefix{}, nil, fmt.Errorf("decode key prefix: %w", err)
	}
	s, rest, err := ReadTupleElem(rest)
	if err != nil {
		return FullPrefix{}, nil, fmt.Errorf("decode key sub-prefix: %w", err)
	}
	return FullPrefix{Prefix: p, Sub: s}, rest, nil
}

// PrefixRange returns the half-open range [start, end) of store keys that
// belong to fp: a fold over fp is one range scan from start to end.
func PrefixRange(fp FullPrefix) (start, end []byte) {
	start = AppendTuple(nil, fp.Prefix, fp.Sub)
	end = bytes.Clone(start)
	end[len(end)-1]++ // the terminator 0x01 becomes 0x02: above every key of fp, below the next tuple
	return start, end
}
