package metadata_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metadata/metadatatest"
)

func newMemory(t *testing.T) metadata.Store {
	m := metadata.NewMemory("node1", nil)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestMemoryContract(t *testing.T) {
	metadatatest.Run(t, newMemory)
}

// fakeClock returns a settable clock.
func fakeClock(start int64) (*atomic.Int64, func() int64) {
	var now atomic.Int64
	now.Store(start)
	return &now, now.Load
}

var (
	bg = context.Background()
	fp = metadata.FullPrefix{Prefix: "test", Sub: "t"}
)

func rawTS(t *testing.T, m *metadata.Memory, key string) int64 {
	t.Helper()
	sibs, _, err := m.GetRaw(bg, fp, []byte(key))
	if err != nil || len(sibs) != 1 {
		t.Fatalf("GetRaw(%q) = %v, %v; want one sibling", key, sibs, err)
	}
	return sibs[0].TS
}

func TestMemoryTimestamps(t *testing.T) {
	now, clock := fakeClock(1000)
	m := metadata.NewMemory("n1", clock)
	defer m.Close()
	k := []byte("k")

	if err := m.Put(bg, fp, k, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if ts := rawTS(t, m, "k"); ts != 1000 {
		t.Fatalf("TS = %d; want the clock, 1000", ts)
	}
	// A stopped clock: each write still lands strictly above the last.
	for want := int64(1001); want <= 1003; want++ {
		if err := m.Put(bg, fp, k, []byte("b")); err != nil {
			t.Fatal(err)
		}
		if ts := rawTS(t, m, "k"); ts != want {
			t.Fatalf("TS = %d; want %d", ts, want)
		}
	}
	// The clock goes backwards: winner.TS+1 again, and Delete obeys it too.
	now.Store(10)
	if err := m.Delete(bg, fp, k); err != nil {
		t.Fatal(err)
	}
	if ts := rawTS(t, m, "k"); ts != 1004 {
		t.Fatalf("TS after clock went back = %d; want 1004", ts)
	}
	// The clock moves ahead again: it is used as is. Other keys do not
	// share the floor.
	now.Store(5000)
	if err := m.Put(bg, fp, k, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(bg, fp, []byte("other"), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if ts := rawTS(t, m, "k"); ts != 5000 {
		t.Fatalf("TS = %d; want 5000", ts)
	}
	if ts := rawTS(t, m, "other"); ts != 5000 {
		t.Fatalf("TS of another key = %d; want 5000", ts)
	}
	sibs, _, _ := m.GetRaw(bg, fp, k)
	if sibs[0].Node != "n1" || m.Node() != "n1" {
		t.Fatalf("node = %q, %q; want n1", sibs[0].Node, m.Node())
	}
}

func TestMemoryCluster(t *testing.T) {
	m := metadata.NewMemory("n1", nil)
	defer m.Close()
	if got := m.Members(); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("Members = %v", got)
	}
	if err := m.Join("n2@127.0.0.1"); !errors.Is(err, metadata.ErrSingleNode) {
		t.Fatalf("Join = %v; want ErrSingleNode", err)
	}
	if err := m.Leave("n1"); !errors.Is(err, metadata.ErrSingleNode) {
		t.Fatalf("Leave(self) = %v; want ErrSingleNode", err)
	}
	if err := m.Leave("n2"); !errors.Is(err, metadata.ErrUnknownMember) {
		t.Fatalf("Leave(other) = %v; want ErrUnknownMember", err)
	}
}

func TestMemoryClose(t *testing.T) {
	m := metadata.NewMemory("n1", nil)
	ch, cancel := m.Subscribe(fp, false)
	defer cancel()
	if err := m.Put(bg, fp, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok { // the undelivered event was dropped with the queue
		t.Fatal("subscription channel open after Close")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	ops := map[string]error{
		"Put":    m.Put(bg, fp, []byte("k"), nil),
		"Delete": m.Delete(bg, fp, []byte("k")),
		"Fold":   m.Fold(bg, fp, func(_, _ []byte) error { return nil }),
		"PutRaw": m.PutRaw(bg, fp, []byte("k"), metadata.Value{}, nil),
	}
	_, _, ops["Get"] = m.Get(bg, fp, []byte("k"))
	_, _, ops["GetRaw"] = m.GetRaw(bg, fp, []byte("k"))
	for op, err := range ops {
		if !errors.Is(err, metadata.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", op, err)
		}
	}
	ch2, cancel2 := m.Subscribe(fp, false)
	defer cancel2()
	if _, ok := <-ch2; ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
}

func TestMemoryBadContext(t *testing.T) {
	m := metadata.NewMemory("n1", nil)
	defer m.Close()
	for _, cc := range []metadata.Context{{'x', 1}, {'m'}, {'m', 0x80}, {'m', 1, 2}} {
		err := m.PutRaw(bg, fp, []byte("k"), metadata.Value{Data: []byte("v")}, cc)
		if !errors.Is(err, metadata.ErrBadContext) {
			t.Errorf("PutRaw with context %x = %v; want ErrBadContext", cc, err)
		}
	}
}

func TestMemoryQueuedAndCancel(t *testing.T) {
	m := metadata.NewMemory("n1", nil)
	defer m.Close()
	ch, cancel := m.Subscribe(fp, false)
	for i := range 10 {
		if err := m.Put(bg, fp, []byte{byte(i)}, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if q := m.QueuedEvents(); q != 10 {
		t.Fatalf("QueuedEvents = %d with nobody reading; want 10", q)
	}
	<-ch
	<-ch
	// The forwarder discounts an event after the send, so wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for m.QueuedEvents() != 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if q := m.QueuedEvents(); q != 8 {
		t.Fatalf("QueuedEvents = %d after two reads; want 8", q)
	}
	cancel()
	// Memory's cancel waits for the forwarder: the channel is closed and
	// the queue released by the time it returns.
	if _, ok := <-ch; ok {
		t.Fatal("event received after cancel returned")
	}
	if q := m.QueuedEvents(); q != 0 {
		t.Fatalf("QueuedEvents = %d after cancel; want 0", q)
	}
}

func TestMemoryPurgeTombstones(t *testing.T) {
	now, clock := fakeClock(100)
	m := metadata.NewMemory("n1", clock)
	defer m.Close()
	put := func(k string) {
		if err := m.Put(bg, fp, []byte(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	put("b")
	put("c")
	if err := m.Delete(bg, fp, []byte("a")); err != nil { // TS 100
		t.Fatal(err)
	}
	now.Store(200)
	if err := m.Delete(bg, fp, []byte("b")); err != nil { // TS 200
		t.Fatal(err)
	}
	if n := m.PurgeTombstones(150); n != 1 {
		t.Fatalf("PurgeTombstones(150) = %d; want 1 (a)", n)
	}
	if sibs, _, _ := m.GetRaw(bg, fp, []byte("a")); len(sibs) != 0 {
		t.Fatalf("purged key still has %v", sibs)
	}
	if sibs, _, _ := m.GetRaw(bg, fp, []byte("b")); len(sibs) != 1 || !sibs[0].Tomb {
		t.Fatalf("young tombstone purged: %v", sibs)
	}
	var keys []string
	if err := m.Fold(bg, fp, func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"c"}) {
		t.Fatalf("Fold after purge = %q", keys)
	}
	put("a") // a purged key can be written again
	if n := m.PurgeTombstones(1 << 62); n != 1 {
		t.Fatalf("PurgeTombstones(all) = %d; want 1 (b)", n)
	}
	keys = nil
	if err := m.Fold(bg, fp, func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"a", "c"}) {
		t.Fatalf("Fold after second purge = %q", keys)
	}
}

// PutRaw of a value that names this node is this node's own write: Local,
// and hidden from skipLocal subscribers.
func TestMemoryPutRawLocal(t *testing.T) {
	m := metadata.NewMemory("n1", nil)
	defer m.Close()
	skip, cancelSkip := m.Subscribe(fp, true)
	defer cancelSkip()
	all, cancelAll := m.Subscribe(fp, false)
	defer cancelAll()
	if err := m.PutRaw(bg, fp, []byte("k"), metadata.Value{TS: 1, Node: "n1", Data: []byte("mine")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.PutRaw(bg, fp, []byte("k"), metadata.Value{TS: 2, Node: "n2", Data: []byte("theirs")}, nil); err != nil {
		t.Fatal(err)
	}
	if e := <-all; !e.Local || string(e.New) != "mine" {
		t.Fatalf("first event = %+v; want local \"mine\"", e)
	}
	if e := <-all; e.Local || string(e.New) != "theirs" {
		t.Fatalf("second event = %+v; want remote \"theirs\"", e)
	}
	if e := <-skip; e.Local || string(e.Old) != "mine" || string(e.New) != "theirs" {
		t.Fatalf("skipLocal subscriber got %+v; want only the remote change", e)
	}
}
