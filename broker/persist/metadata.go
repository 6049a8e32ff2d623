package persist

import (
	"context"
	"fmt"

	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
)

// singleNodeMetadata holds the metadata of a node that runs without a replication backend.
const singleNodeMetadata store.Keyspace = "metadata_single"

// Metadata is metadata.Memory made durable: every change is written through to the store in
// the same call, and Open reloads it. It serves a single node until a replication backend
// (which persists on its own) takes over; LWW timestamps are not kept across a restart, which
// cannot matter with one writer.
type Metadata struct {
	*metadata.Memory
	eng store.Engine
}

// OpenMetadata loads the stored metadata of node into a new store.
func OpenMetadata(eng store.Engine, node string) (*Metadata, error) {
	m := &Metadata{Memory: metadata.NewMemory(node, nil), eng: eng}
	it, err := eng.NewIterator(singleNodeMetadata, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("persist: read metadata: %w", err)
	}
	defer it.Close()
	ctx := context.Background()
	for ok := it.First(); ok; ok = it.Next() {
		fp, key, err := metadata.DecodeKey(it.Key())
		if err != nil {
			return nil, fmt.Errorf("persist: metadata key %x: %w", it.Key(), err)
		}
		if err := m.Memory.Put(ctx, fp, key, it.Value()); err != nil {
			return nil, err
		}
	}
	return m, it.Error()
}

// Put implements metadata.Store, durably.
func (m *Metadata) Put(ctx context.Context, fp metadata.FullPrefix, key, val []byte) error {
	b := m.eng.NewBatch()
	b.Put(singleNodeMetadata, metadata.EncodeKey(fp, key), val)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("persist: metadata put: %w", err)
	}
	return m.Memory.Put(ctx, fp, key, val)
}

// Delete implements metadata.Store, durably.
func (m *Metadata) Delete(ctx context.Context, fp metadata.FullPrefix, key []byte) error {
	b := m.eng.NewBatch()
	b.Delete(singleNodeMetadata, metadata.EncodeKey(fp, key))
	if err := b.Commit(); err != nil {
		return fmt.Errorf("persist: metadata delete: %w", err)
	}
	return m.Memory.Delete(ctx, fp, key)
}

// PutAsync is Put that returns once the write is applied, leaving the wait for its durability
// to the returned Durable (see the registry: many subscribers' writes share one sync).
func (m *Metadata) PutAsync(ctx context.Context, fp metadata.FullPrefix, key, val []byte) (metadata.Durable, error) {
	b := m.eng.NewBatch()
	b.Put(singleNodeMetadata, metadata.EncodeKey(fp, key), val)
	if err := b.CommitNoSyncWait(); err != nil {
		return nil, fmt.Errorf("persist: metadata put: %w", err)
	}
	return b, m.Memory.Put(ctx, fp, key, val)
}

// DeleteAsync is Delete as PutAsync is Put.
func (m *Metadata) DeleteAsync(ctx context.Context, fp metadata.FullPrefix, key []byte) (metadata.Durable, error) {
	b := m.eng.NewBatch()
	b.Delete(singleNodeMetadata, metadata.EncodeKey(fp, key))
	if err := b.CommitNoSyncWait(); err != nil {
		return nil, fmt.Errorf("persist: metadata delete: %w", err)
	}
	return b, m.Memory.Delete(ctx, fp, key)
}
