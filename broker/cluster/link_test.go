package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSendInOrderBothWays(t *testing.T) {
	nodes := startCluster(t, "a", "b")
	a, b := nodes[0], nodes[1]
	ra, rb := &recorder{}, &recorder{}
	a.Handle(ChanRouting, ra)
	b.Handle(ChanRouting, rb)
	const n = 2000
	for i := range n {
		msg := []byte(strconv.Itoa(i))
		if err := a.Send("b", ChanRouting, msg); err != nil {
			t.Fatal(err)
		}
		msg[0] = 'x' // Send copied it
		if err := b.Send("a", ChanRouting, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all delivered", func() bool { return ra.count() == n && rb.count() == n })
	for _, r := range []*recorder{ra, rb} {
		for i, m := range r.messages() {
			if m != strconv.Itoa(i) {
				t.Fatalf("message %d is %q: out of order or corrupted", i, m)
			}
		}
	}
	sa, _ := a.Peer("b")
	if sa.MessagesOut < n || sa.BytesOut == 0 || sa.MessagesIn < n || sa.LinksUp != 1 {
		t.Fatalf("counters %+v", sa)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	nodes := startCluster(t, "a", "b")
	a, b := nodes[0], nodes[1]
	a.Handle(ChanMetaRPC, &recorder{})
	b.Handle(ChanMetaRPC, &recorder{answer: func(ctx context.Context, from string, req []byte) ([]byte, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("handler context without deadline")
		}
		if string(req) == "fail" {
			return nil, errors.New("refused")
		}
		return append([]byte(from+":"), req...), nil
	}})
	ctx := context.Background()
	// a dials b; b answers over the link it accepted, and asks a over the same link.
	resp, err := a.Request(ctx, "b", ChanMetaRPC, []byte("hi"))
	if err != nil || string(resp) != "a:hi" {
		t.Fatalf("a→b: %q %v", resp, err)
	}
	resp, err = b.Request(ctx, "a", ChanMetaRPC, []byte("yo"))
	if err != nil || string(resp) != "echo:yo" {
		t.Fatalf("b→a: %q %v", resp, err)
	}
	var re *RemoteError
	if _, err := a.Request(ctx, "b", ChanMetaRPC, []byte("fail")); !errors.As(err, &re) || re.Msg != "refused" || re.Node != "b" {
		t.Fatalf("remote error: %v", err)
	}
	if _, err := a.Request(ctx, "b", ChanSession, nil); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("no handler: %v", err)
	}
	if _, err := a.Request(ctx, "a", ChanMetaRPC, nil); !errors.Is(err, ErrSelf) {
		t.Fatalf("self: %v", err)
	}
	if err := a.Send("nobody", ChanRouting, nil); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("unknown: %v", err)
	}
}

// blocker is a handler that blocks until released: a stalled reader (HandleMessage) or a peer
// that never answers (HandleRequest).
type blocker struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once
}

func newBlocker() *blocker {
	return &blocker{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
}

func (b *blocker) HandleMessage(string, []byte) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
}

func (b *blocker) HandleRequest(ctx context.Context, _ string, _ []byte) ([]byte, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return []byte("late"), nil
}

func (b *blocker) unblock() { b.once.Do(func() { close(b.release) }) }

func TestRequestHonoursDeadline(t *testing.T) {
	nodes := startCluster(t, "a", "b")
	a, b := nodes[0], nodes[1]
	blk := newBlocker()
	defer blk.unblock()
	b.Handle(ChanMetaRPC, blk)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Request(ctx, "b", ChanMetaRPC, []byte("q"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	// The late answer finds nobody waiting and is dropped; the link stays usable.
	blk.unblock()
	b.Handle(ChanMetaRPC, &recorder{})
	if resp, err := a.Request(context.Background(), "b", ChanMetaRPC, []byte("again")); err != nil || string(resp) != "echo:again" {
		t.Fatalf("after timeout: %q %v", resp, err)
	}
}

func TestPendingRequestFailsWhenPeerDies(t *testing.T) {
	for _, tc := range []struct{ requester, dying string }{{"a", "b"}, {"b", "a"}} {
		t.Run(tc.requester+"-asks-"+tc.dying, func(t *testing.T) {
			nodes := startCluster(t, "a", "b")
			byName := map[string]*Node{"a": nodes[0], "b": nodes[1]}
			req, dying := byName[tc.requester], byName[tc.dying]
			blk := newBlocker()
			defer blk.unblock()
			dying.Handle(ChanMetaRPC, blk)
			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := req.Request(ctx, dying.Self(), ChanMetaRPC, nil)
				errc <- err
			}()
			<-blk.entered
			start := time.Now()
			_ = dying.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, ErrLinkDown) && !errors.Is(err, ErrUnknownNode) {
					t.Fatalf("got %v", err)
				}
				t.Logf("failed after %v: %v", time.Since(start), err)
			case <-time.After(10 * time.Second):
				t.Fatal("request still waiting 10 s after the peer died")
			}
		})
	}
}

func TestFullBufferNeverBlocks(t *testing.T) {
	a := startNode(t, "a", func(o *Options) { o.OutgoingBufferSize = 64 << 10; o.WriteTimeout = time.Minute })
	b := startNode(t, "b", nil)
	if err := b.Join(a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	waitLinked(t, a, b)
	blk := newBlocker()
	defer blk.unblock()
	b.Handle(ChanRouting, blk) // b's link reader stalls in the first HandleMessage
	msg := bytes.Repeat([]byte("x"), 1024)
	// Send until the buffer is full and stays full: the writer is then stuck on a socket whose
	// peer reads nothing, with the kernel buffers on both sides full too.
	var full error
	sent, refusals, lastQueued := 0, 0, -1
	for refusals < 20 {
		start := time.Now()
		err := a.Send("b", ChanRouting, msg)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Send blocked for %v", d)
		}
		switch {
		case err == nil:
			sent++
			refusals = 0
		case errors.Is(err, ErrBufferFull):
			full = err
			if q := a.queued("b"); q == lastQueued {
				refusals++
			} else {
				refusals, lastQueued = 0, q
			}
			time.Sleep(2 * time.Millisecond)
		default:
			t.Fatal(err)
		}
		if sent > 1<<20 {
			t.Fatal("a GB sent and the buffer never filled")
		}
	}
	if full == nil {
		t.Fatal("no ErrBufferFull")
	}
	drops, _ := a.Peer("b")
	if _, err := a.Request(context.Background(), "b", ChanMetaRPC, msg); !errors.Is(err, ErrBufferFull) {
		t.Fatalf("request into a full buffer: %v", err)
	}
	s, _ := a.Peer("b")
	if s.Drops != drops.Drops+1 || s.QueuedBytes == 0 || s.Up != true {
		t.Fatalf("stats %+v", s)
	}
	t.Logf("%d KB accepted before the buffer stayed full; %d refusals counted", sent, s.Drops)
}

func TestReconnectAfterRestart(t *testing.T) {
	for _, restart := range []string{"a", "b"} { // the dialler, then the acceptor
		t.Run("restart-"+restart, func(t *testing.T) {
			nodes := startCluster(t, "a", "b")
			byName := map[string]*Node{"a": nodes[0], "b": nodes[1]}
			old := byName[restart]
			other := byName[map[string]string{"a": "b", "b": "a"}[restart]]
			ev, stop := other.Watch()
			defer stop()
			// The first link must be up before the restart, or a loaded machine counts only one.
			waitFor(t, "first link", func() bool { s, _ := other.Peer(restart); return s.LinksUp == 1 })
			linkAddr, gossipAddr := old.LinkAddr(), old.GossipAddr()
			_ = old.Close()
			watchUntil(t, ev, restart, "fail")

			again := startNode(t, restart, func(o *Options) { o.LinkAddr, o.GossipAddr = linkAddr, gossipAddr })
			r := &recorder{}
			again.Handle(ChanRouting, r)
			if err := again.Join(other.GossipAddr()); err != nil {
				t.Fatal(err)
			}
			watchUntil(t, ev, restart, "join")
			if err := other.Send(restart, ChanRouting, []byte("welcome back")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "message after restart", func() bool { return r.count() == 1 })
			if s, _ := other.Peer(restart); s.LinksUp != 2 {
				t.Fatalf("links up %d, want 2", s.LinksUp)
			}
		})
	}
}

func TestProtocolVersionMismatchRefused(t *testing.T) {
	a := startNode(t, "a", nil)
	b, err := New(testOptions(t, "b"))
	if err != nil {
		t.Fatal(err)
	}
	b.protoMin, b.protoMax = ProtocolVersionMax+1, ProtocolVersionMax+1 // a future, incompatible build
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Join(a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides refuse the link", func() bool {
		return a.Stats().HandshakeFailures > 0 && b.Stats().HandshakeFailures > 0
	})
	if s, _ := a.Peer("b"); s.Up {
		t.Fatal("link up despite incompatible versions")
	}
	// Membership still works: the refusal is about links, and is logged, not hidden.
	if got := a.Members(); len(got) != 2 {
		t.Fatalf("members %v", got)
	}
}

func TestNegotiate(t *testing.T) {
	for _, c := range []struct{ aMin, aMax, bMin, bMax, want int }{
		{1, 1, 1, 1, 1}, {1, 3, 2, 5, 3}, {2, 5, 1, 3, 3}, {1, 1, 2, 2, 0}, {3, 4, 1, 2, 0},
	} {
		if got := negotiate(c.aMin, c.aMax, c.bMin, c.bMax); got != c.want {
			t.Errorf("negotiate(%d-%d, %d-%d) = %d, want %d", c.aMin, c.aMax, c.bMin, c.bMax, got, c.want)
		}
	}
}

func TestGarbageOnLinkPortRefused(t *testing.T) {
	a := startNode(t, "a", nil)
	conn, err := net.Dial("tcp", a.LinkAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the node answered garbage")
	}
	waitFor(t, "failure counted", func() bool { return a.Stats().HandshakeFailures == 1 })
}

func TestConcurrentSendAndRequest(t *testing.T) {
	nodes := startCluster(t, "a", "b", "c")
	var got atomic.Int64
	for _, n := range nodes {
		n.Handle(ChanRouting, HandlerFuncs{Message: func(string, []byte) { got.Add(1) }})
		n.Handle(ChanMetaRPC, &recorder{})
	}
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*len(nodes))
	for _, n := range nodes {
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					to := nodes[(g+i)%len(nodes)].Self()
					if to == n.Self() {
						continue
					}
					if err := n.Send(to, ChanRouting, []byte("m")); err != nil {
						errs <- err
						return
					}
					if i%10 == 0 {
						req := fmt.Appendf(nil, "%s-%d-%d", n.Self(), g, i)
						resp, err := n.Request(context.Background(), to, ChanMetaRPC, req)
						if err != nil || string(resp) != "echo:"+string(req) {
							errs <- fmt.Errorf("request %s: %q %v", req, resp, err)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want int64
	for g := range goroutines {
		for i := range each {
			for k := range nodes {
				if (g+i)%len(nodes) != k {
					want++
				}
			}
		}
	}
	waitFor(t, "every message delivered", func() bool { return got.Load() == want })
}

func (n *Node) queued(node string) int {
	s, _ := n.Peer(node)
	return s.QueuedBytes
}
