"""The Lua side of ``--lang lua`` and ``--lang both``: the same question
answered by ``require("tricolor.lab")`` in a lua5.4 subprocess.

The child runs ``require("tricolor.lab").cli{...}``, which prints the
result object as JSON on stdout, one ``LABPROGRESS`` line per finished run
on stderr (relayed to our progress display), and exits 2 with one line for
bad input, 1 with a traceback when a workload raised.

Where the modules are: in a source tree, bindings/lua (tricolor.lab) and
build/lua (the C module, ``make lua-build``) are put in front of LUA_PATH and
LUA_CPATH; otherwise whatever luarocks installed is found the usual way.
``TRICOLOR_LUA`` names another interpreter.

Ctrl-C: the child runs in its own session, so a terminal's SIGINT reaches
us only; we pass one SIGINT on, and the child stops after its current run
and prints what it has (Lua's interpreter would die on a second one).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List

from .questions import Options
from .session import LabRunError, Progress
from .workloads import LabInputError

ROOT = Path(__file__).resolve().parents[4]


def lua_literal(v: Any) -> str:
    """A Python value as a Lua expression (None, bool, numbers, str, lists, dicts)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_literal(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"[{lua_literal(str(k))}] = {lua_literal(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot pass {type(v).__name__} to Lua")


def environment() -> Dict[str, str]:
    """LUA_PATH / LUA_CPATH with the source tree's modules first, if any."""
    env = dict(os.environ)
    lua_dir, so_dir = ROOT / "bindings" / "lua", ROOT / "build" / "lua"
    if (lua_dir / "tricolor" / "lab.lua").exists():
        env["LUA_PATH"] = f"{lua_dir}/?.lua;{lua_dir}/?/init.lua;" + env.get("LUA_PATH", ";;")
    if (so_dir / "tricolor.so").exists():
        env["LUA_CPATH"] = f"{so_dir}/?.so;" + env.get("LUA_CPATH", ";;")
    return env


def interpreter() -> str:
    lua = os.environ.get("TRICOLOR_LUA", "lua5.4")
    if not shutil.which(lua):
        raise LabInputError(f"--lang lua needs {lua} on PATH (apt-get install lua5.4, or set TRICOLOR_LUA)")
    return lua


def options(opts: Options) -> Dict[str, Any]:
    return {"question": opts.question, "quick": opts.quick, "repeat": opts.repeat, "workload": opts.workload,
            "params": opts.params, "sizes": opts.sizes, "barriers": opts.barriers, "collector": opts.collector}


def _relay(stream: Any, progress: Progress, other: List[str]) -> None:
    """Read the child's stderr: progress lines to `progress`, the rest kept."""
    for line in stream:
        parts = line.rstrip("\n").split(" ", 4)
        if parts[0] == "LABPROGRESS" and len(parts) == 5:
            progress.step(parts[4], float(parts[3]))
        elif parts[0] == "LABSTART" and len(parts) >= 2:
            progress.start(int(parts[1]), " ".join(parts[2:]) + " (lua)")
        else:
            other.append(line)


def run(opts: Options, progress: Progress) -> Dict[str, Any]:
    """The Lua side's result object; LabInputError / LabRunError as in Python."""
    script = f'require("tricolor.lab").cli({lua_literal(options(opts))})'
    proc = subprocess.Popen([interpreter(), "-e", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment(), start_new_session=True)
    other: List[str] = []
    out: List[str] = []
    threads = [threading.Thread(target=_relay, args=(proc.stderr, progress, other), daemon=True),
               threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # the child stops after its current run and prints what it has
        proc.wait(timeout=300)
    for t in threads:
        t.join(timeout=10)
    return _result(proc.returncode, "".join(out), "".join(other))


def _result(code: int, out: str, err: str) -> Dict[str, Any]:
    if code == 2:
        raise LabInputError((err.strip().splitlines() or ["lua: bad input"])[-1])
    if code != 0 or not out.strip():
        if "module 'tricolor" in err and "not found" in err:
            raise LabInputError("lua cannot find the tricolor modules: make lua-build, or luarocks make")
        raise LabRunError(err or f"lua5.4 exited with status {code}", None)  # its own "in configuration:"
    if err.strip():
        sys.stderr.write(err)
    doc: Dict[str, Any] = json.loads(out)
    return doc
