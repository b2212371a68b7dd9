"""tricolor.mmu: MMU and BMU of GC intervals, against a brute-force reference.

The reference works on small integer times, one nanosecond cell at a time:
a cell is GC time if any interval covers it, and it belongs to the first kind
(pause, assist, slice, sweep, limit_wait) among those covering it. With
integer interval ends and integer windows every window start and every window
length worth trying is an integer (csrc/mmu.c's header proves it), so trying
them all is exact: results must be equal, not close.
"""
import math
import re
import random

import pytest
from hypothesis import given, settings, strategies as st

import tricolor

KINDS = ("pause", "assist", "slice", "sweep", "limit_wait")
NS = 1e-9


def reference(intervals, start, end):
    """Per-cell kinds of the run [start, end] and helpers over them."""
    cells = []
    for c in range(start, end):
        owners = [KINDS.index(k) for s, e, k in intervals if s <= c and c + 1 <= e]
        cells.append(min(owners) if owners else None)
    prefix = [0]
    for k in cells:
        prefix.append(prefix[-1] + (k is not None))
    return cells, prefix


def ref_points(intervals, start, end, windows_ns):
    """The expected result of tricolor.mmu for integer windows (in ns)."""
    cells, prefix = reference(intervals, start, end)
    length = end - start
    if length == 0:
        zero = {k: 0 for k in KINDS}
        return [{"mmu": 1.0, "bmu": 1.0, "worst_start_ns": start, "by_kind": zero} for _ in windows_ns]
    worst = {}  # window length -> (gc, earliest start)
    for w in range(1, length + 1):
        gc, at = max((prefix[t + w] - prefix[t], -t) for t in range(0, length - w + 1))
        worst[w] = (gc, start - at)
    mmu = {w: 1.0 - gc / w for w, (gc, _) in worst.items()}
    out = []
    for w in windows_ns:
        w = min(w, length)
        gc, at = worst[w]
        by_kind = {k: 0 for k in KINDS}
        for k in cells[at - start : at - start + w]:
            if k is not None:
                by_kind[KINDS[k]] += 1
        bmu = min(mmu[v] for v in range(w, length + 1))
        out.append({"mmu": mmu[w], "bmu": bmu, "worst_start_ns": at, "by_kind": by_kind})
    return out


interval = st.tuples(st.integers(0, 50), st.integers(0, 20), st.sampled_from(KINDS)).map(
    lambda t: (t[0], t[0] + t[1], t[2])
)
interval_sets = st.lists(interval, max_size=10)


def span(intervals, start=None, end=None):
    """The run tricolor.mmu uses by default."""
    lo = min((s for s, _, _ in intervals), default=None)
    hi = max((e for _, e, _ in intervals), default=None)
    if start is None:
        start = lo if lo is not None and (end is None or lo <= end) else (end if end is not None else 0)
    if end is None:
        end = max(hi, start) if hi is not None else start
    return start, end


@settings(max_examples=300, deadline=None)
@given(interval_sets, st.data())
def test_mmu_matches_brute_force(intervals, data):
    start = data.draw(st.one_of(st.none(), st.integers(0, 40)), label="start_ns")
    end = data.draw(st.one_of(st.none(), st.integers(start or 0, 80)), label="end_ns")
    lo, hi = span(intervals, start, end)
    windows_ns = list(range(1, hi - lo + 3))
    got = tricolor.mmu(intervals, [w * NS for w in windows_ns], start, end)
    want = ref_points(intervals, lo, hi, windows_ns)
    assert len(got) == len(want)
    for w, g, r in zip(windows_ns, got, want):
        assert g["window"] == w * NS
        assert (g["mmu"], g["bmu"], g["worst_start_ns"], g["by_kind"]) == (
            r["mmu"],
            r["bmu"],
            r["worst_start_ns"],
            r["by_kind"],
        ), f"window {w} ns"


@settings(max_examples=200, deadline=None)
@given(interval_sets, st.lists(st.integers(1, 200), min_size=1, max_size=8))
def test_mmu_properties(intervals, windows_ns):
    lo, hi = span(intervals)
    windows_ns = sorted(windows_ns)
    got = tricolor.mmu(intervals, [w * NS for w in windows_ns])
    for w, p in zip(windows_ns, got):
        assert 0.0 <= p["bmu"] <= p["mmu"] <= 1.0
        assert set(p["by_kind"]) == set(KINDS)
        length = min(w, hi - lo)
        assert sum(p["by_kind"].values()) == pytest.approx((1.0 - p["mmu"]) * length, abs=1e-6)
        assert lo <= p["worst_start_ns"] <= max(lo, hi - length)
    for a, b in zip(got, got[1:]):
        assert a["bmu"] <= b["bmu"]  # BMU never falls as the window grows


@settings(max_examples=100, deadline=None)
@given(interval_sets, st.randoms(use_true_random=False))
def test_mmu_ignores_order_and_scales(intervals, rnd):
    """Any order of the intervals (and lists for tuples) gives the same
    result; so do times in milliseconds with windows scaled alike."""
    windows = [1 * NS, 5 * NS, 20 * NS, 1.0]
    base = tricolor.mmu(intervals, windows)
    shuffled = [list(iv) for iv in intervals]
    rnd.shuffle(shuffled)
    assert tricolor.mmu(shuffled, windows) == base
    ms = [(s * 1_000_000, e * 1_000_000, k) for s, e, k in intervals]
    scaled = tricolor.mmu(ms, [1e-3, 5e-3, 20e-3, 1e6])
    for b, s in zip(base, scaled):
        assert (s["mmu"], s["bmu"]) == (b["mmu"], b["bmu"])
        assert s["worst_start_ns"] == b["worst_start_ns"] * 1_000_000
        assert s["by_kind"] == {k: v * 1_000_000 for k, v in b["by_kind"].items()}


def test_spec_example_one_pause_in_a_ten_ms_run():
    one, ten = tricolor.mmu([(4_000_000, 5_000_000, "pause")], [0.001, 0.01], start_ns=0, end_ns=10_000_000)
    assert one == {
        "window": 0.001,
        "mmu": 0.0,
        "bmu": 0.0,
        "worst_start_ns": 4_000_000,
        "by_kind": {"pause": 1_000_000, "assist": 0, "slice": 0, "sweep": 0, "limit_wait": 0},
    }
    assert ten["mmu"] == pytest.approx(0.9) and ten["bmu"] == ten["mmu"]


def test_bmu_sees_a_worse_longer_window():
    # mmu(7 ns) = 1 - 5/7, but the 10 ns window [0, 10) is 80% GC
    (p,) = tricolor.mmu([(0, 4, "assist"), (6, 10, "slice")], [7e-9], 0, 20)
    assert p["mmu"] == 1.0 - 5 / 7 and p["bmu"] == 1.0 - 8 / 10


def test_overlaps_count_once_for_the_first_kind():
    iv = [(14, 20, "assist"), (10, 16, "slice"), (12, 13, "pause"), (15, 15, "sweep")]
    (p,) = tricolor.mmu(iv, [10e-9], 0, 40)
    assert p["mmu"] == 0.0 and p["worst_start_ns"] == 10
    assert p["by_kind"] == {"pause": 1, "assist": 6, "slice": 3, "sweep": 0, "limit_wait": 0}


def test_window_longer_than_the_run_is_the_run():
    (p,) = tricolor.mmu([(0, 3, "pause")], [1.0], 0, 10)
    assert p["window"] == 1.0 and p["mmu"] == pytest.approx(0.7) and p["worst_start_ns"] == 0


def test_empty_input():
    assert tricolor.mmu([], []) == []
    (p,) = tricolor.mmu([], [1])
    assert (p["mmu"], p["bmu"], p["worst_start_ns"], p["window"]) == (1.0, 1.0, 0, 1.0)
    (p,) = tricolor.mmu(iter([(5, 5, "sweep")]), (0.5,))  # iterables, a zero-length interval
    assert p["mmu"] == 1.0 and p["worst_start_ns"] == 5


def test_many_intervals():
    rnd = random.Random(7)
    iv = []
    for _ in range(200_000):
        s = rnd.randrange(10**10)
        iv.append((s, s + rnd.randrange(3000), KINDS[rnd.randrange(5)]))
    pts = tricolor.mmu(iv, [1e-6, 1e-3, 0.1, 100.0])
    assert [p["bmu"] for p in pts] == sorted(p["bmu"] for p in pts)
    assert all(0 <= p["bmu"] <= p["mmu"] <= 1 for p in pts)


@pytest.mark.parametrize(
    "windows, exc, where",
    [
        ([0.001, 0], ValueError, "windows[1]"),
        ([-1], ValueError, "windows[0]"),
        ([math.nan], ValueError, "windows[0]"),
        ([math.inf], ValueError, "windows[0]"),
        ([0.1, "1"], TypeError, "windows[1]"),
        ([None], TypeError, "windows[0]"),
        ([True], TypeError, "windows[0]"),
        (0.001, TypeError, "windows"),
        ("abc", TypeError, "windows"),
    ],
)
def test_bad_windows(windows, exc, where):
    with pytest.raises(exc, match=re.escape(where)):
        tricolor.mmu([(0, 1, "pause")], windows)


@pytest.mark.parametrize(
    "bad",
    [
        (0, 1),
        (0, 1, "pause", 4),
        "abc",
        (5, 4, "pause"),
        (-1, 4, "pause"),
        (0, 4, "mark"),
        (0, 4, 3),
        (0.0, 4, "pause"),
        (0, 4.5, "pause"),
        (0, 2**63, "pause"),
        (True, 4, "pause"),
        None,
    ],
)
def test_bad_intervals_name_the_index(bad):
    with pytest.raises(ValueError, match=r"intervals\[2\]"):
        tricolor.mmu([(0, 1, "pause"), (1, 2, "sweep"), bad], [0.001])


def test_bad_run_bounds():
    with pytest.raises(ValueError, match="start_ns"):
        tricolor.mmu([], [1], start_ns=5, end_ns=2)
    with pytest.raises(ValueError, match="start_ns"):
        tricolor.mmu([], [1], start_ns=-1)
    with pytest.raises(ValueError, match="end_ns"):
        tricolor.mmu([], [1], end_ns=-1)
    with pytest.raises(TypeError, match="end_ns"):
        tricolor.mmu([], [1], end_ns=1.5)
    with pytest.raises(TypeError, match="intervals"):
        tricolor.mmu(5, [1])


def test_an_interval_changing_the_list_while_read():
    """__index__ may run Python code: it cannot pull the list from under us."""
    iv = [(0, 1, "pause")] * 3

    class Sneaky:
        def __index__(self):
            iv.clear()
            return 2

    iv.append((Sneaky(), 5, "pause"))
    (p,) = tricolor.mmu(iv, [1e-9])
    assert p["mmu"] == 0.0
