package store

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; test with errors.Is. Open failures are *OpenError values that match one of
// the Err* kinds below and say what to do.
var (
	ErrNotFound        = errors.New("store: not found")
	ErrClosed          = errors.New("store: engine closed")
	ErrUnknownKeyspace = errors.New("store: unknown keyspace")

	ErrLocked                 = errors.New("store: database is locked by another process")
	ErrCorrupt                = errors.New("store: database is corrupt")
	ErrIncompatible           = errors.New("store: database has an unsupported version or format")
	ErrPermission             = errors.New("store: cannot create or write the database directory")
	ErrCompressionUnsupported = errors.New("store: compression not supported by this librocksdb build")
)

// OpenError explains why a database could not be opened. Open never repairs or deletes files
// to get past one of these: the operator decides.
type OpenError struct {
	Dir    string
	Kind   error  // one of ErrLocked, ErrCorrupt, ErrIncompatible, ErrPermission, ErrCompressionUnsupported, or nil
	Advice string // what the operator can do
	Err    error  // the underlying RocksDB or OS error
}

func (e *OpenError) Error() string {
	kind := "store: cannot open database"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	s := fmt.Sprintf("%s: %s: %v", kind, e.Dir, e.Err)
	if e.Advice != "" {
		s += "; " + e.Advice
	}
	return s
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *OpenError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// Advice per kind. They point at backups rather than at deleting anything, because the
// offline messages in the directory may be the only copy.
const (
	adviceLocked = "is another nautilus running with this platform_data_dir? Stop it, or give " +
		"this node its own platform_data_dir"
	adviceCorrupt = "the files were damaged (disk fault, copy of a running node, manual edit). " +
		"Restore the directory from a backup, or move it aside to start empty; nautilus never deletes it"
	adviceIncompatible = "the directory was written by a newer nautilus or RocksDB, or is not a " +
		"nautilus store. Run the version that wrote it, or point platform_data_dir elsewhere"
	advicePermission = "check that the path is a directory, that the nautilus user owns it and " +
		"can write it, and that the file system is not read-only"
	adviceCompression = "set store.compression to one of the supported ones (see docs/storage.md) " +
		"or install a librocksdb built with it"
)

// classifyOpenError maps RocksDB's status text onto our kinds. RocksDB reports errors only as
// strings ("IO error: ...", "Corruption: ..."), so matching text is the only way.
func classifyOpenError(dir string, err error) error {
	msg := err.Error()
	kind, advice := error(nil), ""
	switch {
	case strings.Contains(msg, "not linked with the binary"):
		kind, advice = ErrCompressionUnsupported, adviceCompression
	case strings.Contains(msg, "LOCK") && (strings.Contains(msg, "lock") || strings.Contains(msg, "Resource temporarily unavailable")):
		kind, advice = ErrLocked, adviceLocked
	case strings.Contains(msg, "Permission denied"), strings.Contains(msg, "Read-only file system"),
		strings.Contains(msg, "Not a directory"), strings.Contains(msg, "not a directory"):
		kind, advice = ErrPermission, advicePermission
	case strings.HasPrefix(msg, "Corruption"), strings.Contains(msg, "Corruption:"),
		// CURRENT names a MANIFEST that is not there: the directory is damaged or incomplete.
		strings.Contains(msg, "MANIFEST") && strings.Contains(msg, "No such file"):
		kind, advice = ErrCorrupt, adviceCorrupt
	case strings.Contains(msg, "Not implemented"), strings.Contains(msg, "Unsupported"),
		strings.Contains(msg, "unsupported"), strings.Contains(msg, "format_version"):
		kind, advice = ErrIncompatible, adviceIncompatible
	}
	return &OpenError{Dir: dir, Kind: kind, Advice: advice, Err: err}
}
