"""The shape of a lab result (SPEC, "Lab"): what ``--json`` prints and what
``require("tricolor.lab").run{...}`` returns in Lua. docs/lab.md shows it;
tests/python/test_lab.py checks every question's output against it.

A type is a Python type, a tuple of types (any of them; ``None`` for JSON
null), a list ``[T]`` (a JSON array of T) or a dict (an object with at least
those keys). Rows carry the common keys, the question's own keys, and any
further numbers (every run's values are under ``samples``).
"""
from __future__ import annotations

from typing import Any, Dict, List

NUM = (int, float)
OPT_NUM = (int, float, type(None))

SCHEMA: Dict[str, Any] = {
    "question": str,
    "config": {
        "lang": str,                 # "python", "lua" or "both"
        "workload": str,
        "params": dict,              # the workload's parameters, defaults filled in
        "repeat": int,
        "quick": bool,
        "interrupted": bool,         # Ctrl-C: the rows hold what finished
        "provisional": [str],        # columns estimated until the latency layer lands
    },
    "rows": [{
        "lang": str,                 # "python", "lua" or "go"
        "label": str,                # the configuration, readable
        "runs": int,                 # how many runs the medians are of
        "samples": dict,             # metric -> [value of each run]
    }],
    "machine": {
        "cpus": int,
        "load_before": [NUM],        # os.getloadavg() before the first run
        "load_after": [NUM],
        "busy": bool,
        "warnings": [str],
    },
}

# The keys each question's rows have besides the common ones (None: not measured).
ROWS: Dict[str, Dict[str, Any]] = {
    "pauses": {"collector": str, "barrier": str, "size_mib": NUM, "live_mib": NUM,
               "pause_max_ms": NUM, "pause_p99_ms": NUM, "delay_max_ms": NUM, "delay_p99_ms": NUM,
               "mmu_1ms": NUM, "mmu_10ms": NUM, "mmu_100ms": NUM, "cycles": NUM, "flat_ratio": OPT_NUM},
    "gogc": {"gogc": (int, type(None)), "gc_cpu": NUM, "peak_alloc_mib": NUM, "peak_sys_mib": NUM,
             "peak_rss_mib": OPT_NUM, "wall_s": NUM, "cycles_total": NUM},
    "barrier": {"barrier": str, "mutator_s": NUM, "ratio": OPT_NUM, "ratio_lo": OPT_NUM, "ratio_hi": OPT_NUM,
                "verdict": str, "floating_mib": OPT_NUM, "stw_ms": NUM, "pause_max_ms": NUM, "cycles": NUM,
                "barrier_slow": OPT_NUM, "shaded": OPT_NUM},
    "limit": {"gogc": (int, type(None)), "limit_x": OPT_NUM, "limit_mib": OPT_NUM, "peak_alloc_mib": NUM,
              "peak_sys_mib": NUM, "peak_rss_mib": OPT_NUM, "gc_cpu": NUM, "gc_machine": NUM,
              "limit_wait_ms": OPT_NUM, "cycles_total": NUM, "wall_s": NUM},
    "why": {"section": str, "object": str, "detail": str},
}
GO_ROW = {"gogc": (int, type(None)), "gc_cpu": NUM, "peak_alloc_mib": NUM, "peak_sys_mib": NUM, "wall_s": NUM}


def problems(value: Any, shape: Any, where: str = "$") -> List[str]:
    """Where `value` does not fit `shape`, one line each ([] when it fits)."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: an object expected, not {type(value).__name__}"]
        out = []
        for k, sub in shape.items():
            if k not in value:
                out.append(f"{where}.{k}: missing")
            else:
                out += problems(value[k], sub, f"{where}.{k}")
        return out
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: an array expected, not {type(value).__name__}"]
        return [p for i, v in enumerate(value) for p in problems(v, shape[0], f"{where}[{i}]")]
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in kinds:
        return [f"{where}: {value!r} is a boolean"]
    if float in kinds and isinstance(value, int):
        return []
    return [] if isinstance(value, kinds) else [f"{where}: {value!r} is not {'/'.join(k.__name__ for k in kinds)}"]


def validate(doc: Any) -> List[str]:
    """Every problem of a lab result: the common shape, then each row's
    question-specific keys."""
    out = problems(doc, SCHEMA)
    if out:
        return out
    for i, row in enumerate(doc["rows"]):
        keys = GO_ROW if row["lang"] == "go" else ROWS.get(doc["question"], {})
        out += problems(row, keys, f"$.rows[{i}]")
    return out
