"""replay.py — the cost of recording and the speed of replaying (issue 15
point 3), on GCBench run through Python (tricolor.lab.workloads.gcbench).

Each repetition runs, each on a fresh default heap:

    python            GCBench through Python, not recording
    python-recording  the same with heap.record_start(...) around it
    replay            heap._replay of that recording: the same heap
                      operations driven by the core, no interpreter

and prints one RESULT line per system (benchmarks/bench.h): `time` in
seconds. The driver's targets: python-recording / python <= 1.3 (recording
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


def once(params, log):
    t0 = time.perf_counter()
    with tricolor.Heap() as heap:
        gcbench(heap, params)
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tricolor.Heap() as heap:
        heap.record_start(log)
        gcbench(heap, params)
        heap.record_stop()
    recording = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tricolor.Heap() as heap:
        rep = heap._replay(log)
    replay = time.perf_counter() - t0
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
                print(f"RESULT {WORKLOAD} {system} time {t:.6g} s", flush=True)
        print(f"INFO log_bytes {size}")
        print(f"INFO log_records {rep['records']}")


if __name__ == "__main__":
    main()
