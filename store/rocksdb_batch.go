package store

import (
	"fmt"

	"github.com/linxGnu/grocksdb"
)

type rocksBatch struct {
	d      *DB
	wb     *grocksdb.WriteBatch
	n      int
	err    error
	ticket uint64
}

// NewBatch implements Engine.
func (d *DB) NewBatch() Batch { return &rocksBatch{d: d, wb: grocksdb.NewWriteBatch()} }

func (b *rocksBatch) Put(ks Keyspace, key, value []byte) {
	// The column family handles die with Close; a batch built after it must fail, not crash.
	b.d.mu.RLock()
	defer b.d.mu.RUnlock()
	if b.d.closed {
		b.setErr(ErrClosed)
		return
	}
	h, err := b.d.cf(ks)
	if err != nil {
		b.setErr(err)
		return
	}
	b.wb.PutCF(h, key, value) // copies into the batch's buffer
	b.n++
}

func (b *rocksBatch) Delete(ks Keyspace, key []byte) {
	b.d.mu.RLock()
	defer b.d.mu.RUnlock()
	if b.d.closed {
		b.setErr(ErrClosed)
		return
	}
	h, err := b.d.cf(ks)
	if err != nil {
		b.setErr(err)
		return
	}
	b.wb.DeleteCF(h, key)
	b.n++
}

func (b *rocksBatch) setErr(err error) {
	if b.err == nil {
		b.err = fmt.Errorf("store: batch: %w", err)
	}
}

func (b *rocksBatch) Len() int { return b.n }

func (b *rocksBatch) write(sync bool) error {
	b.d.mu.RLock()
	defer b.d.mu.RUnlock()
	if b.d.closed {
		return ErrClosed
	}
	wo := b.d.wo
	if sync {
		wo = b.d.woS
	}
	return b.d.db.Write(wo, b.wb)
}

func (b *rocksBatch) Commit() error {
	if b.wb == nil {
		return fmt.Errorf("store: batch already committed or closed")
	}
	defer b.Close()
	if b.err != nil {
		return b.err
	}
	return b.d.c.commit(b.write)
}

func (b *rocksBatch) CommitNoSyncWait() error {
	if b.wb == nil {
		return fmt.Errorf("store: batch already committed or closed")
	}
	defer b.Close()
	if b.err != nil {
		return b.err
	}
	t, err := b.d.c.apply(b.write)
	b.ticket = t
	return err
}

func (b *rocksBatch) SyncWait() error { return b.d.c.syncWait(b.ticket) }

func (b *rocksBatch) Close() {
	if b.wb != nil {
		b.wb.Destroy()
		b.wb = nil
	}
}
