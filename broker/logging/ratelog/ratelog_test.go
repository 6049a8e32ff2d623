package ratelog

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock steps time by hand and runs scheduled functions when their time comes.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	timer []timer
}

type timer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) clock() Clock {
	return Clock{
		Now: func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now },
		AfterFunc: func(d time.Duration, f func()) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.timer = append(c.timer, timer{c.now.Add(d), f})
		},
	}
}

// advance moves time on by d and runs what fell due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	keep := c.timer[:0]
	for _, t := range c.timer {
		if !t.at.After(c.now) {
			due = append(due, t.f)
		} else {
			keep = append(keep, t)
		}
	}
	c.timer = keep
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func newTest(interval time.Duration) (*Group, *fakeClock, *bytes.Buffer) {
	var buf bytes.Buffer
	g := New(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelWarn, interval, "publishes refused")
	fc := &fakeClock{now: time.Unix(1000, 0)}
	g.SetClock(fc.clock())
	return g, fc, &buf
}

func lines(buf *bytes.Buffer) []string {
	return strings.Split(strings.TrimSpace(buf.String()), "\n")
}

func TestFirstAtOnceThenOneSummaryPerInterval(t *testing.T) {
	g, fc, buf := newTest(10 * time.Second)
	for i := range 200 {
		g.Log("netsplit", "client_id", "c"+string(rune('a'+i%26)))
		fc.advance(10 * time.Millisecond) // 2 s in all
	}
	if l := lines(buf); len(l) != 1 || !strings.Contains(l[0], `msg="publishes refused"`) || !strings.Contains(l[0], "cause=netsplit") || !strings.Contains(l[0], "client_id=ca") {
		t.Fatalf("before the interval: %q; want only the first event, with its details", l)
	}
	fc.advance(8 * time.Second)
	l := lines(buf)
	if len(l) != 2 {
		t.Fatalf("after the interval: %q; want the first event and one summary", l)
	}
	if !strings.Contains(l[1], `msg="199 publishes refused in the last 10s"`) || !strings.Contains(l[1], "count=199") || !strings.Contains(l[1], "last.client_id=cr") {
		t.Fatalf("summary %q; want 199 suppressed, the last client cr", l[1])
	}
	fc.advance(time.Minute)
	if n := len(lines(buf)); n != 2 {
		t.Fatalf("%d lines after a quiet minute; want no more", n)
	}
	g.Log("netsplit", "client_id", "late")
	if l := lines(buf); len(l) != 3 || !strings.Contains(l[2], "client_id=late") || strings.Contains(l[2], "count=") {
		t.Fatalf("after a quiet spell: %q; want the next event logged at once", l)
	}
}

var summaryRE = regexp.MustCompile(`msg="(\d+) publishes refused in the last 10s"`)

func TestSteadyFloodLogsOncePerInterval(t *testing.T) {
	g, fc, buf := newTest(10 * time.Second)
	for range 60 * 100 { // one minute at 100 events a second
		g.Log("netsplit")
		fc.advance(10 * time.Millisecond)
	}
	fc.advance(10 * time.Second)
	l := lines(buf)
	if len(l) < 6 || len(l) > 8 {
		t.Fatalf("%d lines for a minute of flood at a 10 s interval; want 6 to 8:\n%s", len(l), buf)
	}
	total := 1
	for _, s := range l[1:] {
		m := summaryRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("%q is not a summary", s)
		}
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if total != 6000 {
		t.Fatalf("the lines account for %d events; want 6000", total)
	}
}

func TestCausesAreLimitedApart(t *testing.T) {
	g, _, buf := newTest(10 * time.Second)
	for range 5 {
		g.Log("netsplit")
		g.Log("not stored")
	}
	if l := lines(buf); len(l) != 2 || !strings.Contains(l[0], "cause=netsplit") || !strings.Contains(l[1], `cause="not stored"`) {
		t.Fatalf("%q; want the first event of each cause", l)
	}
}

func TestCausesAreBounded(t *testing.T) {
	g, _, buf := newTest(10 * time.Second)
	for i := range 1000 {
		g.Log(strings.Repeat("x", i))
	}
	if n := len(lines(buf)); n != maxCauses+1 {
		t.Fatalf("%d lines for 1000 distinct causes; want %d and the rest under %q", n, maxCauses+1, overflowCause)
	}
}

func TestZeroIntervalLogsEverything(t *testing.T) {
	g, _, buf := newTest(0)
	for range 3 {
		g.Log("netsplit")
	}
	if n := len(lines(buf)); n != 3 {
		t.Fatalf("%d lines; want 3", n)
	}
}
