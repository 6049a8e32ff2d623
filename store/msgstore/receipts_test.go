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
		r7 := Receipt{Owner: "pub", ID: 7}
		r8 := Receipt{Owner: "pub", ID: 8}
		other := Receipt{Owner: "pub2", ID: 7}
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

// TestReceiptsOfAStream: a forwarding stream's receipts go below the sender's base, and a
// sender's earlier streams (epochs) go when a new one starts, leaving the current one and
// other senders alone.
func TestReceiptsOfAStream(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, _ := openStore(t, loc, store.Options{})
		old, cur, other := "\x00fwd\x00n1\x00E1", "\x00fwd\x00n1\x00E2", "\x00fwd\x00n2\x00E1"
		id := uint64(1)
		for _, owner := range []string{old, cur, other} {
			for seq := uint64(1); seq <= 5; seq++ {
				m := msg(id, "x")
				id++
				m.Receipt = &Receipt{Owner: owner, ID: seq}
				if err := s.Enqueue(m, targets("q")); err != nil {
					t.Fatal(err)
				}
			}
		}
		has := func(owner string, seq uint64) bool {
			ok, err := s.Received(Receipt{Owner: owner, ID: seq}, "q")
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if err := s.ReleaseBelow(cur, 4); err != nil {
			t.Fatal(err)
		}
		if has(cur, 3) || !has(cur, 4) || !has(cur, 5) || !has(old, 1) {
			t.Fatal("ReleaseBelow(cur, 4) removed the wrong receipts")
		}
		if err := s.ReleaseOthers("\x00fwd\x00n1\x00", len(cur), cur); err != nil {
			t.Fatal(err)
		}
		if has(old, 1) || has(old, 5) || !has(cur, 4) || !has(other, 1) {
			t.Fatal("ReleaseOthers kept an earlier stream or removed the current one or another sender's")
		}
	})
}
