package swc

import (
	"fmt"
	"testing"
)

// TestTableSweepsWithoutFold is client-id churn on a node that never folds the prefix (the
// broker folds subscribers only at startup): objects added and dropped must not pile up in
// the table, and a fold afterwards still lists exactly the live keys in order.
func TestTableSweepsWithoutFold(t *testing.T) {
	tb := &table{entries: map[string]*object{}}
	live := map[string]*object{}
	for i := range 100_000 {
		o := &object{key: []byte(fmt.Sprintf("client-%06d", (i*7919)%100_000))}
		tb.add(o)
		live[string(o.key)] = o
		if i%100 != 0 { // keep every hundredth, drop the rest
			o.dead = true
			tb.remove(o)
			delete(live, string(o.key))
		}
		if held := len(tb.sorted) + len(tb.pending); held > 2*len(live)+2*sweepAt {
			t.Fatalf("after %d adds: table holds %d objects for %d live", i+1, held, len(live))
		}
	}
	tb.ensureSorted()
	if len(tb.sorted) != len(live) {
		t.Fatalf("fold lists %d objects, want the %d live", len(tb.sorted), len(live))
	}
	for i, o := range tb.sorted {
		if o.dead || live[string(o.key)] != o || i > 0 && cmpObjects(tb.sorted[i-1], o) >= 0 {
			t.Fatalf("sorted[%d] = %q (dead %v): not the live keys in order", i, o.key, o.dead)
		}
	}
}

// TestTableSweepDuringFold: a sweep while a fold walks the sorted objects (FoldChunk's
// collapse may drop one) leaves the slice being walked intact.
func TestTableSweepDuringFold(t *testing.T) {
	tb := &table{entries: map[string]*object{}}
	var objs []*object
	for i := range 3 * sweepAt {
		o := &object{key: []byte(fmt.Sprintf("k%06d", i))}
		tb.add(o)
		objs = append(objs, o)
	}
	tb.ensureSorted()
	walking := tb.sorted
	for _, o := range objs[:2*sweepAt+1] { // enough removals to trigger a sweep
		o.dead = true
		tb.remove(o)
	}
	if len(tb.sorted) >= len(walking) {
		t.Fatalf("no sweep: the table still holds %d of %d", len(tb.sorted), len(walking))
	}
	for i, o := range walking {
		if o != objs[i] {
			t.Fatalf("the slice being walked changed at %d", i)
		}
	}
}
