"""Heap configuration: constructor arguments and tunables (SPEC: Python)."""
import pytest

import tricolor
from conftest import COLLECTORS


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
