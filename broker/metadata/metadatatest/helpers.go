package metadatatest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// Tables used by the suite, away from the broker's "vmq" ones.
var (
	fpA = metadata.FullPrefix{Prefix: "metadatatest", Sub: "a"}
	fpB = metadata.FullPrefix{Prefix: "metadatatest", Sub: "b"}
)

// Node names for forged remote writes (see the package doc).
const (
	nodeA = "metadatatest-a"
	nodeB = "metadatatest-b"
	nodeC = "metadatatest-c"
	nodeD = "metadatatest-d"
)

var bg = context.Background()

func put(t *testing.T, s metadata.Store, fp metadata.FullPrefix, key, val string) {
	t.Helper()
	if err := s.Put(bg, fp, []byte(key), []byte(val)); err != nil {
		t.Fatalf("Put(%s, %q, %q): %v", fp, key, val, err)
	}
}

func del(t *testing.T, s metadata.Store, fp metadata.FullPrefix, key string) {
	t.Helper()
	if err := s.Delete(bg, fp, []byte(key)); err != nil {
		t.Fatalf("Delete(%s, %q): %v", fp, key, err)
	}
}

func get(t *testing.T, s metadata.Store, fp metadata.FullPrefix, key string) (string, bool) {
	t.Helper()
	val, ok, err := s.Get(bg, fp, []byte(key))
	if err != nil {
		t.Fatalf("Get(%s, %q): %v", fp, key, err)
	}
	if !ok && val != nil {
		t.Fatalf("Get(%s, %q) = %q, false; want nil value when absent", fp, key, val)
	}
	return string(val), ok
}

// wantGet checks that key reads as val (present) or absent when val is nil.
func wantGet(t *testing.T, s metadata.Store, fp metadata.FullPrefix, key string, val *string) {
	t.Helper()
	got, ok := get(t, s, fp, key)
	switch {
	case val == nil && ok:
		t.Fatalf("Get(%s, %q) = %q; want absent", fp, key, got)
	case val != nil && !ok:
		t.Fatalf("Get(%s, %q) absent; want %q", fp, key, *val)
	case val != nil && got != *val:
		t.Fatalf("Get(%s, %q) = %q; want %q", fp, key, got, *val)
	}
}

func str(s string) *string { return &s }

type kv struct{ key, val string }

func fold(t *testing.T, s metadata.Store, fp metadata.FullPrefix) []kv {
	t.Helper()
	var out []kv
	err := s.Fold(bg, fp, func(key, val []byte) error {
		out = append(out, kv{string(key), string(val)})
		return nil
	})
	if err != nil {
		t.Fatalf("Fold(%s): %v", fp, err)
	}
	return out
}

func getRaw(t *testing.T, s metadata.Store, fp metadata.FullPrefix, key string) ([]metadata.Value, metadata.Context) {
	t.Helper()
	sibs, cc, err := s.GetRaw(bg, fp, []byte(key))
	if err != nil {
		t.Fatalf("GetRaw(%s, %q): %v", fp, key, err)
	}
	return sibs, cc
}

func putRaw(t *testing.T, s metadata.Store, fp metadata.FullPrefix, key string, v metadata.Value, cc metadata.Context) {
	t.Helper()
	if err := s.PutRaw(bg, fp, []byte(key), v, cc); err != nil {
		t.Fatalf("PutRaw(%s, %q, %s): %v", fp, key, fmtValue(v), err)
	}
}

func live(ts int64, node, data string) metadata.Value {
	return metadata.Value{TS: ts, Node: node, Data: []byte(data)}
}

func tomb(ts int64, node string) metadata.Value {
	return metadata.Value{TS: ts, Node: node, Tomb: true}
}

func sameValue(a, b metadata.Value) bool {
	return a.TS == b.TS && a.Node == b.Node && a.Tomb == b.Tomb && bytes.Equal(a.Data, b.Data)
}

func fmtValue(v metadata.Value) string {
	if v.Tomb {
		return fmt.Sprintf("{%d %s tomb}", v.TS, v.Node)
	}
	return fmt.Sprintf("{%d %s %q}", v.TS, v.Node, v.Data)
}

func fmtValues(vs []metadata.Value) string {
	var b bytes.Buffer
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fmtValue(v))
	}
	return "[" + b.String() + "]"
}

// wantSiblings checks that sibs equal want as a set.
func wantSiblings(t *testing.T, sibs []metadata.Value, want ...metadata.Value) {
	t.Helper()
	ok := len(sibs) == len(want)
	for _, w := range want {
		found := false
		for _, s := range sibs {
			found = found || sameValue(s, w)
		}
		ok = ok && found
	}
	if !ok {
		t.Fatalf("siblings %s; want %s", fmtValues(sibs), fmtValues(want))
	}
}

func fmtEvent(e metadata.Event) string {
	return fmt.Sprintf("{deleted=%t %s key=%q old=%q new=%q local=%t}", e.Deleted, e.FP, e.Key, e.Old, e.New, e.Local)
}

// ev builds an expected event; old or new "" stands for nil.
func ev(fp metadata.FullPrefix, key, old, new string, local bool) metadata.Event {
	e := metadata.Event{FP: fp, Key: []byte(key), Local: local, Deleted: new == ""}
	if old != "" {
		e.Old = []byte(old)
	}
	if new != "" {
		e.New = []byte(new)
	}
	return e
}

func sameEvent(a, b metadata.Event) bool {
	return a.Deleted == b.Deleted && a.FP == b.FP && a.Local == b.Local &&
		bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Old, b.Old) && bytes.Equal(a.New, b.New) &&
		(a.Old == nil) == (b.Old == nil) && (a.New == nil) == (b.New == nil)
}

// next receives one event, failing the test if none comes within the
// configured timeout or if the channel is closed.
func (su *suite) next(t *testing.T, ch <-chan metadata.Event) metadata.Event {
	t.Helper()
	timer := time.NewTimer(su.cfg.eventTimeout)
	defer timer.Stop()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatalf("event channel closed")
		}
		return e
	case <-timer.C:
		t.Fatalf("no event within %v", su.cfg.eventTimeout)
	}
	panic("unreachable")
}

// expect receives len(want) events and checks them in order.
func (su *suite) expect(t *testing.T, ch <-chan metadata.Event, want ...metadata.Event) {
	t.Helper()
	for i, w := range want {
		if got := su.next(t, ch); !sameEvent(got, w) {
			t.Fatalf("event %d = %s; want %s", i, fmtEvent(got), fmtEvent(w))
		}
	}
}

// waitClosed drains ch until it is closed and returns how many events it
// drained.
func (su *suite) waitClosed(t *testing.T, ch <-chan metadata.Event) int {
	t.Helper()
	timer := time.NewTimer(su.cfg.eventTimeout)
	defer timer.Stop()
	n := 0
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		case <-timer.C:
			t.Fatalf("event channel not closed within %v after cancel", su.cfg.eventTimeout)
		}
	}
}

// within runs fn in a goroutine and fails the test if it does not return
// within the event timeout: it turns a deadlock into a failure that names
// what blocked.
func (su *suite) within(t *testing.T, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(su.cfg.eventTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-timer.C:
		t.Fatalf("%s: still blocked after %v", what, su.cfg.eventTimeout)
	}
}
