package session

import (
	"testing"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// A session-channel request or answer from a peer is untrusted input: any bytes decode or
// fail, never panic, and what decodes encodes back to the same bytes' meaning.
func FuzzDecodeMigration(f *testing.F) {
	req, _ := marshal(&migReq{Op: opTakeover, Mountpoint: "m", ClientID: "c", Clean: true, Stamp: 5, Token: 1})
	resp, _ := marshal(&migResp{Status: statusMoved, Expiry: -1, Subs: []Subscription{{Filter: "a/#", QoS: 1, SubID: 3}},
		Items: []migItem{{Msg: message.Wire{Topic: "a/b", Payload: []byte("x"), PayloadFmt: -1, MsgExpiry: -1}, QoS: 1, SubIDs: []uint32{3}}}, More: true, Token: 2})
	f.Add(req)
	f.Add(resp)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r migResp
		if msgpackdec.Unmarshal(b, &r) == nil {
			again, err := marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			var r2 migResp
			if err := msgpackdec.Unmarshal(again, &r2); err != nil {
				t.Fatalf("re-encoded answer does not decode: %v", err)
			}
			if a, _ := marshal(&r2); string(a) != string(again) {
				t.Fatalf("answer changed across a round trip:\n%+v\n%+v", r, r2)
			}
		}
		var q migReq
		_ = msgpackdec.Unmarshal(b, &q)
	})
}
