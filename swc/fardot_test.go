package swc

import (
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// A peer's object whose value dot lies absurdly far above this node's clock (a forged or
// corrupted counter) is refused with an error, not merged: merging it would size the node
// clock's bitmap by the gap. Every message that carries objects is checked.
func TestFarDotRefused(t *testing.T) {
	c := fuzzTarget(t)
	a := fuzzCore(t, "a").Actor()
	skey := string(metadata.EncodeKey(fpH, []byte("far")))
	g := c.groupOf(skey)
	far := item{skey: skey, dcc: DCC{Vals: []DotVal{{Dot: Dot{ID: a, N: 1 << 62}, Val: metadata.Value{Data: []byte("x")}}}}}
	for name, msg := range map[string][]byte{
		"broadcast":  encodeBroadcast(g.idx, a, []item{far}),
		"sync reply": encodeSyncResp(g.idx, a, syncResp{ex: 1, items: []item{far}}),
		"init reply": encodeInitResp(g.idx, a, initResp{ex: 1, items: []item{far}}),
	} {
		err := c.Step("a", msg)
		if err == nil || !strings.Contains(err.Error(), "above this node's clock") {
			t.Errorf("%s with a dot 2^62 ahead: %v, want it refused", name, err)
		}
	}
	if _, ok := c.objs[skey]; ok {
		t.Fatal("the far object was merged")
	}
	// A gap within the bound is an ordinary missed history and merges.
	near := far
	near.dcc = DCC{Vals: []DotVal{{Dot: Dot{ID: a, N: 5000}, Val: metadata.Value{Data: []byte("y")}}}}
	if err := c.Step("a", encodeBroadcast(g.idx, a, []item{near})); err != nil {
		t.Fatalf("a dot 5000 ahead: %v", err)
	}
	if _, ok := c.objs[skey]; !ok {
		t.Fatal("the object with a dot 5000 ahead was not merged")
	}
}
