package msgstore

import (
	"errors"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

// TestReopenNeverAliasesStoredPayloads is the store half of issue 15's first finding: a broker
// whose id counter started again at 1 after a restart had its new messages pointed at the
// payloads of stored ones (the payload was written only when the id had no reference yet), so
// the subscriber got the old messages twice and the new ones never. After a reopen the store
// reports the largest stored id, and refuses a new message that reuses a stored id with other
// content instead of aliasing it.
func TestReopenNeverAliasesStoredPayloads(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, closeFn := openStore(t, loc, store.Options{})
		for id := uint64(1); id <= 5; id++ {
			if err := s.Enqueue(msg(id, "old"), targets("sub", "other")); err != nil {
				t.Fatal(err)
			}
		}
		// Acknowledging message 5 everywhere deletes its payload; its id must still count.
		if _, err := s.Delete("sub", 5); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete("other", 5); err != nil {
			t.Fatal(err)
		}
		closeFn()

		s, e, _ := openStore(t, loc, store.Options{})
		if got := s.MaxID(); got != 4 {
			t.Fatalf("MaxID after reopen = %d; want 4, the largest id still stored", got)
		}
		// A new message under a stored id with other content: refused, nothing changes.
		err := s.Enqueue(msg(2, "new"), targets("sub"))
		if !errors.Is(err, ErrIDReused) {
			t.Fatalf("Enqueue of a new message under stored id 2: %v; want ErrIDReused", err)
		}
		// The same stored message enqueued again (identical bytes) is a reference, not a copy.
		if err := s.Enqueue(msg(3, "old"), targets("third")); err != nil {
			t.Fatalf("re-reference of stored message 3: %v", err)
		}
		// An id at or below MaxID that nothing references any more may be written afresh.
		if err := s.Enqueue(msg(1, "fresh"), nil); err != nil {
			t.Fatal(err)
		}
		// Ids above MaxID are this run's.
		if err := s.Enqueue(msg(5, "new"), targets("sub")); err != nil {
			t.Fatal(err)
		}
		es, err := s.Read("sub", 10, FIFO, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, string(e.Message.Payload))
		}
		want := []string{"old", "old", "old", "old", "new"}
		if len(got) != len(want) {
			t.Fatalf("queue after reopen = %v; want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("queue after reopen = %v; want %v", got, want)
			}
		}
		checkConsistent(t, s, e)
	})
}
