//go:build !swc

package main

// metadataBackend names the replication backend linked into this binary. The default build
// links Plumtree; `go build -tags swc` links Server Wide Clocks (backend_swc.go). This pair of
// files is the only place in the project that names a backend (ARCHITECTURE.md §1).
const metadataBackend = "plumtree"
