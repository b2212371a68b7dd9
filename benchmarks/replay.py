"""replay.py — the cost of recording and the speed of replaying (issue 15
point 3), on GCBench run through Python (tricolor.lab.workloads.gcbench).

Each repetition runs, each on a fresh default heap:

    python            GCBench through Python, not recording
    python-recording  the same with heap.record_start(...) around it
    replay            heap._replay of that recording: the same heap
                      operations driven by the core, no interpreter

and prints two RESULT lines per system (benchmarks/bench.h): `time`, wall
clock in seconds, and `cpu`, the process's CPU time over the same span (all
its threads: the collector's too), which other work on a shared machine
disturbs less than the wall clock. The driver's targets: python-recording / python <= 1.3 (recording
costs at most 30%), replay / python <= 0.2 (replay at least 5x faster).

Usage: PYTHONPATH=bindings/python python3 benchmarks/replay.py [REPS] [quick]
"""

import os
import sys
import tempfile
import time

import tricolor
from tricolor.lab import workloads

WORKLOAD = "replay:gcbench"


def gcbench(heap, params):
    workloads.gcbench(heap, dict(params))


def timed(fn):
    """(wall seconds, process CPU seconds, fn's result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def plain_run(params):
    with tricolor.Heap() as heap:
        gcbench(heap, params)


def recorded_run(params, log):
    with tricolor.Heap() as heap:
        heap.record_start(log)
        gcbench(heap, params)
        heap.record_stop()


def replay_run(log):
    with tricolor.Heap() as heap:
        return heap._replay(log)


def once(params, log):
    plain = timed(lambda: plain_run(params))
    recording = timed(lambda: recorded_run(params, log))
    replay = timed(lambda: replay_run(log))
    rep = replay[2]
    if rep["mismatches"]:
        raise SystemExit(f"replay: the replay was not exact: {rep}")
    return plain, recording, replay, rep, os.path.getsize(log)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    quick = len(sys.argv) > 2 and sys.argv[2] == "quick"
    params = workloads.WORKLOADS["gcbench"].with_defaults(
        {"long_lived_depth": 10, "max_depth": 10, "array_size": 10000} if quick else {})
    with tempfile.TemporaryDirectory(prefix="tricolor-replay-") as tmp:
        log = os.path.join(tmp, "gcbench.tclog")
        for _ in range(reps):
            plain, recording, replay, rep, size = once(params, log)
            for system, t in (("python", plain), ("python-recording", recording), ("replay", replay)):
                print(f"RESULT {WORKLOAD} {system} time {t[0]:.6g} s", flush=True)
                print(f"RESULT {WORKLOAD} {system} cpu {t[1]:.6g} s", flush=True)
        print(f"INFO log_bytes {size}")
        print(f"INFO log_records {rep['records']}")


if __name__ == "__main__":
    main()
