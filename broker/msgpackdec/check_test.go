package msgpackdec

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TestCheckLengthsAcceptsValid runs the scanner over values covering every
// msgpack format family, as msgpack itself encodes them: it must walk each
// to exactly its end, and reject every strict prefix.
func TestCheckLengthsAcceptsValid(t *testing.T) {
	values := []any{
		nil, true, false, 0, 1, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, math.MaxInt64, math.MinInt64,
		uint64(math.MaxUint64), float32(1.5), 2.5,
		"", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256), strings.Repeat("s", 70000),
		[]byte{}, make([]byte, 300), make([]byte, 70000),
		[]int{}, make([]int, 15), make([]int, 16), make([]int, 70000),
		map[string]int{}, map[string]int{"a": 1}, bigMap(20), bigMap(70000),
		time.Unix(1, 0), time.Unix(1<<33, 5), time.Unix(1<<40, 5), // ext formats
		[]any{[]any{map[string]any{"x": []any{1, "y"}}}},
	}
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckLengths(b); err != nil {
			t.Errorf("CheckLengths(%T len %d) = %v", v, len(b), err)
		}
		if len(b) < 100 {
			for n := range len(b) {
				if CheckLengths(b[:n]) == nil {
					t.Errorf("CheckLengths accepted a %d-byte prefix of %x", n, b)
				}
			}
		}
	}
}

func bigMap(n int) map[int]int {
	m := make(map[int]int, n)
	for i := range n {
		m[i] = i
	}
	return m
}

func TestCheckLengthsRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"invalid code": {0xc1},
		"trailing":     {0x01, 0x02},
		"empty":        {},
		"str32 huge":   {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"ext32 huge":   {0xc9, 0x49, 0xc9, 0xc9, 0xc9, 0xc9, 0x01},
		"array16 big":  {0xdc, 0x00, 0x03, 0x01, 0x01},
		"deep":         []byte(strings.Repeat("\x91", maxDepth+2) + "\x01"),
	} {
		if CheckLengths(b) == nil {
			t.Errorf("CheckLengths(%s) accepted %x", name, b)
		}
	}
}
