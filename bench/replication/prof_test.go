package replication

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
)

// BenchmarkSimJoin runs the steady + join scenario of one backend for profiling the simulator
// at large sizes (the 1M join did not fit in memory before the memory engine's rewrite):
//
//	BENCH_BACKEND=swc BENCH_JOIN_KEYS=100000 BENCH_HEAP_PROFILE=/tmp/heap.out \
//	  go test ./bench/replication -run '^$' -bench SimJoin -benchtime 1x -cpuprofile /tmp/cpu.out
//	go tool pprof -sample_index=inuse_space -top /tmp/heap.out
//
// BENCH_HEAP_PROFILE is written once the joiner holds every key, with the whole cluster live.
func BenchmarkSimJoin(b *testing.B) {
	be, nodes := profSetup(b)
	keys := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_JOIN_KEYS")); err == nil {
		keys = v
	}
	for range b.N {
		_, join, err := SimSteadyJoin(be, SimOptions{Nodes: nodes}, keys)
		if err != nil {
			b.Fatal(err)
		}
		v, _ := join.Get("join time")
		b.ReportMetric(v, "virtual-s")
	}
}

// BenchmarkSimChurn is the churn scenario of one backend (BENCH_CHURN_KEYS client ids), for
// profiling like BenchmarkSimJoin; BENCH_HEAP_PROFILE is written after the churn.
func BenchmarkSimChurn(b *testing.B) {
	be, nodes := profSetup(b)
	keys := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_CHURN_KEYS")); err == nil {
		keys = v
	}
	for range b.N {
		if _, err := SimChurn(be, SimOptions{Nodes: nodes, ChurnKeys: keys}); err != nil {
			b.Fatal(err)
		}
	}
}

// profSetup reads BENCH_BACKEND (default swc) and BENCH_NODES (default 5) and arms
// BENCH_HEAP_PROFILE.
func profSetup(b *testing.B) (Backend, int) {
	nodes := 5
	if v, err := strconv.Atoi(os.Getenv("BENCH_NODES")); err == nil {
		nodes = v
	}
	be, err := BackendByName(os.Getenv("BENCH_BACKEND"))
	if err != nil {
		be = Backends()[1]
	}
	if f := os.Getenv("BENCH_HEAP_PROFILE"); f != "" {
		joinedHook = func() {
			runtime.GC()
			out, err := os.Create(f)
			if err != nil {
				b.Error(err)
				return
			}
			defer out.Close()
			if err := pprof.WriteHeapProfile(out); err != nil {
				b.Error(err)
			}
		}
		b.Cleanup(func() { joinedHook = nil })
	}
	return be, nodes
}
