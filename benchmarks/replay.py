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

Fair rounds. A first round is run and not reported: the process's first
GCBench pays for Python's and the allocator's first growth. Each round then runs the three in
another order (rotated), so none always follows the same one. Each
recording writes a new file, and the previous log is deleted outside the
timed spans: rewriting one path truncated a 20 MB file first, and on an
ext4 file system (mounted with discard) that truncation cost ~30 ms of the
recording, a cost of the benchmark's reuse of the path, not of recording.

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


def one_round(params, tmp, n, order):
    """{system: (wall, cpu)} of one round, the systems run in `order`; the
    replay reads the newest recording (this round's, or the one before)."""
    got, log = {}, os.path.join(tmp, f"gcbench-{n}.tclog")
    for system in order:
        if system == "python":
            got[system] = timed(lambda: plain_run(params))[:2]
        elif system == "python-recording":
            got[system] = timed(lambda: recorded_run(params, log))[:2]
        else:
            newest = max((os.path.join(tmp, f) for f in os.listdir(tmp)), key=os.path.getmtime)
            wall, cpu, rep = timed(lambda: replay_run(newest))
            if rep["mismatches"]:
                raise SystemExit(f"replay: the replay was not exact: {rep}")
            got[system], got["report"] = (wall, cpu), rep
    for f in os.listdir(tmp):  # keep the newest log only, deleted outside the timed spans
        if os.path.join(tmp, f) != log:
            os.unlink(os.path.join(tmp, f))
    return got


SYSTEMS = ("python", "python-recording", "replay")


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    quick = len(sys.argv) > 2 and sys.argv[2] == "quick"
    params = workloads.WORKLOADS["gcbench"].with_defaults(
        {"long_lived_depth": 10, "max_depth": 10, "array_size": 10000} if quick else {})
    with tempfile.TemporaryDirectory(prefix="tricolor-replay-") as tmp:
        one_round(params, tmp, 0, SYSTEMS)  # the warm-up, not reported
        for r in range(reps):
            order = SYSTEMS[r % 3:] + SYSTEMS[:r % 3]
            got = one_round(params, tmp, r + 1, order)
            for system in SYSTEMS:
                print(f"RESULT {WORKLOAD} {system} time {got[system][0]:.6g} s", flush=True)
                print(f"RESULT {WORKLOAD} {system} cpu {got[system][1]:.6g} s", flush=True)
        log = os.path.join(tmp, os.listdir(tmp)[0])
        print(f"INFO log_bytes {os.path.getsize(log)}")
        print(f"INFO log_records {got['report']['records']}")


if __name__ == "__main__":
    main()
