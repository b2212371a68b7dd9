"""Running one workload once on a fresh heap, and measuring it.

``run_once`` makes a heap, starts a trace (the pause events the latency
columns need, see metrics.py) and a sampler thread (heap size over time, for
the peaks and the plots), drives the workload, and returns a ``Run``: the
row's numbers, the timeline and the GC intervals.

The measured window: a workload that is a generator yields once when its
set-up is done; the window runs from there to its end (the whole run for
plain functions). Peaks, wall time and GC CPU cover the whole run.

A workload that raises becomes a ``WorkloadFailed`` carrying its traceback;
KeyboardInterrupt passes through untouched (the heap is closed on the way).
"""
from __future__ import annotations

import inspect
import os
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import tricolor

from . import metrics
from .workloads import MiB, Workload

SAMPLE_INTERVAL = 0.005  # seconds between heap samples


class Sample(NamedTuple):
    t: float          # seconds since the run started
    heap_alloc: int   # bytes
    heap_goal: int    # bytes (0: no goal, gogc off)
    heap_sys: int     # bytes
    heap_live: int    # bytes marked by the last cycle
    num_gc: int       # completed cycles so far


class WorkloadFailed(Exception):
    """The workload raised: `tb` is its traceback as text."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb.strip().splitlines()[-1] if tb.strip() else "workload failed")
        self.tb = tb


@dataclass
class Run:
    values: Dict[str, Any]                       # the row's numbers for this run
    samples: List[Sample] = field(default_factory=list)
    events: List[metrics.Event] = field(default_factory=list)
    start_ns: int = 0                            # the run's start, monotonic
    window: Tuple[int, int] = (0, 0)             # the measured window, monotonic
    limit: Optional[int] = None                  # the heap's memory limit, bytes
    final: Dict[str, Any] = field(default_factory=dict)  # heap.stats().as_dict() at the end


class Sampler:
    """A thread that samples heap.stats() every SAMPLE_INTERVAL seconds,
    whatever the workload does (user workloads need no hook)."""

    def __init__(self, heap: tricolor.Heap, start_ns: int) -> None:
        self.heap = heap
        self.start_ns = start_ns
        self.samples: List[Sample] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="tricolor-lab-sampler", daemon=True)

    def take(self) -> None:
        s = self.heap.stats()
        t = (time.monotonic_ns() - self.start_ns) / 1e9
        self.samples.append(Sample(t, s.heap_alloc, s.heap_goal, s.heap_sys, s.heap_live, s.num_gc))

    def _loop(self) -> None:
        while not self.done.wait(SAMPLE_INTERVAL):
            self.take()

    def __enter__(self) -> "Sampler":
        self.take()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self.take()


def drive(wl: Workload, heap: tricolor.Heap, params: Dict[str, Any]) -> Tuple[Dict[str, Any], int, Any]:
    """Call the workload; return its result dict, and the monotonic time and
    stats at which its measured window began (its first yield, or its start)."""
    t0, s0 = time.monotonic_ns(), heap.stats()
    try:
        out = wl.fn(heap, dict(params))
        if inspect.isgenerator(out):
            gen, out = out, None
            try:
                next(gen)
                t0, s0 = time.monotonic_ns(), heap.stats()
                while True:  # later yields mean nothing
                    next(gen)
            except StopIteration as stop:
                out = stop.value
    except (KeyboardInterrupt, WorkloadFailed):
        raise
    except BaseException:
        raise WorkloadFailed(traceback.format_exc()) from None
    return (dict(out) if isinstance(out, dict) else {}), t0, s0


def floating_mib(samples: List[Sample], t0: float, live: Optional[int]) -> Optional[float]:
    """Floating garbage: how much more the cycles of the window marked than
    the live set (`live`, measured after the run), on average, MiB. Each
    cycle's heap_live is read at the first sample after it ended."""
    if live is None:
        return None
    marked = [b.heap_live for a, b in zip(samples, samples[1:]) if b.num_gc > a.num_gc and b.t >= t0]
    if not marked:
        return None
    return max(0.0, sum(marked) / len(marked) - live) / MiB


def run_once(wl: Workload, params: Dict[str, Any], config: Dict[str, Any], *,
             measure_live: bool = False, trace: Optional[str] = None) -> Run:
    """Run `wl` once on a new tricolor.Heap(**config) and measure it; the
    trace file is kept at `trace` if given (bench --trace)."""
    metrics.peak_rss_reset()
    with tempfile.TemporaryDirectory(prefix="tricolor-lab-") as tmp:
        trace = trace or os.path.join(tmp, "trace.json")
        born = time.monotonic_ns()
        with tricolor.Heap(**config) as heap:
            heap.trace_start(trace)
            anchor = time.monotonic_ns()  # the trace's "trace_start" instant (metrics.read_trace)
            with Sampler(heap, born) as sampler:
                result, t0, s0 = drive(wl, heap, params)
                t1, s1 = time.monotonic_ns(), heap.stats()
            peak_rss = metrics.rss_mib()
            heap.trace_stop()
            events = metrics.read_trace(trace, anchor)
            window = metrics.window(heap, s0, s1, t0, t1, events)
            keep = result.pop("keep", None)
            live = None
            if measure_live and keep is not None:
                heap.collect()   # the first may finish a cycle that began during the run
                heap.collect()
                live = heap.stats().heap_live
            del keep
            limit = heap.memory_limit
    return Run(_values(result, window, sampler.samples, s0, s1, (born, t0, t1), live, peak_rss),
               sampler.samples, events, born, (t0, t1), limit, s1.as_dict())


def _values(result: Dict[str, Any], window: Dict[str, Any], samples: List[Sample], s0: Any, s1: Any,
            times: Tuple[int, int, int], live: Optional[int], peak_rss: Optional[float]) -> Dict[str, Any]:
    born, t0, t1 = times
    window_s = (t1 - t0) / 1e9
    out: Dict[str, Any] = {
        "wall_s": (t1 - born) / 1e9, "window_s": window_s,
        "mutator_s": max(0.0, window_s - window["delay_ms"] / 1e3),  # delay: pauses, assists, slices, sweeps, waits
        "cycles": s1.num_gc - s0.num_gc, "cycles_total": s1.num_gc,
        "gc_cpu": s1.gc_cpu_fraction,
        "peak_alloc_mib": max(s.heap_alloc for s in samples) / MiB,
        "peak_sys_mib": max(s.heap_sys for s in samples) / MiB,
        "peak_rss_mib": peak_rss,
        "live_mib": (live if live is not None else s1.heap_live) / MiB,
        "floating_mib": floating_mib(samples, (t0 - born) / 1e9, live),
        "objects": result.get("objects"),
    }
    out.update(window)
    for k, v in result.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in out:
            out[k] = v
    return out
