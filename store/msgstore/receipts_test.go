package msgstore

import (
	"testing"

	"github.com/nautilus-mq/nautilus/store"
)

// TestReceiptsOutliveEntriesUntilReleased: a message enqueued with a receipt records it for
// each target queue in the same batch; acknowledging the entry keeps the receipt (the
// publisher may still resend), a reopen keeps it, Release and ReleaseOwner forget it, and
// receipts of other owners and packet identifiers are untouched.
func TestReceiptsOutliveEntriesUntilReleased(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, closeFn := openStore(t, loc, store.Options{})
		r7 := Receipt{Owner: "pub", PacketID: 7}
		r8 := Receipt{Owner: "pub", PacketID: 8}
		other := Receipt{Owner: "pub2", PacketID: 7}
		m := msg(1, "x")
		m.Receipt = &r7
		if err := s.Enqueue(m, targets("a", "b")); err != nil {
			t.Fatal(err)
		}
		m = msg(2, "y")
		m.Receipt = &r8
		if err := s.Enqueue(m, targets("a")); err != nil {
			t.Fatal(err)
		}
		m = msg(3, "z")
		m.Receipt = &other
		if err := s.Enqueue(m, targets("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete("a", 1); err != nil { // a acknowledged message 1
			t.Fatal(err)
		}
		closeFn()
		s, _, _ = openStore(t, loc, store.Options{})
		check := func(r Receipt, q QueueID, want bool) {
			t.Helper()
			got, err := s.Received(r, q)
			if err != nil || got != want {
				t.Fatalf("Received(%v, %q) = %v, %v; want %v", r, q, got, err, want)
			}
		}
		check(r7, "a", true)
		check(r7, "b", true)
		check(r7, "c", false)
		check(r8, "a", true)
		if err := s.Release(r7); err != nil {
			t.Fatal(err)
		}
		check(r7, "a", false)
		check(r7, "b", false)
		check(r8, "a", true)
		check(other, "a", true)
		if err := s.ReleaseOwner("pub"); err != nil {
			t.Fatal(err)
		}
		check(r8, "a", false)
		check(other, "a", true)
	})
}
