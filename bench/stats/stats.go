// Package stats holds the measurements of nautilus-bench: latency histograms (HdrHistogram),
// the payload stamp that lets a subscriber detect lost, duplicated and reordered messages,
// and CPU and memory readings of a process from /proc.
//
// Everything here is counted exactly and tested on its own: a load tool that miscounts is
// worse than none, because its numbers are believed.
package stats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// StampSize is the number of payload bytes the stamp takes; payloads are at least this long.
const StampSize = 20

// Stamp writes the publisher id, the sequence number and the send time (unix nanoseconds)
// at the start of payload, which must be at least StampSize bytes.
func Stamp(payload []byte, publisher uint32, seq uint64, sent time.Time) {
	binary.BigEndian.PutUint32(payload[0:4], publisher)
	binary.BigEndian.PutUint64(payload[4:12], seq)
	binary.BigEndian.PutUint64(payload[12:20], uint64(sent.UnixNano()))
}

// ErrShortPayload is returned by ReadStamp for a payload that cannot hold a stamp: a message
// the benchmark did not send.
var ErrShortPayload = errors.New("stats: payload shorter than the stamp")

// ReadStamp returns what Stamp wrote.
func ReadStamp(payload []byte) (publisher uint32, seq uint64, sentNanos int64, err error) {
	if len(payload) < StampSize {
		return 0, 0, 0, ErrShortPayload
	}
	return binary.BigEndian.Uint32(payload[0:4]), binary.BigEndian.Uint64(payload[4:12]),
		int64(binary.BigEndian.Uint64(payload[12:20])), nil
}

// Histogram records latencies in microseconds, from 1 µs to 10 minutes, with three
// significant digits. It is not safe for concurrent use: keep one per goroutine and Merge.
type Histogram struct {
	h *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)}
}

// Record adds one latency. Values below 1 µs count as 1 µs and values beyond the range as the
// largest trackable value, so that no sample is silently dropped from the counts.
func (h *Histogram) Record(d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < 1 {
		us = 1
	}
	if hi := h.h.HighestTrackableValue(); us > hi {
		us = hi
	}
	_ = h.h.RecordValue(us)
}

// Merge adds the samples of o.
func (h *Histogram) Merge(o *Histogram) { h.h.Merge(o.h) }

// Count is the number of samples.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Quantile returns the latency at percentile q (0-100).
func (h *Histogram) Quantile(q float64) time.Duration {
	if q <= 0 {
		// hdrhistogram-go answers 0 for the 0th percentile; the minimum is what is meant.
		return time.Duration(h.h.Min()) * time.Microsecond
	}
	return time.Duration(h.h.ValueAtQuantile(q)) * time.Microsecond
}

// Max is the largest sample (to the histogram's precision).
func (h *Histogram) Max() time.Duration { return time.Duration(h.h.Max()) * time.Microsecond }

// Mean is the mean sample.
func (h *Histogram) Mean() time.Duration {
	return time.Duration(h.h.Mean() * float64(time.Microsecond))
}

// Summary is a histogram reduced to the figures a report prints, in microseconds.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// Summary returns the percentiles of h.
func (h *Histogram) Summary() Summary {
	if h.Count() == 0 {
		return Summary{}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Summary{Count: h.Count(), Mean: us(h.Mean()), P50: us(h.Quantile(50)), P90: us(h.Quantile(90)),
		P99: us(h.Quantile(99)), P999: us(h.Quantile(99.9)), Max: us(h.Max())}
}

// Distribution returns (percentile, latency) points for a percentile plot, from 0 to 99.999.
func (h *Histogram) Distribution() (pct []float64, lat []time.Duration) {
	for _, q := range []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100} {
		pct = append(pct, q)
		lat = append(lat, h.Quantile(q))
	}
	return pct, lat
}

// Tracker follows the sequence numbers one subscriber (or one shared-subscription group, after
// Merge) received from each publisher. Sequences are dense from 0, so a bitmap per publisher
// says exactly which arrived. Not safe for concurrent use.
type Tracker struct {
	pubs      map[uint32]*seqSet
	Received  uint64 // every message seen, duplicates included
	Dups      uint64 // messages whose (publisher, sequence) had been seen before
	Reordered uint64 // messages older than the newest already seen from the same publisher
	Foreign   uint64 // messages without a stamp
}

type seqSet struct {
	bits   []uint64
	unique uint64
	newest uint64
	any    bool
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{pubs: map[uint32]*seqSet{}} }

// Add records one message; it returns false for a duplicate.
func (t *Tracker) Add(publisher uint32, seq uint64) bool {
	t.Received++
	s := t.pubs[publisher]
	if s == nil {
		s = &seqSet{}
		t.pubs[publisher] = s
	}
	if s.any && seq < s.newest {
		t.Reordered++
	}
	if !s.any || seq > s.newest {
		s.newest, s.any = seq, true
	}
	if !s.set(seq) {
		t.Dups++
		return false
	}
	return true
}

// set marks seq and reports whether it was new.
func (s *seqSet) set(seq uint64) bool {
	w := int(seq / 64)
	if w >= len(s.bits) {
		n := max(w+1, 2*len(s.bits))
		nb := make([]uint64, n)
		copy(nb, s.bits)
		s.bits = nb
	}
	m := uint64(1) << (seq % 64)
	if s.bits[w]&m != 0 {
		return false
	}
	s.bits[w] |= m
	s.unique++
	return true
}

// Unique is the number of distinct messages received from publisher.
func (t *Tracker) Unique(publisher uint32) uint64 {
	if s := t.pubs[publisher]; s != nil {
		return s.unique
	}
	return 0
}

// UniqueTotal is the number of distinct messages received from all publishers.
func (t *Tracker) UniqueTotal() uint64 {
	var n uint64
	for _, s := range t.pubs {
		n += s.unique
	}
	return n
}

// Merge folds o into t, as when the members of a shared subscription group report together:
// a message that two members both received is a duplicate of the group.
func (t *Tracker) Merge(o *Tracker) {
	t.Received += o.Received
	t.Dups += o.Dups
	t.Reordered += o.Reordered
	t.Foreign += o.Foreign
	for id, os := range o.pubs {
		s := t.pubs[id]
		if s == nil {
			s = &seqSet{}
			t.pubs[id] = s
		}
		if len(s.bits) < len(os.bits) {
			nb := make([]uint64, len(os.bits))
			copy(nb, s.bits)
			s.bits = nb
		}
		for i, w := range os.bits {
			both := s.bits[i] & w
			t.Dups += uint64(bits.OnesCount64(both))
			s.unique += uint64(bits.OnesCount64(w &^ s.bits[i]))
			s.bits[i] |= w
		}
		if os.any && (!s.any || os.newest > s.newest) {
			s.newest, s.any = os.newest, true
		}
	}
}

// Loss compares what arrived with what was sent: sent[p] messages from publisher p, with
// sequences 0..sent[p]-1. Lost counts the sequences that never arrived; Unexpected counts
// arrivals from publishers or sequences that were never sent (a sign of a miscounting run or
// of another client publishing on the benchmark's topics).
func (t *Tracker) Loss(sent map[uint32]uint64) (lost, unexpected uint64) {
	for id, n := range sent {
		s := t.pubs[id]
		var got uint64
		if s != nil {
			got = s.countBelow(n)
		}
		lost += n - got
	}
	for id, s := range t.pubs {
		n := sent[id]
		unexpected += s.unique - s.countBelow(n)
	}
	return lost, unexpected
}

// countBelow counts the sequences < n that were seen.
func (s *seqSet) countBelow(n uint64) uint64 {
	var c uint64
	full := int(n / 64)
	for i := 0; i < full && i < len(s.bits); i++ {
		c += uint64(bits.OnesCount64(s.bits[i]))
	}
	if rem := n % 64; rem != 0 && full < len(s.bits) {
		c += uint64(bits.OnesCount64(s.bits[full] & (uint64(1)<<rem - 1)))
	}
	return c
}

// String is for test failures.
func (t *Tracker) String() string {
	return fmt.Sprintf("received %d unique %d dups %d reordered %d foreign %d", t.Received, t.UniqueTotal(), t.Dups, t.Reordered, t.Foreign)
}
