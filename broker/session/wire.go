package session

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// The session channel's structs are array-encoded (marshal) and decoded by position, so a
// node takes over a session from a node one version apart: fields are only ever appended.

func (v *migReq) DecodeMsgpack(d *msgpack.Decoder) error  { return msgpackdec.DecodeArray(d, v) }
func (v *migItem) DecodeMsgpack(d *msgpack.Decoder) error { return msgpackdec.DecodeArray(d, v) }
func (v *migResp) DecodeMsgpack(d *msgpack.Decoder) error { return msgpackdec.DecodeArray(d, v) }

// DecodeMsgpack reads a Subscription as the session channel sends it; a Subscription is
// never encoded as a map (the metadata store has its own record type).
func (v *Subscription) DecodeMsgpack(d *msgpack.Decoder) error { return msgpackdec.DecodeArray(d, v) }
