//go:build swc

package main

import (
	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/swc"
)

// metadataBackend names the replication backend linked into this binary: Server Wide Clocks,
// selected with `go build -tags swc`. See backend_plumtree.go for the default.
const metadataBackend = "swc"

// backend opens SWC on the broker's database and transport, tuned by the vmq_swc.* keys.
func backend() *broker.Backend {
	return &broker.Backend{
		Name:      metadataBackend,
		Keyspaces: append([]store.Keyspace(nil), swc.Keyspaces...),
		Open: func(env broker.BackendEnv) (metadata.Store, error) {
			sc := env.Config.SWC
			return swc.Open(swc.Options{
				Config: swc.Config{
					Groups:            sc.Groups,
					SyncInterval:      sc.SyncInterval,
					SyncTimeout:       sc.SyncTimeout,
					CallTimeout:       sc.CallTimeout,
					ExchangeBatchSize: sc.ExchangeBatchSize,
					BatchSize:         sc.BatchSize,
					GCInterval:        sc.GCInterval,
					DisablePeriodicGC: !sc.PeriodicGC,
					DisableBroadcast:  !sc.EnableBroadcast,
					AllowNonemptyJoin: !sc.PreventNonemptyJoin,
					InitSync:          sc.InitSync,
				},
				Transport:  env.Transport,
				Engine:     env.Engine,
				Membership: env.Membership,
				Logger:     env.Log,
			})
		},
	}
}
