// Package buildinfo holds the version stamp of a Nautilus binary: the release version and the
// commit, set at link time by the Makefile (-ldflags -X), with the VCS stamp Go records as a
// fallback when the binary is built without the Makefile.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit are overwritten at link time by the Makefile.
var (
	Version = "0.1.0-dev"
	Commit  = ""
)

// GoVersion is the Go release the binary was built with.
func GoVersion() string { return runtime.Version() }

// CommitID returns the linked commit, or the VCS revision Go stamped into the binary, or
// "unknown" when neither exists (go test binaries, builds with -buildvcs=false).
func CommitID() string {
	if Commit != "" {
		return Commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}
