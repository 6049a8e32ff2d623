package metadata_test

import (
	"bytes"
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata"
)

// randString favours the bytes the encoding treats specially.
func randString(r *rand.Rand) string {
	const alphabet = "\x00\x00\x01\x02\xfe\xffaz/"
	b := make([]byte, r.IntN(6))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func compareTuples(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// TestTupleOrder is the property the stores rely on: the byte order of
// encodings is the lexicographic order of the tuples.
func TestTupleOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for range 20000 {
		a := make([]string, 1+r.IntN(3))
		b := make([]string, 1+r.IntN(3))
		for i := range a {
			a[i] = randString(r)
		}
		for i := range b {
			b[i] = randString(r)
		}
		if r.IntN(4) == 0 { // share a prefix often, where the interesting cases are
			b = append(slices.Clone(a[:r.IntN(len(a))]), b...)
		}
		want := compareTuples(a, b)
		if got := bytes.Compare(metadata.EncodeTuple(a...), metadata.EncodeTuple(b...)); got != want {
			t.Fatalf("Compare(enc(%q), enc(%q)) = %d; want %d", a, b, got, want)
		}
	}
}

func TestTypedKeyOrderAndRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	subs := make([]metadata.SubscriberKey, 2000)
	for i := range subs {
		subs[i] = metadata.SubscriberKey{Mountpoint: randString(r), ClientID: randString(r)}
	}
	slices.SortFunc(subs, func(a, b metadata.SubscriberKey) int {
		return bytes.Compare(a.Encode(), b.Encode())
	})
	for i, k := range subs {
		got, err := metadata.DecodeSubscriberKey(k.Encode())
		if err != nil || got != k {
			t.Fatalf("DecodeSubscriberKey(Encode(%q)) = %q, %v", k, got, err)
		}
		if i > 0 {
			p := subs[i-1]
			if c := compareTuples([]string{p.Mountpoint, p.ClientID}, []string{k.Mountpoint, k.ClientID}); c > 0 {
				t.Fatalf("encoded order puts %q before %q", p, k)
			}
		}
	}
	for range 2000 {
		k := metadata.RetainKey{Mountpoint: randString(r), Topic: randString(r)}
		got, err := metadata.DecodeRetainKey(k.Encode())
		if err != nil || got != k {
			t.Fatalf("DecodeRetainKey(Encode(%q)) = %q, %v", k, got, err)
		}
	}
	if got := (metadata.SubscriberKey{Mountpoint: "mp", ClientID: "c"}).AppendTo([]byte("x")); string(got) != "xmp\x00\x01c\x00\x01" {
		t.Fatalf("AppendTo = %q", got)
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, b := range []string{
		"abc",                         // unterminated
		"a\x00",                       // truncated escape
		"a\x00\x02\x00\x01",           // bad escape
		"a\x00\xff",                   // escaped NUL, then nothing
		"a\x00\x01b\x00\x01c",         // third element, unterminated
		"a\x00\x01b\x00\x01c\x00\x01", // three elements for a pair
		"a\x00\x01",                   // one element for a pair
	} {
		if _, err := metadata.DecodeSubscriberKey([]byte(b)); !errors.Is(err, metadata.ErrMalformedKey) {
			t.Errorf("DecodeSubscriberKey(%q) = %v; want ErrMalformedKey", b, err)
		}
	}
	if _, _, err := metadata.DecodeKey([]byte("vmq\x00\x01sub")); !errors.Is(err, metadata.ErrMalformedKey) {
		t.Errorf("DecodeKey with an unterminated sub-prefix = %v; want ErrMalformedKey", err)
	}
	if elems, err := metadata.DecodeTuple(nil); err != nil || len(elems) != 0 {
		t.Errorf("DecodeTuple(nil) = %q, %v; want the empty tuple", elems, err)
	}
}

func TestEncodeKey(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	type sk struct {
		fp  metadata.FullPrefix
		key []byte
	}
	var all []sk
	for range 3000 {
		fp := metadata.FullPrefix{Prefix: randString(r), Sub: randString(r)}
		key := []byte(randString(r))
		enc := metadata.EncodeKey(fp, key)
		gotFP, gotKey, err := metadata.DecodeKey(enc)
		if err != nil || gotFP != fp || !bytes.Equal(gotKey, key) {
			t.Fatalf("DecodeKey(EncodeKey(%q, %q)) = %q, %q, %v", fp, key, gotFP, gotKey, err)
		}
		// The key lies in its prefix's range and in no other.
		start, end := metadata.PrefixRange(fp)
		if bytes.Compare(enc, start) < 0 || bytes.Compare(enc, end) >= 0 {
			t.Fatalf("EncodeKey(%q, %q) = %q outside PrefixRange [%q, %q)", fp, key, enc, start, end)
		}
		all = append(all, sk{fp, key})
	}
	// Store keys sort by Prefix, then Sub, then key bytes, and every fp's
	// range holds exactly its own keys.
	for range 3000 {
		a, b := all[r.IntN(len(all))], all[r.IntN(len(all))]
		want := cmp.Or(strings.Compare(a.fp.Prefix, b.fp.Prefix), strings.Compare(a.fp.Sub, b.fp.Sub), bytes.Compare(a.key, b.key))
		if got := bytes.Compare(metadata.EncodeKey(a.fp, a.key), metadata.EncodeKey(b.fp, b.key)); got != want {
			t.Fatalf("order of (%q, %q) and (%q, %q) = %d; want %d", a.fp, a.key, b.fp, b.key, got, want)
		}
		start, end := metadata.PrefixRange(a.fp)
		enc := metadata.EncodeKey(b.fp, b.key)
		in := bytes.Compare(enc, start) >= 0 && bytes.Compare(enc, end) < 0
		if in != (a.fp == b.fp) {
			t.Fatalf("key of %q in range of %q: %t", b.fp, a.fp, in)
		}
	}
}

func FuzzDecodeTuple(f *testing.F) {
	f.Add([]byte("vmq\x00\x01subscriber\x00\x01"))
	f.Add([]byte("a\x00\xffb\x00\x01\x00\x01"))
	f.Add([]byte("a\x00\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		elems, err := metadata.DecodeTuple(b)
		if err != nil {
			if !errors.Is(err, metadata.ErrMalformedKey) {
				t.Fatalf("error %v does not wrap ErrMalformedKey", err)
			}
			return
		}
		// The encoding is canonical: what decodes re-encodes to itself.
		if enc := metadata.EncodeTuple(elems...); !bytes.Equal(enc, b) {
			t.Fatalf("EncodeTuple(DecodeTuple(%q)) = %q", b, enc)
		}
	})
}
