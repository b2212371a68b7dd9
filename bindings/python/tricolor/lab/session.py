"""One lab session: a question's plan executed in Python, in Lua or both,
into the result object of SPEC's "Lab" section:

    {"question": ..., "config": {...}, "rows": [{...}, ...], "machine": {...}}

(schema.py writes the shape down). ``run()`` returns a ``LabResult``: that
object (``doc``), plus what the plots want and JSON does not carry (each
Python run's timeline and GC intervals), the notes under the table, and
whether Ctrl-C cut the session short (then the rows hold what finished).
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import tricolor

from . import metrics, questions
from . import stats as st
from .questions import Config, Context, Options
from .runner import Run, WorkloadFailed, run_once

LANGS = ("python", "lua", "both")


class LabRunError(Exception):
    """A workload raised: its traceback and the configuration it failed in."""

    def __init__(self, tb: str, where: Optional[str]) -> None:
        super().__init__(tb.rstrip() + (f"\nin configuration: {where}" if where else ""))
        self.tb, self.where = tb, where


class Progress:
    """What run() reports to: the output module draws it (a bar on a
    terminal, a line per run otherwise). This one says nothing."""

    def start(self, total: int, title: str) -> None: ...
    def step(self, label: str, seconds: float) -> None: ...
    def stop(self) -> None: ...


@dataclass
class LabResult:
    doc: Dict[str, Any]
    runs: Dict[str, List[Run]] = field(default_factory=dict)  # Python runs by config label
    notes: List[str] = field(default_factory=list)
    interrupted: bool = False


def machine(before: List[float], after: Optional[List[float]], warnings: List[str]) -> Dict[str, Any]:
    """The machine section: what ran where, and how busy the machine was."""
    cpus = os.cpu_count() or 1
    busy = before[0] > 0.5 * cpus or (after is not None and after[0] > cpus + 0.5)
    warn = list(warnings)
    if busy:
        warn.insert(0, f"the machine was busy (load {before[0]:.2f} before, "
                       f"{after[0] if after else float('nan'):.2f} after, on {cpus} CPUs): timings are noisy")
    return {"cpus": cpus, "platform": platform.platform(), "python": platform.python_version(),
            "tricolor": tricolor.__version__, "load_before": before, "load_after": after,
            "busy": busy, "warnings": warn}


def loadavg() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [0.0, 0.0, 0.0]


def aggregate(cfg: Config, lang: str, values: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One row: the configuration's columns, the median of every number over
    its runs, and every run's value under "samples"."""
    row: Dict[str, Any] = {"lang": lang, "label": cfg.label, **cfg.keys, "runs": len(values)}
    keys = [k for k in values[0] if k not in row] if values else []
    row["samples"] = {}
    for k in keys:
        vs = [v.get(k) for v in values]
        if all(isinstance(x, bool) for x in vs):
            row[k] = any(vs)
        elif all(isinstance(x, (int, float)) for x in vs):
            row[k] = st.median(vs)
            row["samples"][k] = vs
        else:
            row[k] = None
    row["lang"] = cfg.keys.get("lang", lang)
    return row


def execute(cfg: Config, wl: Any, params: Dict[str, Any]) -> Run:
    """One run of one configuration (a Go run, or a Python one)."""
    if cfg.execute is not None:
        return Run(cfg.execute(cfg))
    try:
        return run_once(wl, {**params, **cfg.params}, cfg.heap, measure_live=cfg.measure_live)
    except WorkloadFailed as e:
        where = ", ".join(f"{k}={v}" for k, v in {**cfg.heap, **params, **cfg.params}.items())
        raise LabRunError(e.tb, f"{cfg.label} ({wl.name}: {where})") from None


def run_python(opts: Options, progress: Progress, config: Dict[str, Any],
               warnings: List[str]) -> LabResult:
    """The question's plan in this interpreter, repeats interleaved."""
    q, wl, params = questions.prepare(opts)
    if isinstance(q, questions.Why):
        config.update(workload=q.workload, params={}, repeat=1, quick=opts.quick, collector=opts.collector)
        return LabResult({"question": q.name, "config": config, "rows": q.answer(opts), "machine": {}})
    ctx = Context(opts, wl, params, config, warnings, lambda c: execute(c, wl, params))
    repeat = opts.repeat or (q.quick_repeat if opts.quick else 3)
    config.update(workload=wl.name, params=_plain(params), repeat=repeat, quick=opts.quick)
    done: Dict[int, List[Run]] = {}
    plan: List[Config] = []
    interrupted = False
    try:
        progress.start(1, f"lab {q.name}: calibrating")
        plan = q.plan(ctx)
        done = {i: [] for i in range(len(plan))}
        progress.start(repeat * len(plan), f"lab {q.name}")
        for _ in range(repeat):
            for i, cfg in enumerate(plan):
                t = time.perf_counter()
                done[i].append(execute(cfg, wl, params))
                progress.step(cfg.label, time.perf_counter() - t)
    except KeyboardInterrupt:
        interrupted = True
    rows = [aggregate(cfg, "python", [r.values for r in done[i]]) for i, cfg in enumerate(plan) if done[i]]
    runs = {plan[i].label: rs for i, rs in done.items() if rs and plan[i].execute is None}
    return LabResult({"question": q.name, "config": config, "rows": rows, "machine": {}}, runs, [], interrupted)


def _plain(params: Dict[str, Any]) -> Dict[str, Any]:
    """The parameters that JSON can carry (a demo's log callable cannot)."""
    return {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool)) or v is None}


def run(opts: Options, lang: str = "python", progress: Optional[Progress] = None,
        lua: Optional[Callable[..., Dict[str, Any]]] = None) -> LabResult:
    """Answer opts.question in `lang` ("python", "lua" or "both"). `lua` is
    the Lua side's runner (luarun.run; a parameter so tests can stand in)."""
    progress = progress or Progress()
    before, warnings = loadavg(), []
    config: Dict[str, Any] = {"lang": lang, "interrupted": False,
                              "provisional": sorted(metrics.PROVISIONAL)}
    result = LabResult({"question": opts.question, "config": config, "rows": [], "machine": {}})
    try:
        if lang in ("python", "both"):
            result = run_python(opts, progress, config, warnings)
        if lang in ("lua", "both") and not result.interrupted:
            if lua is None:
                from .luarun import run as lua
            side = lua(opts, progress)
            result.doc["rows"] += side["rows"]
            result.interrupted = bool(side["config"].get("interrupted"))
            for k, v in side["config"].items():
                config.setdefault(k, v)
            warnings += [w for w in side["machine"].get("warnings", []) if not w.startswith("the machine was busy")]
            config["lua"] = side["machine"].get("lua")
    finally:
        progress.stop()
    result.notes = questions.get(opts.question).finish(result.doc["rows"])
    config["interrupted"] = result.interrupted
    config["lang"] = lang
    result.doc["question"] = opts.question
    result.doc["machine"] = machine(before, loadavg(), warnings)
    return result
