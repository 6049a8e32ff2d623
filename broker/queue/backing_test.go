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

func (m *memBacking) Append(d Delivery) (uint64, Durable, error) {
	m.next++
	d.Seq = m.next
	m.entries = append(m.entries, d)
	return d.Seq, nil, nil
}

func (m *memBacking) Page(after, before uint64, n int, lifo bool, _ time.Time) ([]Delivery, int, error) {
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
		if !lifo && before != 0 && e.Seq >= before {
			break
		}
		out = append(out, e)
	}
	return out, 0, nil
}

func (m *memBacking) Remove(seqs ...uint64) error {
	m.entries = slices.DeleteFunc(m.entries, func(d Delivery) bool { return slices.Contains(seqs, d.Seq) })
	return nil
}

func (m *memBacking) MarkSent(sent ...Sent) error {
	for i := range m.entries {
		for _, s := range sent {
			if s.Seq == m.entries[i].Seq {
				m.entries[i].Dup = true
				m.entries[i].PacketID = s.PacketID
				m.entries[i].Released = m.entries[i].Released || s.Released
			}
		}
	}
	return nil
}

func (m *memBacking) Received(*message.Receipt) (bool, error) { return false, nil }

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
// sent before y) and a backlog (a older than b). In this process the session resends the
// in-flight ones itself and the queue hands out the backlog; after a restart (a new queue on
// the same store, nothing acknowledged) the in-flight ones come back too, marked DUP: first
// for FIFO, in the queue's newest-first order for LIFO (they were stored when queued, before
// the backlog).
func TestGoingOfflineKeepsOrderAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		typ     Type
		backlog []string
		want    []string
	}{
		{FIFO, []string{"a", "b"}, []string{"x", "y", "a", "b"}},
		{LIFO, []string{"b", "a"}, []string{"b", "a", "y", "x"}},
	} {
		store := &memBacking{}
		p := Policy{Type: tc.typ, MaxOnline: -1, MaxOffline: -1}
		q := New(p, nil)
		q.SetBacking(store)
		q.SetOnline(true)
		q.Enqueue(named("x"))
		q.Enqueue(named("y"))
		inflight := q.Take(nil, 10, time.Now())
		if len(inflight) != 2 || inflight[0].Seq == 0 || inflight[1].Seq == 0 {
			t.Fatalf("%v: deliveries of a persistent session not stored when queued: %+v", tc.typ, inflight)
		}
		if err := q.MarkSent([]Sent{{Seq: inflight[0].Seq}, {Seq: inflight[1].Seq}}); err != nil {
			t.Fatal(err)
		}
		q.Enqueue(named("a"))
		q.Enqueue(named("b"))
		q.StoreInflight(inflight)
		q.SetOnline(false)
		q.SetOnline(true)
		if got := topics(q.Take(nil, 10, time.Now())); !slices.Equal(got, tc.backlog) {
			t.Fatalf("%v: before restart took %v; want %v", tc.typ, got, tc.backlog)
		}

		fresh := New(p, nil)
		fresh.SetBacking(store)
		fresh.SetOnline(true)
		got := fresh.Take(nil, 10, time.Now())
		if !slices.Equal(topics(got), tc.want) {
			t.Fatalf("%v: after restart took %v; want %v", tc.typ, topics(got), tc.want)
		}
		for _, d := range got {
			if d.Dup != (d.Msg.Topic == "x" || d.Msg.Topic == "y") {
				t.Fatalf("%v: %s has DUP %v; want it on the in-flight ones only", tc.typ, d.Msg.Topic, d.Dup)
			}
		}
	}
}
