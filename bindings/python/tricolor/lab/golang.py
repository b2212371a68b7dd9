"""Go's own curve for the gogc question: the gcbench workload on Go's
collector (gcbench.go beside this file), built once with the `go` on PATH
into a cache directory and run once per GOGC value. Without a toolchain the
question runs without it and says so (a warning in the result's machine
section)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

SOURCE = Path(__file__).with_name("gcbench.go")
PARAMS = ("long_lived_depth", "min_depth", "max_depth", "array_size")


@dataclass
class Go:
    version: Optional[str]   # "go1.19.8", None when Go's curve is skipped
    note: Optional[str]      # why it is skipped


_built: Dict[str, Optional[str]] = {}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "tricolor"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.gettempdir())


def build() -> Optional[str]:
    """The path of the built program (cached by the source's hash), or None."""
    if "exe" in _built:
        return _built["exe"]
    digest = hashlib.sha1(SOURCE.read_bytes()).hexdigest()[:12]
    cache = cache_dir()
    exe = cache / f"lab-gcbench-{digest}"
    if not exe.exists():
        env = dict(os.environ, GOCACHE=str(cache / "gocache"), GOPATH=str(cache / "gopath"),
                   GO111MODULE="off", CGO_ENABLED="0")
        r = subprocess.run(["go", "build", "-o", str(exe), str(SOURCE)], capture_output=True, text=True,
                           env=env, cwd=cache)
        if r.returncode != 0:
            _built["exe"] = None
            return None
    _built["exe"] = str(exe)
    return str(exe)


def available(workload: str) -> Go:
    """Whether Go's curve can be drawn for this workload, and why not."""
    if workload != "gcbench":
        return Go(None, f"Go's curve exists for the gcbench workload only (not {workload})")
    if not shutil.which("go"):
        return Go(None, "no go toolchain on PATH: Go's curve is skipped (apt-get install golang-go)")
    r = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True)
    if build() is None:
        return Go(None, "go build of the lab's gcbench.go failed: Go's curve is skipped")
    return Go(r.stdout.strip() or "go", None)


def runner(gogc: Optional[int]) -> Callable[[Any], Dict[str, Any]]:
    """A Config.execute that runs Go's gcbench with this GOGC and the
    configuration's gcbench parameters."""
    def execute(cfg: Any) -> Dict[str, Any]:
        exe = build()
        args = [str(int(cfg.params[k])) for k in PARAMS]
        env = dict(os.environ, GOGC="off" if gogc is None else str(gogc))
        env["GODEBUG"] = ",".join(x for x in (env.get("GODEBUG"), "gctrace=1") if x)
        out = subprocess.run([exe, *args], capture_output=True, text=True, env=env, check=True)
        return add_idle(json.loads(out.stdout), out.stderr)
    return execute


GCTRACE_CPU = re.compile(r"^gc \d+ .* ms clock, [\d.]+\+[\d.]+/[\d.]+/([\d.]+)\+[\d.]+ ms cpu")


def add_idle(row: Dict[str, Any], gctrace: str) -> Dict[str, Any]:
    """Go's GCCPUFraction, which gcbench.go prints, leaves out the
    idle-priority mark workers (marking on an otherwise idle P); with one
    mutator goroutine on a small machine they do most of Go's marking, while
    tricolor's gc_cpu counts its collector thread, workers and assists whole.
    So the curve is like for like: add the idle workers' CPU of every cycle
    (the third of gctrace's assist/background/idle cpu fields) over the
    run's wall time. Go's own figure stays as gc_cpu_noidle."""
    idle_s = sum(float(m[1]) for m in map(GCTRACE_CPU.match, gctrace.splitlines()) if m) / 1e3
    wall = row.get("wall_s") or 0.0
    row["gc_cpu_noidle"] = row.get("gc_cpu")
    if wall > 0 and row.get("gc_cpu") is not None:
        row["gc_cpu"] = row["gc_cpu"] + idle_s / wall
    return row
