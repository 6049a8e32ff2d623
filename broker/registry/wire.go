package registry

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// The routing channel's structs are array-encoded (marshal) and decoded by position, so a
// node reads the frames of a node one version apart: fields are only ever appended.

func (v *sharedTarget) DecodeMsgpack(d *msgpack.Decoder) error  { return msgpackdec.DecodeArray(d, v) }
func (v *wireItem) DecodeMsgpack(d *msgpack.Decoder) error      { return msgpackdec.DecodeArray(d, v) }
func (v *wireFrame) DecodeMsgpack(d *msgpack.Decoder) error     { return msgpackdec.DecodeArray(d, v) }
func (v *appliedFilter) DecodeMsgpack(d *msgpack.Decoder) error { return msgpackdec.DecodeArray(d, v) }
func (v *appliedReq) DecodeMsgpack(d *msgpack.Decoder) error    { return msgpackdec.DecodeArray(d, v) }
