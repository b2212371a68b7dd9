"""Heap configuration: constructor arguments, tunables and the environment's
defaults (SPEC: Python, Environment)."""
import subprocess
import sys

import pytest

import tricolor
from conftest import COLLECTORS, subprocess_env


def test_defaults(monkeypatch):
    monkeypatch.delenv("TRICOLOR_DEBUG", raising=False)
    with tricolor.Heap() as heap:
        assert heap.collector == "concurrent"
        assert heap.barrier == "hybrid"
        assert heap.gogc == 100
        assert heap.memory_limit is None
        assert not heap.closed
        s = heap.stats()
        assert (s.collector, s.barrier) == ("concurrent", "hybrid")


@pytest.mark.parametrize("collector", COLLECTORS)
def test_every_collector_is_accepted_and_reported(collector):
    with tricolor.Heap(collector=collector) as heap:
        assert heap.collector == collector
        assert heap.stats().collector == collector
        assert collector in repr(heap)


def test_all_arguments_by_keyword():
    with tricolor.Heap(collector="stw", gogc=50, memory_limit=1 << 30, barrier="dijkstra",
                       mark_workers=2, gctrace=False, checkmark=True) as heap:
        assert heap.gogc == 50
        assert heap.memory_limit == 1 << 30
        assert heap.barrier == "dijkstra"
        assert heap.stats().barrier == "dijkstra"


@pytest.mark.parametrize("collector", COLLECTORS)
@pytest.mark.parametrize("barrier", ["hybrid", "dijkstra", "yuasa"])
def test_every_barrier_under_every_collector(collector, barrier):
    with tricolor.Heap(collector=collector, barrier=barrier) as heap:
        obj = heap.new(1)
        obj[0] = heap.new(0)
        heap.collect()
        assert heap.barrier == barrier


@pytest.mark.parametrize("collector", COLLECTORS)
def test_gogc_none_means_off(collector):
    with tricolor.Heap(collector=collector, gogc=None) as heap:
        assert heap.gogc is None
        for _ in range(20000):
            heap.new(4, data=64)
        assert heap.stats().num_gc == 0, "no automatic cycles with gogc=None and no memory limit"
        heap.collect()
        assert heap.stats().num_gc == 1


@pytest.mark.parametrize("collector", COLLECTORS)
def test_memory_limit_triggers_cycles_when_gogc_is_off(collector):
    with tricolor.Heap(collector=collector, gogc=None, memory_limit=4 << 20) as heap:
        for _ in range(100000):
            heap.new(2, data=64)
        assert heap.stats().num_gc >= 1


@pytest.mark.parametrize("collector", COLLECTORS)
def test_gogc_zero_collects_often(collector):
    with tricolor.Heap(collector=collector, gogc=0) as heap:
        for _ in range(50000):
            heap.new(2)
        assert heap.stats().num_gc >= 1


@pytest.mark.parametrize("kwargs, word", [
    ({"collector": "mark-compact"}, "collector"),
    ({"barrier": "steele"}, "barrier"),
    ({"gogc": -1}, "gogc"),
    ({"gogc": 2**70}, "gogc"),
    ({"memory_limit": 0}, "memory_limit"),
    ({"memory_limit": -5}, "memory_limit"),
    ({"mark_workers": 0}, "mark_workers"),
    ({"mark_workers": -3}, "mark_workers"),
    ({"mark_workers": 10**6}, "mark_workers"),
])
def test_bad_argument_values_are_value_errors_naming_the_argument(kwargs, word):
    with pytest.raises(ValueError) as info:
        tricolor.Heap(**kwargs)
    assert word in str(info.value)


@pytest.mark.parametrize("name, lo, hi, unit", [("mark_workers", 1, 256, ""),
                                                ("events_ring", 0, 1 << 24, " events")])
def test_integer_option_bounds_are_the_cores_with_its_message(name, lo, hi, unit):
    """bindings/common/bc_config.c: one bound per option, the core's, and one
    message, the core's, in both bindings (tests/lua/heap_spec.lua: the same
    scenario). Python accepted any mark_workers >= 1, Lua up to 1024."""
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValueError, match=f"^{name} must be between {lo} and {hi}{unit}, not {bad}$"):
            tricolor.Heap(**{name: bad})
    if name == "mark_workers":  # the bound itself is accepted (no threads under stw)
        with tricolor.Heap(collector="stw", **{name: hi}):
            pass


@pytest.mark.parametrize("kwargs, word", [
    ({"collector": 1}, "collector"),
    ({"collector": None}, "collector"),
    ({"barrier": b"hybrid"}, "barrier"),
    ({"gogc": "100"}, "gogc"),
    ({"gogc": 1.5}, "gogc"),
    ({"gogc": True}, "gogc"),
    ({"memory_limit": 1.0e9}, "memory_limit"),
    ({"memory_limit": True}, "memory_limit"),
    ({"mark_workers": 1.0}, "mark_workers"),
    ({"mark_workers": True}, "mark_workers"),
    ({"gctrace": "yes"}, "gctrace"),
    ({"checkmark": None}, "checkmark"),
])
def test_bad_argument_types_are_type_errors_naming_the_argument(kwargs, word):
    with pytest.raises(TypeError) as info:
        tricolor.Heap(**kwargs)
    assert word in str(info.value)


def test_unknown_keyword_is_type_error():
    with pytest.raises(TypeError):
        tricolor.Heap(gc_percent=100)


def test_tunables_are_settable_while_running(heap):
    heap.gogc = 50
    assert heap.gogc == 50
    heap.gogc = None
    assert heap.gogc is None
    heap.gogc = 0
    assert heap.gogc == 0
    heap.memory_limit = 1 << 30
    assert heap.memory_limit == 1 << 30
    heap.memory_limit = None
    assert heap.memory_limit is None


@pytest.mark.parametrize("attr, value, exc", [
    ("gogc", -1, ValueError), ("gogc", 2**64, ValueError), ("gogc", "50", TypeError),
    ("gogc", True, TypeError), ("gogc", 50.0, TypeError),
    ("memory_limit", 0, ValueError), ("memory_limit", -1, ValueError), ("memory_limit", "1G", TypeError),
    ("memory_limit", False, TypeError),
])
def test_tunable_validation(heap, attr, value, exc):
    before = getattr(heap, attr)
    with pytest.raises(exc) as info:
        setattr(heap, attr, value)
    assert attr in str(info.value)
    assert getattr(heap, attr) == before


def test_tunables_cannot_be_deleted(heap):
    with pytest.raises(TypeError):
        del heap.gogc
    with pytest.raises(TypeError):
        del heap.memory_limit


def test_read_only_properties(heap):
    for name in ("collector", "barrier", "closed"):
        with pytest.raises(AttributeError):
            setattr(heap, name, "x")


def test_trace_debug_env_is_applied_and_arguments_win(monkeypatch):
    monkeypatch.setenv("TRICOLOR_DEBUG", "gctrace=1")
    with tricolor.Heap(gctrace=False) as heap:
        heap.collect()  # nothing printed: the argument overrides the environment


# ---- TRICOLOR_GOGC and TRICOLOR_MEMORY_LIMIT (SPEC: Environment) -----------------
# Go's syntax (runtime/extern.go): GOGC is "off" or an integer percent (negative:
# off); GOMEMLIMIT is "off" or an integer byte count with an optional unit B, KiB,
# MiB, GiB or TiB. The core parses them once for both bindings (config.c).

@pytest.mark.parametrize("text, gogc", [
    ("off", None), ("0", 0), ("50", 50), ("400", 400), ("-1", None), ("", 100)])
def test_env_gogc_sets_the_default(monkeypatch, recwarn, text, gogc):
    monkeypatch.setenv("TRICOLOR_GOGC", text)
    with tricolor.Heap() as heap:
        assert heap.gogc == gogc
    assert not [w for w in recwarn if "TRICOLOR" in str(w.message)]


@pytest.mark.parametrize("text, limit", [
    ("off", None), ("1", 1), ("536870912", 536870912), ("4096B", 4096), ("64KiB", 64 << 10),
    ("512MiB", 512 << 20), ("1GiB", 1 << 30), ("2TiB", 2 << 40), ("", None)])
def test_env_memory_limit_sets_the_default(monkeypatch, recwarn, text, limit):
    monkeypatch.setenv("TRICOLOR_MEMORY_LIMIT", text)
    with tricolor.Heap() as heap:
        assert heap.memory_limit == limit
        assert heap.gogc == 100
    assert not [w for w in recwarn if "TRICOLOR" in str(w.message)]


@pytest.mark.parametrize("collector", COLLECTORS)
def test_env_defaults_apply_to_every_collector_and_explicit_options_win(monkeypatch, collector):
    monkeypatch.setenv("TRICOLOR_GOGC", "off")
    monkeypatch.setenv("TRICOLOR_MEMORY_LIMIT", "256MiB")
    with tricolor.Heap(collector=collector) as heap:
        assert (heap.gogc, heap.memory_limit) == (None, 256 << 20)
    with tricolor.Heap(collector=collector, gogc=30, memory_limit=None) as heap:
        assert (heap.gogc, heap.memory_limit) == (30, None)
    with tricolor.Heap(collector=collector, memory_limit=1 << 30) as heap:
        assert (heap.gogc, heap.memory_limit) == (None, 1 << 30)


@pytest.mark.parametrize("var, text, default", [
    ("TRICOLOR_GOGC", "abc", "gogc=100"), ("TRICOLOR_GOGC", "1e3", "gogc=100"),
    ("TRICOLOR_GOGC", "50%", "gogc=100"), ("TRICOLOR_GOGC", "2147483648", "gogc=100"),
    ("TRICOLOR_MEMORY_LIMIT", "1.5GiB", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "512 MiB", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "512MB", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "512mib", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "0", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "-1", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "9223372036854775808", "memory_limit=off"),
    ("TRICOLOR_MEMORY_LIMIT", "8388608TiB", "memory_limit=off"),
])
def test_env_bad_value_warns_once_naming_the_variable_and_the_default(monkeypatch, var, text, default):
    monkeypatch.setenv(var, text)
    with pytest.warns(RuntimeWarning) as caught:
        heap = tricolor.Heap()
    try:
        assert (heap.gogc, heap.memory_limit) == (100, None)  # the defaults, and a working heap
        heap.new(1)
        heap.collect()
    finally:
        heap.close()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    msg = messages[0]
    assert "\n" not in msg and var in msg and repr(text).strip("'") in msg and default in msg, msg
    assert caught[0].filename == __file__  # attributed to the line that made the heap


def test_env_bad_values_never_crash_a_child_and_the_warning_reaches_stderr():
    code = "import tricolor\nwith tricolor.Heap() as h:\n    h.collect()\n    print(h.gogc, h.memory_limit)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=subprocess_env(TRICOLOR_GOGC="lots", TRICOLOR_MEMORY_LIMIT="huge"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["100", "None"]
    lines = [line for line in r.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(lines) == 2 and "TRICOLOR_GOGC=\"lots\"" in lines[0] and "TRICOLOR_MEMORY_LIMIT" in lines[1]
