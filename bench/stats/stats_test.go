package stats

import (
	"errors"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	p := make([]byte, 64)
	now := time.Unix(1700000000, 123456789)
	Stamp(p, 7, 1<<40+3, now)
	id, seq, sent, err := ReadStamp(p)
	if err != nil || id != 7 || seq != 1<<40+3 || sent != now.UnixNano() {
		t.Fatalf("got %d %d %d %v", id, seq, sent, err)
	}
	if _, _, _, err := ReadStamp(p[:StampSize-1]); !errors.Is(err, ErrShortPayload) {
		t.Fatalf("short payload: %v", err)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	near := func(got, want time.Duration) bool {
		d := got - want
		return d < 0 && -d <= want/500 || d >= 0 && d <= want/500 // three significant digits
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {99, 990 * time.Millisecond}, {100, time.Second}, {0, time.Millisecond}} {
		if got := h.Quantile(c.q); !near(got, c.want) {
			t.Errorf("p%v = %v, want %v", c.q, got, c.want)
		}
	}
	if h.Count() != 1000 {
		t.Fatalf("count %d", h.Count())
	}
	s := h.Summary()
	if s.Count != 1000 || s.P50 < 499000 || s.P50 > 501000 || s.Max < 999000 {
		t.Fatalf("summary %+v", s)
	}
	// Out-of-range samples are clamped, not dropped.
	h2 := NewHistogram()
	h2.Record(0)
	h2.Record(time.Hour)
	if h2.Count() != 2 || h2.Quantile(0) != time.Microsecond {
		t.Fatalf("clamped: count %d min %v", h2.Count(), h2.Quantile(0))
	}
	h.Merge(h2)
	if h.Count() != 1002 {
		t.Fatalf("merged count %d", h.Count())
	}
	if (&Histogram{h: NewHistogram().h}).Summary() != (Summary{}) {
		t.Fatal("empty histogram summary not zero")
	}
}

func TestTrackerLossAndDuplicates(t *testing.T) {
	tr := NewTracker()
	// Publisher 1 sends 0..199; 10 and 150 are lost, 20 arrives twice, 30 arrives late.
	for s := uint64(0); s < 200; s++ {
		switch s {
		case 10, 150, 30:
			continue
		}
		tr.Add(1, s)
		if s == 20 {
			if tr.Add(1, 20) {
				t.Fatal("duplicate reported as new")
			}
		}
		if s == 40 {
			tr.Add(1, 30)
		}
	}
	// Publisher 2 sends 0..63 (one full bitmap word), all arrive.
	for s := uint64(0); s < 64; s++ {
		tr.Add(2, s)
	}
	lost, unexpected := tr.Loss(map[uint32]uint64{1: 200, 2: 64, 3: 5})
	if lost != 2+5 || unexpected != 0 {
		t.Fatalf("lost %d unexpected %d, want 7 and 0 (%s)", lost, unexpected, tr)
	}
	if tr.Dups != 1 || tr.Reordered != 1 || tr.Received != 198+1+64 {
		t.Fatalf("%s", tr)
	}
	if tr.Unique(1) != 198 || tr.UniqueTotal() != 198+64 {
		t.Fatalf("unique %d total %d", tr.Unique(1), tr.UniqueTotal())
	}
	// A sequence beyond what the publisher says it sent is unexpected, not a delivery.
	tr.Add(2, 64)
	if _, unexpected := tr.Loss(map[uint32]uint64{1: 200, 2: 64}); unexpected != 1 {
		t.Fatalf("unexpected %d, want 1", unexpected)
	}
	if _, unexpected := tr.Loss(map[uint32]uint64{1: 200}); unexpected != 65 {
		t.Fatalf("unexpected from an unknown publisher %d, want 65", unexpected)
	}
}

func TestTrackerMergeGroup(t *testing.T) {
	// Two members of a shared subscription split 0..99; member b also gets 5 and 70 (a
	// message delivered to two members is a duplicate of the group).
	a, b := NewTracker(), NewTracker()
	for s := uint64(0); s < 100; s++ {
		if s%2 == 0 {
			a.Add(9, s)
		} else {
			b.Add(9, s)
		}
	}
	b.Add(9, 70)
	b.Add(9, 4)
	g := NewTracker()
	g.Merge(a)
	g.Merge(b)
	lost, unexpected := g.Loss(map[uint32]uint64{9: 100})
	if lost != 0 || unexpected != 0 || g.Dups != 2 || g.UniqueTotal() != 100 || g.Received != 102 {
		t.Fatalf("lost %d unexpected %d %s", lost, unexpected, g)
	}
	// Loss across words: 130 sent, member a never saw 64..129.
	c := NewTracker()
	for s := uint64(0); s < 64; s++ {
		c.Add(1, s)
	}
	if lost, _ := c.Loss(map[uint32]uint64{1: 130}); lost != 66 {
		t.Fatalf("lost %d, want 66", lost)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A real line from /proc/PID/stat with a name holding spaces and a ')'.
	line := []byte("12345 (my (odd) proc) S 1 12345 12345 0 -1 4194560 1234 0 0 0 250 130 0 0 20 0 9 0 4321 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 17 1 0 0 0 0 0\n")
	d, err := ParseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if d != 3800*time.Millisecond {
		t.Fatalf("cpu %v, want 3.8s (250+130 ticks at 100 Hz)", d)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 5 0"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := []byte("Name:\tmosquitto\nVmPeak:\t   20000 kB\nVmRSS:\t    6132 kB\nThreads:\t1\n")
	n, err := ParseStatusRSS(status)
	if err != nil || n != 6132*1024 {
		t.Fatalf("%d %v", n, err)
	}
	if _, err := ParseStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("missing VmRSS: no error")
	}
	if _, err := ParseStatusRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("bad unit: no error")
	}
}

func TestSelfAndProcess(t *testing.T) {
	// Burn a little CPU so the reading moves.
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	if SelfCPU() <= 0 {
		t.Fatal("SelfCPU is 0")
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Fatal("ProcessCPU(-1): no error")
	}
	if rss, err := ProcessRSS(osGetpid()); err != nil || rss <= 0 {
		t.Fatalf("own RSS %d %v", rss, err)
	}
	if cpu, err := ProcessCPU(osGetpid()); err != nil || cpu < 0 {
		t.Fatalf("own CPU %v %v", cpu, err)
	}
}

func TestPeakRSS(t *testing.T) {
	status := []byte("Name:\tnautilus\nVmHWM:\t   9000 kB\nVmRSS:\t    6132 kB\n")
	if n, err := ParseStatusPeakRSS(status); err != nil || n != 9000*1024 {
		t.Fatalf("%d %v", n, err)
	}
	if err := ResetSelfPeakRSS(); err != nil {
		t.Skip(err) // kernels without clear_refs 5
	}
	peak, err := ProcessPeakRSS(osGetpid())
	rss, err2 := ProcessRSS(osGetpid())
	if err != nil || err2 != nil || peak <= 0 || peak < rss/2 {
		t.Fatalf("peak %d rss %d: %v %v", peak, rss, err, err2)
	}
}
