//go:build swc

package main

// metadataBackend names the replication backend linked into this binary: Server Wide Clocks,
// selected with `go build -tags swc`. See backend_plumtree.go for the default.
const metadataBackend = "swc"
