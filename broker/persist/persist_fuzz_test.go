package persist

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/msgstore"
)

// The fuzz targets of what this package decodes from disk: session records
// (LoadSessions) and the properties kept with a stored message (Page).
// They run the real read paths over the memory engine; the committed
// corpus is in testdata/fuzz/<Target>/.

func fuzzStore(t testing.TB) *Store {
	t.Helper()
	eng, err := store.OpenMemory(store.NewMemStorage(), store.Options{ExtraKeyspaces: Keyspaces})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(eng)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return s
}

func fuzzRecords() []Record {
	return []Record{
		{Mountpoint: "", ClientID: "c1", Expiry: 3600, InQoS2: []uint16{1, 65535}},
		{Mountpoint: "mp", ClientID: "c2", Username: "u", Expiry: -1, Deadline: 1_700_000_000_000},
		{ClientID: ""},
	}
}

// normSession maps an empty InQoS2 to nil: omitempty does not keep the
// difference.
func normSession(r Record) Record {
	if len(r.InQoS2) == 0 {
		r.InQoS2 = nil
	}
	return r
}

// FuzzDecodeSessionRecord stores arbitrary bytes as a session record.
// LoadSessions returns an error or the record; a record it returns, saved
// again, loads back equal.
func FuzzDecodeSessionRecord(f *testing.F) {
	for _, r := range fuzzRecords() {
		b, err := msgpack.Marshal(&r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x80})
	s := fuzzStore(f)
	key := []byte("fuzzed")
	f.Fuzz(func(t *testing.T, v []byte) {
		b := s.eng.NewBatch()
		b.Put(Sessions, key, v)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		recs, err := s.LoadSessions()
		b = s.eng.NewBatch()
		b.Delete(Sessions, key)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		if len(recs) != 1 {
			t.Fatalf("%d records from one", len(recs))
		}
		rec := recs[0]
		if err := s.SaveSession(rec); err != nil {
			t.Fatal(err)
		}
		again, err := s.LoadSessions()
		if derr := s.DeleteSession(queue.SubscriberID{Mountpoint: rec.Mountpoint, ClientID: rec.ClientID}); derr != nil {
			t.Fatal(derr)
		}
		if err != nil || len(again) != 1 || !reflect.DeepEqual(normSession(again[0]), normSession(rec)) {
			t.Fatalf("saved %+v, loaded %+v, %v", rec, again, err)
		}
	})
}

// FuzzDecodeStoredMessage stores a message whose properties are arbitrary
// bytes (they are msgpack written by Append). Page returns an error or the
// delivery; a delivery it returns, appended again, pages back equal.
func FuzzDecodeStoredMessage(f *testing.F) {
	pf, me := byte(1), uint32(60)
	for _, sp := range []storedProps{
		{PF: &pf, CT: "application/json", RT: "reply/1", CD: []byte{1, 2}, UP: []message.UserProperty{{Key: "k", Value: "v"}}, ME: &me, MP: "mp", Frm: "c1", Arr: 1_700_000_000_000},
		{Arr: 1},
		{},
	} {
		b, err := msgpack.Marshal(&sp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	s := fuzzStore(f)
	bk := s.Backing(queue.SubscriberID{ClientID: "fuzz"}).(*backing)
	var id uint64
	page := func(t *testing.T) ([]queue.Delivery, error) {
		ds, _, err := bk.Page(0, 0, 10, false, time.UnixMilli(1))
		if err := bk.Clear(); err != nil {
			t.Fatal(err)
		}
		return ds, err
	}
	f.Fuzz(func(t *testing.T, props []byte) {
		id++
		if _, err := s.msgs.Append(msgstore.Message{ID: id, Topic: "t", Payload: []byte("p"), QoS: 1, Properties: props}, msgstore.Target{Queue: bk.q, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		ds, err := page(t)
		if err != nil {
			return
		}
		if len(ds) != 1 {
			t.Fatalf("%d deliveries from one message", len(ds))
		}
		d := ds[0]
		id++
		d.Msg.ID = id
		if _, _, err := bk.Append(d); err != nil {
			t.Fatal(err)
		}
		again, err := page(t)
		if err != nil || len(again) != 1 {
			t.Fatalf("appended %+v, paged %+v, %v", d.Msg, again, err)
		}
		if a, b := d.Msg, again[0].Msg; !sameStored(a, b) {
			t.Fatalf("appended %+v, paged %+v", a, b)
		}
	})
}

// sameStored compares what a stored message keeps, with nil and empty
// slices equal (omitempty) and times by instant.
func sameStored(a, b *message.Message) bool {
	pa, pb := a.Props, b.Props
	if len(pa.UserProperties) == 0 && len(pb.UserProperties) == 0 {
		pa.UserProperties, pb.UserProperties = nil, nil
	}
	if !bytes.Equal(pa.CorrelationData, pb.CorrelationData) {
		return false
	}
	pa.CorrelationData, pb.CorrelationData = nil, nil
	return a.ID == b.ID && a.Mountpoint == b.Mountpoint && a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) &&
		a.QoS == b.QoS && a.From == b.From && a.Arrived.Equal(b.Arrived) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		reflect.DeepEqual(pa, pb)
}
