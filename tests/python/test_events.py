"""GC events, latency statistics, heap.mmu and trace files (issue 13).

Each test asserts what the core recorded: the incremental collector's slices
are delay and show in MMU; an assist shows up; delay_total_ns >=
pause_total_ns; histogram counts add up to the number of intervals; trace
files have per-thread tracks without partial overlap and survive
interruption (KeyboardInterrupt, the heap closed, process exit).
"""
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tricolor
from tracecheck import check_trace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KINDS = ("pause", "assist", "slice", "sweep", "limit_wait")


def churn(heap, n=300_000, live=2000):
    keep = [None] * live
    for i in range(n):
        keep[(i * 7919) % live] = heap.new(2, 32)
    return keep


def hist_ok(h):
    bounds, counts = h["bounds_ns"], h["counts"]
    assert len(counts) == len(bounds) - 1
    assert bounds[0] == 0 and all(a < b for a, b in zip(bounds, bounds[1:]))
    assert bounds[-1] == math.inf
    assert all(isinstance(c, int) and c >= 0 for c in counts)
    return sum(counts)


@pytest.mark.parametrize("collector", ["stw", "incremental", "concurrent"])
def test_stats_account_for_every_recorded_interval(collector):
    with tricolor.Heap(collector=collector, gogc=50) as heap:
        churn(heap)
        heap.collect()
        s = heap.stats()
        iv = heap.gc_intervals()
        assert s.events_dropped == 0
        assert s.delay_total_ns >= s.pause_total_ns > 0
        assert hist_ok(s.mutator_delay_hist) == len(iv)
        assert s.delay_total_ns == sum(b - a for a, b, _ in iv)
        assert s.delay_max_ns == max(b - a for a, b, _ in iv)
        assert hist_ok(s.pause_hist) == len(s.pauses_ns) == len(s.pause_end_ns)
        assert {k for _, _, k in iv} <= set(KINDS)
        ends = s.pause_end_ns
        assert all(e - p >= prev for e, p, prev in zip(ends[1:], s.pauses_ns[1:], ends))
        assert ends[-1] <= tricolor.now_ns()
        if collector == "stw":
            assert {k for _, _, k in iv} == {"pause"}
        if collector == "incremental":  # allocations mark in slices: delay, beyond the pauses
            kinds = {k for _, _, k in iv}
            assert "slice" in kinds and "sweep" in kinds
            assert s.delay_total_ns > s.pause_total_ns


def test_incremental_slices_show_in_mmu():
    with tricolor.Heap(collector="incremental", gogc=50) as heap:
        churn(heap)
        slices = [b - a for a, b, k in heap.gc_intervals() if k == "slice"]
        assert slices
        longest = max(slices)
        rows = heap.mmu([longest / 1e9, 0.001, 0.1])
        # a window no longer than the longest slice can be all GC
        assert rows[0]["mmu"] == 0.0
        for r in rows:
            assert 0 <= r["bmu"] <= r["mmu"] <= 1
            assert set(r["by_kind"]) == set(KINDS)
        assert any(r["by_kind"]["slice"] > 0 for r in rows)


def test_an_assist_shows_up():
    """gogc=1 under the concurrent collector: the goal sits just above the
    live heap, so allocating threads must help mark."""
    with tricolor.Heap(collector="concurrent", gogc=1) as heap:
        keep = []
        for round_ in range(40):
            keep.append(churn(heap, 50_000, 4000))
            keep = keep[-4:]
            if heap.stats().assist_ns and any(k in ("assist", "limit_wait") for _, _, k in heap.gc_intervals()):
                break
        s = heap.stats()
        kinds = {k for _, _, k in heap.gc_intervals()}
        assert s.assist_ns > 0 and ("assist" in kinds or "limit_wait" in kinds)
        assert s.delay_total_ns > s.pause_total_ns


def test_mmu_window_by_kind_sums_to_gc_in_window():
    with tricolor.Heap(collector="stw") as heap:
        churn(heap, 100_000)
        heap.collect()
        for r in heap.mmu([0.0005, 0.002, 0.05]):
            gc = sum(r["by_kind"].values())
            length = r["window"] * 1e9
            assert gc == pytest.approx((1 - r["mmu"]) * length, abs=2, rel=1e-6) or gc < length
            assert r["worst_start_ns"] > 0


@pytest.mark.parametrize("bad", [[0], [-1.0], [float("nan")], [float("inf")]])
def test_mmu_rejects_bad_windows(heap, bad):
    with pytest.raises(ValueError, match="windows"):
        heap.mmu(bad)


def test_mmu_rejects_non_numbers(heap):
    with pytest.raises(TypeError, match="windows"):
        heap.mmu(["1ms"])
    with pytest.raises(TypeError):
        heap.mmu(5)


def test_mmu_and_stats_on_a_closed_heap():
    heap = tricolor.Heap()
    heap.close()
    for call in (lambda: heap.mmu([0.01]), heap.stats, heap.gc_intervals):
        with pytest.raises(tricolor.HeapClosedError):
            call()


def test_ring_overflow_is_counted_and_mmu_warns():
    with tricolor.Heap(collector="stw", events_ring=2) as heap:
        for _ in range(5):
            heap.collect()
        s = heap.stats()
        assert s.events_dropped >= 3
        assert hist_ok(s.pause_hist) == 5  # the histograms lose nothing
        assert len(heap.gc_intervals()) == 2
        with pytest.warns(RuntimeWarning, match="gap"):
            heap.mmu([0.01])


def test_events_ring_zero_keeps_no_events():
    with tricolor.Heap(collector="stw", events_ring=0) as heap:
        heap.collect()
        s = heap.stats()
        assert heap.gc_intervals() == [] and s.events_dropped == 0
        assert hist_ok(s.pause_hist) == 1 and s.delay_total_ns == s.pause_total_ns
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert heap.mmu([0.01])[0]["mmu"] == 1.0  # nothing recorded: no gap either


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (2**24 + 1, ValueError), ("big", TypeError),
                                      (True, TypeError)])
def test_events_ring_is_checked(bad, exc):
    with pytest.raises(exc, match="events_ring"):
        tricolor.Heap(events_ring=bad)


def test_intervals_round_trip_through_tricolor_mmu():
    """A saved run analysed later gives the heap's own answer."""
    with tricolor.Heap(collector="incremental", gogc=50) as heap:
        churn(heap, 150_000)
        iv = heap.gc_intervals()
        start, end = iv[0][0], max(b for _, b, _ in iv)
        mine = tricolor.mmu(iv, [0.001, 0.01], start, end)
        assert all(0 <= r["bmu"] <= r["mmu"] <= 1 for r in mine)
        json.dumps(iv)  # plain data


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collector=st.sampled_from(["stw", "incremental", "concurrent"]),
       rounds=st.lists(st.tuples(st.integers(0, 40_000), st.booleans()), min_size=1, max_size=4))
def test_invariants_hold_for_any_run(collector, rounds):
    with tricolor.Heap(collector=collector, gogc=25) as heap:
        for n, force in rounds:
            churn(heap, n, 500)
            if force:
                heap.collect()
        s = heap.stats()
        iv = heap.gc_intervals()
        assert s.delay_total_ns >= s.pause_total_ns
        assert hist_ok(s.mutator_delay_hist) == len(iv)
        assert hist_ok(s.pause_hist) == len(s.pauses_ns)
        assert all(0 <= a <= b for a, b, _ in iv)


# ---- trace files -----------------------------------------------------------------


@pytest.mark.parametrize("collector", ["stw", "incremental", "concurrent"])
def test_trace_has_thread_tracks_without_partial_overlap(tmp_path, collector):
    path = tmp_path / "gc.json"
    with tricolor.Heap(collector=collector, gogc=50, mark_workers=2) as heap:
        heap.trace_start(path)
        churn(heap, 200_000)
        heap.collect()
        heap.trace_stop()
    events = check_trace(path)
    names = {e["name"] for e in events if e["ph"] == "X"}
    assert "pause" in names and "GC cycle" in names
    thread_names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert "GC (pauses, cycles)" in thread_names
    if collector == "concurrent":
        assert "collector" in thread_names and "mark worker 1" in thread_names
        assert "mark" in names and "background sweep" in names
    if collector == "incremental":  # the program's thread does the slices: its own track
        assert "slice" in names and "sweep" in names
        assert any(n.startswith("mutator thread") for n in thread_names)
    # marking and sweeping say how many objects they marked or freed (churn leaves garbage)
    def objects(*kinds):
        return sum(e["args"]["objects"] for e in events if e["ph"] == "X" and e["name"] in kinds)
    if collector != "stw":  # stw marks and sweeps inside its one pause
        assert objects("mark", "slice", "assist") > 0
        assert objects("sweep", "background sweep") > 0
    # the pauses sit on the heap's GC track; the program's own work on its thread's track
    tid_of = {e["name"]: e["tid"] for e in events if e["ph"] == "X"}
    assert tid_of["pause"] % 1_000_000 == 0


def test_trace_has_finalizer_events(tmp_path):
    path = tmp_path / "gc.json"
    with tricolor.Heap(collector="stw") as heap:
        heap.trace_start(path)
        ran = []
        heap.set_finalizer(heap.new(0), lambda o: ran.append(1))
        heap.collect()
        heap.collect()
        heap.run_finalizers()
        heap.trace_stop()
    assert ran
    events = check_trace(path)
    fin = [e for e in events if e["name"] == "finalizer"]
    assert fin and all(e["args"]["objects"] == 1 for e in fin)
    # every GC interval says its cycle, bytes and objects (0 where not known)
    assert all({"cycle", "bytes", "objects"} <= set(e["args"]) for e in events if e["ph"] == "X")


def test_a_thread_that_only_waits_out_pauses_has_its_own_track(tmp_path):
    import threading
    path = tmp_path / "gc.json"
    entered, done = threading.Event(), threading.Event()
    with tricolor.Heap(collector="stw") as heap:
        def idle():  # registers with the heap, then does nothing while traced
            keep = heap.new(1)
            entered.set()
            done.wait()
            del keep
        t = threading.Thread(target=idle)
        t.start()
        entered.wait()
        heap.trace_start(path)
        heap.collect()
        heap.trace_stop()
        done.set()
        t.join()
    events = check_trace(path)
    tracks = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    # under stw nothing runs on a program thread's own track: the idle thread's is there all the same
    assert any(n.startswith("mutator thread") for n in tracks)


def test_two_heaps_have_distinct_pids(tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    heaps = [tricolor.Heap(collector="stw"), tricolor.Heap(collector="stw")]
    for h, p in zip(heaps, paths):
        h.trace_start(p)
        h.collect()
        h.trace_stop()
        h.close()
    pids = [{e["pid"] for e in check_trace(p)} for p in paths]
    assert len(pids[0]) == len(pids[1]) == 1 and pids[0] != pids[1]


def test_closing_the_heap_writes_the_trace(tmp_path):
    path = tmp_path / "gc.json"
    heap = tricolor.Heap(collector="stw")
    heap.trace_start(path)
    assert check_trace(path, counters=False) is not None  # valid (empty) from the start
    heap.collect()
    heap.close()
    events = check_trace(path)
    assert "pause" in {e["name"] for e in events}
    with pytest.raises(tricolor.HeapClosedError):
        heap.trace_stop()


def run_python(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), timeout=120)


def test_keyboard_interrupt_leaves_a_valid_trace(tmp_path):
    path = tmp_path / "gc.json"
    r = run_python(f"""
        import os, signal, tricolor
        heap = tricolor.Heap(collector="stw")
        heap.trace_start({str(path)!r})
        heap.collect()
        os.kill(os.getpid(), signal.SIGINT)   # KeyboardInterrupt, never caught
        while True:
            heap.new(1)
    """)
    assert "KeyboardInterrupt" in r.stderr
    assert "pause" in {e["name"] for e in check_trace(path)}


def test_process_exit_with_tracing_on_writes_the_trace(tmp_path):
    path = tmp_path / "gc.json"
    r = run_python(f"""
        import tricolor
        heap = tricolor.Heap(collector="incremental")
        heap.trace_start({str(path)!r})
        keep = [heap.new(1) for _ in range(100000)]
        heap.collect()
        raise SystemExit(3)
    """)
    assert r.returncode == 3, r.stderr
    assert "pause" in {e["name"] for e in check_trace(path)}


def delay_intervals(s):
    return sum(s.mutator_delay_hist["counts"])


@pytest.mark.parametrize("call", ["free", "color", "snapshot", "path_to"])
def test_a_pause_the_program_asked_for_is_mutator_delay(call):
    """unsafe.free, color, snapshot and the why-alive calls stop the world; the
    program's other threads wait that out, so each is one mutator-delay interval
    (not a GC pause: pause_total_ns does not move). unsafe.free, color and
    snapshot counted nothing before."""
    with tricolor.Heap(collector="manual") as h:
        a = h.new(1)
        a[0] = h.new(0)
        s0 = h.stats()
        if call == "free":
            tricolor.unsafe.free(a[0])
        elif call == "color":
            h.color(a)
        elif call == "snapshot":
            h.snapshot()
        else:
            h.path_to(a[0])
        s1 = h.stats()
        assert delay_intervals(s1) == delay_intervals(s0) + 1
        assert s1.delay_total_ns > s0.delay_total_ns
        assert s1.pause_total_ns == s0.pause_total_ns
