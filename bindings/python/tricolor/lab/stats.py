"""Small statistics for the lab: medians with their spread, percentiles, a
paired bootstrap, and the minimum mutator utilisation of a set of intervals.

Everything here is plain Python on lists of numbers (no numpy), so that the
lab runs wherever tricolor does; bindings/lua/tricolor/lab.lua has the same
functions, and tests/python/test_lab.py checks that both give the same
answers on the same input.
"""
from __future__ import annotations

import bisect
import math
import random
from typing import Iterable, List, Optional, Sequence, Tuple

Interval = Tuple[int, int]  # (start_ns, end_ns)


def median(values: Sequence[float]) -> Optional[float]:
    """The median, None for no values (a column that was not measured)."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    mid = len(xs) // 2
    return float(xs[mid]) if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2.0


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The q-th percentile (0..100) by the nearest-rank method: a value that
    was observed, as Go's and HdrHistogram's reports give it."""
    xs = sorted(values)
    if not xs:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(xs)))
    return float(xs[rank - 1])


def bootstrap_ratio(base: Sequence[float], other: Sequence[float], *, rounds: int = 2000,
                    seed: int = 1) -> Tuple[Optional[float], Optional[float], Optional[float]]:
    """Paired comparison of `other` against `base` (same length, run i of each
    made side by side): the median of the per-pair ratios other/base and its
    95% percentile-bootstrap interval (resampling pairs). (None, None, None)
    when a pair is missing or a base value is zero."""
    pairs = [o / b for b, o in zip(base, other) if b and o is not None]
    if not pairs:
        return None, None, None
    rng = random.Random(seed)
    n = len(pairs)
    meds = sorted(median([pairs[rng.randrange(n)] for _ in range(n)]) or 0.0 for _ in range(rounds))
    lo = meds[int(0.025 * rounds)]
    hi = meds[min(rounds - 1, int(math.ceil(0.975 * rounds)) - 1)]
    return median(pairs), lo, hi


def verdict(lo: Optional[float], hi: Optional[float]) -> str:
    """What a ratio's 95% interval says: a real difference when it excludes 1."""
    if lo is None or hi is None:
        return "n/a"
    if lo > 1.0:
        return "slower"
    if hi < 1.0:
        return "faster"
    return "noise"


def merge(intervals: Iterable[Interval]) -> List[Interval]:
    """Sorted, non-overlapping union of intervals (empty ones dropped)."""
    out: List[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def mmu(intervals: Iterable[Interval], window_ns: int, start_ns: int, end_ns: int) -> float:
    """Minimum mutator utilisation: over every window of `window_ns` inside
    [start_ns, end_ns], the smallest share of the window not covered by GC
    intervals (Cheng and Blelloch). A window longer than the run is the run.

    The GC time in a sliding window is piecewise linear in its position, so
    its maximum is reached where a window edge meets an interval edge: only
    those positions are tried (O(n log n))."""
    span = end_ns - start_ns
    if span <= 0:
        return 1.0
    w = min(window_ns, span)
    iv = [(max(s, start_ns), min(e, end_ns)) for s, e in merge(intervals)]
    iv = [(s, e) for s, e in iv if e > s]
    if not iv:
        return 1.0
    starts = [s for s, _ in iv]
    ends = [e for _, e in iv]
    prefix = [0]
    for s, e in iv:
        prefix.append(prefix[-1] + e - s)

    def busy_until(t: int) -> int:
        """GC ns in [start_ns, t]."""
        i = bisect.bisect_right(starts, t)
        if i == 0:
            return 0
        return prefix[i - 1] + min(t, ends[i - 1]) - starts[i - 1]

    worst = 0
    for edge in starts + ends:
        for left in (edge, edge - w):
            left = min(max(left, start_ns), end_ns - w)
            worst = max(worst, busy_until(left + w) - busy_until(left))
    return max(0.0, 1.0 - worst / w)
