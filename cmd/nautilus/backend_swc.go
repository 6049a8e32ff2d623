//go:build swc

package main

import "github.com/nautilus-mq/nautilus/broker"

// metadataBackend names the replication backend linked into this binary: Server Wide Clocks,
// selected with `go build -tags swc`. See backend_plumtree.go for the default.
const metadataBackend = "swc"

// backend returns nil until the SWC backend's driver lands: a single node then keeps its
// metadata alone, and a node configured for a cluster refuses to start and says why.
func backend() *broker.Backend { return nil }
