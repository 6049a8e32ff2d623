package registry

import (
	"fmt"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Outbox keeps the QoS 1/2 items this node forwards to peers until they acknowledge them. A
// publisher is acknowledged once its message is stored here too, so a crash of this node
// between the PUBACK and the peer's acknowledgement loses nothing: at the next start the items
// are sent again (the peer may see some twice, which QoS 1 allows). Items are keyed by peer,
// by the forwarder's epoch (one per run, increasing) and by sequence number.
type Outbox interface {
	// Put stores an item; it is applied when Put returns, and durable once the result's
	// SyncWait returns.
	Put(peer string, epoch, seq uint64, v []byte) (queue.Durable, error)
	// Delete removes acknowledged items (without waiting for a sync).
	Delete(peer string, epoch uint64, seqs []uint64) error
	// Load calls fn for every stored item, per peer, oldest first.
	Load(fn func(peer string, epoch, seq uint64, v []byte) error) error
}

// ForwardReceipts forgets the receipts of QoS 2 messages that peers forwarded to this node
// (see deliverFrame).
type ForwardReceipts interface {
	// ReleaseForwarded forgets peer's receipts of epoch below seq.
	ReleaseForwarded(peer string, epoch, below uint64) error
	// ForgetForwarded forgets peer's receipts of every epoch but epoch.
	ForgetForwarded(peer string, epoch uint64) error
}

// store writes pd, which was given its sequence number, to the outbox; p.mu held, so a
// failure can take the sequence number back before anyone else gets one.
func (f *forwarder) store(p *peerFwd, pd *pending, pend *queue.Pending) error {
	pd.item.Msg = message.ToWire(pd.m, time.Now())
	v, err := marshal(&pd.item)
	if err == nil {
		var d queue.Durable
		if d, err = f.outbox.Put(p.node, f.epoch, pd.item.Seq, v); err == nil {
			pend.Add(d)
			return nil
		}
	}
	return fmt.Errorf("registry: store message forwarded to %s: %w", p.node, err)
}

// restore queues again, under this run's epoch and new sequence numbers, what earlier runs
// forwarded and no peer acknowledged, each with the identity it was first sent under (for the
// receiver's QoS 2 receipts). Each item is written anew before its old copy goes, so
// a crash during the restore duplicates at worst. The hold bound does not apply: these were
// acknowledged to their publishers.
func (f *forwarder) restore() error {
	type old struct {
		epoch, seq uint64
		v          []byte
	}
	byPeer := map[string][]old{}
	var peers []string
	err := f.outbox.Load(func(peer string, epoch, seq uint64, v []byte) error {
		if len(byPeer[peer]) == 0 {
			peers = append(peers, peer)
		}
		byPeer[peer] = append(byPeer[peer], old{epoch, seq, v})
		return nil
	})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, peer := range peers {
		p := f.peer(peer)
		n := 0
		for _, o := range byPeer[peer] {
			var it wireItem
			if err := msgpackdec.Unmarshal(o.v, &it); err != nil {
				f.r.log.Error("dropping an undecodable item of the cluster outbox", "peer", peer, "error", err)
				f.outbox.Delete(peer, o.epoch, []uint64{o.seq})
				continue
			}
			if it.OrigEpoch == 0 { // restored again after another crash: keep the first identity
				it.OrigEpoch, it.OrigSeq = o.epoch, o.seq
			}
			pd := &pending{item: it, m: message.FromWire(&it.Msg, now)}
			pd.size = pd.m.Size()
			p.mu.Lock()
			pd.item.Seq = p.nextSeq
			p.restored = p.nextSeq
			var ignored queue.Pending
			if err := f.store(p, pd, &ignored); err != nil {
				p.mu.Unlock()
				return err
			}
			p.nextSeq++
			p.bytes += pd.size
			p.unsent = append(p.unsent, pd)
			p.mu.Unlock()
			f.held.Add(1)
			f.outbox.Delete(peer, o.epoch, []uint64{o.seq})
			n++
		}
		if n > 0 {
			f.r.log.Info("messages forwarded before the last stop and not acknowledged are sent again", "peer", peer, "messages", n)
			p.signal()
		}
	}
	return nil
}
