package store_test

import (
	"testing"

	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/storetest"
)

func TestRocksDBContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Location {
		dir := t.TempDir()
		return func(o store.Options) (store.Engine, error) {
			o.Dir = dir
			db, err := store.Open(o)
			if err != nil {
				return nil, err // a nil *DB must not become a non-nil Engine
			}
			return db, nil
		}
	})
}

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Location {
		st := store.NewMemStorage()
		return func(o store.Options) (store.Engine, error) {
			m, err := store.OpenMemory(st, o)
			if err != nil {
				return nil, err
			}
			return m, nil
		}
	})
}
