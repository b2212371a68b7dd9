"""The lab's questions: what each one runs, and what its rows say.

A question turns the options into a plan, a list of ``Config``s (a heap
configuration, workload parameters, and the columns that name it in the
table). ``run()`` executes the plan ``repeat`` times, interleaved (A B C A B
C ...: slow drifts of a shared machine hit every configuration alike), and
makes one row per configuration: the median of each number, and every run's
value under ``samples``. Then the question adds what it concludes (flatness,
paired ratios, where the heap passed the limit) to the rows and returns
notes, one line each, that the text output prints under the table.

The same plans exist in bindings/lua/tricolor/lab.lua; tests/python/test_lab.py
compares the two.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import golang
from . import stats as st
from .runner import Run
from .workloads import MiB, LabInputError, Workload, resolve

Column = Tuple[str, str, str]  # (row key, header, format: see output.fmt)


@dataclass
class Options:
    question: str
    quick: bool = False
    repeat: Optional[int] = None        # None: the question's default
    workload: Optional[str] = None      # None: the question's default
    params: Dict[str, Any] = field(default_factory=dict)
    sizes: Optional[List[float]] = None  # pauses: live sizes, MiB
    barriers: str = "hybrid"            # pauses: "all" adds dijkstra and yuasa
    collector: str = "concurrent"       # barrier, gogc, limit


@dataclass
class Config:
    label: str
    keys: Dict[str, Any]                          # the columns naming this configuration
    heap: Dict[str, Any] = field(default_factory=dict)
    params: Dict[str, Any] = field(default_factory=dict)
    measure_live: bool = False
    execute: Optional[Callable[["Config"], Dict[str, Any]]] = None  # None: run_once in Python


@dataclass
class Context:
    """What a question's plan and finish need besides the options."""
    opts: Options
    workload: Workload
    params: Dict[str, Any]                        # the workload's, question defaults applied
    config: Dict[str, Any]                        # the result's "config" (a question may add to it)
    warnings: List[str]                           # lines for machine["warnings"]
    run: Callable[[Config], Run]


class Question:
    name = ""
    doc = ""
    workload = "churn"
    defaults: Dict[str, Dict[str, Any]] = {}        # workload -> parameters, default run
    quick_defaults: Dict[str, Dict[str, Any]] = {}  # workload -> parameters, --quick
    quick_repeat = 1
    needs_live = False                              # the workload must take live_mib
    columns: List[Column] = []

    def plan(self, ctx: Context) -> List[Config]:
        raise NotImplementedError

    def finish(self, rows: List[Dict[str, Any]]) -> List[str]:
        """Add the question's conclusions to the rows (of every language);
        return the note lines."""
        return []


# ---- pauses ---------------------------------------------------------------------

class Pauses(Question):
    name = "pauses"
    doc = "pause and mutator-delay distribution against live heap size, per collector"
    defaults = {"churn": {"payload": 1000}}
    quick_defaults = {"churn": {"payload": 1000, "turnover": 3.0}}
    needs_live = True
    sizes = [16.0, 64.0, 256.0, 1024.0]
    quick_sizes = [4.0, 16.0]
    columns = [("collector", "collector", "str"), ("barrier", "barrier", "str"),
               ("live_mib", "live MiB", "mib"), ("pause_max_ms", "max pause ms", "ms"),
               ("pause_p99_ms", "p99 pause ms", "ms"), ("delay_max_ms", "max delay ms", "ms"),
               ("mmu_1ms", "MMU 1ms", "frac"), ("mmu_10ms", "MMU 10ms", "frac"),
               ("mmu_100ms", "MMU 100ms", "frac"), ("cycles", "cycles", "int")]

    def plan(self, ctx: Context) -> List[Config]:
        sizes = ctx.opts.sizes or (self.quick_sizes if ctx.opts.quick else self.sizes)
        ctx.config["sizes_mib"] = sizes
        barriers = ["hybrid", "dijkstra", "yuasa"] if ctx.opts.barriers == "all" else ["hybrid"]
        ctx.config["barriers"] = barriers
        kinds = [("stw", "hybrid")] + [(c, b) for c in ("incremental", "concurrent") for b in barriers]
        return [Config(f"{c}/{b} {size:g} MiB", {"collector": c, "barrier": b, "size_mib": size},
                       {"collector": c, "barrier": b}, {"live_mib": size}, measure_live=True)
                for size in sizes for c, b in kinds]

    def finish(self, rows: List[Dict[str, Any]]) -> List[str]:
        return flatness(rows)


def flatness(rows: List[Dict[str, Any]]) -> List[str]:
    """Per collector: the largest size's max pause over the smallest's, in
    each row as flat_ratio; a note line per collector (flat: below 2x)."""
    notes = []
    groups: Dict[Tuple[Any, ...], List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["lang"], r["collector"], r["barrier"]), []).append(r)
    for (lang, collector, barrier), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["size_mib"])
        lo, hi = rs[0].get("pause_max_ms"), rs[-1].get("pause_max_ms")
        ratio = hi / lo if lo and hi is not None and len(rs) > 1 else None
        for r in rs:
            r["flat_ratio"] = ratio
        if ratio is None:
            continue
        who = collector if collector == "stw" else f"{collector}/{barrier}"
        verdict = "flat" if ratio < 2 else "NOT flat"
        shown = f"{ratio:.2f}" if ratio < 10 else f"{ratio:.0f}"
        notes.append(f"{lang} {who}: max pause x{shown} from {rs[0]['size_mib']:g} to "
                     f"{rs[-1]['size_mib']:g} MiB live: {verdict}")
    return notes


# ---- gogc -------------------------------------------------------------------------

class Gogc(Question):
    name = "gogc"
    doc = "GOGC 25 ... 800 and off against GC CPU, peak heap, peak RSS, wall time and cycles"
    workload = "gcbench"
    defaults = {"gcbench": {"long_lived_depth": 16, "max_depth": 16}}
    quick_defaults = {"gcbench": {"long_lived_depth": 13, "max_depth": 14, "array_size": 100_000}}
    values: List[Optional[int]] = [25, 50, 100, 200, 400, 800, None]
    quick_values: List[Optional[int]] = [50, 100, 400, None]
    columns = [("gogc", "GOGC", "gogc"), ("gc_cpu", "GC CPU", "pct"), ("peak_alloc_mib", "peak heap MiB", "mib"),
               ("peak_sys_mib", "peak heap_sys MiB", "mib"), ("peak_rss_mib", "peak RSS MiB", "mib"),
               ("wall_s", "wall s", "s"), ("cycles_total", "cycles", "int")]

    def plan(self, ctx: Context) -> List[Config]:
        values = self.quick_values if ctx.opts.quick else self.values
        ctx.config["gogc_values"] = values
        plan = [Config(f"gogc={'off' if g is None else g}", {"gogc": g},
                       {"collector": ctx.opts.collector, "gogc": g}) for g in values]
        go = golang.available(ctx.workload.name)
        ctx.config["go"] = go.version
        if go.note:
            ctx.warnings.append(go.note)
        if go.version:
            plan += [Config(f"go gogc={'off' if g is None else g}", {"lang": "go", "gogc": g},
                            params=dict(ctx.params), execute=golang.runner(g)) for g in values]
        return plan


# ---- barrier ------------------------------------------------------------------------

class Barrier(Question):
    name = "barrier"
    doc = "the three write barriers on one workload, interleaved, with a paired comparison"
    workload = "random-graph"
    defaults = {"random-graph": {"live_mib": 8}}
    quick_defaults = {"random-graph": {"live_mib": 2, "turnover": 1.0}}
    quick_repeat = 2
    barriers = ["hybrid", "dijkstra", "yuasa"]
    columns = [("barrier", "barrier", "str"), ("mutator_s", "mutator s", "s"),
               ("ratio", "vs hybrid", "x"), ("ci", "95% interval", "ci"), ("verdict", "verdict", "str"),
               ("floating_mib", "floating MiB", "mib"), ("stw_ms", "STW ms", "ms"),
               ("pause_max_ms", "max pause ms", "ms"), ("cycles", "cycles", "int"),
               ("barrier_slow", "slow path", "int"), ("shaded", "shaded", "int")]

    def plan(self, ctx: Context) -> List[Config]:
        ctx.config["baseline"] = "hybrid"
        return [Config(b, {"barrier": b}, {"collector": ctx.opts.collector, "barrier": b},
                       measure_live=True) for b in self.barriers]

    def finish(self, rows: List[Dict[str, Any]]) -> List[str]:
        return paired(rows, "mutator_s", "hybrid")


def paired(rows: List[Dict[str, Any]], metric: str, base_name: str) -> List[str]:
    """The paired comparison against the baseline row of each language:
    ratio (median of per-repeat ratios), its 95% bootstrap interval, verdict."""
    notes = []
    for r in rows:
        base = next((b for b in rows if b["lang"] == r["lang"] and b["barrier"] == base_name), None)
        if base is None:
            continue
        ratio, lo, hi = st.bootstrap_ratio(base["samples"].get(metric, []), r["samples"].get(metric, []))
        r.update(ratio=ratio, ratio_lo=lo, ratio_hi=hi, verdict=st.verdict(lo, hi) if r is not base else "baseline")
        if r is not base and ratio is not None:
            say = {"noise": "no difference beyond noise", "slower": "slower, beyond noise",
                   "faster": "faster, beyond noise"}.get(r["verdict"], r["verdict"])
            notes.append(f"{r['lang']} {r['barrier']}: {metric} x{ratio:.3f} of {base_name} "
                         f"(95% interval {lo:.3f}-{hi:.3f}, {r['runs']} pairs): {say}")
    return notes


# ---- limit ----------------------------------------------------------------------------

class Limit(Question):
    name = "limit"
    doc = "memory limits from 2x live down to 0.9x live, gogc off and on: peak memory, GC CPU, the 50% guard"
    defaults = {"churn": {"live_mib": 32, "turnover": 2.0}}
    quick_defaults = {"churn": {"live_mib": 4, "turnover": 1.5}}
    needs_live = True
    factors = [2.0, 1.5, 1.25, 1.1, 1.0, 0.9]
    quick_factors = [2.0, 1.1, 0.9]
    columns = [("gogc", "GOGC", "gogc"), ("limit_x", "limit/live", "x"), ("limit_mib", "limit MiB", "mib"),
               ("peak_alloc_mib", "peak heap MiB", "mib"), ("peak_sys_mib", "peak heap_sys MiB", "mib"),
               ("peak_rss_mib", "peak RSS MiB", "mib"), ("gc_machine", "GC CPU/machine", "pct"),
               ("over_limit", "over limit", "bool"), ("limit_wait_ms", "limit wait ms", "ms"),
               ("cycles_total", "cycles", "int"), ("wall_s", "wall s", "s")]

    def plan(self, ctx: Context) -> List[Config]:
        probe = ctx.run(Config("calibration", {}, {"collector": ctx.opts.collector}, measure_live=True))
        live = probe.values["live_mib"]
        ctx.config["live_mib_measured"] = live
        factors = self.quick_factors if ctx.opts.quick else self.factors
        ctx.config["limit_factors"] = factors
        plan = [Config("no limit, gogc=100", {"gogc": 100, "limit_x": None, "limit_mib": None},
                       {"collector": ctx.opts.collector})]
        for gogc in (None, 100):
            for f in factors:
                limit = int(f * live * MiB)
                plan.append(Config(f"limit={f:g}x gogc={'off' if gogc is None else gogc}",
                                   {"gogc": gogc, "limit_x": f, "limit_mib": limit / MiB},
                                   {"collector": ctx.opts.collector, "gogc": gogc, "memory_limit": limit}))
        return plan

    def finish(self, rows: List[Dict[str, Any]]) -> List[str]:
        cpus = os.cpu_count() or 1
        notes = []
        for r in rows:
            r["gc_machine"] = None if r.get("gc_cpu") is None else r["gc_cpu"] / cpus
            if r.get("limit_mib") is not None and r.get("peak_alloc_mib") is not None:
                r["over_limit"] = any(v > r["limit_mib"] for v in r["samples"].get("peak_alloc_mib", []))
        for lang in sorted({r["lang"] for r in rows}):
            for gogc in (None, 100):
                over = [r for r in rows if r["lang"] == lang and r.get("gogc") == gogc
                        and r.get("limit_x") is not None and r.get("over_limit")]
                name = "off" if gogc is None else gogc
                if not over:
                    notes.append(f"{lang} gogc={name}: the heap stayed under every limit")
                    continue
                top = max(over, key=lambda r: r["limit_x"])
                notes.append(f"{lang} gogc={name}: the heap passed the limit at {top['limit_x']:g}x live and "
                             f"below: the collector let it grow rather than collect back to back (GC CPU "
                             f"{100 * (top.get('gc_machine') or 0):.0f}% of the machine there; the guard caps it at 50%)")
        return notes


class Why(Question):
    """The worked example of ``python -m tricolor why`` as a lab question: a
    walk through heap.roots, path_to, referrers and retained on a small
    heap. Its rows are facts, not timings: no workload, no repeats."""
    name = "why"
    doc = "why an object is alive: roots, path_to, referrers and retained on a worked example"
    workload = "why-example"
    columns = [("section", "section", "str"), ("object", "object", "str"), ("detail", "detail", "str")]

    def answer(self, opts: Options) -> List[Dict[str, Any]]:
        """The example's rows in this interpreter (see lab_rows)."""
        from .. import why
        res = why.run(argparse.Namespace(collector=opts.collector))
        return lab_rows(res["rows"], res["summary"], "python")


def lab_rows(rows: List[Dict[str, Any]], summary: Dict[str, Any], lang: str) -> List[Dict[str, Any]]:
    """tricolor.why's rows with the lab's common keys (lang, label, runs,
    samples), a readable detail, and the summary as a "close" row; the Lua
    lab (tricolor/lab.lua, run_why) makes the same rows."""
    out = [{"section": "close", "object": "doc", "objects_after": summary["objects_after_close"]}] + rows
    for r in out:
        r.update(lang=lang, label=f"{r['section']}: {r.get('object', '')}", runs=1, samples={})
        r["detail"] = why_detail(r)
    return out


def why_detail(r: Dict[str, Any]) -> str:
    sec = r["section"]
    if sec == "roots":
        return f"a {r['kind']} root"
    if sec == "close":
        return f"{r['objects_after']} objects after cache[0] = session[0] = None; collect()"
    if sec == "path":
        steps = r["steps"]
        return "unreachable" if steps is None else " -> ".join(f"[{s['via']}] {s['object']}" for s in steps)
    if sec == "referrers":
        return f"held by {r['referrer']}"
    if sec == "retained":
        return f"{r['bytes']} bytes, {r['objects']} objects"
    return f"{r['action']}: {r['freed']} freed"


QUESTIONS: Dict[str, Question] = {q.name: q for q in (Pauses(), Gogc(), Barrier(), Limit(), Why())}


def get(name: str) -> Question:
    """The question called `name`; a LabInputError naming the choices."""
    if name not in QUESTIONS:
        raise LabInputError(f"unknown question {name!r}: choose one of {', '.join(QUESTIONS)}")
    return QUESTIONS[name]


def prepare(opts: Options) -> Tuple[Question, Workload, Dict[str, Any]]:
    """Check the options: the question, the workload and its parameters
    (LabInputError, naming the choices, for anything unknown)."""
    q = get(opts.question)
    if q.name == "why":
        if opts.workload or opts.params:
            raise LabInputError("lab why takes no --workload or --param: it is a worked example "
                                "(python -m tricolor why tells the story)")
        return q, resolve("churn"), {}
    spec = opts.workload or q.workload
    if spec.endswith(".lua"):
        raise LabInputError(f"workload {spec!r} is a Lua script: run it with --lang lua")
    wl = resolve(spec)
    if q.needs_live and not wl.steady:
        steady = ", ".join(n for n, w in _builtins().items() if w.steady)
        raise LabInputError(f"the {q.name} question needs a workload with a live_mib parameter: {steady}, "
                            "or package.module:function")
    defaults = (q.quick_defaults if opts.quick else q.defaults).get(wl.name, {})
    params = wl.with_defaults({**defaults, **opts.params})
    return q, wl, params


def _builtins() -> Dict[str, Workload]:
    from .workloads import WORKLOADS
    return WORKLOADS
