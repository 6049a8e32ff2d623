package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 1 << 20} {
		for _, id := range []uint64{0, 1, 127, 128, 255, 256, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
			f := frame{Type: frameRequest, Chan: ChanMetaRPC, ID: id, TimeoutMS: id / 3,
				Payload: bytes.Repeat([]byte{7}, size), Err: string(bytes.Repeat([]byte("e"), size%300))}
			if size == 0 {
				f.Payload = nil
			}
			buf := appendFrame(nil, &f)
			if len(buf) != frameSize(&f) {
				t.Fatalf("size %d id %d: frameSize %d, encoded %d", size, id, frameSize(&f), len(buf))
			}
			var scratch []byte
			body, err := readFrame(bufio.NewReaderSize(bytes.NewReader(buf), 4096), 2<<20, &scratch)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeFrame(body)
			if err != nil {
				t.Fatalf("size %d id %d: %v", size, id, err)
			}
			if got.Type != f.Type || got.Chan != f.Chan || got.ID != f.ID || got.TimeoutMS != f.TimeoutMS ||
				!bytes.Equal(got.Payload, f.Payload) || got.Err != f.Err {
				t.Fatalf("size %d id %d: round trip changed the frame", size, id)
			}
		}
	}
}

// TestFrameIsMsgpack pins that a frame body is plain msgpack, readable by any decoder.
func TestFrameIsMsgpack(t *testing.T) {
	f := frame{Type: frameMessage, Chan: ChanRouting, Payload: []byte("hello")}
	buf := appendFrame(nil, &f)
	var v []any
	if err := msgpack.Unmarshal(buf[frameLenSize:], &v); err != nil {
		t.Fatal(err)
	}
	if len(v) != frameFields || !bytes.Equal(v[4].([]byte), []byte("hello")) {
		t.Fatalf("decoded %#v", v)
	}
}

func TestFrameTooLargeRefusedBeforeAllocation(t *testing.T) {
	buf := []byte{0xff, 0xff, 0xff, 0xff}
	var scratch []byte
	_, err := readFrame(bufio.NewReader(bytes.NewReader(buf)), 1<<20, &scratch)
	if !errors.Is(err, errMalformed) || cap(scratch) != 0 {
		t.Fatalf("err %v, scratch %d", err, cap(scratch))
	}
}

func TestDecodeFrameRejects(t *testing.T) {
	good := appendFrame(nil, &frame{Type: frameMessage, Chan: 1, Payload: []byte("x")})[frameLenSize:]
	cases := map[string][]byte{
		"empty":      {},
		"not array":  {0x01},
		"short":      good[:len(good)-1],
		"trailing":   append(append([]byte{}, good...), 0),
		"type 0":     {0x96, 0, 1, 0, 0, 0xc0, 0xc0},
		"type 256":   {0x96, 0xcd, 1, 0, 1, 0, 0, 0xc0, 0xc0},
		"bin length": {0x96, 1, 1, 0, 0, 0xc6, 0x7f, 0xff, 0xff, 0xff, 0xc0},
		"str type":   {0x96, 1, 1, 0, 0, 0xc0, 0x01},
	}
	for name, b := range cases {
		if _, err := decodeFrame(b); !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeFrameAllocs(t *testing.T) {
	body := appendFrame(nil, &frame{Type: frameMessage, Chan: 3, Payload: make([]byte, 100)})[frameLenSize:]
	if n := testing.AllocsPerRun(100, func() { _, _ = decodeFrame(body) }); n != 0 {
		t.Fatalf("decodeFrame allocates %v times", n)
	}
	var dst []byte
	f := frame{Type: frameMessage, Chan: 3, Payload: make([]byte, 100)}
	if n := testing.AllocsPerRun(100, func() { dst = appendFrame(dst[:0], &f) }); n != 0 {
		t.Fatalf("appendFrame allocates %v times", n)
	}
}

// FuzzDecodeFrame: no input makes the frame reader or decoder panic, and whatever decodes
// re-encodes to a frame that decodes the same.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range []frame{
		{Type: frameMessage, Chan: ChanRouting, Payload: []byte("publish batch")},
		{Type: frameRequest, Chan: ChanMetaRPC, ID: 1 << 40, TimeoutMS: 5000, Payload: []byte{1, 2, 3}},
		{Type: frameError, ID: 9, Err: "no handler for channel"},
		{Type: framePing},
	} {
		f.Add(appendFrame(nil, &fr))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var scratch []byte
		for {
			body, err := readFrame(br, 1<<16, &scratch)
			if err != nil {
				return
			}
			fr, err := decodeFrame(body)
			if err != nil {
				continue
			}
			again, err := decodeFrame(appendFrame(nil, &fr)[frameLenSize:])
			if err != nil || again.Type != fr.Type || again.ID != fr.ID || !bytes.Equal(again.Payload, fr.Payload) || again.Err != fr.Err {
				t.Fatalf("re-encoding changed %+v: %+v %v", fr, again, err)
			}
		}
	})
}
