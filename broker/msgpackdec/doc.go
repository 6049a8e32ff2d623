// Package msgpackdec decodes msgpack that comes from outside the process: records read from
// disk and frames from peer nodes. Unmarshal first vets every declared length against the
// input, since msgpack.Unmarshal would allocate whatever a few hostile bytes declare.
// DecodeArray reads the array-encoded structs of the cluster channels by position, so nodes
// of adjacent versions read each other's frames as long as fields are only ever appended.
package msgpackdec

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Unmarshal decodes exactly one msgpack value from b into v, after CheckLengths has vetted
// the declared lengths, with a decoder that keeps msgpack's preallocation limit (which
// msgpack.Unmarshal turns off): every allocation is bounded by the size of b.
func Unmarshal(b []byte, v any) error {
	if err := CheckLengths(b); err != nil {
		return err
	}
	r := bytes.NewReader(b)
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	if err := dec.Decode(v); err != nil {
		return err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%d trailing bytes", r.Len())
	}
	return nil
}
