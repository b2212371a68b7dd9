#!/usr/bin/env python3
"""gclab.py — the `pause` (issue 3) and pacing (issue 4) benchmarks: build, run,
print tables and target lines, write records. Standard library only.

    python3 benchmarks/gclab.py            # everything, ~10-15 minutes
    GCLAB_QUICK=1 python3 benchmarks/gclab.py   # smoke run, ~2 minutes
    GCLAB_ONLY=pause python3 benchmarks/gclab.py   # or pacing

See benchmarks/README-gclab.md for what each workload measures.
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "build" / "gclab"
QUICK = os.environ.get("GCLAB_QUICK", "") not in ("", "0")
ONLY = set((os.environ.get("GCLAB_ONLY") or "pause,pacing").split(","))
SECONDS = float(os.environ.get("PAUSE_SECONDS") or (1 if QUICK else 10))
SIZES = [64] if QUICK else [64, 1024]
REPS = int(os.environ.get("GCLAB_REPS") or (1 if QUICK else 3))
HANDLES = int(os.environ.get("GCLAB_HANDLES") or 1_000_000)
MARK_N = int(os.environ.get("GCLAB_MARK_N") or (1 << 22 if QUICK else 1 << 24))
GOGCS = [25, 50, 100, 200, 400]
# bdwgc's space-time knob beside each gogc (GC_set_free_space_divisor: a
# larger divisor collects more often in a smaller heap; bdwgc's default is 3)
BDWGC_DIVISORS = [8, 5, 3, 2, 1]
# issue 16: a p99 is read over at least this many pauses; the concurrent rows
# at the largest size extend their window (min_pauses) until their runs,
# pooled, reach it
P99_MIN_PAUSES = int(os.environ.get("GCLAB_P99_PAUSES") or 100)
# ... but a run's window ends after this many seconds all the same (bounds make bench)
P99_MAX_SECONDS = float(os.environ.get("GCLAB_P99_MAX_SECONDS") or 240)
PACING_OPS = int(os.environ.get("GCLAB_PACING_OPS") or (50_000 if QUICK else 200_000))
TIMEOUT = float(os.environ.get("GCLAB_TIMEOUT") or 300)
DEFAULT_OUT = BIN / "results-quick.json" if QUICK else ROOT / "benchmarks" / "results-gclab.json"
OUT = Path(os.environ.get("GCLAB_OUT") or DEFAULT_OUT)
CC = os.environ.get("CC") or "gcc"
CFLAGS = ["-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-pthread", "-Icsrc/include"]

records: list[dict] = []
failures: list[str] = []
info: list[str] = []


def say(*a: object) -> None:
    print(*a, flush=True)


def handles_name() -> str:
    return f"{HANDLES // 1_000_000}M" if HANDLES % 1_000_000 == 0 else f"{HANDLES // 1000}K"


def size_name(mib: int) -> str:
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


# ---- building ---------------------------------------------------------------

def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def build() -> dict[str, bool]:
    """Build what the runs need; a failed piece only skips its rows."""
    BIN.mkdir(parents=True, exist_ok=True)
    ok: dict[str, bool] = {}
    r = sh(["make", "--no-print-directory", "lib"])
    lib = ROOT / "build" / "libtricolor.a"
    ok["tricolor"] = r.returncode == 0 and lib.exists()
    if not ok["tricolor"]:
        failures.append("build: make lib failed: tricolor rows skipped\n" + r.stderr[-2000:])
    gc = sh(["pkg-config", "--cflags", "--libs", "bdw-gc"])
    gclibs = gc.stdout.split() if gc.returncode == 0 else ["-lgc", "-lpthread", "-ldl"]
    lua = sh(["pkg-config", "--cflags", "lua5.4"])
    luainc = lua.stdout.split() if lua.returncode == 0 else ["-I/usr/include/lua5.4"]
    jobs = {
        "pause_tricolor": ([CC, *CFLAGS, "-DPAUSE_TRICOLOR", "benchmarks/pause.c", str(lib), "-lpthread", "-lm"],
                           ok["tricolor"]),
        "pacing": ([CC, *CFLAGS, "benchmarks/pacing.c", str(lib), "-lpthread", "-lm"], ok["tricolor"]),
        "pause_bdwgc": ([CC, *CFLAGS, "-DPAUSE_BDWGC", "benchmarks/pause.c", *gclibs], True),
        "pause_malloc": ([CC, *CFLAGS, "-DPAUSE_MALLOC", "benchmarks/pause.c"], True),
        "pause_hiccup": ([CC, *CFLAGS, "benchmarks/hiccup.c"], True),
        "gcbench_bdwgc": ([CC, *CFLAGS, "-DBENCH_BDWGC", "benchmarks/gcbench.c", *gclibs], True),
        "gclabclock.so": ([CC, "-O2", "-std=c11", "-D_GNU_SOURCE", "-shared", "-fPIC", *luainc,
                           "benchmarks/gclab_clock.c"], True),
    }
    for name, (cmd, want) in jobs.items():
        out = BIN / name
        if not want:
            out.unlink(missing_ok=True)  # never measure a stale binary
            ok[name] = False
            continue
        r = sh([*cmd, "-o", str(out)])
        ok[name] = r.returncode == 0
        if not ok[name]:
            out.unlink(missing_ok=True)
            failures.append(f"build {name} failed: its rows are skipped\n{r.stderr[-2000:]}")
    ok["go"] = False
    if shutil.which("go"):
        env = dict(os.environ, GOCACHE=str(BIN / "gocache"), GOFLAGS="-mod=mod", CGO_ENABLED="0")
        r = subprocess.run(["go", "build", "-o", str(BIN / "gclab-go"), "."], cwd=ROOT / "benchmarks" / "go",
                           capture_output=True, text=True, env=env)
        ok["go"] = r.returncode == 0
        if not ok["go"]:
            failures.append("build gclab-go failed: Go rows skipped\n" + r.stderr[-2000:])
        else:
            info.append("go " + sh(["go", "version"]).stdout.strip())
    else:
        failures.append("no Go toolchain (apt-get install golang-go; `make bench-gclab` tries): Go rows skipped")
    ok["lua"] = shutil.which("lua5.4") is not None
    if not ok["lua"]:
        failures.append("no lua5.4: Lua rows skipped")
    return ok


# ---- running ----------------------------------------------------------------

def run(cmd: list[str], workload: str, system: str, env: dict | None = None,
        timeout: float = TIMEOUT) -> dict[str, float] | None:
    """Run one benchmark process; return {metric: value} from its RESULT lines
    (the last value per metric), or None after recording a failure row."""
    e = dict(os.environ, **(env or {}))
    e.setdefault("LUA_CPATH", f"{BIN}/?.so;;")
    go = "GOGC" in (env or {})  # a gclab-go run: its idle mark workers' CPU comes from the trace
    if go:
        e["GODEBUG"] = ",".join(x for x in (e.get("GODEBUG"), "gctrace=1") if x)
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=e)
    except subprocess.TimeoutExpired:
        fail(workload, system, f"timed out after {timeout:.0f} s")
        return None
    got: dict[str, list[float]] = {}
    pauses: list[float] = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[0] == "RESULT":
            got.setdefault(parts[3], []).append(float(parts[4]))
        elif parts[:1] == ["PAUSES"]:  # every pause of the window, us
            pauses.extend(float(x) for x in parts[1:])
        elif parts[:1] == ["INFO"] and line not in info:
            info.append(line[5:])
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:160]
        fail(workload, system, f"exit {p.returncode} after {time.time() - t0:.1f} s: {why}")
        return None
    if go:
        go_add_idle(got, p.stderr)
    return ({k: v[-1] for k, v in got.items()} | {f"_samples_{k}": v for k, v in got.items()}  # type: ignore
            | {"_pauses": pauses})


GCTRACE_CPU = re.compile(r"^gc (\d+) .* ms clock, ([\d.]+)\+([\d.]+)/([\d.]+)/([\d.]+)\+([\d.]+) ms cpu")


def go_add_idle(got: dict[str, list[float]], stderr: str) -> None:
    """Go's GCCPUFraction leaves out the idle-priority mark workers ("free"
    time on an idle P), which on this 2-core machine with one mutator
    goroutine do most of Go's marking; tricolor's collector thread and
    bdwgc's markers are counted whole. So, like for like: add the idle
    workers' CPU of the window's cycles (gctrace's cpu fields
    sweep-term + assist/background/idle + mark-term, the idle one), keep
    Go's own figure as gc_cpu_noidle_s, and make gc_cpu the window's
    GC CPU over its wall time as tricolor's is."""
    first = got.get("gc_first", [1.0])[-1]
    idle = sum(float(m[5]) for m in (GCTRACE_CPU.match(line) for line in stderr.splitlines())
               if m and int(m[1]) >= first) / 1e3
    own = got.get("gc_cpu_s", [None])[-1]
    if own is None:
        return
    got["gc_cpu_noidle_s"] = [own]
    got["gc_cpu_idle_s"] = [idle]
    got["gc_cpu_s"] = [own + idle]
    wall = got.get("time", [0.0])[-1]
    if wall > 0:
        got["gc_cpu"] = [(own + idle) / wall]


def fail(workload: str, system: str, why: str) -> None:
    failures.append(f"{workload} {system}: FAILED: {why}")
    records.append({"workload": workload, "system": system, "metric": "status", "value": "FAILED: " + why,
                    "unit": "status"})
    say(f"  {workload} {system}: FAILED: {why}")


UNITS = {"pause_max": "us", "pause_p99": "us", "pauses": "count", "op_p50": "us", "op_p99": "us",
         "op_p999": "us", "op_max": "us", "op_mean": "us", "ops": "count", "gc_cpu": "fraction",
         "num_gc": "count", "assist": "ms", "live": "MiB", "peak_rss": "MiB", "build": "s", "time": "s",
         "ring_overflow": "bool", "heap_sys_max": "MiB", "runs": "count", "pause_max_worst": "us",
         "pause_p99_worst": "us", "op_max_worst": "us", "full": "ns/object", "mark_phase": "ns/object",
         "gaps_1ms": "count", "invol_csw": "count", "gc_cpu_s": "s", "sweep_cpu_s": "s",
         "gc_cpu_idle_s": "s", "gc_cpu_noidle_s": "s", "gc_first": "count",
         "pause_max_run": "us", "pause_max_build": "us", "roots": "count", "pauses_pooled": "count",
         "pause_p99_pooled": "us", "pause_max_pooled": "us", "collections": "count", "heap_sys": "MiB",
         "page_faults": "faults"}


def record(workload: str, system: str, res: dict[str, float]) -> None:
    for k, v in res.items():
        if not k.startswith("_"):
            records.append({"workload": workload, "system": system, "metric": k, "value": v,
                            "unit": UNITS.get(k, "")})


# ---- pause (issue 3) ----------------------------------------------------------

def pause_systems(ok: dict[str, bool]) -> list[tuple[str, list[str], dict]]:
    """(system, command without size/seconds, env) for every pause row."""
    rows: list[tuple[str, list[str], dict]] = []
    if ok.get("pause_tricolor"):
        exe = str(BIN / "pause_tricolor")
        rows.append(("tricolor-stw", [exe, "collector=stw"], {}))
        for col in ("incremental", "concurrent"):
            for bar in ("hybrid", "dijkstra", "yuasa"):
                rows.append((f"tricolor-{col}-{bar}", [exe, f"collector={col}", f"barrier={bar}"], {}))
        rows.append((f"tricolor-concurrent-hybrid-{handles_name()}handles",
                     [exe, "collector=concurrent", "barrier=hybrid", f"handles={HANDLES}"], {}))
    if ok.get("pause_bdwgc"):
        rows.append(("bdwgc-stw", [str(BIN / "pause_bdwgc")], {}))
        rows.append(("bdwgc-incremental", [str(BIN / "pause_bdwgc"), "incremental=1"], {}))
    if ok.get("pause_malloc"):  # the control: no collector, what the machine alone costs
        rows.append(("malloc", [str(BIN / "pause_malloc")], {}))
    if ok.get("pause_hiccup"):  # the machine alone: a clock loop beside a busy thread
        rows.append(("machine", [str(BIN / "pause_hiccup")], {}))
    if ok.get("go"):
        rows.append(("go", [str(BIN / "gclab-go"), "pause"], {"GOGC": "100"}))
        # the same live bytes as tricolor's 40-byte nodes: 40/24 as many of Go's 24-byte ones
        # (issue 16's heap_sys row compares heaps; "go" holds the same nodes in 60% of the bytes)
        rows.append(("go-samelive", [str(BIN / "gclab-go"), "pause"], {"GOGC": "100", "_scale": "1.6667"}))
    if ok.get("lua"):
        for mode in ("incremental", "generational"):
            rows.append((f"lua-{mode}", ["lua5.4", "benchmarks/pause.lua"], {"_mode": mode}))
    rows.append(("python", [sys.executable, "benchmarks/pause.py"], {"_mode": "acyclic"}))
    rows.append(("python-cyclic", [sys.executable, "benchmarks/pause.py"], {"_mode": "cyclic"}))
    return rows


def pause_cmd(base: list[str], env: dict, mib: int, seconds: float, wl: str, system: str) -> list[str]:
    exe = Path(base[0]).name
    if exe.startswith("pause_"):
        return [*base, f"size={mib}", f"seconds={seconds}", f"workload={wl}", f"system={system}"]
    if exe == "gclab-go":
        return [*base, str(round(mib * float(env.get("_scale", 1)))), str(seconds), "0", wl]
    return [*base, str(mib), str(seconds), env["_mode"]]


def p99_row(system: str, mib: int) -> bool:
    """Issue 16's p99 rows: the concurrent collector per barrier at the
    largest size, whose pauses are pooled over its runs to >= P99_MIN_PAUSES."""
    return mib == SIZES[-1] and system in (f"tricolor-concurrent-{b}" for b in ("hybrid", "dijkstra", "yuasa"))


def pooled(res: dict[str, float], runs: list[dict]) -> None:
    """The pauses of every run of a row in one list: their count, nearest-rank
    p99 and max (pause.c's quantile), and the heap's own whole-run max (the
    worst run's: every pause, building included)."""
    allp = sorted(p for r in runs for p in r.get("_pauses", []))
    if allp:
        res["pauses_pooled"] = len(allp)
        res["pause_p99_pooled"] = allp[max(1, min(len(allp), int(0.99 * len(allp) + 0.999999))) - 1]
        res["pause_max_pooled"] = allp[-1]
    for k in ("pause_max_run", "pause_max_build"):
        if any(k in r for r in runs):
            res[k] = max(r[k] for r in runs if k in r)


def bench_pause(ok: dict[str, bool]) -> dict[tuple[str, str], dict[str, float]]:
    """One process per (size, system); the rows the targets read (the default
    concurrent collector, with and without handles) run REPS times, and their
    row is the median of each metric, with the worst run beside it (`*_worst`).
    The concurrent rows of each barrier at the largest size go on past
    PAUSE_SECONDS until their runs have seen P99_MIN_PAUSES pauses together
    (min_pauses, at most P99_MAX_SECONDS a run): issue 16's p99 is over >= 100 pauses."""
    say(f"\n== pause: {SECONDS:g} s per row, sizes {', '.join(size_name(s) for s in SIZES)} ==")
    table: dict[tuple[str, str], dict[str, float]] = {}
    for mib in SIZES:
        wl = f"pause-{size_name(mib)}"
        for system, base, env in pause_systems(ok):
            cmd = pause_cmd(base, env, mib, SECONDS, wl, system)
            reps = REPS if system.startswith("tricolor-concurrent-hybrid") else 1
            if p99_row(system, mib):
                cmd += [f"min_pauses={-(-P99_MIN_PAUSES // reps)}", f"max_seconds={P99_MAX_SECONDS:g}"]
            runs = []
            for rep in range(reps):
                say(f"  {wl} {system}{f' ({rep + 1}/{reps})' if reps > 1 else ''} ...")
                res = run(cmd, wl, system, {k: v for k, v in env.items() if not k.startswith("_")},
                          timeout=(max(SECONDS, P99_MAX_SECONDS) if p99_row(system, mib) else SECONDS) + 240)
                if res is not None:
                    runs.append(res)
            if not runs:
                continue
            res = {k: statistics.median(r[k] for r in runs) for k in runs[0] if not k.startswith("_")}
            if len(runs) > 1:
                for k in ("pause_max", "pause_p99", "op_max"):
                    if k in res:
                        res[k + "_worst"] = max(r[k] for r in runs)
                res["runs"] = len(runs)
            pooled(res, runs)
            record(wl, system, res)
            table[(wl, system)] = res
    return table


# ---- pacing (issue 4) ---------------------------------------------------------

def med(samples: list[dict[str, float]], key: str) -> float | None:
    v = [s[key] for s in samples if key in s]
    return statistics.median(v) if v else None


def knob_name(sysname: str, gogc: int) -> str:
    """A curve point's system: tricolor-gogc100, go-gogc100, bdwgc-div3."""
    if sysname == "bdwgc":
        return f"bdwgc-div{BDWGC_DIVISORS[GOGCS.index(gogc)]}"
    return f"{sysname}-gogc{gogc}"


SWEEP_WL = {"gcbench": "gcbench-gogc", "pause": "pause-gogc-64M"}


def sweep_programs(ok: dict[str, bool], gogc: int, div: int) -> list[tuple[str, str, list[str], dict]]:
    """(kind, system, command, env) of one point of each curve: tricolor and
    Go at `gogc`, bdwgc at free-space divisor `div`; only what was built."""
    wl, b = SWEEP_WL["pause"], BIN
    progs = [
        ("gcbench", "tricolor", "pacing", [str(b / "pacing"), "gcbench", f"gogc={gogc}"], {}),
        ("gcbench", "go", "go", [str(b / "gclab-go"), "gcbench"], {"GOGC": str(gogc)}),
        ("gcbench", "bdwgc", "gcbench_bdwgc", [str(b / "gcbench_bdwgc")], {"BENCH_BDWGC_DIVISOR": str(div)}),
        ("pause", "tricolor", "pause_tricolor", [str(b / "pause_tricolor"), "size=64", f"ops={PACING_OPS}",
                                                 f"gogc={gogc}", f"workload={wl}", f"system=tricolor-gogc{gogc}"], {}),
        ("pause", "go", "go", [str(b / "gclab-go"), "pause", "64", "0", str(PACING_OPS), wl], {"GOGC": str(gogc)}),
        ("pause", "bdwgc", "pause_bdwgc", [str(b / "pause_bdwgc"), "size=64", f"ops={PACING_OPS}", f"divisor={div}",
                                           f"workload={wl}", f"system=bdwgc-div{div}"], {}),
    ]
    return [(kind, system, cmd, env) for kind, system, need, cmd, env in progs if ok.get(need)]


def bench_pacing(ok: dict[str, bool]) -> dict[str, dict]:
    """The gogc curves (GCBench and the pause workload, tricolor, Go and
    bdwgc, their samples interleaved), then the mark-worker rows."""
    out: dict[str, dict] = {"gcbench": {}, "pause": {}, "mark": {}}
    say(f"\n== pacing: gogc {GOGCS} (bdwgc: divisor {BDWGC_DIVISORS}), medians of {REPS} ==")
    for gogc, div in zip(GOGCS, BDWGC_DIVISORS):
        for rep in range(REPS):  # interleave tricolor, Go and bdwgc sample by sample
            for kind, system, cmd, env in sweep_programs(ok, gogc, div):
                r = run(cmd, SWEEP_WL[kind], knob_name(system, gogc), env)
                if r:
                    out[kind].setdefault((system, gogc), []).append(r)
        say(f"  gogc {gogc} done")
    for kind, wl in SWEEP_WL.items():
        for (sysname, gogc), samples in out[kind].items():
            res = {k: med(samples, k) for k in samples[0] if not k.startswith("_")}
            record(wl, knob_name(sysname, gogc), {k: v for k, v in res.items() if v is not None})
            out[kind][(sysname, gogc)] = res
    if ok.get("pacing"):
        bench_mark_workers(out["mark"])
    return out


def bench_mark_workers(out: dict) -> None:
    """Forced collections with 1 and 2 mark workers, per shape, into `out`."""
    say(f"\n== mark workers 1 vs 2: {MARK_N >> 20}M nodes, {REPS} processes x 3 collections each ==")
    for shape in ("list", "tree", "graph"):
        wl = f"mark-workers-{shape}-{MARK_N >> 20}M"
        samples: dict[int, list[float]] = {1: [], 2: []}
        phase: dict[int, list[float]] = {1: [], 2: []}
        for rep in range(REPS):
            for w in (1, 2):
                r = run([str(BIN / "pacing"), "mark", f"shape={shape}", f"n={MARK_N}", f"workers={w}",
                         "reps=3"], wl, f"tricolor-w{w}", timeout=600)
                if r:
                    samples[w] += r["_samples_full"]
                    phase[w] += r["_samples_mark_phase"]
        for w in (1, 2):
            if samples[w]:
                res = {"full": statistics.median(samples[w]), "mark_phase": statistics.median(phase[w])}
                record(wl, f"tricolor-w{w}", res)
                out[(shape, w)] = res
        say(f"  {shape} done")


# ---- reporting ----------------------------------------------------------------

def fmt(v: float | None, nd: int = 1) -> str:
    if v is None:
        return "-"
    if abs(v) >= 10000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def print_pause(table: dict) -> None:
    cols = [("pause_max", "pause max us", 1), ("pause_p99", "p99 us", 1), ("pauses", "pauses", 0),
            ("op_p50", "op p50 us", 1), ("op_p99", "op p99 us", 1), ("op_max", "op max us", 0),
            ("gc_cpu", "gc cpu", 2), ("num_gc", "gcs", 0), ("assist", "assist ms", 0),
            ("live", "live MiB", 0), ("heap_sys_max", "heap_sys MiB", 0), ("peak_rss", "rss MiB", 0)]
    head = f"{'workload':<11} {'system':<34}" + "".join(f"{c[1]:>13}" for c in cols)
    say("\n" + head)
    say("-" * len(head))
    for (wl, system), res in table.items():
        na = system.startswith("lua")  # pauses and GC CPU not observable in Lua
        cells = []
        for key, _, nd in cols:
            v = res.get(key)
            cells.append(f"{('n/a' if (na and key in ('pause_max', 'pause_p99', 'pauses', 'gc_cpu', 'num_gc')) else fmt(v, nd)):>13}")
        say(f"{wl:<11} {system:<34}" + "".join(cells))
    for (wl, system), res in table.items():
        if res.get("runs"):
            say(f"  {wl} {system}: median of {res['runs']:.0f} runs; worst run: pause max "
                f"{fmt(res.get('pause_max_worst'))} us, p99 {fmt(res.get('pause_p99_worst'))} us, "
                f"op max {fmt(res.get('op_max_worst'), 0)} us")
        if res.get("pause_p99_pooled") is not None and p99_row(system, int(wl.split("-")[1][:-1]) *
                                                               (1024 if wl.endswith("G") else 1)):
            say(f"  {wl} {system}: {res['pauses_pooled']:.0f} pauses pooled over {res.get('runs', 1):.0f} run(s): "
                f"p99 {fmt(res['pause_p99_pooled'])} us, max {fmt(res['pause_max_pooled'])} us; the heap's own "
                f"max over the whole run(s), building included: {fmt(res.get('pause_max_run'))} us "
                f"(building alone: {fmt(res.get('pause_max_build'))} us); roots {fmt(res.get('roots'), 0)}")
        if res.get("ring_overflow"):
            say(f"  note: {wl} {system}: the pause ring overflowed between samples; some pauses are missing")


def print_pacing(out: dict) -> None:
    for kind, wl in (("gcbench", "GCBench"), ("pause", "pause workload, 64 MiB, fixed ops")):
        if not out[kind]:
            continue
        say(f"\n{wl}: gogc curve (medians; bdwgc: free-space divisor beside each gogc)")
        say(f"{'system':<18} {'time s':>8} {'gc cpu':>7} {'gc cpu s':>9} {'sweep s':>8} {'idle s':>7} {'gcs':>6} "
            f"{'assist ms':>10} {'heap MiB':>9} {'rss MiB':>8} {'op max us':>10}")
        for (sysname, gogc), r in sorted(out[kind].items()):
            heap = r.get("heap_sys_max", r.get("heap_sys"))
            say(f"{knob_name(sysname, gogc):<18} {fmt(r.get('time'), 2):>8} {fmt(r.get('gc_cpu'), 2):>7} "
                f"{fmt(r.get('gc_cpu_s'), 3):>9} {fmt(r.get('sweep_cpu_s'), 3):>8} {fmt(r.get('gc_cpu_idle_s'), 3):>7} "
                f"{fmt(r.get('num_gc', r.get('collections')), 0):>6} {fmt(r.get('assist'), 0):>10} {fmt(heap, 0):>9} "
                f"{fmt(r.get('peak_rss'), 0):>8} {fmt(r.get('op_max'), 0):>10}")
    if out["mark"]:
        say(f"\nmark_workers: forced collection, ns/object (medians)")
        say(f"{'shape':<6} {'w1 full':>8} {'w2 full':>8} {'speed-up':>9} {'w1 mark':>8} {'w2 mark':>8} {'speed-up':>9}")
        for shape in ("list", "tree", "graph"):
            a, b = out["mark"].get((shape, 1)), out["mark"].get((shape, 2))
            if a and b:
                say(f"{shape:<6} {a['full']:>8.1f} {b['full']:>8.1f} {a['full'] / b['full']:>8.2f}x "
                    f"{a['mark_phase']:>8.1f} {b['mark_phase']:>8.1f} {a['mark_phase'] / b['mark_phase']:>8.2f}x")


# ---- space-time (issue 16): GC CPU-seconds against peak heap ------------------

SPACETIME_KINDS = (("gcbench", "GCBench"), ("pause", "pause workload, 64 MiB, fixed ops"))


def curve(points: dict, sysname: str, less: str | None = None) -> list[tuple[float, float, str]]:
    """(peak RSS MiB, GC CPU s, knob) of one system's sweep, by peak RSS;
    with `less`, that metric (s) taken off each point's GC CPU."""
    out = [(r["peak_rss"], r["gc_cpu_s"] - ((r.get(less) or 0) if less else 0), knob_name(s, g))
           for (s, g), r in points.items()
           if s == sysname and r.get("peak_rss") and r.get("gc_cpu_s") is not None]
    return sorted(out)


def interp(pts: list[tuple[float, float, str]], x: float) -> float:
    """The curve's GC CPU at peak heap x: linear in log(peak heap) between
    the two measured points around x (x within the curve's range)."""
    for (x0, y0, _), (x1, y1, _) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            if x1 == x0:
                return max(y0, y1)
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return pts[0][1]  # a one-point curve


def compare_curves(mine: list, peer: list) -> dict | None:
    """tricolor's curve against a peer's at equal peak heap, over the range
    both cover: both are piecewise linear (in log heap), so their ratio is
    checked at every measured point of either inside the overlap and at its
    ends; returns the worst (largest) tricolor / peer ratio and where, or None
    when the peak heaps do not overlap (see disjoint())."""
    if not mine or not peer:
        return None
    lo, hi = max(mine[0][0], peer[0][0]), min(mine[-1][0], peer[-1][0])
    if lo > hi:
        return disjoint(mine, peer)
    xs = sorted({lo, hi} | {p[0] for p in mine + peer if lo <= p[0] <= hi})
    worst = None
    for x in xs:
        a, b = interp(mine, x), interp(peer, x)
        r = a / b if b > 0 else math.inf
        if worst is None or r > worst["ratio"]:
            worst = {"ratio": r, "heap": x, "tricolor": a, "peer": b}
    worst.update(points=len(xs), lo=lo, hi=hi)
    return worst


def disjoint(mine: list, peer: list) -> dict | None:
    """Curves with no peak heap in common: a GC's CPU does not grow with its
    heap, so a peer all at smaller heaps that spends less GC CPU at its largest
    heap than tricolor at its smallest beats tricolor at every heap (worst
    ratio: those two points), and a peer all at larger heaps that spends more
    at its smallest than tricolor at its largest loses at every heap. Anything
    else cannot be told without extrapolating: None."""
    near_mine, near_peer = (mine[0], peer[-1]) if peer[-1][0] < mine[0][0] else (mine[-1], peer[0])
    smaller = peer[-1][0] < mine[0][0]
    if (smaller and near_peer[1] < near_mine[1]) or (not smaller and near_peer[1] > near_mine[1]):
        r = near_mine[1] / near_peer[1] if near_peer[1] > 0 else math.inf
        return {"ratio": r, "heap": near_mine[0], "tricolor": near_mine[1], "peer": near_peer[1], "points": 2,
                "lo": near_peer[0] if smaller else near_mine[0], "hi": near_mine[0] if smaller else near_peer[0],
                "disjoint": 1}
    return None


def spacetime(pacing: dict) -> None:
    """Print and record tricolor's GC CPU-seconds against Go's and bdwgc's at
    equal peak heap, per workload of the sweep; draw the curves."""
    curves: dict[str, dict[str, list]] = {}
    for kind, title in SPACETIME_KINDS:
        curves[kind] = {s: curve(pacing.get(kind, {}), s) for s in ("tricolor", "go", "bdwgc")}
        mine = curves[kind]["tricolor"]
        for peer in ("go", "bdwgc"):
            c = compare_curves(mine, curves[kind][peer])
            name = f"spacetime_{kind}_{peer}"
            if c is None:
                say(f"GC CPU-s at equal peak RSS, {title}, tricolor / {peer}: n/a (no overlap of peak RSS: "
                    f"tricolor {span(mine)}, {peer} {span(curves[kind][peer])})")
                records.append({"workload": "_spacetime", "system": f"tricolor/{peer}", "metric": name,
                                "value": "n/a", "unit": "status"})
                continue
            status = "OK" if c["ratio"] <= 1.0 else "MISS"
            how = (f"no common peak RSS: {peer}'s nearest point at {c['lo' if c['hi'] == c['heap'] else 'hi']:.0f} MiB"
                   if c.get("disjoint") else f"{c['points']} points over {c['lo']:.0f}-{c['hi']:.0f} MiB")
            say(f"GC CPU-s at equal peak RSS, {title}, tricolor / {peer}: worst {c['ratio']:.2f}x at "
                f"{c['heap']:.0f} MiB ({c['tricolor']:.3f} vs {c['peer']:.3f} s; {how}) (goal <= 1.0x) {status}")
            units = {"ratio": "x", "heap": "MiB", "tricolor": "s", "peer": "s", "points": "count", "lo": "MiB",
                     "hi": "MiB", "disjoint": "bool"}
            c.setdefault("disjoint", 0)
            for k, unit in units.items():
                records.append({"workload": "_spacetime", "system": f"tricolor/{peer}", "metric": f"{name}_{k}",
                                "value": c[k], "unit": unit})
            records.append({"workload": "_spacetime", "system": f"tricolor/{peer}", "metric": name,
                            "value": status, "unit": "status"})
        like_for_like_go(kind, title, pacing.get(kind, {}), curves[kind]["go"])
    png = BIN / "spacetime-quick.png" if QUICK else ROOT / "benchmarks" / "spacetime.png"
    try:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import plot_spacetime
        why = plot_spacetime.draw(curves, [t for _, t in SPACETIME_KINDS], png)
    except ImportError as e:
        why = f"plot_spacetime: {e}"
    say(f"space-time plot: {png.relative_to(ROOT)}" if why is None else f"space-time plot not drawn: {why}")


def like_for_like_go(kind: str, title: str, points: dict, go: list) -> None:
    """A note beside the Go row, not its goal: Go's GC CPU leaves out its
    sweep (a background goroutine and the allocating ones) while
    tricolor's counts its collector's sweep, so tricolor's curve without
    its sweep_cpu_s is the like-for-like one against Go's."""
    c = compare_curves(curve(points, "tricolor", less="sweep_cpu_s"), go)
    if c is None:
        return
    say(f"  (like for like with Go, whose sweep is not counted: tricolor without its sweep / go: worst "
        f"{c['ratio']:.2f}x at {c['heap']:.0f} MiB, {c['tricolor']:.3f} vs {c['peer']:.3f} s)")
    records.append({"workload": "_spacetime", "system": "tricolor/go", "metric": f"spacetime_{kind}_go_nosweep",
                    "value": c["ratio"], "unit": "x"})


def span(pts: list) -> str:
    return f"{pts[0][0]:.0f}-{pts[-1][0]:.0f} MiB" if pts else "not measured"


def target(name: str, value: float | None, limit: float, unit: str, text: str | None = None) -> None:
    if value is None:
        status, shown = "n/a", "n/a"
    else:
        status = "OK" if value <= limit else "MISS"
        shown = f"{value:.0f} {unit}" if unit else f"{value:.2f}"
    say(f"{text or name} = {shown} (target <= {limit:g} {unit}) {status}".replace("  ", " "))
    records.append({"workload": "_targets", "system": "tricolor", "metric": name, "value": status,
                    "unit": "status"})
    if value is not None:
        records.append({"workload": "_targets", "system": "tricolor", "metric": name + "_value",
                        "value": value, "unit": unit or "x"})


def targets(pause: dict, pacing: dict) -> None:
    say("\n== targets (issues 3 and 4) ==")
    small, big = f"pause-{size_name(SIZES[0])}", f"pause-{size_name(SIZES[-1])}"
    for sysname, label in (("tricolor-concurrent-hybrid", "concurrent"),
                           (f"tricolor-concurrent-hybrid-{handles_name()}handles",
                            f"concurrent with {HANDLES:,} handles")):
        b, s = pause.get((big, sysname), {}), pause.get((small, sysname), {})
        sz = size_name(SIZES[-1]).replace("G", " GiB").replace("M", " MiB")
        target(f"{sysname}_pause_max_{big}", b.get("pause_max"), 100, "us", f"{label} max pause at {sz}")
        p99 = b.get("pause_p99_pooled") if p99_row(sysname, SIZES[-1]) else b.get("pause_p99")
        target(f"{sysname}_pause_p99_{big}", p99, 50, "us", f"{label} p99 pause at {sz}"
               + (f" (over {b.get('pauses_pooled', 0):.0f} pauses pooled)" if p99_row(sysname, SIZES[-1]) else ""))
        ratio = (b["pause_max"] / s["pause_max"]) if b.get("pause_max") and s.get("pause_max") and big != small else None
        target(f"{sysname}_pause_growth", ratio, 2, "",
               f"{label} max pause {size_name(SIZES[-1])} / {size_name(SIZES[0])}")
    for wl in (small, big) if small != big else (small,):
        r = pause.get((wl, "tricolor-concurrent-hybrid"), {})
        target(f"concurrent_op_max_{wl}", r.get("op_max"), 1000, "us",
               f"worst mutator operation, concurrent, pacing+assists, {wl}")
        c = pause.get((wl, "malloc"), {})
        if c:
            say(f"  (control, no collector: malloc op max {fmt(c.get('op_max'), 0)} us, "
                f"p99.9 {fmt(c.get('op_p999'))} us; tricolor p99.9 {fmt(r.get('op_p999'))} us)")
        m = pause.get((wl, "machine"), {})
        if m:
            say(f"  (control, no heap: a clock loop beside a busy thread saw a {fmt(m.get('op_max'), 0)} us gap, "
                f"{fmt(m.get('gaps_1ms'), 0)} gaps over 1 ms in {SECONDS:g} s)")
    for shape in ("list", "tree", "graph"):
        a, b = pacing.get("mark", {}).get((shape, 1)), pacing.get("mark", {}).get((shape, 2))
        sp = a["full"] / b["full"] if a and b else None
        if sp is None:
            status = "n/a"
        else:
            status = "OK" if sp >= 1.6 else "MISS"
        say(f"mark_workers 2 vs 1, {shape} {MARK_N >> 20}M = {'n/a' if sp is None else f'{sp:.2f}x'} "
            f"(target >= 1.6x) {status}")
        records.append({"workload": "_targets", "system": "tricolor", "metric": f"mark_workers_speedup_{shape}",
                        "value": status, "unit": "status"})
        if sp is not None:
            records.append({"workload": "_targets", "system": "tricolor",
                            "metric": f"mark_workers_speedup_{shape}_value", "value": sp, "unit": "x"})


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = sh(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": str(os.cpu_count()), "cpu": cpu,
            "kernel": platform.release(), "commit": commit, "loadavg": " ".join(map(str, os.getloadavg()))}


def merge_into_results_json() -> None:
    """Merge this run's records into benchmarks/results.json (owned by run.py):
    only when run.py has not changed in the last 10 minutes (its owner may be
    rewriting the file); drop this driver's old records, append the new ones."""
    path = ROOT / "benchmarks" / "results.json"
    runpy = ROOT / "benchmarks" / "run.py"
    last = sh(["git", "log", "-1", "--format=%ct", "--", "benchmarks/run.py"]).stdout.strip()
    newest = max(int(last or 0), int(runpy.stat().st_mtime) if runpy.exists() else 0)
    if time.time() - newest < 600:
        say(f"not merging into {path.name}: benchmarks/run.py changed {time.time() - newest:.0f} s ago")
        return
    if not path.exists():  # run.py writes it first; a file of gclab records alone would pass for its run
        say(f"not merging: {path.relative_to(ROOT)} does not exist yet (run.py writes it)")
        return
    try:
        old = json.loads(path.read_text())
    except ValueError:
        say(f"not merging into {path.name}: it is not valid JSON")
        return
    mine = {r["workload"] for r in records} | {"_run-gclab", "_targets-gclab"}
    kept = [r for r in old if not (r.get("workload") in mine or str(r.get("workload", "")).startswith(
        ("pause-", "gcbench-gogc", "mark-workers-")))]
    renamed = [dict(r, workload="_targets-gclab") if r["workload"] == "_targets" else r for r in records]
    path.write_text(json.dumps(kept + renamed, indent=1) + "\n")
    say(f"merged {len(records)} records into {path.relative_to(ROOT)}")


def main() -> int:
    t0 = time.time()
    m = machine()
    say(f"gclab: {m['date']}, nproc {m['nproc']}, {m['cpu']}, load average {m['loadavg']}"
        f"{' (QUICK)' if QUICK else ''}")
    ok = build()
    pause = bench_pause(ok) if "pause" in ONLY else {}
    pacing = bench_pacing(ok) if "pacing" in ONLY else {"mark": {}, "gcbench": {}, "pause": {}}
    end_load = " ".join(map(str, os.getloadavg()))
    say(f"\n== results: {m['date']}, nproc {m['nproc']}, {m['cpu']}, commit {m['commit']}, "
        f"load average {m['loadavg']} at start, {end_load} at end ==")
    if pause:
        print_pause(pause)
        say("(Lua: pauses and GC CPU are not observable, its collector works inside allocations: see op "
            "latency. Python: pauses are cyclic-gc collections timed through gc.callbacks. bdwgc "
            "incremental: GC CPU not observable.)")
    print_pacing(pacing)
    if pacing.get("gcbench") or pacing.get("pause"):
        say("\n== space-time (issue 16): GC CPU-seconds at equal peak RSS ==")
        spacetime(pacing)
    targets(pause, pacing)
    header = dict(m, loadavg_end=end_load, quick=str(QUICK), seconds=f"{time.time() - t0:.0f}",
                  pause_seconds=str(SECONDS), reps=str(REPS))
    run_recs = [{"workload": "_run-gclab", "system": "", "metric": k, "value": v, "unit": ""}
                for k, v in header.items()]
    run_recs += [{"workload": "_run-gclab", "system": "", "metric": "info", "value": i, "unit": ""} for i in info]
    records[:0] = run_recs
    if failures:
        say("\nfailures and skips:")
        for f in failures:
            say("  " + f.replace("\n", "\n    "))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(records, indent=1) + "\n")
    say(f"\nwrote {len(records)} records to {OUT} in {time.time() - t0:.0f} s")
    if not QUICK and os.environ.get("GCLAB_MERGE", "1") != "0" and ONLY >= {"pause", "pacing"}:
        merge_into_results_json()
    return 0


if __name__ == "__main__":
    sys.exit(main())
