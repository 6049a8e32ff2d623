package authguard

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for the guard.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newGuard(t *testing.T, lim Limits) (*Guard, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim.Now = c.Now
	g := New(lim)
	if g == nil {
		t.Fatal("New returned nil for limits that are on")
	}
	return g, c
}

func failN(g *Guard, n int, ip, user string) (blocks []Block) {
	for range n {
		blocks = append(blocks, g.Fail(ip, user)...)
	}
	return blocks
}

func TestBlocksIPAfterLimitAndReleasesAfterBlock(t *testing.T) {
	g, c := newGuard(t, Limits{IPFailures: 3, Window: time.Minute, Block: 30 * time.Second})
	if b := failN(g, 2, "10.0.0.1", "alice"); len(b) != 0 {
		t.Fatalf("blocked after 2 of 3 failures: %+v", b)
	}
	if _, blocked := g.Blocked("10.0.0.1", "alice"); blocked {
		t.Fatal("blocked before the limit")
	}
	b := g.Fail("10.0.0.1", "alice")
	if len(b) != 1 || b[0].Kind != IP || b[0].Value != "10.0.0.1" || b[0].Failures != 3 {
		t.Fatalf("third failure reported %+v, want one IP block of 10.0.0.1 after 3", b)
	}
	if kind, blocked := g.Blocked("10.0.0.1", "bob"); !blocked || kind != IP {
		t.Fatalf("other username from the blocked address: blocked=%v kind=%v, want blocked by ip", blocked, kind)
	}
	if _, blocked := g.Blocked("10.0.0.2", "alice"); blocked {
		t.Fatal("per-username limit is off, yet alice is blocked from another address")
	}
	c.Advance(29 * time.Second)
	if _, blocked := g.Blocked("10.0.0.1", "alice"); !blocked {
		t.Fatal("block lifted before its end")
	}
	c.Advance(time.Second)
	if _, blocked := g.Blocked("10.0.0.1", "alice"); blocked {
		t.Fatal("still blocked after the block period")
	}
	// The count starts afresh after a block: one more failure does not block again.
	if b := g.Fail("10.0.0.1", "alice"); len(b) != 0 {
		t.Fatalf("first failure after the block re-blocked: %+v", b)
	}
}

func TestOneReportPerBurst(t *testing.T) {
	g, _ := newGuard(t, Limits{IPFailures: 2, Window: time.Minute, Block: time.Minute})
	if b := failN(g, 50, "10.0.0.1", ""); len(b) != 1 {
		t.Fatalf("50 failures gave %d block reports, want 1", len(b))
	}
}

func TestWindowForgetsOldFailures(t *testing.T) {
	g, c := newGuard(t, Limits{IPFailures: 3, Window: 10 * time.Second, Block: time.Minute})
	failN(g, 2, "10.0.0.1", "")
	c.Advance(10 * time.Second)
	if b := failN(g, 2, "10.0.0.1", ""); len(b) != 0 {
		t.Fatalf("failures from an expired window counted: %+v", b)
	}
	if b := g.Fail("10.0.0.1", ""); len(b) != 1 {
		t.Fatal("three failures within the window did not block")
	}
}

func TestPerUsernameLimit(t *testing.T) {
	g, _ := newGuard(t, Limits{IPFailures: 100, UserFailures: 4, Window: time.Minute, Block: time.Minute})
	// A distributed guesser: each address fails once for the same user.
	var blocks []Block
	for i := range 4 {
		blocks = append(blocks, g.Fail(fmt.Sprintf("10.0.0.%d", i), "alice")...)
	}
	if len(blocks) != 1 || blocks[0].Kind != Username || blocks[0].Value != "alice" {
		t.Fatalf("blocks %+v, want one username block of alice", blocks)
	}
	if kind, blocked := g.Blocked("192.168.1.1", "alice"); !blocked || kind != Username {
		t.Fatalf("alice from a fresh address: blocked=%v kind=%v, want blocked by username", blocked, kind)
	}
	if _, blocked := g.Blocked("10.0.0.1", "bob"); blocked {
		t.Fatal("bob blocked by alice's failures")
	}
}

func TestSuccessResetsCount(t *testing.T) {
	g, _ := newGuard(t, Limits{IPFailures: 3, UserFailures: 3, Window: time.Minute, Block: time.Minute})
	failN(g, 2, "10.0.0.1", "alice")
	g.Succeed("10.0.0.1", "alice")
	if b := failN(g, 2, "10.0.0.1", "alice"); len(b) != 0 {
		t.Fatalf("failures before a successful login still counted: %+v", b)
	}
	if g.Len() != 2 {
		t.Fatalf("tracking %d keys, want 2 (the address and the username)", g.Len())
	}
}

func TestSuccessDoesNotLiftBlock(t *testing.T) {
	g, _ := newGuard(t, Limits{IPFailures: 100, UserFailures: 2, Window: time.Minute, Block: time.Minute})
	failN(g, 2, "10.0.0.1", "alice")
	g.Succeed("10.0.0.2", "alice")
	if _, blocked := g.Blocked("10.0.0.3", "alice"); !blocked {
		t.Fatal("a success elsewhere lifted alice's block")
	}
}

func TestBoundedUnderManyUsernames(t *testing.T) {
	g, _ := newGuard(t, Limits{IPFailures: 1_000_000, UserFailures: 5, Window: time.Hour, Block: time.Hour, MaxKeys: 100})
	long := string(make([]byte, 60_000))
	for i := range 10_000 {
		g.Fail("10.0.0.1", fmt.Sprintf("%s%d", long, i))
	}
	if n := g.Len(); n > 100 {
		t.Fatalf("tracking %d keys, want at most MaxKeys = 100", n)
	}
	// A full table still takes new keys, evicting the least recently failed.
	failN(g, 5, "10.0.0.9", "victim")
	if _, blocked := g.Blocked("", "victim"); !blocked {
		t.Fatal("a full table did not take a new key")
	}
}

func TestEvictsExpiredKeys(t *testing.T) {
	g, c := newGuard(t, Limits{IPFailures: 3, Window: time.Minute, Block: time.Minute})
	for i := range 50 {
		g.Fail(fmt.Sprintf("10.0.1.%d", i), "")
	}
	c.Advance(time.Minute)
	g.Fail("10.0.0.1", "")
	if n := g.Len(); n != 1 {
		t.Fatalf("tracking %d keys after their window passed, want 1", n)
	}
}

func TestOffAndNil(t *testing.T) {
	if g := New(Limits{Window: time.Minute, Block: time.Minute}); g != nil {
		t.Fatal("both limits zero, yet a guard was made")
	}
	var g *Guard
	if b := failN(g, 100, "10.0.0.1", "alice"); len(b) != 0 {
		t.Fatal("a nil guard blocked")
	}
	if _, blocked := g.Blocked("10.0.0.1", "alice"); blocked {
		t.Fatal("a nil guard refused")
	}
	g.Succeed("10.0.0.1", "alice")
}

func TestConcurrentUse(t *testing.T) {
	g, _ := newGuard(t, Limits{IPFailures: 1000, UserFailures: 1000, Window: time.Minute, Block: time.Minute, MaxKeys: 64})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				ip, user := fmt.Sprintf("10.%d.0.%d", w, i%200), fmt.Sprintf("u%d", i%300)
				g.Blocked(ip, user)
				if i%10 == 0 {
					g.Succeed(ip, user)
				} else {
					g.Fail(ip, user)
				}
			}
		})
	}
	wg.Wait()
	if n := g.Len(); n > 64 {
		t.Fatalf("tracking %d keys, want at most 64", n)
	}
}
