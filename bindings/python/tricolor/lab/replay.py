"""Replaying a recorded program as a lab workload (issue 15 point 3).

``heap.record_start(path)`` / ``heap.record_stop()`` write a program's heap
operations to a log (docs/replay.md); ``run`` below replays one on the lab's
heap in a single call into the core, so the lab measures the collector on
exactly the same operations, with no interpreter in the loop. ``python -m
tricolor replay LOG``, ``compare --replay LOG`` and ``lab barrier --replay
LOG`` use it as the workload ``tricolor.lab.replay:run`` with ``log=LOG``.
"""
from __future__ import annotations

from typing import Any, Dict

import tricolor

SPEC = "tricolor.lab.replay:run"


def run(heap: tricolor.Heap, p: Dict[str, Any]) -> Dict[str, Any]:
    """Replay the log p["log"] (heap.record_start) on this heap, in C.

    The result carries the replay's counts; ``mismatches`` is the number of
    forced collections after which heap_objects or the live-graph hash
    differed from the recording (0 for an exact replay)."""
    log = p.get("log")
    if not log:
        raise ValueError("the replay workload needs a log: --param log=PATH (or --replay PATH)")
    rep = heap._replay(str(log))
    return {"objects": rep["objects"], "records": rep["records"], "collects": rep["collects"],
            "checked": rep["checked"], "mismatches": rep["mismatches"],
            "replay_s": rep["elapsed_ns"] / 1e9}
