package metadatatest

import (
	"fmt"
	"testing"
)

func (su *suite) testEvents(t *testing.T) {
	s := su.newStore(t)
	ch, cancel := s.Subscribe(fpA, false)
	defer cancel()
	put(t, s, fpA, "k1", "v1")
	put(t, s, fpA, "k1", "v2")
	del(t, s, fpA, "k1")
	put(t, s, fpA, "k2", "w")
	put(t, s, fpA, "k1", "v3")
	su.expect(t, ch,
		ev(fpA, "k1", "", "v1", true),
		ev(fpA, "k1", "v1", "v2", true),
		ev(fpA, "k1", "v2", "", true),
		ev(fpA, "k2", "", "w", true),
		ev(fpA, "k1", "", "v3", true),
	)
}

func (su *suite) testEventsOnlyOnChange(t *testing.T) {
	s := su.newStore(t)
	ch, cancel := s.Subscribe(fpA, false)
	defer cancel()
	put(t, s, fpA, "k", "v")
	put(t, s, fpA, "k", "v")  // same bytes: no change, no event
	del(t, s, fpA, "absent")  // nothing to delete: no event
	del(t, s, fpA, "k")       // event
	del(t, s, fpA, "k")       // already absent: no event
	put(t, s, fpA, "end", "") // the next event must be this one
	su.expect(t, ch,
		ev(fpA, "k", "", "v", true),
		ev(fpA, "k", "v", "", true),
	)
	// An empty live value: not Deleted, New empty.
	got := su.next(t, ch)
	if got.Deleted || string(got.Key) != "end" || len(got.New) != 0 || got.Old != nil {
		t.Fatalf("event = %s; want the Put of an empty value to key \"end\"", fmtEvent(got))
	}
}

func (su *suite) testEventsRaw(t *testing.T) {
	s := su.newStore(t)
	ch, cancel := s.Subscribe(fpA, false)
	defer cancel()
	putRaw(t, s, fpA, "k", live(100, nodeA, "a"), nil) // new key
	putRaw(t, s, fpA, "k", live(50, nodeB, "b"), nil)  // sibling that loses: no event
	putRaw(t, s, fpA, "k", live(200, nodeC, "c"), nil) // sibling that wins
	wantGet(t, s, fpA, "k", str("c"))                  // write-back: no event
	putRaw(t, s, fpA, "k", tomb(300, nodeD), nil)      // a remote delete
	put(t, s, fpA, "k", "local")
	su.expect(t, ch,
		ev(fpA, "k", "", "a", false),
		ev(fpA, "k", "a", "c", false),
		ev(fpA, "k", "c", "", false),
		ev(fpA, "k", "", "local", true),
	)
}

func (su *suite) testEventsPrefixIsolation(t *testing.T) {
	s := su.newStore(t)
	chA, cancelA := s.Subscribe(fpA, false)
	defer cancelA()
	chB, cancelB := s.Subscribe(fpB, false)
	defer cancelB()
	put(t, s, fpB, "k", "b")
	put(t, s, fpA, "k", "a")
	su.expect(t, chA, ev(fpA, "k", "", "a", true))
	su.expect(t, chB, ev(fpB, "k", "", "b", true))
}

func (su *suite) testSkipLocal(t *testing.T) {
	s := su.newStore(t)
	skip, cancelSkip := s.Subscribe(fpA, true)
	defer cancelSkip()
	all, cancelAll := s.Subscribe(fpA, false)
	defer cancelAll()
	put(t, s, fpA, "k", "local")
	putRaw(t, s, fpA, "k", live(future, nodeA, "remote"), nil)
	del(t, s, fpA, "k")
	putRaw(t, s, fpA, "k2", live(1, nodeA, "remote2"), nil)
	su.expect(t, all,
		ev(fpA, "k", "", "local", true),
		ev(fpA, "k", "local", "remote", false),
		ev(fpA, "k", "remote", "", true),
		ev(fpA, "k2", "", "remote2", false),
	)
	su.expect(t, skip,
		ev(fpA, "k", "local", "remote", false),
		ev(fpA, "k2", "", "remote2", false),
	)
}

func (su *suite) testSlowSubscriber(t *testing.T) {
	s := su.newStore(t)
	ch, cancel := s.Subscribe(fpA, false)
	defer cancel()
	n := su.cfg.slowEvents
	// Nobody reads ch while the writes run: they must all complete.
	su.within(t, fmt.Sprintf("%d writes with an unread subscriber", n), func() error {
		for i := range n {
			if err := s.Put(bg, fpA, fmt.Appendf(nil, "k%06d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range n {
		got := su.next(t, ch)
		if want := fmt.Sprintf("k%06d", i); string(got.Key) != want {
			t.Fatalf("event %d is for key %q; want %q (commit order)", i, got.Key, want)
		}
	}
}

func (su *suite) testCancel(t *testing.T) {
	s := su.newStore(t)
	ch1, cancel1 := s.Subscribe(fpA, false)
	ch2, cancel2 := s.Subscribe(fpA, false)
	put(t, s, fpA, "k1", "v")
	su.expect(t, ch1, ev(fpA, "k1", "", "v", true))
	su.expect(t, ch2, ev(fpA, "k1", "", "v", true))

	cancel1()
	su.waitClosed(t, ch1)
	cancel1() // idempotent
	put(t, s, fpA, "k2", "v")
	su.expect(t, ch2, ev(fpA, "k2", "", "v", true)) // the other subscription is unaffected

	// Cancel with undelivered events: the channel still closes.
	put(t, s, fpA, "k3", "v")
	put(t, s, fpA, "k4", "v")
	cancel2()
	su.waitClosed(t, ch2)
	put(t, s, fpA, "k5", "v") // writes go on with no subscribers
	wantGet(t, s, fpA, "k5", str("v"))
}
