"""pause.py — issue 3's `pause` workload on CPython's own objects (see pause.c).

K complete binary trees of 14 levels (K from the size, as in pause.c, so the node
count is tricolor's); a node is a list [left, right, payload]. One operation
builds a 7-level (127-node) subtree and stores it below a random level-6 node,
timed with time.perf_counter_ns. CPython frees the replaced subtree by reference
counting; its cyclic collector (gc, on, default thresholds) stops the program
for each collection: those collections are timed through gc.callbacks and
reported as the pauses (pause_*, gc_cpu). With MODE `cyclic` each new subtree's
root also refers to itself (payload slot), so every replaced subtree is cyclic
garbage that only the cyclic collector reclaims (system `python-cyclic`).

MODE `tricolor-<collector>` (issue 12) runs the same program through tricolor's
Python binding: the trees hang from one heap.new(K) array object, a node is
heap.new(2, data=8) (pause.c's node); the pauses are the heap's own (its ring of
the last 256), and the roots and heap size at the end are reported too.

Usage: python3 pause.py SIZE_MIB SECONDS [MODE [OPS]]
    MODE: acyclic | cyclic | tricolor-stw | tricolor-incremental | tricolor-concurrent
"""
import gc
import sys
import time

LEVELS, SUB_LEVELS = 14, 7
WALK = LEVELS - SUB_LEVELS - 1
TREE_NODES = (1 << LEVELS) - 1
SUB = 32
MASK64 = (1 << 64) - 1


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    mode = sys.argv[3] if len(sys.argv) > 3 else "acyclic"
    cyclic = mode == "cyclic"
    nops = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    k = max(1, int(size_mib * 1048576 / (40 * TREE_NODES) + 0.5))
    wl = f"pause-{size_mib}M"
    system = "python-cyclic" if cyclic else "python" if mode == "acyclic" else "python-" + mode
    heap = None
    if mode.startswith("tricolor-"):
        import tricolor
        heap = tricolor.Heap(collector=mode[len("tricolor-"):])

        def node(levels: int):
            return heap.new(2, data=8)

        def newtop(n: int):
            return heap.new(n)
    else:
        def node(levels: int):
            return [None, None, levels]

        def newtop(n: int):
            return [None] * n

    def result(metric: str, value: float, unit: str) -> None:
        print(f"RESULT {wl} {system} {metric} {value:.6g} {unit}", flush=True)

    print(f"INFO python {sys.version.split()[0]} gc_threshold={gc.get_threshold()} trees={k}")

    def populate(n: list, levels: int) -> None:
        if levels <= 0:
            return
        left = node(levels)
        right = node(levels)
        n[0] = left
        n[1] = right
        populate(left, levels - 1)
        populate(right, levels - 1)

    now = time.perf_counter_ns
    t0 = now()
    top = newtop(k)
    for i in range(k):
        root = node(0)
        top[i] = root
        populate(root, LEVELS - 1)
    gc.collect()
    if heap is not None:
        heap.collect()
        stats0 = heap.stats()
    start = now()
    result("build", (start - t0) / 1e9, "s")

    pauses: list[int] = []
    began = [0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = now()
        else:
            pauses.append(now() - began[0])

    gc.callbacks.append(on_gc)
    rs = 0x9E3779B97F4A7C15 ^ 0x2545F4914F6CDD1D
    hist: dict[int, int] = {}
    count = total = vmax = 0
    deadline = start + int(seconds * 1e9)
    t = start
    while (count < nops) if nops > 0 else (t < deadline):
        a = now()
        rs ^= rs >> 12
        rs = (rs ^ (rs << 25)) & MASK64
        rs ^= rs >> 27
        r = (rs * 2685821657736338717) & MASK64
        n = top[r % k]
        for d in range(WALK):
            n = n[(r >> (10 + d)) & 1]
        sub = node(SUB_LEVELS)
        populate(sub, SUB_LEVELS - 1)
        if cyclic:
            sub[2] = sub
        n[(r >> 40) & 1] = sub
        t = now()
        v = t - a
        if v < 64:
            idx = v
        else:
            e = v.bit_length() - 1
            idx = 64 + (e - 6) * SUB + ((v >> (e - 5)) & (SUB - 1))
        hist[idx] = hist.get(idx, 0) + 1
        count += 1
        total += v
        if v > vmax:
            vmax = v
    wall = now() - start
    gc.callbacks.remove(on_gc)

    def upper(i: int) -> int:
        if i < 64:
            return i
        e, sub = (i - 64) // SUB + 6, (i - 64) % SUB
        return ((SUB + sub) << (e - 5)) + (1 << (e - 5)) - 1

    def quantile(q: float) -> int:
        rank, seen = max(1, -(-int(q * count * 1000) // 1000)), 0
        for i in sorted(hist):
            seen += hist[i]
            if seen >= rank:
                return min(upper(i), vmax)
        return vmax

    if heap is not None:  # the heap's own pauses (the last 256 of the run)
        st = heap.stats()
        pauses = list(st.pauses_ns)[-min(len(st.pauses_ns), st.num_gc - stats0.num_gc):] \
            if st.num_gc > stats0.num_gc else []
        result("roots_end", st.roots, "count")
        result("alloc_end", st.heap_alloc / 1048576, "MiB")
        result("objects_end", st.heap_objects, "count")
        result("assist", st.assist_ns / 1e6, "ms")
    pauses.sort()
    p99 = pauses[max(0, -(-len(pauses) * 99 // 100) - 1)] if pauses else 0
    result("pauses", len(pauses), "count")
    result("pause_max", (pauses[-1] if pauses else 0) / 1e3, "us")
    result("pause_p99", p99 / 1e3, "us")
    result("ops", count, "count")
    result("time", wall / 1e9, "s")
    result("op_mean", total / max(count, 1) / 1e3, "us")
    for name, q in (("op_p50", 0.5), ("op_p99", 0.99), ("op_p999", 0.999)):
        result(name, quantile(q) / 1e3, "us")
    result("op_max", vmax / 1e3, "us")
    result("gc_cpu", sum(pauses) / wall, "fraction")
    result("num_gc", len(pauses) if heap is None else st.num_gc - stats0.num_gc, "count")
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                result("peak_rss", int(line.split()[1]) / 1024, "MiB")


if __name__ == "__main__":
    main()
