package queue

import (
	"slices"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
)

// memBacking is a Backing in memory, standing in for the message store.
type memBacking struct {
	next    uint64
	entries []Delivery // in Seq order
}

func (m *memBacking) Append(d Delivery) (uint64, error) {
	m.next++
	d.Seq = m.next
	m.entries = append(m.entries, d)
	return d.Seq, nil
}

func (m *memBacking) Page(after uint64, n int, lifo bool, _ time.Time) ([]Delivery, int, error) {
	var out []Delivery
	es := slices.Clone(m.entries)
	if lifo {
		slices.Reverse(es)
	}
	for _, e := range es {
		if len(out) == n {
			break
		}
		if after != 0 && ((!lifo && e.Seq <= after) || (lifo && e.Seq >= after)) {
			continue
		}
		out = append(out, e)
	}
	return out, 0, nil
}

func (m *memBacking) Remove(seqs ...uint64) error {
	m.entries = slices.DeleteFunc(m.entries, func(d Delivery) bool { return slices.Contains(seqs, d.Seq) })
	return nil
}

func (m *memBacking) MarkSent(seqs ...uint64) error {
	for i := range m.entries {
		if slices.Contains(seqs, m.entries[i].Seq) {
			m.entries[i].Dup = true
		}
	}
	return nil
}

func (m *memBacking) Len() int     { return len(m.entries) }
func (m *memBacking) Clear() error { m.entries = nil; return nil }

func named(s string) Delivery { return Delivery{Msg: &message.Message{Topic: s}, QoS: 1} }

func topics(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Msg.Topic)
	}
	return out
}

// TestGoingOfflineKeepsOrderAcrossRestart: a session goes offline with messages in flight (x
// sent before y) and a backlog (a older than b). After a restart the in-flight ones come back
// first, in the order they were sent, then the backlog in the queue's order.
func TestGoingOfflineKeepsOrderAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		want []string
	}{
		{FIFO, []string{"x", "y", "a", "b"}},
		{LIFO, []string{"x", "y", "b", "a"}},
	} {
		store := &memBacking{}
		p := Policy{Type: tc.typ, MaxOnline: -1, MaxOffline: -1}
		q := New(p, nil)
		q.SetBacking(store)
		q.SetOnline(true)
		q.Enqueue(named("a"))
		q.Enqueue(named("b"))
		inflight := q.StoreInflight([]Delivery{named("x"), named("y")})
		if inflight[0].Seq == 0 || inflight[1].Seq == 0 {
			t.Fatalf("%v: in-flight deliveries not stored: %+v", tc.typ, inflight)
		}
		q.SetOnline(false)
		// In this process the in-flight ones are resent by the session, not paged in again.
		q.SetOnline(true)
		if got := topics(q.Take(nil, 10, time.Now())); !slices.Equal(got, tc.want[2:]) {
			t.Fatalf("%v: before restart took %v; want %v", tc.typ, got, tc.want[2:])
		}

		// A restart: a new queue on the same store (nothing was acknowledged), nothing taken.
		fresh := New(p, nil)
		fresh.SetBacking(store)
		fresh.SetOnline(true)
		got := fresh.Take(nil, 10, time.Now())
		if !slices.Equal(topics(got), tc.want) {
			t.Fatalf("%v: after restart took %v; want %v", tc.typ, topics(got), tc.want)
		}
		if !got[0].Dup || !got[1].Dup || got[2].Dup {
			t.Fatalf("%v: DUP marks %v %v %v; want the in-flight ones only", tc.typ, got[0].Dup, got[1].Dup, got[2].Dup)
		}
	}
}
