package store

import (
	"fmt"
	"os"
	"sync"

	"github.com/linxGnu/grocksdb"
)

func compressionType(c Compression) (grocksdb.CompressionType, error) {
	var t grocksdb.CompressionType
	switch c {
	case CompressionNone:
		return grocksdb.NoCompression, nil
	case CompressionSnappy:
		t = grocksdb.SnappyCompression
	case CompressionLZ4:
		t = grocksdb.LZ4Compression
	case CompressionZstd:
		t = grocksdb.ZSTDCompression
	default:
		return 0, fmt.Errorf("store: unknown compression %q", c)
	}
	if !compressionSupported(c) {
		return 0, fmt.Errorf("%w: %q (this build supports %v); set store.compression to one of those",
			ErrCompressionUnsupported, c, SupportedCompressions())
	}
	return t, nil
}

var (
	probeOnce sync.Once
	probed    map[Compression]bool
)

// SupportedCompressions reports which compressions the linked librocksdb can use. RocksDB has
// no C call for this, so each is probed once per process by creating a throwaway database in
// a temporary directory: Open validates the compression and fails with "not linked with the
// binary" when the library lacks it.
func SupportedCompressions() []Compression {
	probeOnce.Do(probeCompressions)
	var out []Compression
	for _, c := range []Compression{CompressionNone, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		if probed[c] {
			out = append(out, c)
		}
	}
	return out
}

func compressionSupported(c Compression) bool {
	probeOnce.Do(probeCompressions)
	return probed[c]
}

func probeCompressions() {
	probed = map[Compression]bool{CompressionNone: true}
	for c, t := range map[Compression]grocksdb.CompressionType{
		CompressionSnappy: grocksdb.SnappyCompression,
		CompressionLZ4:    grocksdb.LZ4Compression,
		CompressionZstd:   grocksdb.ZSTDCompression,
	} {
		probed[c] = probeCompression(t)
	}
}

func probeCompression(t grocksdb.CompressionType) bool {
	dir, err := os.MkdirTemp("", "nautilus-compression-probe-")
	if err != nil {
		return true // cannot probe; let Open report the problem if there is one
	}
	defer os.RemoveAll(dir)
	opts := grocksdb.NewDefaultOptions()
	defer opts.Destroy()
	opts.SetCreateIfMissing(true)
	opts.SetCompression(t)
	db, err := grocksdb.OpenDb(opts, dir)
	if err != nil {
		return false
	}
	db.Close()
	return true
}
