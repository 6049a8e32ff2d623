package msgstore

import (
	"errors"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/fault"
)

// An entry delivered and acknowledged before anyone waited costs the engine nothing: the put
// and the delete cancel in the pending set, payload included, and the counts are right.
func TestPendingAcknowledgedEntryNeverWritten(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{})
		before := e.Stats().Commits
		for _, q := range []QueueID{"a", "b"} {
			seq, _, err := s.AppendNoSyncWait(msg(1, "one"), Target{Queue: q, QoS: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.MarkSent(q, Sent{Seq: seq, PacketID: 7}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.DeleteNoSyncWait(q, seq); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := e.Stats().Commits; got != before {
			t.Errorf("engine commits %d -> %d; want none for entries removed before they were applied", before, got)
		}
		if st := s.Stats(); st.Entries != 0 || st.Messages != 0 {
			t.Errorf("stats %+v; want empty", st)
		}
		checkConsistent(t, s, e)
	})
}

// Waiting applies: after SyncWait the entry and its payload are in the engine, and a reopen
// (the process died right after) finds them.
func TestPendingWaitApplies(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, closeFn := openStore(t, loc, store.Options{})
		_, d, err := s.AppendNoSyncWait(msg(1, "one"), Target{Queue: "a", QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		if idx, _ := dump(t, e); len(idx["a"]) != 0 {
			t.Fatalf("entry applied before anyone waited: %v", idx)
		}
		if err := d.SyncWait(); err != nil {
			t.Fatal(err)
		}
		if idx, ids := dump(t, e); len(idx["a"]) != 1 || len(ids) != 1 {
			t.Fatalf("after SyncWait the engine holds %v %v", idx, ids)
		}
		closeFn()
		s, e, _ = openStore(t, loc, store.Options{})
		if s.Len("a") != 1 {
			t.Fatalf("after reopen Len(a) = %d", s.Len("a"))
		}
		checkConsistent(t, s, e)
	})
}

// A window nobody waits for is applied within pendingDelay.
func TestPendingAppliedWithoutWaiter(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{})
		if _, _, err := s.AppendNoSyncWait(msg(1, "one"), Target{Queue: "a", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if idx, _ := dump(t, e); len(idx["a"]) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("pending entry not applied by the timer")
			}
			time.Sleep(pendingDelay)
		}
		checkConsistent(t, s, e)
	})
}

// A QoS 2 mark is applied before MarkSent returns (the PUBLISH or PUBREL written after it
// must never be ahead of it); a QoS 1 mark may wait.
func TestPendingQoS2MarksApplyAtOnce(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, closeFn := openStore(t, loc, store.Options{})
		m2 := msg(2, "two")
		m2.QoS = 2
		if err := s.Enqueue(msg(1, "one"), targets("a")); err != nil {
			t.Fatal(err)
		}
		if err := s.Enqueue(m2, []Target{{Queue: "a", QoS: 2}}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent("a", Sent{Seq: 1, PacketID: 11}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent("a", Sent{Seq: 2, PacketID: 12}, Sent{Seq: 2, Released: true}); err != nil {
			t.Fatal(err)
		}
		closeFn() // a crash: whatever was not applied is gone
		s, _, _ = openStore(t, loc, store.Options{})
		es, err := s.Read("a", 10, FIFO, time.Now())
		if err != nil || len(es) != 2 {
			t.Fatalf("Read = %v, %v", es, err)
		}
		if es[1].PacketID != 12 || !es[1].Released || !es[1].Dup {
			t.Errorf("QoS 2 entry after the crash: %+v; want packet id 12, released, dup", es[1])
		}
		if es[0].PacketID != 0 && es[0].PacketID != 11 {
			t.Errorf("QoS 1 entry after the crash: %+v", es[0])
		}
	})
}

// A record written after a queue entry never reaches the engine without it.
func TestWriteRecordFollowsTheQueues(t *testing.T) {
	const records store.Keyspace = "records"
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{ExtraKeyspaces: []store.Keyspace{records}})
		if _, _, err := s.AppendNoSyncWait(msg(1, "one"), Target{Queue: "a", QoS: 2}); err != nil {
			t.Fatal(err)
		}
		d := s.WriteRecord(records, []byte("session"), []byte("got packet 1"))
		if _, err := e.Get(records, []byte("session")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record applied before the entry it follows: %v", err)
		}
		if err := d.SyncWait(); err != nil {
			t.Fatal(err)
		}
		if v, err := e.Get(records, []byte("session")); err != nil || string(v) != "got packet 1" {
			t.Fatalf("record after SyncWait: %q, %v", v, err)
		}
		if idx, _ := dump(t, e); len(idx["a"]) != 1 {
			t.Fatalf("record applied without the entry: %v", idx)
		}
		if err := s.WriteRecord(records, []byte("session"), nil).SyncWait(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Get(records, []byte("session")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted record still there: %v", err)
		}
	})
}

// When the engine refuses a window, every waiter of that window gets the error, the counts
// are reverted to what the engine holds, and the next window goes through.
func TestPendingFailedApplyReverts(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{Injector: fault.OnIndex(store.OpWrite, 1)})
		if err := s.Enqueue(msg(1, "one"), targets("a", "b")); err != nil { // write 0
			t.Fatal(err)
		}
		_, d1, err := s.AppendNoSyncWait(msg(2, "two"), Target{Queue: "a", QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.DeleteNoSyncWait("b", 1); err != nil {
			t.Fatal(err)
		}
		_, d2, err := s.AppendNoSyncWait(msg(3, "three"), Target{Queue: "b", QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := d2.SyncWait(); !errors.Is(err, fault.ErrInjected) { // write 1 fails
			t.Fatalf("SyncWait of the failed window = %v", err)
		}
		if err := d1.SyncWait(); !errors.Is(err, fault.ErrInjected) {
			t.Fatalf("an earlier waiter of the failed window got %v", err)
		}
		if s.Len("a") != 1 || s.Len("b") != 1 {
			t.Fatalf("after the failed window Len a=%d b=%d; want 1 and 1 (as before it)", s.Len("a"), s.Len("b"))
		}
		checkConsistent(t, s, e)
		if err := s.Enqueue(msg(4, "four"), targets("b")); err != nil {
			t.Fatalf("the store did not go on after a failed window: %v", err)
		}
		checkConsistent(t, s, e)
	})
}

// BenchmarkDeliveryCycle is one online delivery of a persistent session as the broker makes
// it: append, mark sent, remove on acknowledgement, with a publisher waiting every 64.
func BenchmarkDeliveryCycle(b *testing.B) {
	db, err := store.Open(store.Options{Dir: b.TempDir(), Sync: store.SyncBatch})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := Open(db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := range b.N {
		m := msg(uint64(i+1), "payload of a typical size, a few dozen bytes")
		seq, d, err := s.AppendNoSyncWait(m, Target{Queue: "q", QoS: 1})
		if err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			if err := d.SyncWait(); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.MarkSent("q", Sent{Seq: seq, PacketID: uint16(i)}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.DeleteNoSyncWait("q", seq); err != nil {
			b.Fatal(err)
		}
	}
}

// The queues of one publish can land in different windows (the timer or the size bound
// applies between two of them). When the later window fails, the receipts say which queues
// hold the message, so the publisher's resend goes only to the others.
func TestReceiptsAcrossWindows(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, _ := openStore(t, loc, store.Options{Injector: fault.OnIndex(store.OpWrite, 1)})
		r := &Receipt{Owner: "publisher", ID: 7}
		m := msg(1, "once")
		m.QoS, m.Receipt = 2, r
		if _, _, err := s.AppendNoSyncWait(m, Target{Queue: "a", QoS: 2}); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil { // write 0: queue a's window
			t.Fatal(err)
		}
		_, d, err := s.AppendNoSyncWait(m, Target{Queue: "b", QoS: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SyncWait(); !errors.Is(err, fault.ErrInjected) { // write 1 fails
			t.Fatalf("SyncWait = %v", err)
		}
		for q, want := range map[QueueID]bool{"a": true, "b": false} {
			if got, err := s.Received(*r, q); err != nil || got != want {
				t.Errorf("Received(%s) = %v, %v; want %v", q, got, err, want)
			}
		}
		if s.Len("a") != 1 || s.Len("b") != 0 {
			t.Errorf("Len a=%d b=%d; want 1, 0", s.Len("a"), s.Len("b"))
		}
	})
}

// gatedWrite holds the engine's next write until released, then fails it or lets it through.
type gatedWrite struct {
	armed   chan struct{} // closed: the next write blocks
	entered chan struct{}
	release chan error
}

func (g *gatedWrite) MaybeError(op store.Op) error {
	if op != store.OpWrite {
		return nil
	}
	select {
	case <-g.armed:
	default:
		return nil
	}
	select {
	case g.entered <- struct{}{}:
		return <-g.release
	default:
		return nil
	}
}

// A window is written with the store's mutex released, so mutations go on meanwhile and read
// the window's writes from memory. When the engine then refuses that window, the next one,
// which built on it (it deletes an entry the refused window wrote), fails with it, and the
// counts describe the engine again.
func TestPendingWindowFailsWithTheOneItBuiltOn(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		g := &gatedWrite{armed: make(chan struct{}), entered: make(chan struct{}), release: make(chan error)}
		s, e, _ := openStore(t, loc, store.Options{Injector: g})
		close(g.armed)
		seq, d1, err := s.AppendNoSyncWait(msg(1, "one"), Target{Queue: "a", QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- d1.SyncWait() }()
		<-g.entered // the first window is being written
		if n, _, err := s.DeleteNoSyncWait("a", seq); err != nil || n != 1 {
			t.Fatalf("delete during the write = %d, %v; want the entry found in the window", n, err)
		}
		_, d2, err := s.AppendNoSyncWait(msg(2, "two"), Target{Queue: "b", QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		g.release <- fault.ErrInjected
		if err := <-waited; !errors.Is(err, fault.ErrInjected) {
			t.Fatalf("waiter of the refused window got %v", err)
		}
		if err := d2.SyncWait(); !errors.Is(err, fault.ErrInjected) {
			t.Fatalf("waiter of the window built on it got %v", err)
		}
		if s.Len("a") != 0 || s.Len("b") != 0 {
			t.Fatalf("Len a=%d b=%d; want 0, 0", s.Len("a"), s.Len("b"))
		}
		checkConsistent(t, s, e)
		if err := s.Enqueue(msg(3, "three"), targets("a")); err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, s, e)
	})
}
