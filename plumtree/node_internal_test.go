package plumtree

import "testing"

// TestDropIHaveUnderBacklog checks the drop_i_have_threshold guard: with
// more inbound messages queued than the threshold, i-haves are shed (they
// are re-sent every lazy tick) and everything else is still queued. The
// driver's test checks that what the guard sheds is counted and not queued.
func TestDropIHaveUnderBacklog(t *testing.T) {
	shed := shedIHaves(Config{DropIHaveThreshold: 2}.withDefaults())
	ihave := appendAnnounce(nil, msgIHave, announce{skey: "k", root: "r"})
	prune := appendString([]byte{msgPrune}, "r")
	for _, c := range []struct {
		msg     []byte
		backlog int64
		want    bool
	}{
		{ihave, 0, false},
		{ihave, 2, false},
		{ihave, 3, true},
		{prune, 3, false},
		{prune, 1 << 40, false},
	} {
		if got := shed(c.msg, c.backlog); got != c.want {
			t.Errorf("shed(%q, backlog %d) = %v; want %v", c.msg, c.backlog, got, c.want)
		}
	}
}
