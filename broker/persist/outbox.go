package persist

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/store"
)

// Outboxes is the keyspace of QoS 1/2 messages forwarded to peers and not yet acknowledged.
const Outboxes store.Keyspace = "outbox"

// Outbox stores what the cluster layer forwards to peers (registry.Outbox). Key: uvarint
// len(peer) | peer | epoch (8) | seq (8), big endian, so one peer's items sort by the run that
// sent them, then in sending order.
//
// Writes go through one goroutine that applies everything queued meanwhile as one batch: an
// item is one small write per forwarded message, and a RocksDB write costs a system call and a
// cgo call whatever its size (one write per item measured 4.5x the CPU of forwarding from
// memory). Puts and deletes share the queue, so a delete is never applied before the put it
// undoes.
type Outbox struct {
	eng store.Engine

	mu      sync.Mutex
	queued  []outboxOp
	running bool
	idle    sync.Cond // broadcast when the writer stops; L is mu
}

type outboxOp struct {
	key, val []byte // val nil: a delete
	done     *outboxWrite
}

// outboxWrite is a put's place in a batch: queue.Durable once the batch is applied.
type outboxWrite struct {
	applied chan struct{}
	batch   store.Batch
	err     error
}

// SyncWait waits until the batch holding the put is applied, then for the sync policy.
func (w *outboxWrite) SyncWait() error {
	<-w.applied
	if w.err != nil {
		return w.err
	}
	return w.batch.SyncWait()
}

// Outbox returns the node's outbox.
func (s *Store) Outbox() *Outbox {
	s.outboxOnce.Do(func() {
		s.outbox = &Outbox{eng: s.eng}
		s.outbox.idle.L = &s.outbox.mu
	})
	return s.outbox
}

func outboxKey(peer string, epoch, seq uint64) []byte {
	k := binary.AppendUvarint(make([]byte, 0, len(peer)+18), uint64(len(peer)))
	k = append(k, peer...)
	k = binary.BigEndian.AppendUint64(k, epoch)
	return binary.BigEndian.AppendUint64(k, seq)
}

func parseOutboxKey(k []byte) (peer string, epoch, seq uint64, err error) {
	l, n := binary.Uvarint(k)
	// A length in more bytes than its encoding takes (0x80 0x00 for 0) names no key we wrote.
	if n <= 0 || n != len(binary.AppendUvarint(nil, l)) || uint64(len(k)-n) < 16 || l != uint64(len(k)-n)-16 {
		return "", 0, 0, fmt.Errorf("persist: malformed outbox key %x", k)
	}
	k = k[n:]
	return string(k[:l]), binary.BigEndian.Uint64(k[l:]), binary.BigEndian.Uint64(k[l+8:]), nil
}

// Put stores an item. The caller waits on the result for it to be applied and durable.
func (o *Outbox) Put(peer string, epoch, seq uint64, v []byte) (queue.Durable, error) {
	w := &outboxWrite{applied: make(chan struct{})}
	o.enqueue(outboxOp{key: outboxKey(peer, epoch, seq), val: v, done: w})
	return w, nil
}

// Delete removes acknowledged items without waiting: one that a crash or a power loss brings
// back is sent again, and the peer takes it for a duplicate at worst.
func (o *Outbox) Delete(peer string, epoch uint64, seqs []uint64) error {
	for _, seq := range seqs {
		o.enqueue(outboxOp{key: outboxKey(peer, epoch, seq)})
	}
	return nil
}

func (o *Outbox) enqueue(op outboxOp) {
	o.mu.Lock()
	o.queued = append(o.queued, op)
	start := !o.running
	o.running = true
	o.mu.Unlock()
	if start {
		go o.write()
	}
}

// write applies what is queued, a batch at a time, until nothing is.
func (o *Outbox) write() {
	for {
		// Let the writers that are about to queue do so first: a batch of one costs as much
		// as a batch of many.
		runtime.Gosched()
		o.mu.Lock()
		ops := o.queued
		o.queued = nil
		if len(ops) == 0 {
			o.running = false
			o.idle.Broadcast()
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		b := o.eng.NewBatch()
		for _, op := range ops {
			if op.val == nil {
				b.Delete(Outboxes, op.key)
			} else {
				b.Put(Outboxes, op.key, op.val)
			}
		}
		err := b.CommitNoSyncWait()
		if err != nil {
			err = fmt.Errorf("persist: cluster outbox: %w", err)
		}
		for _, op := range ops {
			if op.done != nil {
				op.done.batch, op.done.err = b, err
				close(op.done.applied)
			}
		}
	}
}

// Load calls fn for every stored item, per peer, oldest first, after every write queued before
// it is applied. v is fn's to keep.
func (o *Outbox) Load(fn func(peer string, epoch, seq uint64, v []byte) error) error {
	o.mu.Lock()
	for o.running {
		o.idle.Wait()
	}
	o.mu.Unlock()
	it, err := o.eng.NewIterator(Outboxes, nil, nil)
	if err != nil {
		return fmt.Errorf("persist: read outbox: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		peer, epoch, seq, err := parseOutboxKey(it.Key())
		if err != nil {
			return err
		}
		if err := fn(peer, epoch, seq, slices.Clone(it.Value())); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("persist: read outbox: %w", err)
	}
	return nil
}
