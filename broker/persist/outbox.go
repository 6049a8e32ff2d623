package persist

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/store"
)

// Outboxes is the keyspace of QoS 1/2 messages forwarded to peers and not yet acknowledged.
const Outboxes store.Keyspace = "outbox"

// Outbox stores what the cluster layer forwards to peers (registry.Outbox). Key: uvarint
// len(peer) | peer | epoch (8) | seq (8), big endian, so one peer's items sort by the run that
// sent them, then in sending order.
type Outbox struct{ eng store.Engine }

// Outbox returns the node's outbox.
func (s *Store) Outbox() *Outbox { return &Outbox{eng: s.eng} }

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

// Put stores an item, applied when it returns; the caller waits on the result for durability.
func (o *Outbox) Put(peer string, epoch, seq uint64, v []byte) (queue.Durable, error) {
	b := o.eng.NewBatch()
	b.Put(Outboxes, outboxKey(peer, epoch, seq), v)
	if err := b.CommitNoSyncWait(); err != nil {
		return nil, fmt.Errorf("persist: outbox of %s: %w", peer, err)
	}
	return b, nil
}

// Delete removes acknowledged items without waiting for a sync: one that a power loss brings
// back is sent again, and the peer takes it for a duplicate at worst.
func (o *Outbox) Delete(peer string, epoch uint64, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	b := o.eng.NewBatch()
	for _, seq := range seqs {
		b.Delete(Outboxes, outboxKey(peer, epoch, seq))
	}
	if err := b.CommitNoSyncWait(); err != nil {
		return fmt.Errorf("persist: outbox of %s: %w", peer, err)
	}
	return nil
}

// Load calls fn for every stored item, per peer, oldest first. v is fn's to keep.
func (o *Outbox) Load(fn func(peer string, epoch, seq uint64, v []byte) error) error {
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
