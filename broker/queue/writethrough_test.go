package queue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
)

// TestOnlinePersistentQueueIsStored: a persistent session's QoS 1/2 deliveries are in the
// store while it is online, not only once it goes offline, so a crash (a new queue on the same
// store, nothing acknowledged) loses none of them; QoS 0 stays in memory.
func TestOnlinePersistentQueueIsStored(t *testing.T) {
	for _, typ := range []Type{FIFO, LIFO} {
		store := &memBacking{}
		q := New(Policy{Type: typ, MaxOnline: -1, MaxOffline: -1}, nil)
		q.SetBacking(store)
		q.SetOnline(true)
		for _, s := range []string{"a", "b", "c"} {
			q.Enqueue(named(s))
		}
		q.Enqueue(Delivery{Msg: &message.Message{Topic: "qos0"}})
		if store.Len() != 3 {
			t.Fatalf("%v: store holds %d deliveries of an online session; want 3", typ, store.Len())
		}
		// FIFO hands out a then b; LIFO the QoS 0 message (newest, in memory) then c.
		first := q.Take(nil, 2, time.Now())
		acked := first[0]
		if acked.Seq == 0 {
			acked = first[1]
		}
		if err := q.Ack(acked.Seq); err != nil {
			t.Fatal(err)
		}
		crashed := New(Policy{Type: typ, MaxOnline: -1, MaxOffline: -1}, nil)
		crashed.SetBacking(store)
		crashed.SetOnline(true)
		got := topics(crashed.Take(nil, 10, time.Now()))
		want := []string{"b", "c"}
		if typ == LIFO {
			want = []string{"b", "a"}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v: after a crash took %v; want %v (first taken %v)", typ, got, want, topics(first))
		}
	}
}

// TestWriteThroughPushFrontThenOffer is the case that needs the memory floor: deliveries taken
// and given back go back to the store's side, the ones still in memory stay there, and a new
// one arriving meanwhile follows them, each taken exactly once.
func TestWriteThroughPushFrontThenOffer(t *testing.T) {
	q := New(Policy{Type: FIFO, MaxOnline: -1, MaxOffline: -1}, nil)
	q.SetBacking(&memBacking{})
	q.SetOnline(true)
	for _, s := range []string{"a", "b", "c", "d"} {
		q.Enqueue(named(s))
	}
	taken := q.Take(nil, 2, time.Now())
	q.PushFront(taken)
	q.Enqueue(named("e"))
	if got := topics(q.Take(nil, 10, time.Now())); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("took %v; want a..e once each, in order", got)
	}
}

// TestWriteThroughModel drives a persistent queue with random operations — offers, takes,
// sends and give-backs, acknowledgements, offline and online, and crashes (a new queue on the
// same store, what was in flight forgotten) — and checks what a subscriber would see: within
// one life of the process no message twice, across a crash only unacknowledged ones again,
// FIFO order within a life, and at the end every message delivered.
func TestWriteThroughModel(t *testing.T) {
	for seed := range uint64(300) {
		for _, typ := range []Type{FIFO, LIFO} {
			if err := runWriteThroughModel(seed, typ); err != nil {
				t.Fatalf("seed %d %v: %v", seed, typ, err)
			}
		}
	}
}

type wtModel struct {
	typ      Type
	rng      *rand.Rand
	store    *memBacking
	q        *Queue
	inflight []Delivery
	acked    map[string]bool
	seen     map[string]bool // taken in this life
	last     int             // FIFO: index of the newest message taken in this life
	next     int
}

func (m *wtModel) life() {
	m.q = New(Policy{Type: m.typ, MaxOnline: -1, MaxOffline: -1}, nil)
	m.q.SetBacking(m.store)
	m.inflight, m.seen, m.last = nil, map[string]bool{}, -1
}

func (m *wtModel) take(n int) error {
	ds := m.q.Take(nil, n, time.Now())
	for _, d := range ds {
		name := d.Msg.Topic
		if m.seen[name] {
			return fmt.Errorf("%s taken twice in one life", name)
		}
		if m.acked[name] {
			return fmt.Errorf("%s taken again after its acknowledgement", name)
		}
		if d.Seq == 0 {
			return fmt.Errorf("%s handed out without a stored copy", name)
		}
	}
	// A writer sends a prefix and gives the rest back when its connection closes.
	sent := m.rng.IntN(len(ds) + 1)
	for _, d := range ds[:sent] {
		var i int
		fmt.Sscanf(d.Msg.Topic, "m%d", &i)
		if m.typ == FIFO && i < m.last && !d.Dup {
			return fmt.Errorf("%s sent after m%d, out of order", d.Msg.Topic, m.last)
		}
		m.last = max(m.last, i)
		m.seen[d.Msg.Topic] = true
		m.inflight = append(m.inflight, d)
	}
	m.q.PushFront(ds[sent:])
	return nil
}

func runWriteThroughModel(seed uint64, typ Type) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &wtModel{typ: typ, rng: rng, store: &memBacking{}, acked: map[string]bool{}}
	m.life()
	online := false
	for range 200 {
		switch op := rng.IntN(10); {
		case op < 4:
			m.q.Enqueue(named(fmt.Sprintf("m%d", m.next)))
			m.next++
		case op < 6 && online:
			if err := m.take(1 + rng.IntN(4)); err != nil {
				return err
			}
		case op < 8 && len(m.inflight) > 0:
			i := rng.IntN(len(m.inflight))
			d := m.inflight[i]
			m.inflight = slices.Delete(m.inflight, i, i+1)
			m.acked[d.Msg.Topic] = true
			if err := m.q.Ack(d.Seq); err != nil {
				return err
			}
		case op == 8:
			online = !online
			m.q.SetOnline(online)
		default:
			m.life()
			online = false
		}
	}
	// Drain: what is in flight is acknowledged, the rest taken until nothing is left.
	m.q.SetOnline(true)
	for _, d := range m.inflight {
		m.acked[d.Msg.Topic] = true
		m.q.Ack(d.Seq)
	}
	m.inflight = nil
	for m.q.Len() > 0 {
		ds := m.q.Take(nil, 10, time.Now())
		if len(ds) == 0 {
			return fmt.Errorf("queue says %d left but hands out none", m.q.Len())
		}
		for _, d := range ds {
			if m.acked[d.Msg.Topic] || m.seen[d.Msg.Topic] {
				return fmt.Errorf("%s delivered again at the end", d.Msg.Topic)
			}
			m.seen[d.Msg.Topic] = true
			m.acked[d.Msg.Topic] = true
			m.q.Ack(d.Seq)
		}
	}
	for i := range m.next {
		if !m.acked[fmt.Sprintf("m%d", i)] {
			return fmt.Errorf("m%d never delivered (store holds %d)", i, m.store.Len())
		}
	}
	if m.store.Len() != 0 {
		return fmt.Errorf("store keeps %d acknowledged deliveries", m.store.Len())
	}
	return nil
}
