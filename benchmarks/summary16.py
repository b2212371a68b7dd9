"""summary16.py — issue 16's table as `make bench` measured it: one row per
goal, tricolor beside the peer of the same run, the ratio, the goal and
whether it held. run.py calls rows() with its medians and gclab.py's records
and prints the table last; see benchmarks/README.md ("The issue 16 summary").

Standard library only. A row whose figures were not measured (a workload
left out by BENCH_ONLY, a peer that did not build) says n/a, never held.
"""
from __future__ import annotations

import re

HELD, MISSED, NA = "held", "MISSED", "n/a"
BARRIERS = ("hybrid", "dijkstra", "yuasa")
PY_OPS = (("new", "new 3-slot object", 1.3), ("store", "store int", 2.0), ("store_ref", "store reference", 2.0),
          ("load", "load int", 2.0), ("load_ref", "load reference", 2.0))
MARK_GOALS = (("list", 6.0), ("tree", 10.0), ("graph", 40.0))
NO_PAUSE = "not measured (gclab.py's pause table did not run)"
NO_SWEEP = "not measured (gclab.py's gogc sweep did not run)"


def size_key(name: str) -> int:
    """Bytes or objects of a size label: 64M, 1G, 16M, 256K."""
    m = re.fullmatch(r"(\d+)([KMG]?)", name)
    if not m:
        return -1
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def status(ok: bool | None) -> str:
    return NA if ok is None else HELD if ok else MISSED


def fmt(v: float | None, unit: str = "", nd: int = 3) -> str:
    if v is None:
        return "-"
    s = f"{v:.{nd}g}" if abs(v) < 10 ** nd else f"{v:.0f}"
    return f"{s} {unit}".strip()


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


class Figures:
    """run.py's medians (workload, system, metric) and gclab.py's records
    (workload, system, metric) -> value, one lookup for both."""

    def __init__(self, median, gclab: list[dict], info: dict | None = None):
        self.median = median
        self.info = info or {}  # run.py's INFO lines, "<workload>.<key>" -> value
        self.g = {(r["workload"], r["system"], r["metric"]): r["value"] for r in gclab
                  if isinstance(r.get("value"), (int, float))}
        self.gs = {(r["workload"], r["system"], r["metric"]): r["value"] for r in gclab}

    def gl(self, wl: str, system: str, metric: str) -> float | None:
        return self.g.get((wl, system, metric))

    def pause_sizes(self) -> list[str]:
        """The pause table's sizes measured, smallest first (64M, 1G)."""
        sizes = {w.split("-", 1)[1] for (w, _, _) in self.g if re.fullmatch(r"pause-\d+[MG]", w)}
        return sorted(sizes, key=size_key)


def row(name, mine, peer, r, goal, ok, note="") -> dict:
    return {"row": name, "tricolor": mine, "peer": peer, "ratio": "-" if r is None else f"{r:.2f}x",
            "goal": goal, "status": status(ok), "note": note}


def gcbench_rows(f: Figures) -> list[dict]:
    t = f.median(("gcbench", "tricolor", "time"))
    out = []
    for peer, goal in (("bdwgc", 0.8), ("malloc", 1.2)):
        p = f.median(("gcbench", peer, "time"))
        r = ratio(t, p)
        go = f.median(("gcbench", "go", "time"))
        out.append(row(f"1 GCBench wall time vs {peer}", fmt(t, "s"), f"{peer} {fmt(p, 's')}", r,
                       f"<= {goal}x", None if r is None else r <= goal,
                       f"medians of interleaved runs; go {fmt(go, 's')}"))
    return out


def memory_rows(f: Figures) -> list[dict]:
    sizes = f.pause_sizes()
    if not sizes:
        return [row("2 heap_sys at the pause workload vs Go", "-", "-", None, "<= 1.0x", None, NO_PAUSE),
                row("2 peak RSS / live at the pause workload", "-", "-", None, "<= 2.2x", None, NO_PAUSE)]
    wl = f"pause-{sizes[-1]}"
    tc = "tricolor-concurrent-hybrid"
    hs, go_hs = f.gl(wl, tc, "heap_sys_max"), f.gl(wl, "go", "heap_sys_max")
    bd_hs = f.gl(wl, "bdwgc-stw", "heap_sys_max")
    r = ratio(hs, go_hs)
    rss, live = f.gl(wl, tc, "peak_rss"), f.gl(wl, tc, "live")
    r2 = ratio(rss, live)
    peers = "; ".join(f"{s} rss {fmt(f.gl(wl, s, 'peak_rss'), 'MiB')}" for s in ("go", "bdwgc-stw"))
    # like for like: the same trees are 40-byte nodes here and 24-byte ones in Go, so each heap
    # beside its own live heap, and the cycles each window saw (a longer window sees more peaks)
    go_live = f.gl(wl, "go", "live")
    own = (f"per own live: tricolor {fmt(ratio(hs, live))}x of {fmt(live, 'MiB')} in "
           f"{fmt(f.gl(wl, tc, 'num_gc'), 'cycles')}, go {fmt(ratio(go_hs, go_live))}x of "
           f"{fmt(go_live, 'MiB')} in {fmt(f.gl(wl, 'go', 'num_gc'), 'cycles')}; go at tricolor's live bytes "
           f"(go-samelive, {fmt(f.gl(wl, 'go-samelive', 'live'), 'MiB')}): heap_sys "
           f"{fmt(f.gl(wl, 'go-samelive', 'heap_sys_max'), 'MiB')}, peak RSS "
           f"{fmt(f.gl(wl, 'go-samelive', 'peak_rss'), 'MiB')}")
    return [row(f"2 heap_sys, {wl} gogc=100, vs Go", fmt(hs, "MiB"), f"go {fmt(go_hs, 'MiB')}", r, "<= 1.0x",
                None if r is None else r <= 1.0, f"bdwgc heap {fmt(bd_hs, 'MiB')}; {own}"),
            row(f"2 peak RSS / live, {wl}", fmt(rss, "MiB"), f"live {fmt(live, 'MiB')}", r2, "<= 2.2x",
                None if r2 is None else r2 <= 2.2, peers)]


def mark_rows(f: Figures, workloads: list[str]) -> list[dict]:
    out = []
    for shape, goal in MARK_GOALS:
        sizes = sorted((w.split(":")[2] for w in workloads if w.startswith(f"mark:{shape}:")), key=size_key)
        wl = f"mark:{shape}:{sizes[-1]}" if sizes else f"mark:{shape}:16M"
        t = f.median((wl, "tricolor", "full_mark"))
        b = f.median((wl, "bdwgc", "full_mark"))
        r = ratio(t, b)
        ok = None if t is None or b is None else t <= goal and t <= b
        note = ", ".join(f"{p} {fmt(f.median((wl, p, 'full_mark')), 'ns')}" for p in ("walk-prefetch", "walk"))
        tc, bc = f.median((wl, "tricolor", "full_mark_cpu")), f.median((wl, "bdwgc", "full_mark_cpu"))
        note += f"; CPU time tricolor {fmt(tc, 'ns')}, bdwgc {fmt(bc, 'ns')}"  # wall >> CPU: it waited for a CPU
        w1 = f.gl(f"mark-workers-{wl[5:].replace(':', '-')}", "tricolor-w1", "full")
        note += f"; mark_workers table w1 {fmt(w1, 'ns')}" if w1 is not None else ""
        note += (f"; tricolor collector {f.info.get('mark.tricolor_collector', '?')}, mark_workers "
                 f"{f.info.get('mark.tricolor_mark_workers', '?')}")
        out.append(row(f"3 full mark {wl[5:]} ns/object", fmt(t, "ns"), f"bdwgc {fmt(b, 'ns')}", r,
                       f"<= {goal:g} ns and <= bdwgc", ok, note))
    return out


def pause_rows(f: Figures) -> list[dict]:
    sizes = f.pause_sizes()
    if not sizes:
        return [row("4 max / p99 pause per barrier", "-", "-", None, "<= 100 / 50 us", None, NO_PAUSE)]
    wl = f"pause-{sizes[-1]}"
    go_max, go_p99 = f.gl(wl, "go", "pause_max"), f.gl(wl, "go", "pause_p99")
    out = []
    for b in BARRIERS:
        s = f"tricolor-concurrent-{b}"
        mx = f.gl(wl, s, "pause_max_run")
        roots = f.gl(wl, s, "roots")
        note = f"building alone {fmt(f.gl(wl, s, 'pause_max_build'), 'us')}; window max " \
               f"{fmt(f.gl(wl, s, 'pause_max_pooled'), 'us')}"
        if b == "dijkstra":
            note += f"; handles (roots) {fmt(roots, '', 9)}"
        out.append(row(f"4 max pause {wl} {b}, whole run", fmt(mx, "us"), f"go window {fmt(go_max, 'us')}",
                       ratio(mx, go_max), "<= 100 us", None if mx is None else mx <= 100, note))
        n, p99 = f.gl(wl, s, "pauses_pooled"), f.gl(wl, s, "pause_p99_pooled")
        ok = None if p99 is None or (n or 0) < 100 else p99 <= 50
        out.append(row(f"4 p99 pause {wl} {b}, {fmt(n, '', 9)} pauses", fmt(p99, "us"), f"go {fmt(go_p99, 'us')}",
                       ratio(p99, go_p99), "<= 50 us over >= 100", ok,
                       f"pooled over {fmt(f.gl(wl, s, 'runs') or 1, '', 3)} run(s)"
                       + ("" if n is None or n >= 100 else "; fewer than 100 pauses: n/a")))
    return out


def op_rows(f: Figures) -> list[dict]:
    out = []
    for size in f.pause_sizes() or ["64M", "1G"]:
        wl = f"pause-{size}"
        t, m = f.gl(wl, "tricolor-concurrent-hybrid", "op_max"), f.gl(wl, "machine", "op_max")
        r = ratio(t, m)
        out.append(row(f"5 worst mutator op {wl} vs machine", fmt(t, "us"), f"machine {fmt(m, 'us')}", r, "<= 1.5x",
                       None if r is None else r <= 1.5,
                       f"malloc control {fmt(f.gl(wl, 'malloc', 'op_max'), 'us')}"))
    return out


def spacetime_rows(f: Figures) -> list[dict]:
    out = []
    for kind, title in (("gcbench", "GCBench"), ("pause", "pause 64M")):
        for peer in ("go", "bdwgc"):
            name = f"spacetime_{kind}_{peer}"
            st = f.gs.get(("_spacetime", f"tricolor/{peer}", name))
            g = lambda k: f.gl("_spacetime", f"tricolor/{peer}", f"{name}_{k}")  # noqa: E731
            r = g("ratio")
            ok = None if st not in ("OK", "MISS") else st == "OK"
            note = ("no common peak heap, and neither curve beats the other outright" if st == "n/a"
                    else NO_SWEEP if st is None else
                    f"no common peak heap: {peer}'s nearest point, at "
                    f"{fmt(g('lo') if g('hi') == g('heap') else g('hi'), 'MiB')}, spends "
                    f"{'less' if (r or 0) > 1 else 'more'} GC CPU than tricolor's nearest" if g("disjoint") else
                    f"worst of {fmt(g('points'), '', 3)} points over {fmt(g('lo'), '')}-{fmt(g('hi'), 'MiB')}")
            out.append(row(f"6 GC CPU-s at equal peak heap, {title} vs {peer}", fmt(g("tricolor"), "s"),
                           f"{peer} {fmt(g('peer'), 's')} @ {fmt(g('heap'), 'MiB')}", r,
                           "<= 1.0x at every heap", ok, note))
    return out


def python_rows(f: Figures) -> list[dict]:
    out = []
    for op, label, goal in PY_OPS:
        t = f.median(("binding:python", "tricolor", op))
        p = f.median(("binding:python", "list", op))
        r = ratio(t, p)
        net = ratio(f.median(("binding:python", "tricolor", op + "_net")),
                    f.median(("binding:python", "list", op + "_net")))
        out.append(row(f"7 Python {label}", fmt(t, "ns"), f"list {fmt(p, 'ns')}", r, f"<= {goal}x",
                       None if r is None else r <= goal, "net of the loop " + ("-" if net is None else f"{net:.2f}x")))
    return out


def rows(median, gclab: list[dict], workloads: list[str], info: dict | None = None) -> list[dict]:
    """Every row of issue 16's table, in its order."""
    f = Figures(median, gclab, info)
    return (gcbench_rows(f) + memory_rows(f) + mark_rows(f, workloads) + pause_rows(f) + op_rows(f)
            + spacetime_rows(f) + python_rows(f))


def table(rs: list[dict]) -> list[str]:
    """The rows as aligned text lines: row / tricolor / peer / ratio / goal /
    held-or-missed, then each row's note."""
    cols = ("row", "tricolor", "peer", "ratio", "goal", "status")
    head = dict(zip(cols, ("row", "tricolor", "peer", "ratio", "goal", "held/missed")))
    w = {c: max(len(str(r[c])) for r in rs + [head]) for c in cols}
    line = lambda r: "  ".join(f"{str(r[c]):<{w[c]}}" for c in cols).rstrip()  # noqa: E731
    out = [line(head), "  ".join("-" * w[c] for c in cols)]
    out += [line(r) for r in rs]
    out.append("")
    out += [f"  {r['row']}: {r['note']}" for r in rs if r["note"]]
    return out
