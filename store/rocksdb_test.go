package store

import (
	"bytes"
	"errors"
	"testing"
)

func TestOpenWriteReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Put(Messages, []byte("m1"), []byte("payload"))
	b.Put(QueueIndex, []byte("q1"), []byte("m1"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Get(Messages, []byte("m1"))
	if err != nil || !bytes.Equal(got, []byte("payload")) {
		t.Fatalf("Get(messages, m1) = %q, %v; want payload", got, err)
	}
	// Keyspaces are separate: the queue key is not visible in messages.
	if got, _ := db.Get(Messages, []byte("q1")); got != nil {
		t.Fatalf("key leaked across keyspaces: %q", got)
	}
	b = db.NewBatch()
	b.Delete(Messages, []byte("m1"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Get(Messages, []byte("m1")); got != nil {
		t.Fatalf("deleted key still present: %q", got)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v; want ErrLocked", err)
	}
}
