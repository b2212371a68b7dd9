"""The command line (SPEC: Command line): python -m tricolor ..."""
import json
import subprocess
import sys

import pytest

from conftest import subprocess_env
from test_gctrace import GCTRACE, gc_lines
from tracecheck import check_trace
from tricolor import __main__ as cli
from tricolor import workloads


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tricolor", *args], capture_output=True, text=True,
                          timeout=timeout, env=subprocess_env())


def test_help_lists_the_commands():
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    for word in ("demo", "bench", "compare", "lab", "gcbench", "churn", "linkedlist", "lru-cache", "random-graph",
                 "mixed-sizes", "finalizers", "weak-cache", "binary-trees"):
        assert word in r.stdout


def test_bench_help_lists_its_options():
    r = run_cli("bench", "--help")
    assert r.returncode == 0
    for option in ("--collector", "--gogc", "--memory-limit", "--barrier", "--json", "--trace", "--plot"):
        assert option in r.stdout


def test_demo_prints_gctrace_lines_and_a_summary():
    r = run_cli("demo")
    assert r.returncode == 0, r.stderr
    lines = gc_lines(r.stderr)
    assert lines and all(GCTRACE.match(line) for line in lines)
    assert "Summary" in r.stdout
    for word in ("GC cycles", "pause max", "pause total", "heap peak", "objects allocated", "wall time"):
        assert word in r.stdout
    cycles = int(r.stdout.split("GC cycles")[1].split()[0])
    assert cycles == len(lines)


def test_no_command_runs_the_demo(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "cmd_demo", lambda args: calls.append(args) or 0)
    assert cli.main([]) == 0
    assert len(calls) == 1 and calls[0].command == "demo"


@pytest.mark.parametrize("workload, params", [
    ("gcbench", ["-p", "long_lived_depth=6", "-p", "max_depth=8", "-p", "array_size=1000"]),
    ("churn", ["-p", "live_mib=0.1", "-p", "turnover=4"]),
    ("linkedlist", ["-p", "length=5000", "-p", "rounds=2"]),
])
def test_bench_json(workload, params):
    r = run_cli("bench", workload, "--json", "--gogc", "50", *params)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["workload"] == workload
    assert data["config"] == {"gogc": 50}
    assert data["objects"] > 0 and data["seconds"] > 0
    assert data["cycles"] >= 0 and data["pause_max_ns"] <= data["pause_total_ns"] or data["cycles"] == 0
    assert set(data["mmu"]) == {"1ms", "10ms", "100ms"}
    assert all(0 <= u <= 1 for u in data["mmu"].values())
    assert data["delay_total_ns"] >= 0 and data["delay_max_ns"] <= data["delay_total_ns"]


def test_bench_writes_trace_and_plot(tmp_path):
    trace, plot = tmp_path / "t.json", tmp_path / "p.svg"
    r = run_cli("bench", "linkedlist", "-p", "length=20000", "--gogc", "10", "--memory-limit", "64M",
                "--barrier", "yuasa", "--collector", "stw", "--trace", str(trace), "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    assert "GC cycles" in r.stdout
    assert "pause" in {e["name"] for e in check_trace(trace)}
    assert "mutator delay max" in r.stdout and "MMU 1/10/100 ms" in r.stdout
    svg = plot.read_text()
    assert "<svg" in svg and svg.rstrip().endswith("</svg>") and "heap_alloc" in svg
    import xml.dom.minidom
    xml.dom.minidom.parseString(svg)


def test_bench_reports_a_refused_configuration():
    r = run_cli("bench", "churn", "--collector", "mark-compact")
    assert r.returncode == 2
    assert "collector" in r.stderr


def test_bench_and_compare_refuse_the_manual_collector():
    """collector="manual" runs a cycle only when the program calls gc_start;
    the built-in workloads never do, so a bench of one would measure a heap
    that never collects: a clear error naming the collectors that fit, not
    a table of zeros (bench: status 2; compare: that row unavailable)."""
    r = run_cli("bench", "churn", "--collector", "manual", "-p", "live_mib=0.05", "-p", "turnover=2")
    assert r.returncode == 2, r.stdout
    assert "manual" in r.stderr and "concurrent" in r.stderr and "gc_start" in r.stderr
    r = run_cli("compare", "churn", "-p", "live_mib=0.05", "-p", "turnover=2",
                "--config", "collector=stw", "--config", "collector=manual")
    assert r.returncode == 0, r.stderr
    row = [line for line in r.stdout.splitlines() if "collector=manual" in line]
    assert len(row) == 1 and "unavailable" in row[0] and "gc_start" in row[0], r.stdout
    r = run_cli("demo", "--collector", "manual")
    assert r.returncode == 2 and "gc_start" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_bench_rejects_an_unknown_workload():
    r = run_cli("bench", "nope")
    assert r.returncode != 0 and "nope" in r.stderr


def test_compare_prints_one_table():
    r = run_cli("compare", "churn", "-p", "live_mib=0.05", "-p", "turnover=10",
                "--config", "gogc=50", "--config", "gogc=off,memory_limit=16M", "--config", "collector=stw",
                "--config", "collector=copying")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "config" in out and "max pause" in out
    for col in ("p50 pause", "p99 pause", "max delay", "GC CPU", "MMU 1ms", "MMU 10ms", "MMU 100ms"):
        assert col in out
    assert "gogc=50" in out and "gogc=off,memory_limit=16.0 MiB" in out
    assert "unavailable" in out


def test_compare_max_pause_is_the_windows_and_never_exceeds_max_delay():
    # the table's max pause is the measured window's, like p50/p99, max delay and MMU:
    # a pause while the heap was built (whole-run pause_max_ns) must not sit beside a
    # window's max delay that is shorter than it (every pause is a delay)
    r = run_cli("compare", "churn", "-p", "live_mib=0.5", "-p", "turnover=4", "--json",
                "--config", "collector=stw", "--config", "collector=incremental", "--config", "collector=concurrent")
    assert r.returncode == 0, r.stderr
    for row in json.loads(r.stdout):
        assert row["pause_max_window_ns"] is not None
        assert row["pause_max_window_ns"] <= row["pause_max_ns"]
        assert row["pause_max_window_ns"] <= row["delay_max_ns"]


def test_option_parsers():
    assert cli.parse_size("64M") == 64 << 20
    assert cli.parse_size("1GiB") == 1 << 30
    assert cli.parse_size("500kb") == 500_000
    assert cli.parse_size("off") is None
    assert cli.parse_gogc("off") is None and cli.parse_gogc("75") == 75
    assert cli.parse_config("gogc=50,memory-limit=1M,barrier=yuasa") == {
        "gogc": 50, "memory_limit": 1 << 20, "barrier": "yuasa"}
    with pytest.raises(Exception):
        cli.parse_size("lots")


def test_workloads_are_api_examples():
    """Every built-in workload runs small through the old import path
    (tricolor.workloads re-exports the lab's), ending with a sound heap."""
    import tricolor
    for name, w in workloads.WORKLOADS.items():
        assert workloads.describe(name) and w.params
        small = {"gcbench": dict(long_lived_depth=4, max_depth=6, array_size=100),
                 "binary-trees": dict(max_depth=6),
                 "linkedlist": dict(length=300, rounds=2)}.get(name, dict(live_mib=0.05))
        with tricolor.Heap() as heap:
            out = w.fn(heap, w.with_defaults(small))
            if hasattr(out, "send"):  # a steady workload: a generator that yields once after set-up
                try:
                    next(out)
                    next(out)
                except StopIteration as stop:
                    out = stop.value
            assert out["objects"] > 0
            heap.verify()
