"""The lab's text, CSV and JSON output, and its progress display.

Tables and the progress bar use rich (the ``lab`` extra: ``pip install
"tricolor[lab]"``) when it is installed; without it the same table is
printed in plain text and progress is one line per run. Progress goes to
stderr: a bar on a terminal, a line per finished run otherwise (logs and
the tests read those lines).

Files are written whole or not at all (a temporary file renamed into place),
so that Ctrl-C never leaves half a file.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TextIO

from . import metrics
from .questions import Column
from .session import Progress

try:  # optional: plain output without it
    import rich.box
    import rich.console
    import rich.progress
    import rich.table
    HAVE_RICH = True
except ImportError:  # pragma: no cover - exercised by a test that hides rich
    HAVE_RICH = False


def _num(x: float) -> str:
    """A number with three significant digits or so, never in e-notation."""
    a = abs(x)
    if a >= 100 or a == 0:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.4f}"


def fmt(value: Any, kind: str, row: Dict[str, Any]) -> str:
    """One cell. kind: str int ms mib s frac pct x gogc bool ci."""
    if kind == "ci":
        lo, hi = row.get("ratio_lo"), row.get("ratio_hi")
        return "-" if lo is None or hi is None or row.get("verdict") == "baseline" else f"{lo:.3f}-{hi:.3f}"
    if kind == "gogc":
        return "off" if value is None else str(value)
    if value is None:
        return "-"
    if kind == "str":
        return str(value)
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "int":
        return f"{value:.0f}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "frac":
        return f"{value:.3f}"
    if kind == "x":
        return f"{value:.3f}"
    return _num(value)


def spread(row: Dict[str, Any], key: str) -> str:
    """' ±N%': half the min-max range of the runs, against the median."""
    vs = row.get("samples", {}).get(key)
    med = row.get(key)
    if not vs or len(vs) < 2 or not isinstance(med, (int, float)) or not med:
        return ""
    half = (max(vs) - min(vs)) / 2 / abs(med) * 100
    return f" ±{half:.0f}%"


def cells(rows: Sequence[Dict[str, Any]], columns: Sequence[Column]) -> List[List[str]]:
    out = []
    for r in rows:
        line = []
        for key, _head, kind in columns:
            text = fmt(r.get(key), kind, r)
            if kind in ("ms", "mib", "s", "pct", "frac") and r.get(key) is not None:
                text += spread(r, key)
            line.append(text)
        out.append(line)
    return out


def headers(columns: Sequence[Column], provisional: Iterable[str]) -> List[str]:
    prov = set(provisional)
    return [head + ("*" if key in prov else "") for key, head, _kind in columns]


def plain_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, the first column left-aligned, the rest right."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]

    def line(cs: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cs, widths)))

    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def print_table(head: Sequence[str], rows: Sequence[Sequence[str]], title: str, out: TextIO) -> None:
    """The table on `out`: rich's when rich is there, plain otherwise."""
    if not HAVE_RICH:
        print(title, file=out)
        print(plain_table(head, rows), file=out)
        return
    table = rich.table.Table(title=title, title_justify="left", box=rich.box.SIMPLE_HEAD)
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    console = rich.console.Console(file=out, width=None if out.isatty() else 240, highlight=False)
    console.print(table)


def report(doc: Dict[str, Any], columns: Sequence[Column], notes: Sequence[str], out: TextIO) -> None:
    """The table with its notes, footnotes and warnings."""
    rows = doc["rows"]
    cols = list(columns)
    if len({r["lang"] for r in rows}) > 1:
        cols.insert(0, ("lang", "lang", "str"))
    cfg = doc["config"]
    prov = [k for k in cfg.get("provisional", []) if k in {c[0] for c in cols}]
    title = f"lab {doc['question']}: workload {cfg.get('workload', '?')}, {cfg.get('repeat', '?')} run(s) each" + (
        " (median ±half the min-max range)" if (cfg.get("repeat") or 1) > 1 else "")
    print_table(headers(cols, prov), cells(rows, cols), title, out)
    for n in notes:
        print(n, file=out)
    unmeasured = [k for k in prov if k in metrics.NOT_MEASURED]
    estimated = [k for k in prov if k not in metrics.NOT_MEASURED]
    if estimated:
        print(f"* provisional until the latency layer (issue 13) lands: {', '.join(estimated)} "
              "(delays and MMU from stop-the-world pauses only)", file=out)
    if unmeasured:
        print(f"* not measured: {', '.join(unmeasured)} ('-': the core does not count write-barrier work)",
              file=out)
    if cfg.get("interrupted"):
        print(f"interrupted: the table holds the {len(rows)} configuration(s) that finished", file=out)
    m = doc["machine"]
    print(f"machine: {m.get('cpus')} CPUs, load {m.get('load_before')} before, {m.get('load_after')} after", file=out)
    for w in m.get("warnings", []):
        print(f"warning: {w}", file=out)


# ---- files ----------------------------------------------------------------------


def finite(x: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def to_json(doc: Dict[str, Any]) -> str:
    return json.dumps(finite(doc), indent=2) + "\n"


def to_csv(doc: Dict[str, Any]) -> str:
    """One line per row: every column, and <metric>_min / <metric>_max."""
    rows = []
    for r in doc["rows"]:
        flat = {k: v for k, v in r.items() if k != "samples"}
        for k, vs in r.get("samples", {}).items():
            flat[f"{k}_min"], flat[f"{k}_max"] = min(vs), max(vs)
        rows.append({"question": doc["question"], **flat})
    fields: List[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields or ["question"], lineterminator="\n")
    w.writeheader()
    w.writerows(finite(rows))
    return buf.getvalue()


def write_atomic(path: str, write: Callable[[str], None]) -> None:
    """write(tmp) then rename tmp to path: a reader sees the old file or the new one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def emit(text: str, dest: str) -> None:
    """Text to stdout ("-") or to a file, atomically."""
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_atomic(dest, write)


# ---- progress -------------------------------------------------------------------


class LineProgress(Progress):
    """A line on stderr per finished run: for logs, pipes and tests."""

    def __init__(self, err: TextIO) -> None:
        self.err, self.total, self.n, self.title, self.t0 = err, 0, 0, "", time.perf_counter()

    def start(self, total: int, title: str) -> None:
        self.total, self.n, self.title = total, 0, title

    def step(self, label: str, seconds: float) -> None:
        self.n += 1
        print(f"{self.title} [{self.n}/{self.total}] {label}: {seconds:.2f} s", file=self.err, flush=True)


class BarProgress(Progress):  # pragma: no cover - needs a terminal
    """rich's progress bar on a terminal's stderr, gone when the run ends."""

    def __init__(self, err: TextIO) -> None:
        console = rich.console.Console(file=err)
        self.bar = rich.progress.Progress(
            rich.progress.TextColumn("{task.description}"), rich.progress.BarColumn(),
            rich.progress.MofNCompleteColumn(), rich.progress.TimeElapsedColumn(),
            rich.progress.TextColumn("{task.fields[last]}"), console=console, transient=True)
        self.task: Optional[int] = None
        self.bar.start()

    def start(self, total: int, title: str) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(title, total=total, last="")

    def step(self, label: str, seconds: float) -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=1, last=f"{label} {seconds:.1f} s")

    def stop(self) -> None:
        self.bar.stop()


def progress_for(err: TextIO) -> Progress:
    return BarProgress(err) if HAVE_RICH and err.isatty() else LineProgress(err)
