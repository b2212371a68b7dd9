"""gctrace lines, TRICOLOR_DEBUG and Chrome trace files (SPEC: gctrace, Python)."""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import tricolor
from conftest import COLLECTORS, subprocess_env
from tracecheck import check_trace

# SPEC's example: gc 7 @2.104s 3%: 0.021+4.2+0.018 ms clock, 0.021+1.1/3.9/0+0.018 ms cpu, 48->52->20 MB, 50 MB goal, 1 P
# plus Go's " (forced)" at the end of a cycle that the program asked for (runtime.GC()
# in Go, heap.collect() here), group 17
NUM = r"\d+(?:\.\d+)?"
GCTRACE = re.compile(
    rf"^gc (\d+) @({NUM})s (\d+)%: ({NUM})\+({NUM})\+({NUM}) ms clock, "
    rf"({NUM})\+({NUM})/({NUM})/({NUM})\+({NUM}) ms cpu, "
    r"(\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) P( \(forced\))?$")


def test_regex_matches_spec_example():
    line = ("gc 7 @2.104s 3%: 0.021+4.2+0.018 ms clock, 0.021+1.1/3.9/0+0.018 ms cpu, "
            "48->52->20 MB, 50 MB goal, 1 P")
    assert GCTRACE.match(line) and not GCTRACE.match(line).group(17)
    assert GCTRACE.match(line + " (forced)").group(17)
    assert not GCTRACE.match(line + " extra")


def gc_lines(text):
    return [line for line in text.splitlines() if line.startswith("gc ")]


def check_lines(lines, cycles, forced=None):
    """`cycles` well-formed lines numbered 1..cycles; with `forced` (a bool),
    every line does or does not end in " (forced)"."""
    assert len(lines) == cycles, lines
    for n, line in enumerate(lines, 1):
        m = GCTRACE.match(line)
        assert m, line
        assert int(m.group(1)) == n
        assert 0 <= int(m.group(3)) <= 100
        if forced is not None:
            assert bool(m.group(17)) == forced, line


@pytest.mark.parametrize("collector", COLLECTORS)
def test_gctrace_lines_go_to_sys_stderr(capsys, collector):
    with tricolor.Heap(collector=collector, gctrace=True) as heap:
        for _ in range(3):
            heap.collect()
    out, err = capsys.readouterr()
    assert out == ""
    check_lines(gc_lines(err), 3, forced=True)  # collect() cycles say so, as runtime.GC()'s do in Go


def test_gctrace_lines_reach_file_descriptor_2(capfd):
    with tricolor.Heap(gctrace=True) as heap:
        heap.collect()
        heap.collect()
    out, err = capfd.readouterr()
    check_lines(gc_lines(err), 2)


@pytest.mark.parametrize("collector", COLLECTORS)
def test_gctrace_from_automatic_cycles(capsys, collector):
    with tricolor.Heap(collector=collector, gctrace=True, gogc=10) as heap:
        keep = [heap.new(2, data=32) for _ in range(1000)]
        for _ in range(100_000):
            heap.new(2, data=32)
        cycles = heap.stats().num_gc
    assert cycles >= 1 and keep
    lines = gc_lines(capsys.readouterr().err)
    # a background cycle may end between stats() and close(): close() prints its line too
    assert len(lines) >= cycles
    check_lines(lines, len(lines), forced=False)  # the pacer started them all


def test_no_gctrace_by_default(capsys):
    with tricolor.Heap() as heap:
        heap.collect()
    assert gc_lines(capsys.readouterr().err) == []


def test_gctrace_from_the_environment():
    code = "import tricolor\nh = tricolor.Heap()\nh.collect()\nh.collect()\nh.close()\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=subprocess_env(TRICOLOR_DEBUG="gctrace=1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    check_lines(gc_lines(r.stderr), 2)


def test_gctrace_argument_overrides_the_environment():
    code = "import tricolor\nh = tricolor.Heap(gctrace=False)\nh.collect()\nh.close()\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=subprocess_env(TRICOLOR_DEBUG="gctrace=1"))
    assert r.returncode == 0, r.stderr
    assert gc_lines(r.stderr) == []


@pytest.mark.parametrize("as_path", [str, pathlib.Path])
def test_trace_file_is_chrome_trace_json(tmp_path, as_path):
    path = tmp_path / "gc.json"
    with tricolor.Heap() as heap:
        heap.trace_start(as_path(path))
        for _ in range(3):
            for _ in range(1000):
                heap.new(2)
            heap.collect()
        heap.trace_stop()
    events = check_trace(path)
    assert isinstance(events, list) and events
    for e in events:
        assert "ph" in e and "name" in e
        assert "ts" in e or e["ph"] == "M"


def test_trace_stop_without_start_is_heap_error(heap):
    with pytest.raises(tricolor.HeapError):
        heap.trace_stop()


def test_trace_start_twice_is_heap_error(heap, tmp_path):
    heap.trace_start(tmp_path / "a.json")
    with pytest.raises(tricolor.HeapError):
        heap.trace_start(tmp_path / "b.json")
    heap.trace_stop()


def test_trace_to_an_unwritable_path_is_os_error(heap, tmp_path):
    with pytest.raises(OSError):
        heap.trace_start(tmp_path / "no" / "such" / "dir" / "gc.json")
        heap.trace_stop()


def test_trace_path_must_be_a_path(heap):
    with pytest.raises(TypeError):
        heap.trace_start(42)


def test_a_cycle_verify_finishes_prints_its_gctrace_line_before_verify_returns(capsys):
    """bindings/common/bc_drain.h: the calls that print queued gctrace lines
    are the same in both bindings (tests/lua/collect_spec.lua has the same
    scenario)."""
    with tricolor.Heap(collector="manual", gctrace=True) as heap:
        keep = heap.new(1)
        heap.gc_start()
        capsys.readouterr()
        heap.verify()  # finishes the running cycle first
        err = capsys.readouterr().err
        assert len([l for l in err.splitlines() if l.startswith("gc ")]) == 1, err
        del keep


def test_verify_is_quiet_with_gctrace(capsys):
    with tricolor.Heap(gctrace=True) as heap:
        heap.verify()
    assert gc_lines(capsys.readouterr().err) == []


def test_stop_the_world_cpu_figures_are_measured_apart(capsys):
    """The cpu part's first and last figures are the thread CPU time of the start
    pause and of the termination pause, each measured on its own (they used to be
    one total split in half, so the two were always equal). Both pauses do
    different work (termination flushes caches and readies the sweep, which
    grows with the spans in use), so over twenty cycles of a 50,000-object heap
    they differ in some line (with 2,000 objects both often rounded to the same
    microsecond in every line, and the test failed under load); under "stw"
    both are 0 (the pause's CPU is the mark's and the sweep's)."""
    with tricolor.Heap(collector="concurrent", gctrace=True, gogc=None) as heap:  # only the 20 cycles asked for
        keep = [heap.new(2, data=64) for _ in range(50_000)]
        for _ in range(20):
            heap.collect()
    pairs = [(m.group(7), m.group(11)) for m in map(GCTRACE.match, gc_lines(capsys.readouterr().err))]
    assert len(pairs) == 20 and keep
    assert any(start != end for start, end in pairs), pairs
    with tricolor.Heap(collector="stw", gctrace=True) as heap:
        heap.collect()
    (line,) = gc_lines(capsys.readouterr().err)
    m = GCTRACE.match(line)
    assert (m.group(7), m.group(11)) == ("0.000", "0.000"), line
