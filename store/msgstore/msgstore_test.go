package msgstore

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/store"
)

func TestSingleCopyRefcounted(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{})
		var qs []QueueID
		for i := range 10 {
			qs = append(qs, QueueID(fmt.Sprintf("client-%d", i)))
		}
		if err := s.Enqueue(msg(7, "payload"), targets(qs...)); err != nil {
			t.Fatal(err)
		}
		idx, ids := dump(t, e)
		if len(ids) != 1 || len(idx) != 10 {
			t.Fatalf("%d payload keys and %d queues, want 1 and 10", len(ids), len(idx))
		}
		for i, q := range qs[:9] {
			if n, err := s.Delete(q, 1); err != nil || n != 1 {
				t.Fatalf("Delete: %d, %v", n, err)
			}
			if _, ids := dump(t, e); len(ids) != 1 {
				t.Fatalf("payload gone after %d of 10 deletes", i+1)
			}
		}
		if _, err := s.Delete(qs[9], 1); err != nil {
			t.Fatal(err)
		}
		if _, ids := dump(t, e); len(ids) != 0 {
			t.Fatalf("payload kept after the last reference: %v", ids)
		}
		checkConsistent(t, s, e)
	})
}

func TestPaging(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{})
		now := time.Now()
		for i := uint64(1); i <= 10; i++ {
			// "q" and "qq" share a prefix: their entries must not mix.
			if err := s.Enqueue(msg(i, fmt.Sprint(i)), targets("q", "qq")); err != nil {
				t.Fatal(err)
			}
		}
		s.Enqueue(msg(100, "other"), targets("qq"))
		cases := []struct {
			after uint64
			n     int
			order Order
			want  []uint64
		}{
			{0, 3, FIFO, []uint64{1, 2, 3}},
			{3, 3, FIFO, []uint64{4, 5, 6}},
			{9, 5, FIFO, []uint64{10}},
			{10, 5, FIFO, nil},
			{0, 3, LIFO, []uint64{10, 9, 8}},
			{8, 3, LIFO, []uint64{7, 6, 5}},
			{2, 5, LIFO, []uint64{1}},
			{1, 5, LIFO, nil},
			{0, 100, FIFO, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		}
		for _, c := range cases {
			got, err := s.ReadAfter("q", c.after, c.n, c.order, now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), c.want) {
				t.Errorf("ReadAfter(q, %d, %d, %v) = %v, want %v", c.after, c.n, c.order, seqs(got), c.want)
			}
			for _, en := range got {
				if string(en.Message.Payload) != fmt.Sprint(en.Seq) || en.Message.ID != en.Seq {
					t.Errorf("entry %d carries message %d %q", en.Seq, en.Message.ID, en.Message.Payload)
				}
			}
		}
		if got, _ := s.Read("qq", 1, LIFO, now); len(got) != 1 || got[0].Message.ID != 100 || got[0].Seq != 11 {
			t.Errorf("Read(qq, LIFO) = %+v", got)
		}
		// Deleting the head moves FIFO on; sequences keep growing after deletes.
		s.Delete("q", 1, 2, 3)
		if got, _ := s.Read("q", 1, FIFO, now); got[0].Seq != 4 {
			t.Errorf("after delete, head = %d", got[0].Seq)
		}
		s.Delete("q", 4, 5, 6, 7, 8, 9, 10)
		s.Enqueue(msg(11, "x"), targets("q"))
		if got, _ := s.Read("q", 1, FIFO, now); got[0].Seq != 11 {
			t.Errorf("sequence restarted: %d", got[0].Seq)
		}
		checkConsistent(t, s, e)
	})
}

func TestEntryFieldsRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, _ := openStore(t, loc, store.Options{})
		m := Message{ID: 1, Topic: "a/b", Payload: bytes.Repeat([]byte{0, 1, 2}, 1000), QoS: 2, Retain: true,
			Properties: []byte{0x81, 0xa1, 'x', 1}, ExpiresAt: time.Now().Add(time.Hour).UnixMilli()}
		err := s.Enqueue(m, []Target{{Queue: "a", QoS: 1, SubIDs: []uint32{5, 268435455}}, {Queue: "b", QoS: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent("a", Sent{Seq: 1}, Sent{Seq: 99}); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Read("a", 1, FIFO, time.Now())
		b, _ := s.Read("b", 1, FIFO, time.Now())
		if len(a) != 1 || len(b) != 1 {
			t.Fatalf("reads: %v %v", a, b)
		}
		if a[0].QoS != 1 || !a[0].Dup || !slices.Equal(a[0].SubIDs, []uint32{5, 268435455}) {
			t.Errorf("entry a = %+v", a[0])
		}
		if b[0].QoS != 2 || b[0].Dup || b[0].SubIDs != nil {
			t.Errorf("entry b = %+v", b[0])
		}
		got := a[0].Message
		if got.ID != m.ID || got.Topic != m.Topic || !bytes.Equal(got.Payload, m.Payload) || got.QoS != m.QoS ||
			!got.Retain || !bytes.Equal(got.Properties, m.Properties) || got.ExpiresAt != m.ExpiresAt {
			t.Errorf("message = %+v", got)
		}
	})
}

func TestExpiry(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{})
		now := time.UnixMilli(1_000_000)
		old, soon, never := msg(1, "old"), msg(2, "soon"), msg(3, "never")
		old.ExpiresAt = now.UnixMilli() - 1
		soon.ExpiresAt = now.UnixMilli() + 1000
		for _, m := range []Message{old, soon, never} {
			if err := s.Enqueue(m, targets("a", "b")); err != nil {
				t.Fatal(err)
			}
		}
		// Read drops what expired, and deletes it.
		got, err := s.Read("a", 10, FIFO, now)
		if err != nil || !slices.Equal(seqs(got), []uint64{2, 3}) {
			t.Fatalf("Read = %v, %v", seqs(got), err)
		}
		if s.Len("a") != 2 {
			t.Fatalf("expired entry kept: Len = %d", s.Len("a"))
		}
		// Before anything expires Sweep returns without scanning; later it removes the rest.
		if n, _ := s.Sweep(now.Add(-time.Hour)); n != 0 {
			t.Fatalf("early sweep removed %d", n)
		}
		n, err := s.Sweep(now.Add(2 * time.Second))
		if err != nil || n != 3 { // old and soon in b, soon in a
			t.Fatalf("Sweep = %d, %v; want 3", n, err)
		}
		idx, ids := dump(t, e)
		if len(ids) != 1 || ids[0] != 3 || len(idx["a"]) != 1 || len(idx["b"]) != 1 {
			t.Fatalf("after sweep: %v %v", idx, ids)
		}
		if n, _ := s.Sweep(now.Add(time.Hour)); n != 0 {
			t.Fatalf("second sweep removed %d", n)
		}
		checkConsistent(t, s, e)
	})
}

// TestExpiryKeepsSentQoS2: a QoS 2 entry marked sent survives its message's expiry in Read,
// in Sweep and across a reopen, so a restarted broker finishes the exchange [MQTT-4.3.3-7];
// unsent and QoS 1 entries of the same message expire.
func TestExpiryKeepsSentQoS2(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, _, closeFn := openStore(t, loc, store.Options{})
		now := time.UnixMilli(1_000_000)
		m := msg(1, "m")
		m.QoS, m.ExpiresAt = 2, now.UnixMilli()+1000
		ts := []Target{{Queue: "sent2", QoS: 2}, {Queue: "unsent2", QoS: 2}, {Queue: "sent1", QoS: 1}}
		if err := s.Enqueue(m, ts); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent("sent2", Sent{Seq: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent("sent1", Sent{Seq: 1}); err != nil {
			t.Fatal(err)
		}
		later := now.Add(2 * time.Second)
		if n, err := s.Sweep(later); err != nil || n != 2 {
			t.Fatalf("Sweep = %d, %v; want 2 (unsent2, sent1)", n, err)
		}
		closeFn()
		s, e, _ := openStore(t, loc, store.Options{})
		for q, want := range map[QueueID]int{"sent2": 1, "unsent2": 0, "sent1": 0} {
			got, err := s.Read(q, 10, FIFO, later)
			if err != nil || len(got) != want {
				t.Fatalf("Read %s = %v, %v; want %d entries", q, seqs(got), err, want)
			}
			if want == 1 && (!got[0].Dup || got[0].QoS != 2 || string(got[0].Message.Payload) != "m") {
				t.Fatalf("Read %s = %+v; want the sent QoS 2 entry", q, got[0])
			}
		}
		checkConsistent(t, s, e)
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, closeFn := openStore(t, loc, store.Options{})
		for i := uint64(1); i <= 20; i++ {
			qs := []QueueID{"a", "b"}
			if i%2 == 0 {
				qs = append(qs, "c")
			}
			if err := s.Enqueue(msg(i, fmt.Sprint(i)), targets(qs...)); err != nil {
				t.Fatal(err)
			}
		}
		s.Delete("a", 1, 2, 3)
		s.DeleteQueue("c")
		want, _ := dump(t, e)
		closeFn()

		s, e, _ = openStore(t, loc, store.Options{})
		got, _ := dump(t, e)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after reopen %v\nwant %v", got, want)
		}
		var qs []string
		for q := range s.Queues() {
			qs = append(qs, string(q))
		}
		sort.Strings(qs)
		if !slices.Equal(qs, []string{"a", "b"}) || s.Len("a") != 17 || s.Len("b") != 20 || s.Len("c") != 0 {
			t.Fatalf("queues %v, lens %d %d %d", qs, s.Len("a"), s.Len("b"), s.Len("c"))
		}
		if err := s.Enqueue(msg(21, "x"), targets("a")); err != nil {
			t.Fatal(err)
		}
		if es, _ := s.Read("a", 1, LIFO, time.Now()); es[0].Seq != 21 {
			t.Fatalf("sequence after reopen = %d, want 21", es[0].Seq)
		}
		st := s.Stats()
		if st.OrphansRemoved != 0 || st.DanglingRemoved != 0 || st.Queues != 2 {
			t.Fatalf("stats %+v", st)
		}
		checkConsistent(t, s, e)
	})
}

func TestOpenRepairsOrphansAndDangling(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		_, e, closeFn := openStore(t, loc, store.Options{})
		// What no sequence of Store operations leaves, but a bug or a partial restore could.
		b := e.NewBatch()
		b.Put(store.Messages, msgKey(1), appendMessage(nil, &Message{ID: 1, Topic: "orphan"}))
		b.Put(store.QueueIndex, indexKey("q", 1), appendEntry(nil, &entryValue{msgID: 2}))
		b.Put(store.Messages, msgKey(3), appendMessage(nil, &Message{ID: 3, Topic: "kept"}))
		b.Put(store.QueueIndex, indexKey("q", 2), appendEntry(nil, &entryValue{msgID: 3}))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		closeFn()
		s, e, _ := openStore(t, loc, store.Options{})
		if st := s.Stats(); st.OrphansRemoved != 1 || st.DanglingRemoved != 1 || st.Entries != 1 {
			t.Fatalf("stats %+v", st)
		}
		checkConsistent(t, s, e)
	})
}

func TestConcurrentUse(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		s, e, _ := openStore(t, loc, store.Options{Sync: store.SyncBatch})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					id := uint64(w*1000 + i)
					qs := []QueueID{"shared", QueueID(fmt.Sprint("own-", w))}
					if err := s.Enqueue(msg(id, "p"), targets(qs...)); err != nil {
						t.Error(err)
						return
					}
					if i%3 == 0 {
						es, err := s.Read("shared", 2, FIFO, time.Now())
						if err != nil {
							t.Error(err)
							return
						}
						if _, err := s.Delete("shared", seqs(es)...); err != nil {
							t.Error(err)
							return
						}
					}
				}
				s.DeleteQueue(QueueID(fmt.Sprint("own-", w)))
			}()
		}
		wg.Wait()
		checkConsistent(t, s, e)
	})
}

func TestAppendReturnsTheEntrySequence(t *testing.T) {
	engines(t, func(t *testing.T, loc location) {
		{
			s, _, _ := openStore(t, loc, store.Options{})
			q := QueueID("q")
			for i := 1; i <= 3; i++ {
				seq, err := s.Append(Message{ID: uint64(i), Topic: "t", Payload: []byte("p")}, Target{Queue: q, QoS: 1})
				if err != nil || seq != uint64(i) {
					t.Fatalf("Append %d = %d, %v", i, seq, err)
				}
			}
			if n, err := s.Delete(q, 2); n != 1 || err != nil {
				t.Fatalf("Delete(2) = %d, %v", n, err)
			}
			es, _ := s.Read(q, 10, FIFO, time.Now())
			if len(es) != 2 || es[0].Seq != 1 || es[1].Seq != 3 {
				t.Fatalf("after deleting seq 2: %+v", es)
			}
		}
	})
}
