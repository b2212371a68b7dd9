"""SVG charts of a run, with no dependency beyond the standard library.

``timeline_svg(samples, pauses_ns, title)`` draws two panels:

- the heap over time: ``heap_alloc`` (solid) and ``heap_goal`` (dashed) in MB,
  with a tick on the time axis wherever a sample saw a new GC cycle;
- every stop-the-world pause of the run (``Stats.pauses_ns``) as a bar, in ms.

A sample is a ``Sample`` (seconds since the start, heap_alloc, heap_goal,
num_gc), as recorded by the CLI's sampler.
"""
from __future__ import annotations

import math

from typing import List, NamedTuple, Sequence
from xml.sax.saxutils import escape

WIDTH, PANEL_H, MARGIN_L, MARGIN_R, MARGIN_T, GAP = 760, 220, 70, 20, 40, 60


class Sample(NamedTuple):
    t: float          # seconds since the run started
    heap_alloc: int   # bytes
    heap_goal: int    # bytes
    num_gc: int       # completed cycles so far


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 1.2, 1.5, ... 8 times a power of 10)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * power >= value)


def _axes(parts: List[str], top: float, ymax: float, xlabel: str, ylabel: str, xmax: float) -> None:
    """Frame, grid lines and labels of one panel."""
    left, right, bottom = MARGIN_L, WIDTH - MARGIN_R, top + PANEL_H
    parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{PANEL_H}" '
                 'fill="none" stroke="#888"/>')
    for k in range(5):
        y = bottom - k * PANEL_H / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{ymax * k / 4:.3g}</text>')
    parts.append(f'<text x="{(left + right) / 2}" y="{bottom + 32}" text-anchor="middle">{escape(xlabel)}</text>')
    parts.append(f'<text x="{left}" y="{bottom + 16}" text-anchor="middle">0</text>')
    parts.append(f'<text x="{right}" y="{bottom + 16}" text-anchor="middle">{xmax:g}</text>')
    parts.append(f'<text x="14" y="{top + PANEL_H / 2}" transform="rotate(-90 14 {top + PANEL_H / 2})" '
                 f'text-anchor="middle">{escape(ylabel)}</text>')


def _heap_panel(parts: List[str], samples: Sequence[Sample], top: float) -> None:
    tmax = _nice_max(samples[-1].t if samples else 1.0)
    ymax = _nice_max(max((max(s.heap_alloc, s.heap_goal) for s in samples), default=1) / 1e6)
    _axes(parts, top, ymax, "time (s)", "heap (MB)", tmax)
    left, width, bottom = MARGIN_L, WIDTH - MARGIN_L - MARGIN_R, top + PANEL_H

    def xy(t: float, b: int) -> str:
        return f"{left + width * t / tmax:.1f},{bottom - PANEL_H * (b / 1e6) / ymax:.1f}"

    for attr, style in (("heap_goal", 'stroke="#d62728" stroke-dasharray="5,4"'),
                        ("heap_alloc", 'stroke="#1f77b4" stroke-width="1.5"')):
        points = " ".join(xy(s.t, getattr(s, attr)) for s in samples)
        parts.append(f'<polyline fill="none" {style} points="{points}"/>')
    for prev, cur in zip(samples, samples[1:]):
        if cur.num_gc > prev.num_gc:
            x = left + width * cur.t / tmax
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom - 6}" stroke="#2ca02c"/>')
    parts.append(f'<text x="{left + 8}" y="{top + 16}" fill="#1f77b4">heap_alloc</text>')
    parts.append(f'<text x="{left + 90}" y="{top + 16}" fill="#d62728">heap_goal</text>')
    parts.append(f'<text x="{left + 170}" y="{top + 16}" fill="#2ca02c">| a GC cycle ended</text>')


def _pause_panel(parts: List[str], pauses_ns: Sequence[int], top: float) -> None:
    ymax = _nice_max(max(pauses_ns, default=0) / 1e6)
    _axes(parts, top, ymax, "pause number (most recent last)", "pause (ms)", float(len(pauses_ns)))
    left, width, bottom = MARGIN_L, WIDTH - MARGIN_L - MARGIN_R, top + PANEL_H
    bar = width / max(len(pauses_ns), 1)
    for i, p in enumerate(pauses_ns):
        h = PANEL_H * (p / 1e6) / ymax
        parts.append(f'<rect x="{left + i * bar:.1f}" y="{bottom - h:.1f}" width="{max(bar - 1, 0.5):.1f}" '
                     f'height="{h:.1f}" fill="#9467bd"/>')


def timeline_svg(samples: Sequence[Sample], pauses_ns: Sequence[int], title: str) -> str:
    """The whole chart as an SVG document (a str)."""
    height = MARGIN_T + 2 * PANEL_H + 2 * GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
             f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>']
    _heap_panel(parts, samples, MARGIN_T)
    _pause_panel(parts, pauses_ns, MARGIN_T + PANEL_H + GAP)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
