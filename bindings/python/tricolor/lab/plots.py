"""Figures with matplotlib (the ``plot`` extra: ``pip install "tricolor[plot]"``),
drawn off-screen with the Agg backend.

One function per figure returns a ``matplotlib.figure.Figure`` (the tests
read its lines, labels and values), and ``save`` writes it to a .png or .svg
file, atomically. Every axis carries its unit, ticks step 1-2-5, and every
panel with more than one series has a legend.

- ``lab_figure(question, doc, runs)``: one figure per lab question;
- ``bench_figure(label, run)``: heap over time with goal and limit lines and
  pause marks, the pause (and, with the latency layer, delay) histogram,
  and the MMU curve of one run (``python -m tricolor bench --plot``);
- ``compare_figure(runs)``: the same panels with one series per
  configuration (``python -m tricolor compare --plot``).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import metrics
from .output import write_atomic
from .runner import Run

EXTENSIONS = (".png", ".svg")
MMU_WINDOWS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def matplotlib_missing() -> Optional[str]:
    """None when matplotlib imports, else the line that says how to get it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed: pip install 'tricolor[plot]' (or pip install matplotlib)"
    return None


def _plt() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure(ncols: int, title: str, width: float = 5.0) -> Tuple[Any, List[Any]]:
    fig, axes = _plt().subplots(1, ncols, figsize=(width * ncols, 4.0), squeeze=False, constrained_layout=True)
    fig.suptitle(title)
    return fig, list(axes[0])


def ticks(ax: Any, xlog: bool = False, ylog: bool = False) -> None:
    """1-2-5 ticks on both axes, plain numbers (no 1e3 offsets)."""
    from matplotlib import ticker
    for axis, log in ((ax.xaxis, xlog), (ax.yaxis, ylog)):
        lo, hi = axis.get_view_interval()
        if log:
            wide = lo > 0 and hi / lo > 300  # over 2.5 decades: 1-2-5 labels would collide
            axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
            axis.set_minor_formatter(ticker.NullFormatter())
        else:
            axis.set_major_locator(ticker.MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
    ax.grid(True, which="major", alpha=0.3)


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize="small")


def save(fig: Any, path: str) -> None:
    """Write fig as PNG or SVG (by the extension), whole or not at all."""
    ext = path.lower().rsplit(".", 1)[-1]
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=ext, dpi=80))
    _plt().close(fig)


def _series(rows: Sequence[Dict[str, Any]], *keys: str) -> Dict[Tuple[Any, ...], List[Dict[str, Any]]]:
    out: Dict[Tuple[Any, ...], List[Dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return out


def _style(lang: str) -> str:
    return {"python": "-", "lua": "--", "go": ":"}.get(lang, "-")


# ---- the lab's questions ---------------------------------------------------------


def pauses_figure(doc: Dict[str, Any]) -> Any:
    """Max and p99 pause (log-log) and MMU at 10 ms against the live size."""
    fig, (a1, a2) = _figure(2, "pauses: do they stay flat as the live heap grows?")
    for (lang, col, bar), rs in _series(doc["rows"], "lang", "collector", "barrier").items():
        rs = sorted(rs, key=lambda r: r["live_mib"] or 0)
        name = f"{lang} {col}" + ("" if col == "stw" else f"/{bar}")
        x = [r["live_mib"] for r in rs]
        line, = a1.plot(x, [max(r["pause_max_ms"] or 0, 1e-4) for r in rs], _style(lang), marker="o",
                        label=f"{name} max")
        a1.plot(x, [max(r["pause_p99_ms"] or 0, 1e-4) for r in rs], ":", marker=".", color=line.get_color(),
                label=f"{name} p99")
        a2.plot(x, [r["mmu_10ms"] for r in rs], _style(lang), marker="o", color=line.get_color(), label=name)
    a1.set(xscale="log", yscale="log", xlabel="live heap (MiB)", ylabel="pause (ms)",
           title="stop-the-world pauses")
    a2.set(xscale="log", xlabel="live heap (MiB)", ylabel="MMU at 10 ms (fraction)", ylim=(0, 1.05),
           title="minimum mutator utilisation, 10 ms window" + (
               "" if metrics.LAYER else " (pauses only)"))
    ticks(a1, True, True)
    ticks(a2, True, False)
    _legend(a1)
    _legend(a2)
    return fig


def _gogc_x(g: Optional[int], values: Sequence[Optional[int]]) -> float:
    """Where GOGC g sits on the log axis: "off" right of the largest value."""
    top = max((v for v in values if v is not None), default=100)
    return float(2 * top if g is None else g)


def gogc_figure(doc: Dict[str, Any]) -> Any:
    """GC CPU and peak heap against GOGC, and the space-time curve."""
    fig, (a1, a2, a3) = _figure(3, "gogc: the space-time trade-off", width=4.6)
    values = doc["config"].get("gogc_values") or sorted({r["gogc"] for r in doc["rows"]}, key=lambda g: g or 1e9)
    for (lang,), rs in _series(doc["rows"], "lang").items():
        rs = sorted(rs, key=lambda r: _gogc_x(r["gogc"], values))
        x = [_gogc_x(r["gogc"], values) for r in rs]
        name = "Go" if lang == "go" else f"tricolor ({lang})"
        a1.plot(x, [100 * (r["gc_cpu"] or 0) for r in rs], _style(lang), marker="o", label=name)
        a2.plot(x, [r["peak_alloc_mib"] for r in rs], _style(lang), marker="o", label=name)
        a3.plot([r["peak_alloc_mib"] for r in rs], [100 * (r["gc_cpu"] or 0) for r in rs], _style(lang),
                marker="o", label=name)
        for r in rs:
            a3.annotate("off" if r["gogc"] is None else str(r["gogc"]), (r["peak_alloc_mib"], 100 * (r["gc_cpu"] or 0)),
                        fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ticks(ax, True, False)
        xs = [_gogc_x(g, values) for g in values]
        ax.set_xticks(xs, ["off" if g is None else str(g) for g in values])
        ax.set_xlabel("GOGC (percent)")
    a1.set(ylabel="GC CPU (% of wall time)", title="GC CPU")
    a2.set(ylabel="peak heap (MiB)", title="peak heap_alloc")
    a3.set(xscale="log", xlabel="peak heap (MiB)", ylabel="GC CPU (% of wall time)", title="space against time")
    ticks(a3, True, False)
    for ax in (a1, a2, a3):
        _legend(ax)
    return fig


def barrier_figure(doc: Dict[str, Any]) -> Any:
    """Mutator time per barrier (min-max bars) and the paired ratio's interval."""
    fig, (a1, a2) = _figure(2, "barrier: is the difference real or noise?")
    ticks(a1)  # before set_xticks, which pins the barrier names
    ticks(a2)
    langs = sorted({r["lang"] for r in doc["rows"]})
    width = 0.8 / max(len(langs), 1)
    for k, lang in enumerate(langs):
        rs = [r for r in doc["rows"] if r["lang"] == lang]
        x = [i + k * width for i in range(len(rs))]
        med = [r["mutator_s"] or 0 for r in rs]
        lo = [m - min(r["samples"].get("mutator_s", [m])) for m, r in zip(med, rs)]
        hi = [max(r["samples"].get("mutator_s", [m])) - m for m, r in zip(med, rs)]
        a1.bar(x, med, width, yerr=[lo, hi], capsize=4, label=lang)
        a1.set_xticks([i + width * (len(langs) - 1) / 2 for i in range(len(rs))], [r["barrier"] for r in rs])
        pts = [(i, r) for i, r in enumerate(rs) if r.get("ratio") is not None]
        a2.errorbar([i + k * width for i, _ in pts], [r["ratio"] for _, r in pts],
                    yerr=[[r["ratio"] - r["ratio_lo"] for _, r in pts], [r["ratio_hi"] - r["ratio"] for _, r in pts]],
                    fmt="o", capsize=4, label=lang)
        a2.set_xticks(range(len(rs)), [r["barrier"] for r in rs])
    a2.axhline(1.0, color="grey", linestyle="--", label="no difference")
    a1.set(ylabel="mutator time (s)", title="mutator time (median, min-max)")
    a2.set(ylabel="ratio to hybrid (x)", title="paired ratio, 95% bootstrap interval")
    _legend(a1)
    _legend(a2)
    return fig


def limit_figure(doc: Dict[str, Any], runs: Optional[Dict[str, List[Run]]] = None) -> Any:
    """Peak memory and GC CPU against the limit, and the tightest run's heap."""
    fig, (a1, a2, a3) = _figure(3, "limit: memory against the limit, and the 50% guard", width=4.6)
    limited = [r for r in doc["rows"] if r.get("limit_mib") is not None]
    for (lang, gogc), rs in _series(limited, "lang", "gogc").items():
        rs = sorted(rs, key=lambda r: r["limit_mib"])
        x = [r["limit_mib"] for r in rs]
        name = f"{lang} gogc={'off' if gogc is None else gogc}"
        line, = a1.plot(x, [r["peak_sys_mib"] for r in rs], _style(lang), marker="o", label=f"{name} heap_sys")
        a1.plot(x, [r["peak_rss_mib"] for r in rs], ":", marker="x", color=line.get_color(), label=f"{name} RSS")
        a2.plot(x, [100 * (r.get("gc_machine") or 0) for r in rs], _style(lang), marker="o", label=name)
    if limited:
        lims = sorted({r["limit_mib"] for r in limited})
        a1.plot(lims, lims, color="black", linestyle="--", label="the limit")
    a2.axhline(50, color="red", linestyle="--", label="50% guard")
    a1.set(xlabel="memory limit (MiB)", ylabel="peak (MiB)", title="peak memory")
    a2.set(xlabel="memory limit (MiB)", ylabel="GC CPU (% of the machine)", title="GC CPU")
    ticks(a1)
    ticks(a2)
    tight = min(limited, key=lambda r: (r["gogc"] is not None, r["limit_mib"]), default=None)
    if tight and runs and runs.get(tight["label"]):
        timeline(a3, runs[tight["label"]][0], f"python {tight['label']}")
    else:
        a3.set_axis_off()
    _legend(a1)
    _legend(a2)
    return fig


def lab_figure(question: str, doc: Dict[str, Any], runs: Optional[Dict[str, List[Run]]] = None) -> Any:
    """The figure of a lab question's result."""
    if question == "limit":
        return limit_figure(doc, runs)
    return {"pauses": pauses_figure, "gogc": gogc_figure, "barrier": barrier_figure}[question](doc)


# ---- one run: heap over time, histograms, MMU ------------------------------------------


def pause_times(run: Run) -> List[Tuple[float, float]]:
    """(seconds since the run started, pause ms) of each pause in the trace."""
    return [((a - run.start_ns) / 1e9, (b - a) / 1e6) for a, b, k in run.events if k == "pause"]


def timeline(ax: Any, run: Run, title: str) -> None:
    """Heap over time with its goal and limit lines and a mark per pause."""
    t = [s.t for s in run.samples]
    ax.plot(t, [s.heap_alloc / 2**20 for s in run.samples], label="heap_alloc")
    ax.plot(t, [s.heap_goal / 2**20 if s.heap_goal else math.nan for s in run.samples], "--", label="heap_goal")
    if run.limit:
        ax.axhline(run.limit / 2**20, color="red", linestyle=":", label="memory limit")
    marks = pause_times(run)
    ax.plot([x for x, _ in marks], [0.0] * len(marks), "|", color="black", markersize=12, label="pauses")
    ax.set(xlabel="time (s)", ylabel="heap (MiB)", title=title)
    ax.set_ylim(bottom=0)
    ticks(ax)
    _legend(ax)


def delay_times(run: Run) -> List[float]:
    """The length (ms) of every mutator-delay interval in the trace (pauses,
    assists, incremental slices, lazy sweeps, limit waits)."""
    return [(b - a) / 1e6 for a, b, _k in run.events]


def pause_hist(ax: Any, named: Sequence[Tuple[str, List[float]]], what: str = "pause") -> None:
    """Histogram of pause (or delay) lengths (ms), log bins, one step line per series."""
    every = [p for _, ps in named for p in ps if p > 0]
    if every:
        lo, hi = math.log10(min(every)), math.log10(max(every))
        bins = [10 ** (lo + (hi - lo + 1e-9) * i / 20) for i in range(21)]
        for name, ps in named:
            ax.hist([p for p in ps if p > 0], bins=bins, histtype="step", label=name)
    ax.set(xscale="log", xlabel=f"{what} (ms)", ylabel=f"{what}s (count)", title=f"{what} histogram")
    ticks(ax, True, False)
    from matplotlib import ticker
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    _legend(ax)


def mmu_plot(ax: Any, named: Sequence[Tuple[str, Run]]) -> None:
    """MMU against the window length, one curve per run."""
    for name, run in named:
        events = [e for e in run.events if metrics.LAYER or e[2] == "pause"]
        pts = metrics.mmu_curve(events, run.start_ns, run.window[1], MMU_WINDOWS_MS)
        ax.plot([w for w, _ in pts], [u for _, u in pts], marker=".", label=name)
    ax.set(xscale="log", xlabel="window (ms)", ylabel="MMU (fraction)", ylim=(0, 1.05),
           title="minimum mutator utilisation" + ("" if metrics.LAYER else " (pauses only)"))
    ticks(ax, True, False)
    _legend(ax)


def bench_figure(label: str, run: Run) -> Any:
    fig, (a1, a2, a3, a4) = _figure(4, label, width=4.6)
    timeline(a1, run, "heap over time")
    pause_hist(a2, [("pauses", [ms for _, ms in pause_times(run)])])
    pause_hist(a3, [("delays", delay_times(run))], "delay")
    mmu_plot(a4, [("this run", run)])
    return fig


def compare_figure(named: Sequence[Tuple[str, Run]]) -> Any:
    fig, (a1, a2, a3, a4) = _figure(4, "compare", width=4.6)
    for name, run in named:
        a1.plot([s.t for s in run.samples], [s.heap_alloc / 2**20 for s in run.samples], label=name)
    a1.set(xlabel="time (s)", ylabel="heap_alloc (MiB)", title="heap over time")
    ticks(a1)
    _legend(a1)
    pause_hist(a2, [(name, [ms for _, ms in pause_times(run)]) for name, run in named])
    pause_hist(a3, [(name, delay_times(run)) for name, run in named], "delay")
    mmu_plot(a4, named)
    return fig
