"""The lab (issue 14; SPEC: Lab): python -m tricolor lab QUESTION, in Python
and in Lua, its JSON schema, plots, bad input, user workloads and Ctrl-C."""
import csv
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

import tricolor
from conftest import subprocess_env
from tricolor import lab
from tricolor.lab import luarun, plots, schema, session
from tricolor.lab import stats as st
from tricolor.lab import workloads as wl
from tricolor.lab.questions import Options

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args, timeout=240, env=None):
    return subprocess.run([sys.executable, "-m", "tricolor", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or subprocess_env(), cwd=ROOT)


def lua(code):
    """Run Lua code with the lab on its paths; its stdout."""
    r = subprocess.run(["lua5.4", "-e", code], capture_output=True, text=True, env=luarun.environment(), timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def only_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---- every question, both languages, the schema --------------------------------------

QUICK = {}


def quick(question):
    """The --quick --lang both --json result of a question (run once per session)."""
    if question not in QUICK:
        r = run_cli("lab", question, "--quick", "--lang", "both", "--json")
        assert r.returncode == 0, r.stderr
        QUICK[question] = json.loads(r.stdout)
    return QUICK[question]


@pytest.mark.parametrize("question", ["pauses", "gogc", "barrier", "limit"])
def test_every_question_answers_in_both_languages_with_the_schema(question):
    doc = quick(question)
    assert schema.validate(doc) == []
    assert doc["question"] == question and doc["config"]["lang"] == "both"
    assert doc["config"]["quick"] is True and doc["config"]["interrupted"] is False
    langs = {r["lang"] for r in doc["rows"]}
    assert {"python", "lua"} <= langs
    py = [r for r in doc["rows"] if r["lang"] == "python"]
    lu = [r for r in doc["rows"] if r["lang"] == "lua"]
    assert [r["label"] for r in py] == [r["label"] for r in lu]  # the same plan in both
    for r in doc["rows"]:
        assert r["runs"] == doc["config"]["repeat"]
        for k, vs in r["samples"].items():
            assert len(vs) == r["runs"] and r[k] == st.median(vs)


def test_pauses_rows_cover_every_collector_and_size():
    doc = quick("pauses")
    sizes = doc["config"]["sizes_mib"]
    py = [r for r in doc["rows"] if r["lang"] == "python"]
    assert {(r["collector"], r["size_mib"]) for r in py} == {
        (c, s) for c in ("stw", "incremental", "concurrent") for s in sizes}
    for r in py:
        # MMU is not monotone in the window length (BMU is), only bounded
        assert all(0 <= r[k] <= 1 for k in ("mmu_1ms", "mmu_10ms", "mmu_100ms"))
        assert r["pause_p99_ms"] <= r["pause_max_ms"]
        assert r["live_mib"] >= 0.9 * r["size_mib"]  # the workload built the live set asked for
        assert r["cycles"] >= 1
    stw = sorted((r for r in py if r["collector"] == "stw"), key=lambda r: r["size_mib"])
    assert stw[0]["flat_ratio"] == pytest.approx(stw[-1]["pause_max_ms"] / stw[0]["pause_max_ms"])


def test_gogc_rows_and_gos_curve():
    doc = quick("gogc")
    values = doc["config"]["gogc_values"]
    assert None in values
    for lang in ("python", "lua"):
        rows = [r for r in doc["rows"] if r["lang"] == lang]
        assert [r["gogc"] for r in rows] == values
        off = rows[values.index(None)]
        assert off["cycles_total"] == 0  # gogc off: no automatic cycle
        assert off["peak_alloc_mib"] >= max(r["peak_alloc_mib"] for r in rows) * 0.99
    go = [r for r in doc["rows"] if r["lang"] == "go"]
    if shutil.which("go"):  # make test installs golang-go (Makefile DEBS)
        assert [r["gogc"] for r in go] == values and doc["config"]["go"]
    else:
        assert not go and any("go" in w for w in doc["machine"]["warnings"])


def test_go_curve_counts_the_idle_mark_workers():
    # Go's GCCPUFraction leaves its idle-priority mark workers out; the lab adds
    # gctrace's idle cpu field of every cycle so Go's curve is like for like.
    from tricolor.lab import golang
    trace = ("gc 1 @0.010s 2%: 0.01+1.0+0.02 ms clock, 0.04+0.50/2.00/3.00+0.08 ms cpu, 4->4->1 MB, 4 MB goal, 2 P\n"
             "not a trace line\n"
             "gc 2 @0.050s 3%: 0.01+1.0+0.02 ms clock, 0.04+0.50/2.00/5.00+0.08 ms cpu, 4->5->1 MB, 4 MB goal, 2 P\n")
    row = golang.add_idle({"wall_s": 0.5, "gc_cpu": 0.1}, trace)
    assert row["gc_cpu_noidle"] == 0.1
    assert abs(row["gc_cpu"] - (0.1 + 0.008 / 0.5)) < 1e-12


def test_gogc_without_go_says_so():
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not os.path.exists(os.path.join(p, "go")))
    r = run_cli("lab", "gogc", "--quick", "--json", env=subprocess_env(PATH=path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert not [x for x in doc["rows"] if x["lang"] == "go"]
    assert any("no go toolchain" in w for w in doc["machine"]["warnings"])


def test_barrier_is_a_paired_comparison():
    doc = quick("barrier")
    for lang in ("python", "lua"):
        rows = {r["barrier"]: r for r in doc["rows"] if r["lang"] == lang}
        assert set(rows) == {"hybrid", "dijkstra", "yuasa"}
        assert rows["hybrid"]["verdict"] == "baseline" and rows["hybrid"]["ratio"] == 1.0
        # the write barrier's work is measured (how much depends on how many stores
        # fall inside a mark: test_teach places them by hand and checks the counts)
        for r in rows.values():
            assert len(r["samples"]["barrier_slow"]) == r["runs"] and min(r["samples"]["barrier_slow"]) >= 0
            assert len(r["samples"]["shaded"]) == r["runs"] and min(r["samples"]["shaded"]) >= 0
        for b in ("dijkstra", "yuasa"):
            r = rows[b]
            assert r["ratio_lo"] <= r["ratio"] <= r["ratio_hi"]
            assert r["verdict"] == st.verdict(r["ratio_lo"], r["ratio_hi"])
            pairs = [o / h for h, o in zip(rows["hybrid"]["samples"]["mutator_s"], r["samples"]["mutator_s"])]
            assert r["ratio"] == pytest.approx(st.median(pairs))
    assert doc["config"]["provisional"] == []  # every column is measured now


def test_limit_rows_follow_the_measured_live_set():
    doc = quick("limit")
    live = doc["config"]["live_mib_measured"]
    for r in doc["rows"]:
        if r["lang"] == "python" and r["limit_x"] is not None:
            assert r["limit_mib"] == pytest.approx(r["limit_x"] * live, rel=1e-6)
            assert r["over_limit"] == any(v > r["limit_mib"] for v in r["samples"]["peak_alloc_mib"])
    under = [r for r in doc["rows"] if r["lang"] == "python" and r["limit_x"] == 0.9]
    assert len(under) == 2 and all(r["over_limit"] for r in under)  # a live set above the limit passes it


def test_why_answers_alike_in_python_and_lua():
    r = run_cli("lab", "why", "--lang", "both", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert schema.validate(doc) == []
    by_lang = {lang: [{k: v for k, v in row.items() if k != "lang"} for row in doc["rows"] if row["lang"] == lang]
               for lang in ("python", "lua")}
    assert by_lang["python"] == by_lang["lua"]
    rows = {(row["section"], row["object"]): row for row in by_lang["python"]}
    # the listener keeps the document: the path runs through it, and dropping it frees three objects
    assert [s["object"] for s in rows["path", "doc"]["steps"]] == ["app", "listeners", "listener", "doc"]
    assert rows["path", "entry"]["steps"][0] == {"via": "finalizer", "object": "log"}
    assert rows["referrers", "doc"]["referrer"] == "listener"
    assert rows["retained", "listener"]["objects"] == 3
    assert rows["fix", "listener"]["freed"] == 3
    assert [row["object"] for row in by_lang["python"] if row["section"] == "roots"] == ["app", "log", "log"]


def test_why_tells_its_story_and_refuses_what_it_does_not_take():
    r = run_cli("lab", "why", "--collector", "stw")
    assert r.returncode == 0, r.stderr
    assert "collector=stw" in r.stdout and "heap.path_to(obj)" in r.stdout and "3 freed" in r.stdout
    for extra in (["--workload", "churn"], ["--param", "live_mib=4"], ["--plot", "w.png"]):
        r = run_cli("lab", "why", *extra)
        assert r.returncode == 2 and "worked example" in only_line(r.stderr)


# ---- text, CSV and the plot file ----------------------------------------------------------


def test_table_csv_and_plot_files(tmp_path):
    png, csv_path, js = tmp_path / "b.png", tmp_path / "b.csv", tmp_path / "b.json"
    r = run_cli("lab", "barrier", "--quick", "--plot", str(png), "--csv", str(csv_path), "--json", str(js))
    assert r.returncode == 0, r.stderr
    for word in ("barrier", "mutator s", "vs hybrid", "95% interval", "hybrid", "dijkstra", "yuasa", "machine:"):
        assert word in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [x["barrier"] for x in rows] == ["hybrid", "dijkstra", "yuasa"]
    assert {"mutator_s", "mutator_s_min", "mutator_s_max", "ratio_lo"} <= set(rows[0])
    assert schema.validate(json.loads(js.read_text())) == []
    assert "lab barrier [" in r.stderr  # a progress line per run when stderr is not a terminal


def test_plain_output_without_rich():
    code = ("import sys; sys.modules['rich'] = None; from tricolor.__main__ import main; "
            "sys.exit(main(['lab', 'pauses', '--quick', '--sizes', '2']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "collector" in r.stdout and "-----" in r.stdout and "concurrent" in r.stdout


def test_machine_load_is_reported():
    doc = quick("gogc")
    m = doc["machine"]
    assert len(m["load_before"]) == 3 and len(m["load_after"]) == 3
    assert m["busy"] == (m["load_before"][0] > 0.5 * m["cpus"] or m["load_after"][0] > m["cpus"] + 0.5) \
        or any("busy" in w for w in m["warnings"])


# ---- bad input: status 2, one line, before anything runs ------------------------------------


@pytest.mark.parametrize("args, words", [
    (["lab", "bogus"], ["pauses", "gogc", "barrier", "limit", "why"]),
    (["lab", "pauses", "--workload", "nope"], ["churn", "lru-cache", "module:function"]),
    (["lab", "pauses", "--workload", "gcbench"], ["live_mib", "churn"]),
    (["lab", "barrier", "--param", "bogus=1"], ["bogus", "live_mib", "degree"]),
    (["lab", "barrier", "--lang", "cobol"], ["python", "lua", "both"]),
    (["lab", "barrier", "--lang", "lua", "--param", "bogus=1"], ["bogus", "live_mib"]),
    (["lab", "barrier", "--plot", "x.gif"], [".png", ".svg"]),
    (["lab", "barrier", "--plot", "/nonexistent/dir/x.png"], ["cannot write"]),
    (["lab", "pauses", "--sizes", "big"], ["--sizes"]),
    (["compare", "-p", "bogus=1"], ["bogus", "long_lived_depth"]),
    (["bench", "churn", "-p", "bogus=1"], ["bogus", "live_mib"]),
    (["bench", "churn", "--plot", "x.pdf"], [".png", ".svg"]),
])
def test_bad_input_is_one_line_and_status_2(args, words):
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = only_line(r.stderr)
    for w in words:
        assert w in line
    assert "[1/" not in r.stderr  # nothing ran


# ---- user workloads -------------------------------------------------------------------------

USER_PY = '''
def steady(heap, params):
    """A user workload: a live list of objects, replaced one by one."""
    keep = [heap.new(1, data=64) for _ in range(int(params["live_mib"] * 8000))]
    yield
    for i in range(int(params.get("steps", 20000))):
        keep[i % len(keep)] = heap.new(1, data=64)
    return {"objects": len(keep) + 20000, "mine": 7}


def broken(heap, params):
    heap.new(1)
    raise RuntimeError("the user's bug")
'''


def test_user_python_workload(tmp_path):
    (tmp_path / "myload.py").write_text(USER_PY)
    env = subprocess_env()
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env["PYTHONPATH"]
    r = run_cli("lab", "pauses", "--quick", "--sizes", "1", "--workload", "myload:steady", "-p", "steps=5000",
                "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert schema.validate(doc) == [] and doc["config"]["workload"] == "myload:steady"
    assert all(x["mine"] == 7 for x in doc["rows"])


def test_user_python_workload_that_raises(tmp_path):
    (tmp_path / "myload.py").write_text(USER_PY)
    env = subprocess_env()
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env["PYTHONPATH"]
    r = run_cli("lab", "barrier", "--quick", "--workload", "myload:broken", env=env)
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "RuntimeError: the user's bug" in r.stderr
    assert "in configuration: hybrid" in r.stderr and "collector=concurrent" in r.stderr


USER_LUA = '''
local M = {}
function M.run(heap, p)
   local keep = {}
   for i = 1, math.floor(p.live_mib * 8000) do keep[i] = heap:new(1, 64) end
   coroutine.yield()
   for i = 1, 20000 do keep[i % #keep + 1] = heap:new(1, 64) end
   if p.fail then error("the user's Lua bug") end
   return { objects = #keep + 20000, mine = 7 }
end
return M
'''


def test_user_lua_workload(tmp_path):
    script = tmp_path / "myload.lua"
    script.write_text(USER_LUA)
    r = run_cli("lab", "pauses", "--quick", "--sizes", "1", "--workload", str(script), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert schema.validate(doc) == [] and {x["lang"] for x in doc["rows"]} == {"lua"}
    assert all(x["mine"] == 7 for x in doc["rows"])
    bad = run_cli("lab", "pauses", "--quick", "--sizes", "1", "--workload", str(script), "-p", "fail=1")
    assert bad.returncode == 1
    assert "the user's Lua bug" in bad.stderr and "in configuration: stw/hybrid 1 MiB" in bad.stderr
    assert "stack traceback" in bad.stderr


# ---- Ctrl-C ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["python", "lua"])
def test_ctrl_c_prints_the_partial_table_and_leaves_valid_files(tmp_path, lang):
    out = {ext: tmp_path / f"out.{ext}" for ext in ("json", "csv", "png")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tricolor", "lab", "pauses", "--sizes", "2,3,4,5,6", "--repeat", "20",
         "--lang", lang, "--json", str(out["json"]), "--csv", str(out["csv"]), "--plot", str(out["png"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=ROOT)
    seen = []
    for line in proc.stderr:  # wait until a run finished
        seen.append(line)
        if "[2/" in line:
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + stderr
    assert "interrupted" in stdout and "collector" in stdout
    doc = json.loads(out["json"].read_text())
    assert doc["config"]["interrupted"] is True and doc["rows"] and schema.validate(doc) == []
    assert len(list(csv.DictReader(io.StringIO(out["csv"].read_text())))) == len(doc["rows"])
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


# ---- plots: the figure's data ------------------------------------------------------------------


def _labels(ax):
    return [line.get_label() for line in ax.lines]


def test_pauses_figure_data():
    doc = quick("pauses")
    fig = plots.lab_figure("pauses", doc)
    a1, a2 = fig.axes[:2]
    assert "(MiB)" in a1.get_xlabel() and "(ms)" in a1.get_ylabel()
    assert a1.get_xscale() == "log" and a1.get_yscale() == "log"
    stw = sorted((r for r in doc["rows"] if r["lang"] == "python" and r["collector"] == "stw"),
                 key=lambda r: r["live_mib"])
    line = next(x for x in a1.lines if x.get_label() == "python stw max")
    assert list(line.get_xdata()) == [r["live_mib"] for r in stw]
    assert list(line.get_ydata()) == pytest.approx([r["pause_max_ms"] for r in stw])
    assert "lua concurrent/hybrid p99" in _labels(a1)
    assert a1.get_legend() is not None and "MMU" in a2.get_ylabel()


def test_gogc_and_barrier_figure_data():
    doc = quick("gogc")
    a1, a2, a3 = plots.lab_figure("gogc", doc).axes[:3]
    assert "tricolor (python)" in _labels(a1) and "tricolor (lua)" in _labels(a1)
    assert ("Go" in _labels(a1)) == bool(shutil.which("go"))
    assert [t.get_text() for t in a1.get_xticklabels()][-1] == "off"
    assert "(MiB)" in a2.get_ylabel() and "%" in a1.get_ylabel()
    doc = quick("barrier")
    b1, b2 = plots.lab_figure("barrier", doc).axes[:2]
    bars = {c.get_label(): [p.get_height() for p in c] for c in b1.containers if hasattr(c, "patches")}
    for lang in ("python", "lua"):
        assert bars[lang] == pytest.approx([r["mutator_s"] for r in doc["rows"] if r["lang"] == lang])
    assert any(line.get_label() == "no difference" and list(line.get_ydata()) == [1.0, 1.0] for line in b2.lines)
    assert "(s)" in b1.get_ylabel()


def test_limit_figure_has_the_limit_line_and_a_timeline(tmp_path):
    opts = Options("limit", quick=True)
    result = session.run(opts)
    fig = plots.lab_figure("limit", result.doc, result.runs)
    a1, a2, a3 = fig.axes[:3]
    limit = next(x for x in a1.lines if x.get_label() == "the limit")
    assert list(limit.get_xdata()) == list(limit.get_ydata())
    assert any(x.get_label() == "50% guard" for x in a2.lines)
    assert {"heap_alloc", "heap_goal", "memory limit", "pauses"} <= set(_labels(a3))
    assert "(s)" in a3.get_xlabel() and "(MiB)" in a3.get_ylabel()
    for ext in ("png", "svg"):
        path = tmp_path / f"limit.{ext}"
        plots.save(plots.lab_figure("limit", result.doc, result.runs), str(path))
        assert path.stat().st_size > 1000
    assert path.read_text().lstrip().startswith("<?xml")


def test_bench_and_compare_plots(tmp_path):
    png, svg = tmp_path / "b.png", tmp_path / "c.svg"
    r = run_cli("bench", "churn", "-p", "live_mib=2", "--memory-limit", "64M", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = run_cli("compare", "churn", "-p", "live_mib=1", "--config", "collector=stw", "--config", "gogc=50",
                "--plot", str(svg))
    assert r.returncode == 0, r.stderr
    assert "<svg" in svg.read_text()
    w = wl.WORKLOADS["churn"]
    run = lab.runner.run_once(w, w.with_defaults({"live_mib": 2}), {"collector": "stw", "memory_limit": 64 << 20})
    a1, a2, a3, a4 = plots.bench_figure("churn", run).axes[:4]
    assert {"heap_alloc", "heap_goal", "memory limit", "pauses"} <= set(_labels(a1))
    limit = next(x for x in a1.lines if x.get_label() == "memory limit")
    assert list(limit.get_ydata()) == [64.0, 64.0]
    assert len(a2.patches) == (1 if plots.pause_times(run) else 0) and "(ms)" in a2.get_xlabel()
    assert "delay (ms)" == a3.get_xlabel() and len(a3.patches) == (1 if plots.delay_times(run) else 0)
    assert "(ms)" in a4.get_xlabel() and all(0 <= y <= 1 for y in a4.lines[0].get_ydata())


# ---- workloads -------------------------------------------------------------------------------


def test_workloads_have_the_same_names_and_parameters_in_lua():
    got = json.loads(lua('local W = require("tricolor.lab.workloads"); local lab = require("tricolor.lab"); '
                         'local out = {} for _, n in ipairs(W.list) do local ps = lab.array() '
                         'for _, p in ipairs(W.workloads[n].params) do ps[#ps + 1] = {p[1], p[2]} end '
                         'out[#out + 1] = {n, ps} end print(lab.json(out))'))
    mine = [[n, [[k, v] for k, (v, _doc) in w.params.items()]] for n, w in wl.WORKLOADS.items()]
    assert got == mine


@pytest.mark.parametrize("name", list(wl.WORKLOADS))
def test_each_workload_runs_small_and_keeps_the_heap_sound(name):
    w = wl.WORKLOADS[name]
    small = {"gcbench": dict(long_lived_depth=4, max_depth=6, array_size=100),
             "binary-trees": dict(max_depth=6), "linkedlist": dict(length=300, rounds=2)}.get(name, {"live_mib": 0.2})
    with tricolor.Heap() as heap:
        out = w.fn(heap, w.with_defaults(small))
        if hasattr(out, "send"):
            for _ in out:
                heap.verify()
        heap.verify()
    lua(f'local W = require("tricolor.lab.workloads"); local t = require("tricolor"); '
        f'local w = W.workloads["{name}"]; local p = W.with_defaults(w, {luarun.lua_literal(small)}); '
        f'local h <close> = t.heap(); local co = coroutine.create(w.fn); assert(coroutine.resume(co, h, p)); '
        f'h:verify(); if coroutine.status(co) ~= "dead" then assert(coroutine.resume(co)) end; h:verify()')


def test_churn_live_set_stays_fixed():
    """The old churn linked each new object to a survivor, so its live set grew
    (20k -> 66k objects); the lab's stays the size it was built."""
    w = wl.WORKLOADS["churn"]
    with tricolor.Heap() as heap:
        gen = w.fn(heap, w.with_defaults({"live_mib": 1, "turnover": 4.0}))
        next(gen)
        heap.collect()
        before = heap.stats().heap_live
        try:
            next(gen)
        except StopIteration as stop:
            keep = stop.value["keep"]
        heap.collect()
        heap.collect()
        assert heap.stats().heap_live == pytest.approx(before, rel=0.02)
        del keep


def test_trace_events_are_placed_by_the_trace_start_instant(tmp_path):
    """Trace timestamps count from the heap's creation, which the host cannot
    see; the trace_start instant, stamped as heap.trace_start() returned,
    pins them to the monotonic clock. (Placing them by a time taken before
    Heap() shifted every pause by the heap's creation time, ~1 ms: pauses
    slid out of the measured window and out of the MMU.)"""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"traceEvents": [
        {"name": "trace_start", "ph": "i", "ts": 1000.0, "pid": 1, "tid": 1, "s": "g"},
        {"name": "STW pause", "ph": "X", "ts": 2000.0, "dur": 500.0, "pid": 1, "tid": 1},
        {"name": "mark", "ph": "X", "ts": 2500.0, "dur": 900.0, "pid": 1, "tid": 1}]}))
    anchor = 10_000_000
    assert lab.metrics.read_trace(str(path), anchor) == [(11_000_000, 11_500_000, "pause")]


def test_trace_pauses_line_up_with_the_measured_window():
    """Under stw the only mutator waits out every pause, so no pause may
    straddle the window's start, and the window holds every pause it counted."""
    w = wl.WORKLOADS["churn"]
    for _ in range(3):
        run = lab.runner.run_once(w, w.with_defaults({"live_mib": 2, "turnover": 2.0}), {"collector": "stw"})
        t0, t1 = run.window
        inside = [(a, b) for a, b, _k in run.events if b > t0 and a < t1]
        assert inside and len(inside) == run.values["pauses"]
        for a, b, _k in run.events:
            assert b <= t0 + 200_000 or a >= t0 - 200_000, (a - t0, b - t0)
        if run.values["pause_max_ms"] >= 1.0:
            assert run.values["mmu_1ms"] == 0.0


# ---- statistics -------------------------------------------------------------------------------


def brute_mmu(intervals, w, start, end):
    """MMU by trying every window start in steps of 1 ns (small integers only)."""
    w = min(w, end - start)
    busy = [0] * (end - start)
    for s, e in intervals:
        for t in range(max(s, start), min(e, end)):
            busy[t - start] = 1
    return 1 - max(sum(busy[i:i + w]) for i in range(0, end - start - w + 1)) / w


def test_mmu_matches_brute_force_on_random_intervals():
    rng = random.Random(5)
    for _ in range(200):
        n = rng.randrange(0, 6)
        iv = []
        for _ in range(n):
            s = rng.randrange(0, 90)
            iv.append((s, s + rng.randrange(0, 15)))
        w = rng.randrange(1, 40)
        assert st.mmu(iv, w, 0, 100) == pytest.approx(brute_mmu(iv, w, 0, 100)), (iv, w)


def test_mmu_agrees_with_the_cores_tricolor_mmu():
    """The lab's own MMU (the fallback) and the core's tricolor.mmu, which
    the lab uses when it is there, give the same answers."""
    rng = random.Random(11)
    for _ in range(100):
        iv = [(s, s + rng.randrange(0, 40_000), "pause") for s in (rng.randrange(0, 1_000_000) for _ in range(5))]
        windows = [rng.randrange(1, 400_000) for _ in range(3)]
        core = tricolor.mmu(iv, [w / 1e9 for w in windows], 0, 1_000_000)
        assert [r["mmu"] for r in core] == pytest.approx([st.mmu([i[:2] for i in iv], w, 0, 1_000_000)
                                                         for w in windows]), (iv, windows)


def test_mmu_spec_example_and_lua_agrees():
    ms = 1_000_000
    assert st.mmu([(0, ms)], ms, 0, 10 * ms) == 0
    assert st.mmu([(0, ms)], 10 * ms, 0, 10 * ms) == pytest.approx(0.9)
    rng = random.Random(9)
    cases = []
    for _ in range(30):
        iv = sorted((s, s + rng.randrange(1, 30)) for s in (rng.randrange(0, 500) for _ in range(rng.randrange(1, 8))))
        cases.append((iv, rng.randrange(1, 200)))
    got = json.loads(lua("local lab = require('tricolor.lab'); local out = lab.array() for _, c in ipairs(" +
                         luarun.lua_literal([[[list(i) for i in iv], w] for iv, w in cases]) +
                         ") do out[#out + 1] = lab.mmu(c[1], c[2], 0, 600) end print(lab.json(out))"))
    assert got == pytest.approx([st.mmu(iv, w, 0, 600) for iv, w in cases])


def test_bootstrap_and_percentile():
    assert st.percentile([5, 1, 3, 2, 4], 50) == 3 and st.percentile([1, 2], 99) == 2
    assert st.median([3, 1, 2, 4]) == 2.5 and st.median([]) is None
    same = st.bootstrap_ratio([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same == (1.0, 1.0, 1.0) and st.verdict(*same[1:]) == "noise"
    ratio, lo, hi = st.bootstrap_ratio([1.0] * 8, [1.5, 1.6, 1.4, 1.55, 1.5, 1.45, 1.6, 1.5])
    assert 1.4 <= lo <= ratio <= hi <= 1.6 and st.verdict(lo, hi) == "slower"
    ratio, lo, hi = st.bootstrap_ratio([1.0] * 8, [0.9, 1.1, 1.0, 0.95, 1.05, 1.0, 0.9, 1.1])
    assert lo < 1 < hi and st.verdict(lo, hi) == "noise"


def test_lua_literal_round_trips_through_lua():
    value = {"a": [1, 2.5, "x\"y\\z\n"], "b": True, "c": {"d": None}}
    got = json.loads(lua("local lab = require('tricolor.lab'); print(lab.json(" + luarun.lua_literal(value) + "))"))
    assert got == {"a": [1, 2.5, "x\"y\\z\n"], "b": True, "c": {}}


def test_session_run_api_in_process():
    result = lab.run(Options("barrier", quick=True, params={"live_mib": 1, "turnover": 4.0}))
    assert schema.validate(result.doc) == [] and not result.interrupted
    assert set(result.runs) == {"hybrid", "dijkstra", "yuasa"}
    run = result.runs["hybrid"][0]
    assert run.samples and run.window[1] > run.window[0] and run.values["floating_mib"] is not None
    with pytest.raises(lab.LabInputError, match="pauses, gogc, barrier, limit"):
        lab.run(Options("nope"))
