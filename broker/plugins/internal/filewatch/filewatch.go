// Package filewatch holds what the file-based plugins share: a cheap "has this file changed"
// stamp and a reload loop.
package filewatch

import (
	"context"
	"os"
	"time"
)

// Stamp identifies one version of a file well enough to skip re-reading an unchanged one.
type Stamp struct {
	ModTime time.Time
	Size    int64
}

// StampOf returns the file's current stamp.
func StampOf(path string) (Stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}, err
	}
	return Stamp{ModTime: fi.ModTime(), Size: fi.Size()}, nil
}

// Every calls fn every interval until ctx ends; it returns at once when interval is not
// positive (reloading off).
func Every(ctx context.Context, interval time.Duration, fn func()) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
