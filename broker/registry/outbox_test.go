package registry

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/persist"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/session"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/msgstore"
)

// memOutbox is an Outbox in memory that outlives the registry using it, as the node's store
// outlives a crashed process.
type memOutbox struct {
	mu    sync.Mutex
	items map[string][]byte // "peer|epoch|seq" (fixed width, so keys sort) -> value
}

func outboxTestKey(peer string, epoch, seq uint64) string {
	return fmt.Sprintf("%s|%020d|%020d", peer, epoch, seq)
}

func (o *memOutbox) Put(peer string, epoch, seq uint64, v []byte) (queue.Durable, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.items == nil {
		o.items = map[string][]byte{}
	}
	o.items[outboxTestKey(peer, epoch, seq)] = v
	return nil, nil
}

func (o *memOutbox) Delete(peer string, epoch uint64, seqs []uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seqs {
		delete(o.items, outboxTestKey(peer, epoch, s))
	}
	return nil
}

func (o *memOutbox) Load(fn func(peer string, epoch, seq uint64, v []byte) error) error {
	o.mu.Lock()
	keys := make([]string, 0, len(o.items))
	for k := range o.items {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := map[string][]byte{}
	for _, k := range keys {
		vals[k] = o.items[k]
	}
	o.mu.Unlock()
	for _, k := range keys {
		var peer string
		var epoch, seq uint64
		fmt.Sscanf(k, "%2s|%d|%d", &peer, &epoch, &seq)
		if err := fn(peer, epoch, seq, vals[k]); err != nil {
			return err
		}
	}
	return nil
}

func (o *memOutbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// TestOutboxSurvivesSenderCrash: n1 acknowledged QoS 1 messages to their publisher and holds
// them for n2, which is down; then n1 crashes (its registry and memory are gone, its store is
// not). The n1 that starts again sends them from its outbox when n2 is back: every message
// arrives, in order, and the outbox empties as n2 acknowledges. Before, they were held in
// memory only and lost with the process.
func TestOutboxSurvivesSenderCrash(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	out := &memOutbox{}
	n1 := nodes["n1"]
	n1.reg.Close()
	n1.reg = startRegistry(t, n1, PreferLocal, 0, func(o *Options) { o.Outbox = out })
	q := nodes["n2"].queues.add("sub", false)
	nodes["n2"].reg.Subscribe(queue.SubscriberID{ClientID: "sub"}, []session.Subscription{{Filter: "t", QoS: 1}})
	waitFor(t, "n1 learns", func() bool { return n1.reg.Subscriptions() == 1 })

	net.Fail("n2")
	waitFor(t, "n1 sees n2 fail", func() bool { return len(n1.reg.Unreachable()) == 1 })
	for i := range 30 {
		pub(n1.reg, "t", 1, fmt.Sprintf("m%d", i))
	}
	if out.len() != 30 {
		t.Fatalf("outbox holds %d messages; want the 30 acknowledged ones", out.len())
	}
	// The crash: n1's registry goes, a new one starts on the same store.
	n1.reg.Close()
	net.Fail("n1")
	n1.tr = net.Join("n1")
	n1.reg = startRegistry(t, n1, PreferLocal, 0, func(o *Options) { o.Outbox = out })
	n2 := nodes["n2"]
	n2.tr = net.Join("n2")
	n2.reg.Close()
	n2.reg = startRegistry(t, n2, PreferLocal, 0)
	checkSeq(t, takeAll(t, q, 30), 30, "m")
	waitFor(t, "the outbox empties", func() bool { return out.len() == 0 })
}

// TestRestoredItemsKeepTheirReceipts: n2 stored a QoS 2 message n1 forwarded (run 1, sequence
// 1), but n1 crashed before the acknowledgement reached it. n1's next run restores the item
// from its outbox under run 2 with the identity it was first sent under, and n2's receipts
// recognise it: the subscriber has it once. The receipts of run 1 go once the restored items
// are acknowledged (Base above Restored), and a new message of run 2 is stored as usual.
// Before, the restored item came under run 2's identity only and was stored twice.
func TestRestoredItemsKeepTheirReceipts(t *testing.T) {
	net := cluster.NewLocalNetwork()
	nodes := startNodes(t, net, PreferLocal, 0, "n1", "n2")
	eng, err := store.OpenMemory(store.NewMemStorage(), store.Options{ExtraKeyspaces: persist.Keyspaces})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := persist.Open(eng)
	if err != nil {
		t.Fatal(err)
	}
	n2 := nodes["n2"]
	n2.reg.Close()
	n2.reg = startRegistry(t, n2, PreferLocal, 0, func(o *Options) { o.Receipts = ps })
	id := queue.SubscriberID{ClientID: "sub"}
	q := n2.queues.add("sub", false)
	q.SetBacking(ps.Backing(id))
	n2.reg.Subscribe(id, []session.Subscription{{Filter: "t", QoS: 2}})

	item := func(seq uint64, payload string) wireItem {
		m := &message.Message{Topic: "t", QoS: 2, Payload: []byte(payload), From: "publisher"}
		return wireItem{Seq: seq, Fanout: true, Msg: message.ToWire(m, time.Now())}
	}
	send := func(fr wireFrame) {
		fr.Kind = frameBatch
		b, err := marshal(&fr)
		if err != nil {
			t.Fatal(err)
		}
		n2.reg.fwd.handle("n1", b)
	}
	send(wireFrame{Epoch: 1, Base: 1, Items: []wireItem{item(1, "once")}})
	if q.Len() != 1 {
		t.Fatalf("queue holds %d after the first send; want 1", q.Len())
	}
	restored := item(1, "once")
	restored.OrigEpoch, restored.OrigSeq = 1, 1
	send(wireFrame{Epoch: 2, Base: 1, Restored: 1, Items: []wireItem{restored}})
	if q.Len() != 1 {
		t.Fatalf("queue holds %d after the restored resend; want 1 (stored twice)", q.Len())
	}
	send(wireFrame{Epoch: 2, Base: 2, Restored: 1, Items: []wireItem{item(2, "new")}})
	if got := takeAll(t, q, 2); !slices.Equal(got, []string{"once", "new"}) {
		t.Fatalf("subscriber got %v; want [once new]", got)
	}
	if has, err := ps.Messages().Received(msgstore.Receipt{Owner: "\x00fwd\x00n1\x00" + string(binary.BigEndian.AppendUint64(nil, 1)), ID: 1}, msgstore.QueueID(metadata.SubscriberKey{ClientID: "sub"}.Encode())); err != nil || has {
		t.Fatalf("run 1's receipt still held after its restored items were acknowledged: %v, %v", has, err)
	}
}
