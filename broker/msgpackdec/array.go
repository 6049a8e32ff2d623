package msgpackdec

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// DecodeArray reads an array-encoded struct into v, a pointer to a struct whose fields are all
// exported, untagged and not embedded (the shape msgpack encodes field by field in
// declaration order). It fills the fields the array holds, leaves the others zero and skips
// elements beyond its own fields. msgpack's own array decoding refuses any length mismatch,
// so one appended field would make every frame between old and new nodes undecodable. A type
// uses DecodeArray from its DecodeMsgpack method; it must then never be encoded as a map.
func DecodeArray(d *msgpack.Decoder, v any) error {
	rv := reflect.ValueOf(v).Elem()
	n, err := d.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("%s: %w", rv.Type(), err)
	}
	fields := fieldsOf(rv.Type())
	for i := max(n, 0); i < len(fields); i++ {
		rv.Field(fields[i]).SetZero()
	}
	for i := 0; i < n; i++ {
		if i >= len(fields) {
			if err := d.Skip(); err != nil {
				return fmt.Errorf("%s: element %d: %w", rv.Type(), i, err)
			}
			continue
		}
		if err := d.DecodeValue(rv.Field(fields[i])); err != nil {
			return fmt.Errorf("%s.%s: %w", rv.Type(), rv.Type().Field(fields[i]).Name, err)
		}
	}
	return nil
}

var fieldCache sync.Map // reflect.Type → []int

func fieldsOf(t reflect.Type) []int {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]int)
	}
	var out []int
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || f.Tag != "" {
			// msgpack inlines embedded structs and honours tags; this decoder does neither.
			panic(fmt.Sprintf("msgpackdec: %s.%s: embedded or tagged fields are not supported", t, f.Name))
		}
		if f.IsExported() {
			out = append(out, i)
		}
	}
	fieldCache.Store(t, out)
	return out
}
