package msgpackdec

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

type inner struct {
	A string
	B []uint32
}

func (v *inner) DecodeMsgpack(d *msgpack.Decoder) error { return DecodeArray(d, v) }

type v1 struct {
	X uint64
	I []inner
}

func (v *v1) DecodeMsgpack(d *msgpack.Decoder) error { return DecodeArray(d, v) }

type innerV2 struct {
	A string
	B []uint32
	C bool
}

func (v *innerV2) DecodeMsgpack(d *msgpack.Decoder) error { return DecodeArray(d, v) }

type v2 struct {
	X uint64
	I []innerV2
	Y string
	Z map[string]int
}

func (v *v2) DecodeMsgpack(d *msgpack.Decoder) error { return DecodeArray(d, v) }

func encode(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A newer struct (fields appended, also in nested structs) decodes into the older one and the
// other way round; the fields one side lacks are skipped or left zero.
func TestAcrossVersions(t *testing.T) {
	b := encode(t, &v2{X: 7, I: []innerV2{{A: "a", B: []uint32{1, 2}, C: true}}, Y: "y", Z: map[string]int{"z": 1}})
	var old v1
	if err := msgpack.Unmarshal(b, &old); err != nil {
		t.Fatal(err)
	}
	if old.X != 7 || len(old.I) != 1 || old.I[0].A != "a" || len(old.I[0].B) != 2 {
		t.Fatalf("old reads %+v", old)
	}
	b = encode(t, &v1{X: 9, I: []inner{{A: "b"}}})
	nw := v2{Y: "stale"} // a reused value: fields the frame lacks must not keep old contents
	if err := msgpack.Unmarshal(b, &nw); err != nil {
		t.Fatal(err)
	}
	if nw.X != 9 || len(nw.I) != 1 || nw.I[0].A != "b" || nw.I[0].C || nw.Y != "" || nw.Z != nil {
		t.Fatalf("new reads %+v", nw)
	}
}

func TestRefusesGarbage(t *testing.T) {
	var v v1
	for _, b := range [][]byte{{0xa1, 'x'}, {0x92, 0x01}, {0x92, 0xc1, 0x90}} {
		if err := msgpack.Unmarshal(b, &v); err == nil {
			t.Errorf("% x decoded as %+v", b, v)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	buf := encode(b, &v1{X: 1, I: []inner{{A: "topic/a/b", B: []uint32{1}}, {A: "c"}}})
	b.ReportAllocs()
	var v v1
	for b.Loop() {
		if err := msgpack.Unmarshal(buf, &v); err != nil {
			b.Fatal(err)
		}
	}
}

type plainInner struct {
	A string
	B []uint32
}
type plainV1 struct {
	X uint64
	I []plainInner
}

// BenchmarkDecodeStrict is msgpack's own (length-checked) array decoding of the same shape,
// the baseline for BenchmarkDecode.
func BenchmarkDecodeStrict(b *testing.B) {
	buf := encode(b, &plainV1{X: 1, I: []plainInner{{A: "topic/a/b", B: []uint32{1}}, {A: "c"}}})
	b.ReportAllocs()
	var v plainV1
	for b.Loop() {
		if err := msgpack.Unmarshal(buf, &v); err != nil {
			b.Fatal(err)
		}
	}
}
