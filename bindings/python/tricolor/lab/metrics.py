"""The lab's latency metrics, computed from what the heap offers.

This module is the ONE place that knows whether the latency layer (issue 13:
the stats fields ``delay_max_ns``, ``delay_total_ns``, ``pause_hist``,
``mutator_delay_hist``, ``pause_end_ns`` and ``heap.mmu(windows)``) is
there. Everything else in the lab asks ``window()`` for a dict of numbers.

Without the layer (``LAYER`` false), the columns in ``PROVISIONAL`` are
computed from stop-the-world pauses only, because the mutator's other
GC-caused waits (assists, incremental slices, lazy sweeping, limit waits)
are not timed one by one:

- ``pause_*`` and ``mmu_*`` come from the pause events of the heap's trace
  file (start and duration of every pause in the measured window); the MMU
  is computed by ``tricolor.mmu`` where the core has it (``HAVE_MMU``),
  else by ``stats.mmu``;
- ``delay_max_ms`` and ``delay_p99_ms`` are the pause values, lower bounds
  of the real delays; ``delay_ms`` adds the window's ``assist_ns`` to the
  pauses (the incremental collector's slices count as assists);
- ``limit_wait_ms``, ``barrier_slow`` and ``shaded`` are None (not
  measured): the core does not count them yet.

With the layer (the core records every GC event, csrc/events.c), the trace
file holds every interval with its kind as its name ("pause", "assist",
"slice", "sweep", "limit_wait"): ``delay_ms`` is the window's growth of
``delay_total_ns``, ``delay_p99_ms`` comes from the growth of
``mutator_delay_hist``, ``delay_max_ms`` is the longest delay interval of
the window, the MMU is ``tricolor.mmu`` of the window's delay intervals over
the window, and ``limit_wait_ms`` adds the window's limit waits.

``barrier_slow`` and ``shaded`` are the window's growth of the stats fields
``barrier_slow`` (slot stores through the barrier's slow path) and
``barrier_shaded`` (objects the barrier greyed); a core without them leaves
the columns unmeasured (``NOT_MEASURED``, None).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import tricolor

from . import stats as st

LAYER = hasattr(tricolor.Stats, "delay_max_ns") and hasattr(tricolor.Heap, "mmu")
HAVE_MMU = hasattr(tricolor, "mmu")  # the core's exact MMU of a list of intervals (csrc/mmu.c)

MMU_WINDOWS_MS = (1, 10, 100)

HAVE_BARRIER_COUNTS = hasattr(tricolor.Stats, "barrier_slow")
# Columns the core does not count at all (shown as '-').
NOT_MEASURED = frozenset() if HAVE_BARRIER_COUNTS else frozenset({"barrier_slow", "shaded"})
# Columns that are estimates until the latency layer lands (see above), and
# the unmeasured ones.
PROVISIONAL = NOT_MEASURED if LAYER else frozenset(
    {"delay_max_ms", "delay_p99_ms", "delay_ms", "mmu_1ms", "mmu_10ms", "mmu_100ms",
     "limit_wait_ms"}) | NOT_MEASURED

DELAY_KINDS = ("pause", "assist", "slice", "sweep", "limit_wait")

Event = Tuple[int, int, str]  # (start_ns, end_ns, kind), monotonic ns


def delay_kind(name: str) -> Optional[str]:
    """The mutator-delay kind of a trace event name, None for GC work that
    runs beside the program (background mark and sweep, whole cycles)."""
    n = name.lower()
    if "pause" in n:  # "pause" (and "STW pause" in traces of older versions)
        return "pause"
    if LAYER and n in DELAY_KINDS:  # the core names each event by its kind
        return n
    return None


def read_trace(path: str, anchor_ns: int) -> List[Event]:
    """The delay events of a trace file as monotonic intervals. Trace
    timestamps count microseconds from the heap's creation; the file's
    "trace_start" instant was stamped as heap.trace_start() returned, which
    the caller noted as `anchor_ns`: that pins the trace to the monotonic
    clock within the few microseconds the call takes to return."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return []
    events = doc.get("traceEvents", doc) if isinstance(doc, dict) else doc
    events = [e for e in events if isinstance(e, dict)]
    start = next((e for e in events if e.get("name") == "trace_start"), None)
    born = anchor_ns - int(float(start["ts"]) * 1000) if start else anchor_ns
    out: List[Event] = []
    for e in events:
        kind = delay_kind(str(e.get("name", ""))) if e.get("ph") == "X" else None
        if kind:
            begin = born + int(float(e["ts"]) * 1000)
            out.append((begin, begin + int(float(e.get("dur", 0)) * 1000), kind))
    return out


def hist_delta(h1: Any, h0: Any) -> Tuple[List[int], List[int]]:
    """Bucket bounds and the counts added between two histogram snapshots."""
    bounds = list(h1["bounds_ns"])
    before = list(h0["counts"]) if h0 else [0] * len(h1["counts"])
    return bounds, [a - b for a, b in zip(h1["counts"], before)]


def hist_quantile(bounds: Sequence[int], counts: Sequence[int], q: float) -> Optional[float]:
    """The upper bound of the bucket holding the q-th percentile (ns)."""
    total = sum(counts)
    if not total:
        return None
    rank, seen = q / 100.0 * total, 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return float(bounds[min(i + 1, len(bounds) - 1)])
    return float(bounds[-1])


def _ms(ns: Optional[float]) -> Optional[float]:
    return None if ns is None else ns / 1e6


def _pause_columns(pauses: List[int]) -> Dict[str, Any]:
    return {"pauses": len(pauses), "stw_ms": sum(pauses) / 1e6,
            "pause_max_ms": _ms(max(pauses, default=0)),
            "pause_p50_ms": _ms(st.percentile(pauses, 50) or 0),
            "pause_p99_ms": _ms(st.percentile(pauses, 99) or 0)}


def window(heap: tricolor.Heap, s0: Any, s1: Any, t0_ns: int, t1_ns: int,
           events: Iterable[Event]) -> Dict[str, Any]:
    """The latency columns of a measured window [t0_ns, t1_ns]: s0 and s1
    are heap.stats() at its ends, events the trace's delay intervals."""
    inside = [(a, b, k) for a, b, k in events if b > t0_ns and a < t1_ns]
    pauses = [b - a for a, b, k in inside if k == "pause"]
    if not pauses and s1.num_gc > s0.num_gc:
        # no trace: the pauses the ring gained (all of it once it wrapped)
        n0, ring = len(s0.pauses_ns), list(s1.pauses_ns)
        pauses = ring[n0:] if len(ring) > n0 else ring
    out = _pause_columns(pauses)
    out["assist_ms"] = (s1.assist_ns - s0.assist_ns) / 1e6
    out["limit_wait_ms"] = None
    for col, field in (("barrier_slow", "barrier_slow"), ("shaded", "barrier_shaded")):
        out[col] = getattr(s1, field) - getattr(s0, field) if HAVE_BARRIER_COUNTS else None
    if LAYER:
        out.update(_layer_columns(heap, s0, s1, inside))
        counted = inside  # every delay kind
    else:
        out["delay_ms"] = out["stw_ms"] + out["assist_ms"]
        out["delay_max_ms"] = out["pause_max_ms"]
        out["delay_p99_ms"] = out["pause_p99_ms"]
        counted = [e for e in inside if e[2] == "pause"]
    for w, u in zip(MMU_WINDOWS_MS, mmu_values(counted, MMU_WINDOWS_MS, t0_ns, t1_ns)):
        out[f"mmu_{w}ms"] = u
    return out


def mmu_values(events: Iterable[Event], windows_ms: Sequence[float], t0_ns: int, t1_ns: int) -> List[float]:
    """MMU of the events over [t0_ns, t1_ns] for each window: by
    tricolor.mmu where the core has it, else by stats.mmu (the same
    definition; tests/python/test_lab.py checks that they agree)."""
    iv = [(max(a, t0_ns), min(b, t1_ns), k) for a, b, k in events if min(b, t1_ns) > max(a, t0_ns)]
    if HAVE_MMU and t1_ns > t0_ns:
        return [r["mmu"] for r in tricolor.mmu(iv, [w / 1000 for w in windows_ms], t0_ns, t1_ns)]
    return [st.mmu([(a, b) for a, b, _k in iv], int(w * 1_000_000), t0_ns, t1_ns) for w in windows_ms]


def _layer_columns(heap: tricolor.Heap, s0: Any, s1: Any, inside: List[Event]) -> Dict[str, Any]:
    """The delay and MMU columns from the latency layer (issue 13)."""
    bounds, counts = hist_delta(s1.mutator_delay_hist, s0.mutator_delay_hist)
    out: Dict[str, Any] = {
        "delay_ms": (s1.delay_total_ns - s0.delay_total_ns) / 1e6,
        "delay_max_ms": max((b - a for a, b, _k in inside), default=0) / 1e6,
        "delay_p99_ms": _ms(hist_quantile(bounds, counts, 99)) or 0.0,
        "limit_wait_ms": sum(b - a for a, b, k in inside if k == "limit_wait") / 1e6,
    }
    return out


def mmu_curve(events: Iterable[Event], t0_ns: int, t1_ns: int,
              windows_ms: Sequence[float]) -> List[Tuple[float, float]]:
    """(window ms, MMU) for each window: the MMU plot's points."""
    return list(zip(windows_ms, mmu_values(events, windows_ms, t0_ns, t1_ns)))


def peak_rss_reset() -> bool:
    """Reset the process's peak RSS (VmHWM) so the next run measures its own
    (Linux: write 5 to /proc/self/clear_refs); False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mib(field: str = "VmHWM") -> Optional[float]:
    """VmHWM (peak) or VmRSS (now) of this process, MiB; None off Linux."""
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None
