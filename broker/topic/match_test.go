package topic

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
)

// naiveMatch is the specification written as plainly as possible; the trie
// and the retained index are checked against it.
func naiveMatch(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (f[0] == "+" || f[0] == "#") {
		return false // [MQTT-4.7.2-1]
	}
	for i, level := range f {
		if level == "#" {
			return true // matches the parent and everything below
		}
		if i >= len(t) || (level != "+" && level != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

var matchTests = []struct {
	filter, topic string
	want          bool
}{
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"+", "a", true},
	{"+", "a/b", false},
	{"+", "/", false}, // "/" has two levels
	{"+/+", "/", true},
	{"/+", "/a", true},
	{"+/+", "a/b", true},
	{"+/+", "a", false},
	{"a/+/c", "a//c", true}, // '+' matches an empty level
	{"a//c", "a//c", true},
	{"a//c", "a/c", false},
	{"a/+", "a/", true},
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"a/#", "a", true}, // parent level (§4.7.1.2, non-normative)
	{"a/#", "a/b", true},
	{"a/#", "a/b/c", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"a/b/#", "a", false},
	{"+/#", "a", true},
	{"+/b/#", "a/b", true},
	{"#", "$SYS/uptime", false},        // [MQTT-4.7.2-1]
	{"+/uptime", "$SYS/uptime", false}, // [MQTT-4.7.2-1]
	{"+", "$SYS", false},               // [MQTT-4.7.2-1]
	{"$SYS/#", "$SYS/uptime", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+", "$SYS/uptime", true},
	{"a/$x", "a/$x", true},
	{"a/+", "a/$x", true}, // the rule is about the first level only
	{"a/#", "a/$x/y", true},
	{"$share/g/a", "$share/g/a", true}, // the trie treats it literally
}

func TestNaiveMatchTable(t *testing.T) {
	for _, tt := range matchTests {
		if got := naiveMatch(tt.filter, tt.topic); got != tt.want {
			t.Errorf("naiveMatch(%q, %q) = %v", tt.filter, tt.topic, got)
		}
	}
}

func TestTrieMatchTable(t *testing.T) {
	for _, tt := range matchTests {
		var tr Trie[string, int]
		if _, err := tr.Subscribe(tt.filter, "c", 1); err != nil {
			t.Fatal(err)
		}
		got := len(tr.Match(tt.topic, nil)) == 1
		n := 0
		tr.MatchFunc(tt.topic, func(string, int) { n++ })
		if got != tt.want || (n == 1) != tt.want {
			t.Errorf("Trie %q matching %q = %v, MatchFunc %d, want %v", tt.filter, tt.topic, got, n, tt.want)
		}
	}
}

func TestRetainedMatchTable(t *testing.T) {
	for _, tt := range matchTests {
		var x RetainedIndex[int]
		if err := x.Set(tt.topic, 1); err != nil {
			t.Fatal(err)
		}
		var got []string
		x.Match(tt.filter, func(topic string, _ int) bool { got = append(got, topic); return true })
		if (len(got) == 1 && got[0] == tt.topic) != tt.want || len(got) > 1 {
			t.Errorf("RetainedIndex %q matching %q = %q, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestTrieSubscribeUnsubscribe(t *testing.T) {
	var tr Trie[string, int]
	mustSub := func(f, k string, v int, wantReplaced bool) {
		t.Helper()
		replaced, err := tr.Subscribe(f, k, v)
		if err != nil || replaced != wantReplaced {
			t.Fatalf("Subscribe(%q, %q) = %v, %v", f, k, replaced, err)
		}
	}
	mustSub("a/+", "c1", 1, false)
	mustSub("a/+", "c2", 2, false)
	mustSub("a/#", "c1", 3, false)
	mustSub("a/+", "c1", 4, true) // replace
	if tr.Len() != 3 {
		t.Fatalf("Len = %d", tr.Len())
	}
	got := tr.Match("a/b", nil)
	slices.SortFunc(got, func(x, y Entry[string, int]) int { return x.Value - y.Value })
	if fmt.Sprint(got) != "[{c2 2} {c1 3} {c1 4}]" {
		t.Fatalf("Match = %v", got)
	}
	if _, err := tr.Subscribe("a/#/b", "c1", 0); err == nil {
		t.Fatal("invalid filter accepted")
	}
	if tr.Unsubscribe("a/+", "c3") || tr.Unsubscribe("a/b", "c1") || tr.Unsubscribe("x/y/z", "c1") {
		t.Fatal("Unsubscribe of a missing subscription succeeded")
	}
	for _, s := range [][2]string{{"a/+", "c1"}, {"a/+", "c2"}, {"a/#", "c1"}} {
		if !tr.Unsubscribe(s[0], s[1]) {
			t.Fatalf("Unsubscribe(%q, %q) failed", s[0], s[1])
		}
	}
	if tr.Len() != 0 || len(tr.Match("a/b", nil)) != 0 {
		t.Fatalf("after unsubscribing all: Len %d", tr.Len())
	}
	if s := tr.snap.Load(); s.root != nil && !s.root.empty() {
		t.Error("empty branches were not pruned")
	}
}

func TestMatchNoAllocs(t *testing.T) {
	var tr Trie[int, int]
	for i := range 100 {
		_, _ = tr.Subscribe(fmt.Sprintf("site/%d/dev/+/temp", i%10), i, i)
		_, _ = tr.Subscribe(fmt.Sprintf("site/%d/#", i%10), i, i)
	}
	dst := make([]Entry[int, int], 0, 64)
	n := 0
	if a := testing.AllocsPerRun(100, func() {
		dst = tr.Match("site/3/dev/9/temp", dst[:0])
		tr.MatchFunc("site/3/dev/9/temp", func(int, int) { n++ })
	}); a != 0 {
		t.Errorf("Match allocates %v times", a)
	}
	if len(dst) != 20 {
		t.Errorf("matched %d, want 20", len(dst))
	}
}

func TestRetainedIndex(t *testing.T) {
	var x RetainedIndex[string]
	for _, topic := range []string{"a", "a/b", "a/b/c", "$SYS/x"} {
		if err := x.Set(topic, "v:"+topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Set("a/+", "bad"); err == nil {
		t.Error("Set accepted a wildcard")
	}
	if err := x.Set("a/b", "v2"); err != nil { // fast path: replace in place
		t.Fatal(err)
	}
	if v, ok := x.Get("a/b"); !ok || v != "v2" || x.Len() != 4 {
		t.Errorf("Get = %q, %v; Len %d", v, ok, x.Len())
	}
	if _, ok := x.Get("a/b/c/d"); ok {
		t.Error("Get of a missing topic succeeded")
	}
	if !x.Delete("a/b") || x.Delete("a/b") || x.Delete("nope") {
		t.Error("Delete results wrong")
	}
	// "a/b" still exists as an inner node; Set reuses it.
	if _, ok := x.Get("a/b"); ok || x.Len() != 3 {
		t.Errorf("after delete: Len %d", x.Len())
	}
	if err := x.Set("a/b", "v3"); err != nil || x.Len() != 4 {
		t.Errorf("Set on an inner node: %v, Len %d", err, x.Len())
	}
	var got []string
	x.Match("#", func(topic, _ string) bool { got = append(got, topic); return true })
	slices.Sort(got)
	if fmt.Sprint(got) != "[a a/b a/b/c]" {
		t.Errorf("Match(#) = %v", got)
	}
	n := 0
	x.Match("#", func(string, string) bool { n++; return false })
	if n != 1 {
		t.Errorf("Match went on after fn returned false: %d calls", n)
	}
	for _, topic := range []string{"a", "a/b", "a/b/c", "$SYS/x"} {
		x.Delete(topic)
	}
	if x.Len() != 0 || x.root.Load().children.len() != 0 {
		t.Errorf("not empty after deleting all: Len %d", x.Len())
	}
}

// TestPmapCollisions forces full 64-bit hash collisions and near-collisions,
// which maphash never produces in a test run.
func TestPmapCollisions(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, hashOf := range []func(int) uint64{
		func(int) uint64 { return 42 },                       // all collide
		func(k int) uint64 { return uint64(k%3) << 60 },      // agree on low 60 bits
		func(k int) uint64 { return uint64(k * 2654435761) }, // spread
	} {
		var m pmap[int, int]
		ref := map[int]int{}
		o := new(owner)
		for i := range 3000 {
			k := r.Intn(200)
			if i%3 == 0 {
				o = new(owner) // alternate between in-place and copying writes
			}
			if r.Intn(3) == 0 {
				_, want := ref[k]
				if got := m.delete(o, hashOf(k), k); got != want {
					t.Fatalf("delete(%d) = %v, want %v", k, got, want)
				}
				delete(ref, k)
			} else {
				_, had := ref[k]
				if added := m.set(o, hashOf(k), k, i); added == had {
					t.Fatalf("set(%d) added = %v", k, added)
				}
				ref[k] = i
			}
			if m.len() != len(ref) {
				t.Fatalf("len %d, want %d", m.len(), len(ref))
			}
		}
		for k := range 200 {
			v, ok := m.get(hashOf(k), k)
			if want, wok := ref[k]; ok != wok || v != want {
				t.Fatalf("get(%d) = %d, %v; want %d, %v", k, v, ok, want, wok)
			}
		}
		seen := 0
		m.root.each(func(k, v int) bool { seen++; return ref[k] == v })
		if seen != len(ref) {
			t.Fatalf("each saw %d of %d", seen, len(ref))
		}
	}
}

// TestSnapshotsAreImmutable checks that a writer never changes what an
// earlier reader's snapshot sees, batches included.
func TestSnapshotsAreImmutable(t *testing.T) {
	var tr Trie[int, int]
	for i := range 50 {
		_, _ = tr.Subscribe(fmt.Sprintf("a/%d", i), i, i)
	}
	old := tr.snap.Load()
	before := old.root.matchAppend("a/7", 0, false, nil)
	tr.Batch(func(b *Batch[int, int]) {
		for i := range 50 {
			_, _ = b.Subscribe(fmt.Sprintf("a/%d", i), i, -i)
			_, _ = b.Subscribe("a/+", i, i)
		}
		b.Unsubscribe("a/7", 7)
	})
	after := old.root.matchAppend("a/7", 0, false, nil)
	if fmt.Sprint(before) != fmt.Sprint(after) || old.n != 50 {
		t.Errorf("old snapshot changed: %v -> %v", before, after)
	}
	if got := len(tr.Match("a/7", nil)); got != 50 {
		t.Errorf("new snapshot matches %d", got)
	}
}

// randomWorld draws filters and topics from a small alphabet so that
// wildcards, empty levels and '$' collide often.
type randomWorld struct{ r *rand.Rand }

var words = []string{"a", "b", "", "$SYS", "$x", "c"}

func (w randomWorld) topic() string {
	levels := make([]string, 1+w.r.Intn(4))
	for i := range levels {
		levels[i] = words[w.r.Intn(len(words))]
	}
	if s := strings.Join(levels, "/"); s != "" {
		return s
	}
	return "a"
}

func (w randomWorld) filter() string {
	levels := make([]string, 1+w.r.Intn(4))
	for i := range levels {
		switch w.r.Intn(6) {
		case 0:
			levels[i] = "+"
		case 1:
			if i == len(levels)-1 {
				levels[i] = "#"
				continue
			}
			fallthrough
		default:
			levels[i] = words[w.r.Intn(len(words))]
		}
	}
	if s := strings.Join(levels, "/"); s != "" {
		return s
	}
	return "#"
}

// TestMatchAgainstNaive is the property test: random subscriptions and
// unsubscriptions, then every random topic must match exactly the
// subscriptions the naive matcher selects; the same for the retained index
// with the roles swapped.
func TestMatchAgainstNaive(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		w := randomWorld{rand.New(rand.NewSource(seed))}
		var tr Trie[int, string]
		var x RetainedIndex[int]
		subs := map[int]string{} // key -> filter
		retained := map[string]bool{}
		for i := range 300 {
			k := w.r.Intn(120)
			if f, ok := subs[k]; ok && w.r.Intn(3) == 0 {
				if !tr.Unsubscribe(f, k) {
					t.Fatalf("seed %d: Unsubscribe(%q, %d) failed", seed, f, k)
				}
				delete(subs, k)
			} else if !ok {
				f := w.filter()
				if _, err := tr.Subscribe(f, k, f); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				subs[k] = f
			}
			topic := w.topic()
			if i%4 == 0 {
				x.Delete(topic)
				delete(retained, topic)
			} else {
				_ = x.Set(topic, i)
				retained[topic] = true
			}
		}
		if tr.Len() != len(subs) || x.Len() != len(retained) {
			t.Fatalf("seed %d: Len %d/%d, want %d/%d", seed, tr.Len(), x.Len(), len(subs), len(retained))
		}
		for range 200 {
			topic := w.topic()
			var want []int
			for k, f := range subs {
				if naiveMatch(f, topic) {
					want = append(want, k)
				}
			}
			var got []int
			for _, e := range tr.Match(topic, nil) {
				got = append(got, e.Key)
				if e.Value != subs[e.Key] {
					t.Fatalf("seed %d: value %q for key %d", seed, e.Value, e.Key)
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d: topic %q matched %v, want %v (subs %v)", seed, topic, got, want, subs)
			}

			filter := w.filter()
			var wantT, gotT []string
			for topic := range retained {
				if naiveMatch(filter, topic) {
					wantT = append(wantT, topic)
				}
			}
			x.Match(filter, func(topic string, _ int) bool { gotT = append(gotT, topic); return true })
			slices.Sort(wantT)
			slices.Sort(gotT)
			if !slices.Equal(gotT, wantT) {
				t.Fatalf("seed %d: filter %q matched %q, want %q", seed, filter, gotT, wantT)
			}
		}
	}
}

// TestConcurrentChurn runs readers against writers; run it with -race. Each
// reader also checks a stable subscription is always visible, which a
// torn snapshot would break.
func TestConcurrentChurn(t *testing.T) {
	var tr Trie[int, int]
	var x RetainedIndex[int]
	_, _ = tr.Subscribe("stable/#", -1, 0)
	_ = x.Set("stable/x", 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewSource(int64(w)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f := fmt.Sprintf("stable/%d/+", r.Intn(50))
				if r.Intn(2) == 0 {
					_, _ = tr.Subscribe(f, w, i)
				} else {
					tr.Unsubscribe(f, w)
				}
				topic := fmt.Sprintf("stable/%d", r.Intn(50))
				switch r.Intn(3) {
				case 0:
					x.Delete(topic)
				case 1:
					x.Batch(func(b *RetainedBatch[int]) { _ = b.Set(topic, i); _ = b.Set(topic+"/y", i) })
				default:
					_ = x.Set(topic, i)
				}
			}
		})
	}
	var rg sync.WaitGroup
	for range 4 {
		rg.Go(func() {
			var dst []Entry[int, int]
			for i := range 3000 {
				dst = tr.Match(fmt.Sprintf("stable/%d/z", i%50), dst[:0])
				if !slices.ContainsFunc(dst, func(e Entry[int, int]) bool { return e.Key == -1 }) {
					t.Error("stable subscription missing")
					return
				}
				found := false
				x.Match("stable/+", func(topic string, _ int) bool { found = found || topic == "stable/x"; return true })
				if _, ok := x.Get("stable/x"); !ok || !found {
					t.Error("stable retained topic missing")
					return
				}
			}
		})
	}
	rg.Wait()
	close(stop)
	wg.Wait()
}
