// Command gclab-go runs two of gclab's workloads on Go's own collector, for the
// side-by-side curves of issues 3 and 4 (see benchmarks/README-gclab.md):
//
//	gclab-go gcbench [WORKLOAD SYSTEM [STRETCH LONGLIVED MINDEPTH MAXDEPTH ARRAYSIZE]]
//	                        GCBench as benchmarks/gcbench.c (run it with GOGC=N);
//	                        the RESULT names default to gcbench-gogc go-gogcN,
//	                        the sizes to gcbench.c's (18 16 4 16 500000)
//	gclab-go pause SIZE_MIB SECONDS [OPS [WORKLOAD]]
//	                        the pause workload as benchmarks/pause.c (OPS > 0:
//	                        stop after OPS operations instead of SECONDS)
//
// Output: RESULT <workload> <system> <metric> <value> <unit> lines (bench.h).
// gc_cpu is MemStats.GCCPUFraction times GOMAXPROCS: GC CPU time over wall
// time, the unit of tricolor's gc_cpu_fraction; gc_cpu_s is the same in
// seconds (GCCPUFraction covers the STW pauses times GOMAXPROCS, assists and
// the dedicated and fractional mark workers, not the idle-time ones: Go
// 1.19 has no runtime/metrics CPU classes, so gclab.py runs this program
// with GODEBUG=gctrace=1 and adds the idle workers' time from the trace
// lines of cycles gc_first onwards).
// heap_sys_max is the largest MemStats.HeapSys seen.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

type node struct {
	left, right *node
	i, j        int32
}

func result(wl, sys, metric string, v float64, unit string) {
	fmt.Printf("RESULT %s %s %s %.6g %s\n", wl, sys, metric, v, unit)
}

func gogcName() string {
	if v := os.Getenv("GOGC"); v != "" {
		return "go-gogc" + v
	}
	return "go-gogc100"
}

func treeSize(d int) int { return (1 << (d + 1)) - 1 }

func populate(d int, n *node) {
	if d <= 0 {
		return
	}
	d--
	n.left, n.right = &node{}, &node{}
	populate(d, n.left)
	populate(d, n.right)
}

func makeTree(d int) *node {
	if d <= 0 {
		return &node{}
	}
	return &node{left: makeTree(d - 1), right: makeTree(d - 1)}
}

var sink *node

// procStart approximates the runtime's start, from which GCCPUFraction runs.
var procStart = time.Now()

// gcCPUSeconds — the GC CPU time since the program started, from
// GCCPUFraction: the runtime updates it at the end of each cycle, as a
// fraction of GOMAXPROCS x the wall time from its start to that moment
// (LastGC), so that is the span it is multiplied by.
func gcCPUSeconds(ms *runtime.MemStats) float64 {
	if ms.LastGC == 0 {
		return 0
	}
	span := time.Unix(0, int64(ms.LastGC)).Sub(procStart).Seconds()
	return ms.GCCPUFraction * float64(runtime.GOMAXPROCS(0)) * span
}

func gcbench(wl, sys string, size []int) {
	stretch, longLived, minD, maxD, arraySize := size[0], size[1], size[2], size[3], size[4]
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	t0 := time.Now()
	sink = makeTree(stretch)
	sink = nil
	long := &node{}
	populate(longLived, long)
	array := make([]float64, arraySize)
	for i := 0; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}
	var sysMax uint64
	for d := minD; d <= maxD; d += 2 {
		iters := 2 * treeSize(stretch) / treeSize(d)
		for i := 0; i < iters; i++ {
			sink = &node{}
			populate(d, sink)
			sink = nil
		}
		for i := 0; i < iters; i++ {
			sink = makeTree(d)
			sink = nil
		}
		runtime.ReadMemStats(&ms)
		if ms.HeapSys > sysMax {
			sysMax = ms.HeapSys
		}
	}
	if long.left == nil || array[1000] != 1.0/1000 {
		panic("long-lived data lost")
	}
	wall := time.Since(t0)
	runtime.ReadMemStats(&ms)
	if ms.HeapSys > sysMax {
		sysMax = ms.HeapSys
	}
	result(wl, sys, "time", wall.Seconds(), "s")
	result(wl, sys, "gc_cpu", ms.GCCPUFraction*float64(runtime.GOMAXPROCS(0)), "fraction")
	result(wl, sys, "gc_cpu_s", gcCPUSeconds(&ms), "s")
	result(wl, sys, "gc_first", float64(gc0+1), "count") // the window's first cycle: gclab.py's gctrace sum
	// the names of gcbench.c's RESULT lines (the pause workload's are num_gc, heap_sys_max)
	result(wl, sys, "collections", float64(ms.NumGC-gc0), "count")
	result(wl, sys, "heap_sys", float64(sysMax)/1048576, "MiB")
	result(wl, sys, "peak_rss", peakRSS(), "MiB")
	runtime.KeepAlive(long)
	runtime.KeepAlive(array)
}

func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	var kib float64
	for _, line := range splitLines(string(b)) {
		if n, _ := fmt.Sscanf(line, "VmHWM: %g kB", &kib); n == 1 {
			return kib / 1024
		}
	}
	return -1
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// pause: K trees of 14 levels, replace random 7-level subtrees (pause.c).
func pause(sizeMiB int, seconds float64, nops int, wl string) {
	const levels, subLevels = 14, 7
	const walk = levels - subLevels - 1
	treeNodes := (1 << levels) - 1
	k := int(float64(sizeMiB)*1048576/(40*float64(treeNodes)) + 0.5)
	if k < 1 {
		k = 1
	}
	if wl == "" {
		wl = fmt.Sprintf("pause-%dM", sizeMiB)
	}
	sys := gogcName()
	t0 := time.Now()
	top := make([]*node, k)
	for t := range top {
		top[t] = &node{}
		populate(levels-1, top[t])
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	result(wl, sys, "build", time.Since(t0).Seconds(), "s")
	result(wl, sys, "live", float64(ms.HeapAlloc)/1048576, "MiB")
	gc0, pauseTotal0 := ms.NumGC, ms.PauseTotalNs
	cpu0, sysMax := gcCPUSeconds(&ms), ms.HeapSys
	var pauses []uint64
	lastGC := ms.NumGC
	rs := uint64(0x9E3779B97F4A7C15) ^ 0x2545F4914F6CDD1D
	rnd := func() uint64 {
		rs ^= rs >> 12
		rs ^= rs << 25
		rs ^= rs >> 27
		return rs * 2685821657736338717
	}
	var lat []int64
	lat = make([]int64, 0, 1<<20)
	start := time.Now()
	deadline := start.Add(time.Duration(seconds * 1e9))
	nextSample := start.Add(5 * time.Millisecond)
	for now := start; (nops > 0 && len(lat) < nops) || (nops <= 0 && now.Before(deadline)); {
		a := time.Now()
		n := top[rnd()%uint64(k)]
		for d := 0; d < walk; d++ {
			if rnd()>>63 != 0 {
				n = n.right
			} else {
				n = n.left
			}
		}
		sub := &node{}
		populate(subLevels-1, sub)
		if rnd()>>63 != 0 {
			n.right = sub
		} else {
			n.left = sub
		}
		now = time.Now()
		lat = append(lat, int64(now.Sub(a)))
		if now.After(nextSample) {
			runtime.ReadMemStats(&ms) // itself a short stop-the-world
			if ms.HeapSys > sysMax {
				sysMax = ms.HeapSys
			}
			for g := lastGC; g < ms.NumGC && ms.NumGC-g <= 256; g++ {
				pauses = append(pauses, ms.PauseNs[(g+255)%256])
			}
			lastGC = ms.NumGC
			nextSample = time.Now().Add(5 * time.Millisecond)
			now = time.Now()
		}
	}
	wall := time.Since(start)
	runtime.ReadMemStats(&ms)
	if ms.HeapSys > sysMax {
		sysMax = ms.HeapSys
	}
	for g := lastGC; g < ms.NumGC && ms.NumGC-g <= 256; g++ {
		pauses = append(pauses, ms.PauseNs[(g+255)%256])
	}
	_ = pauseTotal0
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(v []int64, f float64) float64 {
		if len(v) == 0 {
			return 0
		}
		r := int(f*float64(len(v))+0.999999) - 1
		if r < 0 {
			r = 0
		}
		return float64(v[r])
	}
	var sum int64
	for _, v := range lat {
		sum += v
	}
	p64 := make([]int64, len(pauses))
	for i, p := range pauses {
		p64[i] = int64(p)
	}
	// Go's PauseNs entry is a whole cycle's stop-the-world time (both pauses).
	result(wl, sys, "pauses", float64(len(pauses)), "count")
	result(wl, sys, "pause_max", q(p64, 1)/1e3, "us")
	result(wl, sys, "pause_p99", q(p64, 0.99)/1e3, "us")
	result(wl, sys, "ops", float64(len(lat)), "count")
	result(wl, sys, "time", wall.Seconds(), "s")
	result(wl, sys, "op_mean", float64(sum)/float64(len(lat))/1e3, "us")
	result(wl, sys, "op_p50", q(lat, 0.5)/1e3, "us")
	result(wl, sys, "op_p99", q(lat, 0.99)/1e3, "us")
	result(wl, sys, "op_p999", q(lat, 0.999)/1e3, "us")
	result(wl, sys, "op_max", q(lat, 1)/1e3, "us")
	result(wl, sys, "gc_cpu", ms.GCCPUFraction*float64(runtime.GOMAXPROCS(0)), "fraction")
	result(wl, sys, "gc_cpu_s", gcCPUSeconds(&ms)-cpu0, "s") // the measured window's
	result(wl, sys, "gc_first", float64(gc0+1), "count")     // the window's first cycle: gclab.py's gctrace sum
	result(wl, sys, "num_gc", float64(ms.NumGC-gc0), "count")
	result(wl, sys, "heap_sys_max", float64(sysMax)/1048576, "MiB")
	result(wl, sys, "peak_rss", peakRSS(), "MiB")
	runtime.KeepAlive(top)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gclab-go gcbench | gclab-go pause SIZE_MIB SECONDS")
		os.Exit(2)
	}
	fmt.Printf("INFO go %s GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	switch os.Args[1] {
	case "gcbench":
		wl, sys := "gcbench-gogc", gogcName()
		if len(os.Args) > 3 {
			wl, sys = os.Args[2], os.Args[3]
		}
		size := []int{18, 16, 4, 16, 500000}
		for i := range size {
			if len(os.Args) > 4+i {
				v, err := strconv.Atoi(os.Args[4+i])
				if err != nil || v <= 0 {
					fmt.Fprintln(os.Stderr, "bad size", os.Args[4+i])
					os.Exit(2)
				}
				size[i] = v
			}
		}
		gcbench(wl, sys, size)
	case "pause":
		size, _ := strconv.Atoi(os.Args[2])
		secs, _ := strconv.ParseFloat(os.Args[3], 64)
		nops, wl := 0, ""
		if len(os.Args) > 4 {
			nops, _ = strconv.Atoi(os.Args[4])
		}
		if len(os.Args) > 5 {
			wl = os.Args[5]
		}
		pause(size, secs, nops, wl)
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
}
