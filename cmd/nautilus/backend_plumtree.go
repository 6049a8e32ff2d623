//go:build !swc

package main

import (
	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/plumtree"
	"github.com/nautilus-mq/nautilus/store"
)

// metadataBackend names the replication backend linked into this binary. The default build
// links Plumtree; `go build -tags swc` links Server Wide Clocks (backend_swc.go). This pair of
// files is the only place in the project that names a backend (ARCHITECTURE.md §1).
const metadataBackend = "plumtree"

// backend opens Plumtree on the broker's database and transport, tuned by plumtree.* keys.
func backend() *broker.Backend {
	return &broker.Backend{
		Name:      metadataBackend,
		Keyspaces: []store.Keyspace{plumtree.Keyspace},
		Open: func(env broker.BackendEnv) (metadata.Store, error) {
			pc := env.Config.Plumtree
			return plumtree.Open(plumtree.Options{
				Config: plumtree.Config{
					LazyTick:           pc.LazyTick,
					ExchangeTick:       pc.ExchangeTick,
					ExchangeTimeout:    pc.ExchangeTimeout,
					OutstandingLimit:   pc.OutstandingLimit,
					DropIHaveThreshold: pc.DropIHaveThreshold,
					RepairBatch:        pc.RepairBatch,
				},
				Transport:  env.Transport,
				Engine:     env.Engine,
				Membership: env.Membership,
				Logger:     env.Log,
			})
		},
	}
}
