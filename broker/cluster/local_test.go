package cluster

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestLocalNetwork(t *testing.T) {
	net := NewLocalNetwork()
	a := net.Join("a")
	evA, stop := a.Watch()
	defer stop()
	b, c := net.Join("b"), net.Join("c")
	watchUntil(t, evA, "b", "join")
	watchUntil(t, evA, "c", "join")
	if got := b.Members(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("members %v", got)
	}
	rb := &recorder{}
	b.Handle(ChanRouting, rb)
	b.Handle(ChanMetaRPC, rb)
	for i := range 100 {
		if err := a.Send("b", ChanRouting, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "delivered", func() bool { return rb.count() == 100 })
	for i, m := range rb.messages() {
		if m != strconv.Itoa(i) {
			t.Fatalf("out of order at %d: %q", i, m)
		}
	}
	if resp, err := a.Request(context.Background(), "b", ChanMetaRPC, []byte("q")); err != nil || string(resp) != "echo:q" {
		t.Fatalf("%q %v", resp, err)
	}
	if _, err := a.Request(context.Background(), "c", ChanMetaRPC, nil); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("no handler: %v", err)
	}

	// A cut loses messages and leaves requests to their deadline; Heal restores the link.
	net.Cut("a", "b")
	_ = a.Send("b", ChanRouting, []byte("lost"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := a.Request(ctx, "b", ChanMetaRPC, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("across a cut: %v", err)
	}
	cancel()
	net.Heal("a", "b")
	_ = a.Send("b", ChanRouting, []byte("after heal"))
	waitFor(t, "delivered after heal", func() bool { return rb.count() == 101 })
	if m := rb.messages(); m[100] != "after heal" {
		t.Fatalf("got %q", m[100])
	}

	// A request waiting on a node that fails fails at once.
	blk := newBlocker()
	defer blk.unblock()
	c.Handle(ChanSession, blk)
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), "c", ChanSession, nil)
		errc <- err
	}()
	<-blk.entered
	net.Fail("c")
	if err := <-errc; !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("pending request on failed node: %v", err)
	}
	watchUntil(t, evA, "c", "fail")
	if err := a.Send("c", ChanRouting, nil); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("send to failed node: %v", err)
	}
	net.Leave("b")
	watchUntil(t, evA, "b", "leave")
	if got := a.Members(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("members %v", got)
	}
	// A failed name may come back.
	c2 := net.Join("c")
	watchUntil(t, evA, "c", "join")
	if c2.Self() != "c" || a.Send("c", ChanRouting, nil) != nil {
		t.Fatal("rejoin")
	}
}
