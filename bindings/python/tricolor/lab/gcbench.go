// gcbench.go — the lab's gcbench workload (tricolor/lab/workloads.py) on Go's
// own collector, for the gogc question's side-by-side curve (tricolor.lab.golang
// builds and runs it when a go toolchain is on PATH).
//
//	go build -o gcbench gcbench.go
//	GOGC=50 ./gcbench LONG_LIVED_DEPTH MIN_DEPTH MAX_DEPTH ARRAY_SIZE
//
// Prints one JSON object: wall_s, gc_cpu (GC CPU time over wall time, as
// tricolor's gc_cpu_fraction: Go's GCCPUFraction times GOMAXPROCS),
// cycles_total, peak_alloc_mib, peak_sys_mib (sampled every 5 ms),
// peak_rss_mib (VmHWM).
package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

type node struct{ left, right *node }

func treeSize(d int) int { return (1 << (d + 1)) - 1 }

// makeTree builds bottom-up: both children exist before their parent.
func makeTree(d int) *node {
	if d <= 0 {
		return &node{}
	}
	return &node{left: makeTree(d - 1), right: makeTree(d - 1)}
}

// populate grows top-down: each parent is stored before its children exist.
func populate(d int, n *node) {
	if d <= 0 {
		return
	}
	n.left, n.right = &node{}, &node{}
	populate(d-1, n.left)
	populate(d-1, n.right)
}

var sink *node

func arg(i, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}

// peaks samples HeapAlloc and HeapSys every 5 ms until stop is closed.
func peaks(stop chan struct{}, wg *sync.WaitGroup, alloc, sys *uint64) {
	defer wg.Done()
	var ms runtime.MemStats
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > *alloc {
			*alloc = ms.HeapAlloc
		}
		if ms.HeapSys > *sys {
			*sys = ms.HeapSys
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func peakRSS() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kib, _ := strconv.ParseFloat(f[1], 64)
			return kib / 1024
		}
	}
	return -1
}

func main() {
	longLived, minD, maxD, arraySize := arg(1, 14), arg(2, 4), arg(3, 14), arg(4, 500000)
	var alloc, sys uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go peaks(stop, &wg, &alloc, &sys)
	t0 := time.Now()
	stretch := maxD + 1
	sink = makeTree(stretch)
	sink = nil
	long := &node{}
	populate(longLived, long)
	array := make([]float64, arraySize)
	for i := 1; i < arraySize; i++ {
		array[i] = 1.0 / float64(i)
	}
	for d := minD; d <= maxD; d += 2 {
		iters := 2 * treeSize(stretch) / treeSize(d)
		for i := 0; i < iters; i++ {
			sink = &node{}
			populate(d, sink)
			sink = makeTree(d)
		}
	}
	sink = nil
	wall := time.Since(t0).Seconds()
	close(stop)
	wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(long)
	runtime.KeepAlive(array)
	json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"wall_s": wall, "gc_cpu": ms.GCCPUFraction * float64(runtime.GOMAXPROCS(0)),
		"cycles_total": float64(ms.NumGC), "peak_alloc_mib": float64(alloc) / (1 << 20),
		"peak_sys_mib": float64(sys) / (1 << 20), "peak_rss_mib": peakRSS(),
	})
}
