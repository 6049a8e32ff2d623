package persist

import (
	"fmt"
	"testing"
)

// TestOutboxOrderAndDelete: items come back per peer, by run (epoch) then in sending order,
// whatever order they were written in, and deleted ones do not come back.
func TestOutboxOrderAndDelete(t *testing.T) {
	o := fuzzStore(t).Outbox()
	for _, w := range []struct {
		peer       string
		epoch, seq uint64
	}{{"n2", 9, 2}, {"n2", 9, 1}, {"n10", 3, 7}, {"n2", 4, 300}, {"n2", 4, 5}} {
		if _, err := o.Put(w.peer, w.epoch, w.seq, []byte(fmt.Sprintf("%s/%d/%d", w.peer, w.epoch, w.seq))); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Delete("n2", 9, []uint64{2}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := o.Load(func(peer string, epoch, seq uint64, v []byte) error {
		if want := fmt.Sprintf("%s/%d/%d", peer, epoch, seq); string(v) != want {
			t.Errorf("item %s holds %q", want, v)
		}
		got = append(got, string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// n10 sorts before n2 only by length prefix: what matters is that one peer's items are
	// together and in order.
	want := "[n2/4/5 n2/4/300 n2/9/1 n10/3/7]"
	if fmt.Sprint(got) != want {
		t.Fatalf("Load = %v; want %s", got, want)
	}
}

// FuzzParseOutboxKey: a stored key is input that may be corrupt: it parses or fails, never
// panics, and what parses is the key it came from.
func FuzzParseOutboxKey(f *testing.F) {
	f.Add(outboxKey("n1", 7, 9))
	f.Add(outboxKey("", 0, 0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, k []byte) {
		peer, epoch, seq, err := parseOutboxKey(k)
		if err != nil {
			return
		}
		if again := outboxKey(peer, epoch, seq); string(again) != string(k) {
			t.Fatalf("key %x parses to (%q, %d, %d), which encodes to %x", k, peer, epoch, seq, again)
		}
	})
}
