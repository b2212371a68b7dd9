"""python -m tricolor teach — the tri-colour mark, one step at a time.

A small heap on the manual collector (collector="manual") is marked with
heap.gc_step(1), and every step becomes a frame: each object in its colour
(white, grey, black), the grey set, and for each store the program makes
during the mark, which objects the write barrier shaded and why (the new
value: insertion; the old value: deletion; a new handle: hybrid's root
shade). The frames go to one self-contained HTML page, or to one SVG or PNG
file per frame (PNG needs matplotlib: pip install tricolor[lab]).

The default program is the textbook case for a barrier: R (the root) holds
A and B, B holds X. Once R is black and B grey, the program moves X behind
R (R[2] = X) and cuts B -> X. With --barrier none nothing shades X: it
stays white behind a black object, the sweep frees it, and verify() then
reports R's dangling reference. --objects N (at most 100) walks a random
heap instead.

Everything here is ordinary code on the public API (walk() returns the
frames as plain data; `--json` prints them), so it doubles as an example.
"""
from __future__ import annotations

import argparse
import gc
import html
import json
import os
import random
from typing import Any, Dict, List, Optional

import tricolor

MAX_OBJECTS = 100
FILL = {"white": "#ffffff", "grey": "#9e9e9e", "black": "#111111"}
TEXT = {"white": "#111111", "grey": "#111111", "black": "#ffffff"}
SHADE_RING = "#e8710a"  # an object the barrier shaded in this frame


class Walk:
    """The frames of one teaching run and the names of its objects."""

    def __init__(self, heap: tricolor.Heap, names: Dict[int, str]):
        self.heap = heap
        self.names = names
        self.frames: List[Dict[str, Any]] = []
        self.last: Optional[Dict[str, Any]] = None

    def name(self, i: int) -> str:
        return self.names.get(i, f"#{i & 0xFFFF:x}")

    def frame(self, title: str, text: str = "", store: bool = False) -> Dict[str, Any]:
        """Snapshot the heap as a frame; with `store`, the objects that
        turned grey since the last frame are the barrier's shades."""
        snap = self.heap.snapshot()
        shaded: List[int] = []
        if store and self.last is not None:
            before = self.last["colors"]
            shaded = [i for i in snap["grey"] if before.get(i) == "white"]
        f = {"title": title, "text": text, "phase": snap["phase"], "objects": snap["objects"],
             "edges": snap["edges"], "colors": snap["colors"], "roots": snap["roots"], "grey": snap["grey"],
             "shaded": shaded, "names": {i: self.name(i) for i in snap["objects"]}}
        self.frames.append(f)
        self.last = f
        return f

    def shade_text(self, f: Dict[str, Any], barrier: str, old: Optional[int], new: Optional[int]) -> str:
        said = []
        for i in f["shaded"]:
            why = "the new value" if i == new else "the old value" if i == old else "a new handle's object"
            said.append(f"{self.name(i)} ({why})")
        if said:
            return f"The {barrier} barrier shaded " + ", ".join(said) + "."
        return f"The {barrier} barrier shaded nothing."

    def steps(self, stop=None) -> None:
        """gc_step(1) until marking is done (or stop(frame) says so)."""
        while True:
            black0 = {i for i, c in (self.last or {"colors": {}})["colors"].items() if c == "black"}
            got = self.heap.gc_step(1)
            if got == 0:
                self.frame("marking done", "No grey object is left: the mark ends and the phase is sweep. "
                           "What is still white is garbage.")
                return
            f = self.frame(f"gc_step(1) marked {got}")
            new = [self.name(i) for i, c in f["colors"].items() if c == "black" and i not in black0]
            f["text"] = (f"{', '.join(new)} scanned: black; its white referents are grey now. "
                         f"Grey set: {', '.join(self.name(i) for i in f['grey']) or 'empty'}.")
            if stop and stop(f):
                return


def lost_object_program(barrier: str) -> Walk:
    """The default program (see the top). Returns the finished walk."""
    heap = tricolor.Heap(collector="manual", barrier=barrier)
    r, a, b, x, y, g1, g2 = (heap.new(3) for _ in range(7))
    r[0], r[1], b[0], x[0], g1[0], g2[0] = a, b, x, y, g2, g1
    names = {o.id: n for o, n in ((r, "R"), (a, "A"), (b, "B"), (x, "X"), (y, "Y"), (g1, "G1"), (g2, "G2"))}
    xid = x.id  # read now: a handle made and dropped during the mark would shade X (a root release)
    w = Walk(heap, names)
    del a, b, x, y, g1, g2
    gc.collect()  # only R's handle is a root now
    w.frame("before the cycle", "Between cycles every object is white. R is the only root (a handle); "
            "G1 and G2 are a garbage cycle.")
    heap.gc_start()
    w.frame("gc_start()", "The start pause shades the roots: R is grey, the grey set is {R}.")
    w.steps(stop=lambda f: f["colors"][r.id] == "black")
    xh = r[1][0]
    f = w.frame("x = R[1][0]", "The program reads X into a handle (a new root).", store=True)
    f["text"] += " " + w.shade_text(f, barrier, None, None)
    r[2] = xh
    f = w.frame("R[2] = x", "A white object is stored into a black one: R was scanned already.", store=True)
    f["text"] += " " + w.shade_text(f, barrier, None, xid)
    bh = r[1]
    bh[0] = None
    del bh
    f = w.frame("R[1][0] = None", "B's reference to X is deleted: X's last path the marker would take.",
                store=True)
    f["text"] += " " + w.shade_text(f, barrier, xid, None)
    del xh
    gc.collect()
    f = w.frame("del x", "The handle is released.", store=True)
    f["text"] += " " + w.shade_text(f, barrier, xid, None)
    w.steps()
    done = w.last
    assert done is not None
    lost = xid in done["colors"] and done["colors"][xid] == "white"
    if lost:
        done["lost"] = [xid]
        done["text"] += " X is white but R (black) refers to it: the object is lost."
    freed = heap.gc_finish()
    f = w.frame(f"gc_finish() freed {freed}", "The sweep frees every white object.")
    try:
        heap.verify()
        f["text"] += " verify() passes: nothing reachable was lost."
    except tricolor.HeapCorruption as e:
        f["text"] += f" verify() reports the lost object: {e}"
        f["verify_error"] = str(e)
    del r
    heap.close()
    return w


def random_program(barrier: str, objects: int, seed: int) -> Walk:
    """A random heap of `objects` objects (3 slots each, ~40% filled, 3 roots)
    marked step by step, with one random store after every third step."""
    if not 1 <= objects <= MAX_OBJECTS:
        raise ValueError(f"--objects must be between 1 and {MAX_OBJECTS}, not {objects}")
    rnd = random.Random(seed)
    heap = tricolor.Heap(collector="manual", barrier=barrier)
    objs = [heap.new(3) for _ in range(objects)]
    for o in objs:
        for s in range(3):
            if rnd.random() < 0.4:
                o[s] = objs[rnd.randrange(objects)]
    w = Walk(heap, {o.id: str(k) for k, o in enumerate(objs)})
    held = rnd.sample(objs, min(3, objects))
    del objs, o
    gc.collect()
    w.frame("before the cycle", "Every object is white; the roots are the handles.")
    heap.gc_start()
    w.frame("gc_start()", "The roots are grey.")
    count = 0

    def store(f):
        nonlocal count
        count += 1
        if count % 3 == 0:
            a, b = rnd.choice(held), rnd.choice(held)
            s = rnd.randrange(3)
            old = a[s]
            new = b[rnd.randrange(3)]
            a[s] = new
            g = w.frame(f"{w.name(a.id)}[{s}] = {w.name(new.id) if new is not None else 'None'}", "", store=True)
            g["text"] = w.shade_text(g, barrier, old.id if old is not None else None,
                                     new.id if new is not None else None)
        return False

    w.steps(stop=store)
    freed = heap.gc_finish()
    f = w.frame(f"gc_finish() freed {freed}", "The sweep frees every white object.")
    try:
        heap.verify()
    except tricolor.HeapCorruption as e:
        f["verify_error"] = str(e)
        f["text"] += f" verify(): {e}"
    held.clear()
    heap.close()
    return w


# ---- layout and drawing ----------------------------------------------------------------


def layout(frames: List[Dict[str, Any]]) -> Dict[int, tuple]:
    """Positions (x, y) in [0, 1] for every object of any frame: rows by
    distance from the roots in the first frame, the unreachable last."""
    first = frames[0]
    succ: Dict[int, List[int]] = {}
    for s, _slot, d in first["edges"]:
        succ.setdefault(s, []).append(d)
    depth: Dict[int, int] = {}
    level = [i for _k, i in first["roots"]]
    d = 0
    while level:
        nxt = []
        for i in level:
            if i not in depth:
                depth[i] = d
                nxt.extend(succ.get(i, []))
        level, d = nxt, d + 1
    rest = max(depth.values(), default=-1) + 1
    every = list(dict.fromkeys(i for f in frames for i in f["objects"]))
    rows: Dict[int, List[int]] = {}
    for i in every:
        rows.setdefault(depth.get(i, rest), []).append(i)
    nrows = max(rows) + 1 if rows else 1
    pos = {}
    for r, ids in rows.items():
        for k, i in enumerate(ids):
            pos[i] = ((k + 0.5) / len(ids), (r + 0.5) / nrows)
    return pos


def frame_svg(f: Dict[str, Any], pos: Dict[int, tuple], width: int = 640, height: int = 360) -> str:
    """One frame as a standalone SVG drawing."""
    rad = max(8, min(22, int(220 / max(1, len(pos)) ** 0.5)))
    px = {i: (30 + x * (width - 60), 20 + y * (height - 40)) for i, (x, y) in pos.items()}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{max(8, rad - 6)}">',
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="#f4f1ea"/>']
    for s, _slot, d in f["edges"]:
        if s in px and d in px and s != d:
            (x1, y1), (x2, y2) = px[s], px[d]
            dx, dy = x2 - x1, y2 - y1
            n = max(1e-9, (dx * dx + dy * dy) ** 0.5)
            out.append(f'<line x1="{x1 + dx / n * rad:.1f}" y1="{y1 + dy / n * rad:.1f}" '
                       f'x2="{x2 - dx / n * rad:.1f}" y2="{y2 - dy / n * rad:.1f}" stroke="#555" '
                       f'stroke-width="1.3" marker-end="url(#arr)"/>')
    roots = {i for _k, i in f["roots"]}
    for i in f["objects"]:
        x, y = px[i]
        c = f["colors"][i]
        ring = SHADE_RING if i in f["shaded"] else "#111"
        width_ = 4 if i in f["shaded"] else (3 if i in roots else 1.5)
        dash = ' stroke-dasharray="4,2"' if i in roots else ""
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{rad}" fill="{FILL[c]}" stroke="{ring}" '
                   f'stroke-width="{width_}"{dash}><title>{html.escape(f["names"][i])}: {c}</title></circle>')
        out.append(f'<text x="{x:.1f}" y="{y + rad / 3:.1f}" text-anchor="middle" fill="{TEXT[c]}">'
                   f'{html.escape(f["names"][i])}</text>')
    for i in f.get("lost", []):
        if i in px:
            x, y = px[i]
            out.append(f'<text x="{x:.1f}" y="{y + rad + 12:.1f}" text-anchor="middle" fill="#c62828">lost</text>')
    out.append("</svg>")
    return "\n".join(out)


def frame_caption(k: int, f: Dict[str, Any]) -> str:
    grey = ", ".join(f["names"][i] for i in f["grey"] if i in f["names"]) or "empty"
    return f"{k}. {f['title']} (phase {f['phase']}; grey set: {grey})"


def write_html(frames: List[Dict[str, Any]], path: str, title: str) -> None:
    pos = layout(frames)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:720px;margin:2em auto;background:#fff}"
             ".f{margin:1.5em 0;border-top:1px solid #ccc}.k{font-size:90%;color:#444}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             "<p class='k'>White: not reached yet. Grey: reached, waiting to be scanned (the grey set). "
             "Black: scanned. Dashed outline: a root. Orange ring: shaded by the write barrier in this "
             "frame.</p>"]
    for k, f in enumerate(frames):
        parts.append(f"<div class='f'><h3>{html.escape(frame_caption(k, f))}</h3>"
                     f"<p>{html.escape(f['text'])}</p>{frame_svg(f, pos)}</div>")
    parts.append("</body></html>")
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(parts))


def write_svgs(frames: List[Dict[str, Any]], outdir: str) -> List[str]:
    pos = layout(frames)
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for k, f in enumerate(frames):
        p = os.path.join(outdir, f"frame-{k:02d}.svg")
        with open(p, "w", encoding="utf-8") as out:
            out.write(frame_svg(f, pos))
        paths.append(p)
    return paths


def write_pngs(frames: List[Dict[str, Any]], outdir: str, dpi: int = 72) -> List[str]:
    """One PNG per frame, drawn with matplotlib (the lab's extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = layout(frames)
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for k, f in enumerate(frames):
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        ax.set_axis_off()
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(1.05, -0.12)
        for s, _slot, d in f["edges"]:
            if s in pos and d in pos and s != d:
                ax.annotate("", xy=pos[d], xytext=pos[s],
                            arrowprops=dict(arrowstyle="->", color="#555", shrinkA=11, shrinkB=11))
        roots = {i for _k, i in f["roots"]}
        for i in f["objects"]:
            c = f["colors"][i]
            edge = SHADE_RING if i in f["shaded"] else "#111"
            ax.scatter(*pos[i], s=420, c=FILL[c], edgecolors=edge, zorder=3,
                       linewidths=3 if i in f["shaded"] or i in roots else 1.2,
                       linestyle="--" if i in roots else "-")
            ax.text(*pos[i], f["names"][i], ha="center", va="center", color=TEXT[c], fontsize=8, zorder=4)
        for i in f.get("lost", []):
            if i in pos:
                ax.text(pos[i][0] + 0.04, pos[i][1], "lost", color="#c62828", fontsize=9, va="center")
        ax.set_title(frame_caption(k, f), fontsize=9, loc="left")
        p = os.path.join(outdir, f"frame-{k:02d}.png")
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
    return paths


# ---- the command -----------------------------------------------------------------------


def walk(barrier: str = "hybrid", objects: Optional[int] = None, seed: int = 1) -> List[Dict[str, Any]]:
    """The frames of a teaching run (plain data: ids, colours, names, text)."""
    w = lost_object_program(barrier) if objects is None else random_program(barrier, objects, seed)
    return w.frames


def add_parser(sub) -> None:
    p = sub.add_parser("teach", help="the tri-colour mark step by step: frames as HTML, SVG or PNG")
    p.add_argument("--barrier", default="hybrid", choices=("hybrid", "dijkstra", "yuasa", "none"),
                   help="the write barrier; 'none' shows the object it would have saved being lost")
    p.add_argument("--format", default="html", choices=("html", "svg", "png"),
                   help="one HTML page (default), or one file per frame")
    p.add_argument("--out", default=None, help="the HTML file, or the directory for frames "
                   "(default teach.html / teach-frames)")
    p.add_argument("--objects", type=int, default=None,
                   help=f"walk a random heap of this many objects (at most {MAX_OBJECTS}) instead")
    p.add_argument("--seed", type=int, default=1, help="the random heap's seed")
    p.add_argument("--json", action="store_true", help="print the frames as JSON instead of drawing them")
    p.set_defaults(func=cli)


def cli(args: argparse.Namespace) -> int:
    try:
        frames = walk(args.barrier, args.objects, args.seed)
    except ValueError as e:
        print(f"teach: {e}")
        return 2
    if args.json:
        print(json.dumps(frames, default=str, indent=1))
        return 0
    title = f"tricolor teach: barrier={args.barrier}"
    if args.format == "html":
        out = args.out or "teach.html"
        write_html(frames, out, title)
        print(f"wrote {out} ({len(frames)} frames)")
    else:
        outdir = args.out or "teach-frames"
        paths = write_svgs(frames, outdir) if args.format == "svg" else write_pngs(frames, outdir)
        print(f"wrote {len(paths)} frames to {outdir}/")
    for k, f in enumerate(frames):
        print(f"  {frame_caption(k, f)}: {f['text']}")
    return 0
