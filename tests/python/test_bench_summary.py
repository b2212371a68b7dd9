"""The logic of `make bench`'s issue 16 summary, on made-up figures (no
benchmark runs here): how GC CPU-seconds are compared at equal peak heap
(benchmarks/gclab.py) and when a row may say "held" (benchmarks/summary16.py).
"""
import math
import pathlib
import sys

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import gclab  # noqa: E402
import summary16  # noqa: E402


def pts(*xy):
    return [(x, y, f"p{i}") for i, (x, y) in enumerate(xy)]


def test_interpolation_is_linear_in_log_heap():
    curve = pts((10, 1.0), (1000, 0.0))
    assert math.isclose(gclab.interp(curve, 100), 0.5)
    assert gclab.interp(curve, 10) == 1.0 and gclab.interp(curve, 1000) == 0.0


def test_the_worst_point_may_be_a_peer_breakpoint():
    # tricolor's own points are both below the peer's line through (10, 1) and
    # (100, 0.1); the peer's middle point at 31.6 MiB dips under tricolor's
    mine = pts((10, 0.9), (100, 0.09))
    peer = pts((10, 1.0), (31.6, 0.2), (100, 0.1))
    c = gclab.compare_curves(mine, peer)
    assert c["heap"] == 31.6 and c["ratio"] > 1.0
    assert (c["lo"], c["hi"], c["points"]) == (10, 100, 3)


def test_only_the_overlap_is_compared():
    mine = pts((50, 0.5), (200, 0.1))
    peer = pts((10, 100.0), (100, 0.2), (400, 0.01))  # far worse below 50 MiB: outside the overlap
    c = gclab.compare_curves(mine, peer)
    assert (c["lo"], c["hi"]) == (50, 200)
    assert c["ratio"] == max(gclab.interp(mine, x) / gclab.interp(peer, x) for x in (50, 100, 200))


def test_disjoint_curves_are_judged_only_when_one_wins_outright():
    mine = pts((40, 0.2), (80, 0.05))
    beaten = gclab.compare_curves(mine, pts((20, 0.03), (35, 0.02)))  # smaller heap, less CPU
    assert beaten["disjoint"] == 1 and beaten["ratio"] == 0.2 / 0.02
    winning = gclab.compare_curves(mine, pts((100, 0.5), (200, 0.3)))  # larger heap, more CPU
    assert winning["ratio"] == 0.05 / 0.5
    assert gclab.compare_curves(mine, pts((100, 0.01))) is None  # larger heap, less CPU: unknown
    assert gclab.compare_curves(mine, []) is None


def test_go_gc_cpu_adds_the_idle_workers_of_the_window_only():
    # GCCPUFraction leaves out Go's idle mark workers: the gctrace lines of the
    # window's cycles (gc_first on) add them; cycle 1 is before the window
    trace = ("gc 1 @0.010s 5%: 0.01+1.0+0.01 ms clock, 0.02+0.1/0.5/9.0+0.02 ms cpu, 4->4->2 MB, 5 MB goal, 2 P\n"
             "gc 2 @0.020s 5%: 0.01+1.0+0.01 ms clock, 0.02+0.1/0.5/3.0+0.02 ms cpu, 4->4->2 MB, 5 MB goal, 2 P\n"
             "gc 3 @0.030s 5%: 0.01+1.0+0.01 ms clock, 0.02+0.1/0.5/1.5+0.02 ms cpu, 4->4->2 MB, 5 MB goal, 2 P\n"
             "RESULT lines go to stdout, not here\n")
    got = {"gc_cpu_s": [0.002], "gc_first": [2.0], "time": [0.1]}
    gclab.go_add_idle(got, trace)
    assert math.isclose(got["gc_cpu_idle_s"][-1], 0.0045)
    assert got["gc_cpu_noidle_s"] == [0.002]
    assert math.isclose(got["gc_cpu_s"][-1], 0.0065) and math.isclose(got["gc_cpu"][-1], 0.065)


def test_the_main_gcbench_table_counts_go_idle_workers_too():
    # run.py's gcbench row for Go printed GCCPUFraction's figure alone while the
    # gogc curves added the idle workers: now both count them (go_with_idle)
    import run
    out = ("INFO go go1.19\nRESULT gcbench go time 0.1 s\nRESULT gcbench go gc_first 2 count\n"
           "RESULT gcbench go gc_cpu 0.02 fraction\nRESULT gcbench go gc_cpu_s 0.002 s\n")
    trace = ("gc 1 @0.010s 5%: 0.01+1.0+0.01 ms clock, 0.02+0.1/0.5/9.0+0.02 ms cpu, 4->4->2 MB, 5 MB goal, 2 P\n"
             "gc 2 @0.020s 5%: 0.01+1.0+0.01 ms clock, 0.02+0.1/0.5/3.0+0.02 ms cpu, 4->4->2 MB, 5 MB goal, 2 P\n")
    rows = {ln.split()[3]: float(ln.split()[4]) for ln in run.go_with_idle(out, trace).splitlines()
            if ln.startswith("RESULT")}
    assert math.isclose(rows["gc_cpu_s"], 0.005) and math.isclose(rows["gc_cpu"], 0.05)
    assert rows["gc_cpu_noidle_s"] == 0.002 and math.isclose(rows["gc_cpu_idle_s"], 0.003)
    assert rows["time"] == 0.1
    assert run.go_with_idle(out, "").count("gc_cpu_s 0.002") == 1  # no trace: as printed


def test_pooled_p99_is_nearest_rank_over_every_run():
    runs = [{"_pauses": [float(i) for i in range(1, 51)], "pause_max_run": 70.0},
            {"_pauses": [float(i) for i in range(51, 101)], "pause_max_run": 900.0}]
    res = {}
    gclab.pooled(res, runs)
    assert res["pauses_pooled"] == 100 and res["pause_p99_pooled"] == 99.0 and res["pause_max_pooled"] == 100.0
    assert res["pause_max_run"] == 900.0  # the worst run's whole-run max


def rows_by_name(median, gclab_records):
    return {r["row"]: r for r in summary16.rows(median, gclab_records, [])}


def test_nothing_measured_is_never_held():
    rows = summary16.rows(lambda key: None, [], [])
    assert rows and all(r["status"] == "n/a" for r in rows)


def test_a_p99_over_fewer_than_100_pauses_is_not_held():
    rec = [{"workload": "pause-1G", "system": "tricolor-concurrent-hybrid", "metric": m, "value": v}
           for m, v in (("pauses_pooled", 99), ("pause_p99_pooled", 10.0), ("pause_max_run", 20.0))]
    rows = rows_by_name(lambda key: None, rec)
    assert rows["4 p99 pause pause-1G hybrid, 99 pauses"]["status"] == "n/a"
    assert rows["4 max pause pause-1G hybrid, whole run"]["status"] == "held"


def test_ratio_rows_hold_against_their_goal():
    med = {("gcbench", "tricolor", "time"): 0.30, ("gcbench", "bdwgc", "time"): 0.40,
           ("gcbench", "malloc", "time"): 0.24}
    rows = rows_by_name(med.get, [])
    assert rows["1 GCBench wall time vs bdwgc"]["status"] == "held"  # 0.75x <= 0.8x
    assert rows["1 GCBench wall time vs malloc"]["status"] == "MISSED"  # 1.25x > 1.2x
    med[("gcbench", "bdwgc", "time")] = 0.35
    assert rows_by_name(med.get, [])["1 GCBench wall time vs bdwgc"]["status"] == "MISSED"  # 0.86x
