"""plot_spacetime.py — issue 16's space-time figure: GC CPU-seconds against
peak heap (peak RSS) for tricolor, Go and bdwgc, one panel per workload of
gclab.py's gogc sweep, each point labelled with its knob (gogc or bdwgc's
free-space divisor). Drawn off-screen (Agg) with matplotlib; gclab.py calls
draw() and says so when matplotlib is missing (`make setup` installs it).
"""
from __future__ import annotations

from pathlib import Path

STYLE = {"tricolor": ("tab:blue", "o"), "go": ("tab:green", "s"), "bdwgc": ("tab:red", "^")}


def draw(curves: dict, titles: list[str], png: Path) -> str | None:
    """curves: {workload: {system: [(peak_rss MiB, gc_cpu s, knob)]}}.
    Writes `png`; returns None, or why nothing was drawn."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed (make setup installs it)"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    kinds = [k for k in curves if any(curves[k].values())]
    if not kinds:
        return "no curve was measured"
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.5 * len(kinds), 4.8), squeeze=False)
    for ax, kind, title in zip(axes[0], kinds, titles):
        for system, pts in curves[kind].items():
            if not pts:
                continue
            color, marker = STYLE.get(system, ("black", "x"))
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.plot(xs, ys, marker=marker, color=color, label=system)
            for x, y, knob in pts:
                ax.annotate(knob.split("-", 1)[-1], (x, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=color)
        ax.set_xscale("log")  # heaps span 10x; GC CPU stays linear, as a point at 0 s is a real figure
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("peak heap: peak RSS (MiB)")
        ax.set_ylabel("GC CPU (s)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("GC CPU-seconds against peak heap (lower left is better)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png)
    return None
