package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/store"
)

// newDB creates a database with one committed key and closes it.
func newDB(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Put(store.Messages, []byte("k"), []byte("v"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantOpenError(t *testing.T, o store.Options, kind error, words ...string) {
	t.Helper()
	db, err := store.Open(o)
	if err == nil {
		db.Close()
		t.Fatalf("Open(%s) succeeded, want %v", o.Dir, kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("Open(%s) = %v\nwant kind %v", o.Dir, err, kind)
	}
	var oe *store.OpenError
	if errors.As(err, &oe) && oe.Advice == "" {
		t.Errorf("no advice in %v", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	t.Logf("%v", err)
}

func TestOpenLockedByAnotherOpen(t *testing.T) {
	dir := newDB(t)
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantOpenError(t, store.Options{Dir: dir}, store.ErrLocked, "another nautilus", dir)
}

func TestOpenCorruptCurrent(t *testing.T) {
	dir := newDB(t)
	if err := os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("\x00garbage\xff\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, store.Options{Dir: dir}, store.ErrCorrupt, "backup")
}

func TestOpenCorruptManifest(t *testing.T) {
	dir := newDB(t)
	manifests, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatal("no MANIFEST written")
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte(strings.Repeat("garbage!", 64)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantOpenError(t, store.Options{Dir: dir}, store.ErrCorrupt, "backup")
	// Nothing was wiped: the damaged files are still there for the operator.
	if got, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); !slices.Equal(got, manifests) {
		t.Fatalf("manifests changed: %v -> %v", manifests, got)
	}
}

func TestOpenFileWhereDirectoryExpected(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, store.Options{Dir: filepath.Join(file, "store")}, store.ErrPermission, "directory")
	wantOpenError(t, store.Options{Dir: file}, store.ErrPermission, "directory")
}

func TestOpenReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions; TestOpenFileWhereDirectoryExpected covers the path")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	wantOpenError(t, store.Options{Dir: filepath.Join(dir, "store")}, store.ErrPermission)
}

func TestOpenNewerLayout(t *testing.T) {
	dir := newDB(t)
	if err := store.SetFormatVersionForTest(dir, 99); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, store.Options{Dir: dir}, store.ErrIncompatible, "newer")
}

func TestCompressions(t *testing.T) {
	got := store.SupportedCompressions()
	t.Logf("librocksdb supports %v", got)
	if !slices.Contains(got, store.CompressionNone) {
		t.Fatal("none must always be supported")
	}
	for _, c := range got {
		dir := t.TempDir()
		db, err := store.Open(store.Options{Dir: dir, Compression: c})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		db.Close()
	}
	if _, err := store.Open(store.Options{Dir: t.TempDir(), Compression: "brotli"}); err == nil {
		t.Fatal("unknown compression accepted")
	}
}
