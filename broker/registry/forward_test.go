package registry

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// prevFrame is wireFrame as the version before Base and Gap had it.
type prevFrame struct {
	Kind  byte
	Epoch uint64
	Ack   uint64
	Items []wireItem
}

func (v *prevFrame) DecodeMsgpack(d *msgpack.Decoder) error { return msgpackdec.DecodeArray(d, v) }

// During a rolling upgrade a node reads the routing frames of a node one version apart, both
// ways: the newer fields are skipped by the older node and zero for the newer one.
func TestWireFrameAcrossVersions(t *testing.T) {
	b, err := marshal(&wireFrame{Kind: frameBatch, Epoch: 7, Items: []wireItem{{Seq: 3, Shared: []sharedTarget{{ClientID: "c", SubQoS: 1}}}}, Base: 2, Gap: true})
	if err != nil {
		t.Fatal(err)
	}
	var prev prevFrame
	if err := msgpackdec.Unmarshal(b, &prev); err != nil || prev.Epoch != 7 || len(prev.Items) != 1 || prev.Items[0].Seq != 3 || prev.Items[0].Shared[0].ClientID != "c" {
		t.Fatalf("the older node decodes %+v, %v", prev, err)
	}
	b, err = marshal(&prevFrame{Kind: frameAck, Epoch: 7, Ack: 5})
	if err != nil {
		t.Fatal(err)
	}
	fr := wireFrame{Base: 9, Gap: true}
	if err := msgpackdec.Unmarshal(b, &fr); err != nil || fr.Ack != 5 || fr.Base != 0 || fr.Gap {
		t.Fatalf("the newer node decodes an older frame as %+v, %v", fr, err)
	}
}

// A routing frame from a peer is untrusted input: any bytes decode or fail, never panic, and
// what decodes encodes back to a frame that decodes the same.
func FuzzDecodeRoutingFrame(f *testing.F) {
	for _, fr := range []wireFrame{
		{Kind: frameBatch, Epoch: 3, Base: 1, Items: []wireItem{{Seq: 1, Fanout: true}, {Shared: []sharedTarget{{ClientID: "c", QoS: 1, SubID: 2, SubQoS: 2}}}}},
		{Kind: frameAck, Epoch: 3, Ack: 9, Gap: true},
	} {
		b, _ := marshal(&fr)
		f.Add(b)
	}
	b, _ := marshal(&prevFrame{Kind: frameAck, Epoch: 1, Ack: 2})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr wireFrame
		if msgpackdec.Unmarshal(b, &fr) != nil {
			return
		}
		again, err := marshal(&fr)
		if err != nil {
			t.Fatal(err)
		}
		var fr2 wireFrame
		if err := msgpackdec.Unmarshal(again, &fr2); err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if a, _ := marshal(&fr2); string(a) != string(again) {
			t.Fatalf("frame changed across a round trip:\n%+v\n%+v", fr, fr2)
		}
	})
}
