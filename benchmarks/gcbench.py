"""gcbench.py — the classic GCBench (gcbench.c's workload and sizes) through
tricolor's Python binding: the Python side of issue 12's table, beside
benchmarks/gcbench.lua (same steps, same sizes, same RESULT lines).

    system "python-tricolor"   a node is heap.new(2, data=8) (two slots, 8
                               payload bytes, as gcbench.c); every default

Steps as gcbench.c: a stretch tree (depth 18) built and dropped; a long-lived
tree (16, top-down) and an array of 500,000 doubles (a payload) kept to the
end; for d = 4, 6, ..., 16, NumIters(d) trees built top-down and dropped, then
as many bottom-up. Nothing calls gc.collect() or heap.collect() during the
run. Prints the wall time, collections, the stats at the end (before any
explicit collection) and the peak resident set.

Usage: PYTHONPATH=bindings/python python3 benchmarks/gcbench.py
           [stretch longlived mindepth maxdepth arraysize]
"""
import sys
import time

import tricolor

WORKLOAD, SYSTEM = "gcbench-binding", "python-tricolor"


def result(metric: str, value: float, unit: str) -> None:
    print(f"RESULT {WORKLOAD} {SYSTEM} {metric} {value:.6g} {unit}", flush=True)


def tree_size(d: int) -> int:
    return (1 << (d + 1)) - 1


def main() -> None:
    args = [int(a) for a in sys.argv[1:6]]
    stretch, long_lived_depth, min_depth, max_depth, array_size = args + [18, 16, 4, 16, 500000][len(args):]
    heap = tricolor.Heap()
    new = heap.new

    def node():
        return new(2, data=8)

    def populate(depth: int, n) -> None:
        if depth <= 0:
            return
        depth -= 1
        n[0] = left = node()
        n[1] = right = node()
        populate(depth, left)
        populate(depth, right)

    def make_tree(depth: int):
        if depth <= 0:
            return node()
        left, right = make_tree(depth - 1), make_tree(depth - 1)
        n = node()
        n[0], n[1] = left, right
        return n

    def time_construction(depth: int) -> None:
        iters = 2 * tree_size(stretch) // tree_size(depth)
        for _ in range(iters):
            temp = node()
            populate(depth, temp)
        for _ in range(iters):
            make_tree(depth)

    sys.setrecursionlimit(10000)
    print(f"INFO {SYSTEM} collector={heap.stats().collector} gogc={heap.gogc}")
    gc0 = heap.stats().num_gc
    t0 = time.perf_counter_ns()
    make_tree(stretch)
    long_lived = node()
    populate(long_lived_depth, long_lived)
    array = heap.new(0, data=8 * array_size)
    for d in range(min_depth, max_depth + 1, 2):
        time_construction(d)
    count, stack = 0, [long_lived]
    while stack:
        n = stack.pop()
        count += 1
        left = n[0]
        if left is not None:
            stack += [left, n[1]]
    assert count == tree_size(long_lived_depth), "the long-lived tree lost nodes"
    assert array.size == 8 * array_size
    t1 = time.perf_counter_ns()

    result("time", (t1 - t0) / 1e9, "s")
    s = heap.stats()
    result("collections", s.num_gc - gc0, "count")
    result("live_end", s.heap_live / 1048576, "MiB")
    result("alloc_end", s.heap_alloc / 1048576, "MiB")
    result("objects_end", s.heap_objects, "count")
    result("roots_end", s.roots, "count")
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                result("peak_rss", int(line.split()[1]) / 1024, "MiB")


if __name__ == "__main__":
    main()
