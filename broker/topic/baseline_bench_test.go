package topic

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rwTrie is the design this package chose not to use, kept here as the
// benchmark baseline: a mutable trie behind one sync.RWMutex, as in
// nats-server's Sublist without its caches. It is test code only.
type rwTrie struct {
	mu   sync.RWMutex
	root rwNode
}

type rwNode struct {
	children   map[string]*rwNode
	plus, hash *rwNode
	subs       map[int]int
}

func (t *rwTrie) subscribe(filter string, k, v int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		var next **rwNode
		switch level {
		case "+":
			next = &n.plus
		case "#":
			next = &n.hash
		default:
			if n.children == nil {
				n.children = map[string]*rwNode{}
			}
			c := n.children[level]
			if c == nil {
				c = &rwNode{}
				n.children[level] = c
			}
			next = &c
		}
		if *next == nil {
			*next = &rwNode{}
		}
		n = *next
	}
	if n.subs == nil {
		n.subs = map[int]int{}
	}
	n.subs[k] = v
}

// unsubscribe leaves empty nodes behind; the benchmark churns the same
// filters, so they are reused.
func (t *rwTrie) unsubscribe(filter string, k int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		switch level {
		case "+":
			n = n.plus
		case "#":
			n = n.hash
		default:
			n = n.children[level]
		}
		if n == nil {
			return
		}
	}
	delete(n.subs, k)
}

func (t *rwTrie) match(topic string, dst []Entry[int, int]) []Entry[int, int] {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.root.match(topic, 0, isDollar(topic), dst)
}

func (n *rwNode) match(topic string, i int, dollar bool, dst []Entry[int, int]) []Entry[int, int] {
	wild := i > 0 || !dollar
	if n.hash != nil && wild {
		for k, v := range n.hash.subs {
			dst = append(dst, Entry[int, int]{k, v})
		}
	}
	if i > len(topic) {
		for k, v := range n.subs {
			dst = append(dst, Entry[int, int]{k, v})
		}
		return dst
	}
	j := strings.IndexByte(topic[i:], '/')
	if j < 0 {
		j = len(topic)
	} else {
		j += i
	}
	if n.plus != nil && wild {
		dst = n.plus.match(topic, j+1, dollar, dst)
	}
	if c := n.children[topic[i:j]]; c != nil {
		dst = c.match(topic, j+1, dollar, dst)
	}
	return dst
}

var benchRWTries sync.Map // int -> *rwTrie

func benchRWTrie(subs int) *rwTrie {
	if t, ok := benchRWTries.Load(subs); ok {
		return t.(*rwTrie)
	}
	t := new(rwTrie)
	for i := range subs {
		t.subscribe(benchFilter(i), i, i)
	}
	benchRWTries.Store(subs, t)
	runtime.GC()
	return t
}

func TestRWTrieBaselineAgrees(t *testing.T) {
	var tr Trie[int, int]
	rw := new(rwTrie)
	for i := range 2000 {
		_, _ = tr.Subscribe(benchFilter(i), i, i)
		rw.subscribe(benchFilter(i), i, i)
	}
	for _, topic := range benchTopics(2000)[:100] {
		if a, b := len(tr.Match(topic, nil)), len(rw.match(topic, nil)); a != b {
			t.Fatalf("%q: trie %d, baseline %d", topic, a, b)
		}
	}
}

// BenchmarkBaselineRWMutexMatchParallel is BenchmarkTrieMatchParallel run
// against rwTrie, for comparison.
func BenchmarkBaselineRWMutexMatchParallel(b *testing.B) {
	for _, size := range benchSizes[1:] {
		t, topics := benchRWTrie(size.n), benchTopics(size.n)
		sites := max(size.n/100, 1)
		benchParallel(b, size.name, topics, t.match, func(i int) {
			f := "site/" + strconv.Itoa(i%sites) + "/dev/+/hum"
			t.subscribe(f, -1, i)
			t.unsubscribe(f, -1)
		})
	}
}
