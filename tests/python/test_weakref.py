"""Weak references (SPEC: heap.weakref, w.get(); issue 5), under every
collector. Scenario names follow tests/c/test_special.c."""
import gc

import pytest

import tricolor
from conftest import Marker, run_threads


@pytest.fixture
def heap(quiet_heap):
    """Every test here counts exactly: automatic cycles off (conftest)."""
    return quiet_heap


def test_weakref_gets_the_target_while_it_is_reachable(heap):
    a = heap.new(1, data=b"abc")
    w = heap.weakref(a)
    assert isinstance(w, tricolor.WeakRef)
    got = w.get()
    assert got == a and got is not a and got.data == b"abc"
    del got
    for _ in range(3):
        heap.collect()
    assert w.get() == a
    assert f"id={a.id}" in repr(w)


def test_weakref_does_not_keep_the_target_alive(heap):
    a = heap.new(0)
    w = heap.weakref(a)
    del a
    heap.collect()
    assert w.get() is None
    assert heap.stats().heap_objects == 0
    heap.collect()
    assert w.get() is None


def test_weakref_through_a_slot_chain(heap):
    root = heap.new(1)
    root[0] = heap.new(1)
    root[0][0] = heap.new(0, data=b"leaf")
    w = heap.weakref(root[0][0])
    heap.collect()
    assert w.get().data == b"leaf"
    root[0] = None
    heap.collect()
    assert w.get() is None


def test_weak_reference_cleared_before_finalizer_and_stays_cleared(heap):
    saved, during = [], []
    a = heap.new(0)
    w = heap.weakref(a)

    def fin(o):
        during.append(w.get())  # already cleared when the finalizer runs
        saved.append(o)  # resurrect

    heap.set_finalizer(a, fin)
    del a
    heap.collect()
    assert during == [None] and len(saved) == 1
    assert w.get() is None
    heap.collect()
    assert w.get() is None  # a resurrected object's weak refs stay cleared
    assert heap.stats().weak_refs == 1
    assert heap.weakref(saved[0]).get() == saved[0]  # a new one works


def test_weak_refs_are_counted(heap):
    objs = [heap.new(0) for _ in range(10)]
    ws = [heap.weakref(o) for o in objs]
    ws.append(heap.weakref(objs[0]))
    assert heap.stats().weak_refs == 11
    del ws[5:]
    gc.collect()
    assert heap.stats().weak_refs == 5
    del objs
    heap.collect()
    assert heap.stats().weak_refs == 5  # cleared, not released: they still exist
    del ws
    assert heap.stats().weak_refs == 0


def test_weakref_argument_errors(heap):
    with pytest.raises(TypeError):
        heap.weakref(42)
    with pytest.raises(TypeError):
        tricolor.WeakRef()
    with tricolor.Heap() as other:
        with pytest.raises(tricolor.CrossHeapError):
            heap.weakref(other.new(0))


def test_weak_get_storm_during_mark_under_checkmark():
    """Threads get() weak references while another thread collects in a loop
    with checkmark on: a get during mark must shade its target (golang/go#69210),
    else checkmark fails the cycle (HeapCorruption) or the target is freed."""
    for collector in ("concurrent", "incremental"):
        with tricolor.Heap(collector=collector, checkmark=True, gogc=10) as heap:
            keep, weaks = [], []
            for i in range(64):
                o = heap.new(1)
                o[0] = heap.new(0, data=i.to_bytes(8, "little"))
                weaks.append(heap.weakref(o))
                if i % 2 == 0:
                    keep.append(o)  # half of the targets die
            del o
            stop = []

            def getter(k):
                n = 0
                while not stop:
                    t = weaks[(n * 7 + k) % 64].get()
                    if t is not None:
                        i = int.from_bytes(t[0].data, "little")  # the target is intact
                        assert i == (n * 7 + k) % 64
                        got = weaks[i].get()
                        assert got is None or got == t
                    n += 1
                    if n % 50 == 0:
                        heap.new(2, data=16)  # a little garbage from the getters too

            def collector_thread():
                try:
                    for _ in range(30):
                        heap.collect()
                        for _ in range(500):
                            heap.new(2, data=16)
                finally:
                    stop.append(True)

            errors = run_threads(lambda k: collector_thread() if k == 0 else getter(k), 4)
            assert errors == []
            heap.verify()
            heap.collect()
            for i, w in enumerate(weaks):
                assert (w.get() is not None) == (i % 2 == 0), i


def test_close_with_pending_finalizers_and_weak_refs(heap):
    a, b = heap.new(0), heap.new(0)
    ran = []

    def fin(o):
        ran.append(o)
        heap.close()  # the second finalizer stays pending and is dropped

    heap.set_finalizer(a, fin)
    heap.set_finalizer(heap.new(0), fin)
    w = heap.weakref(b)
    del a
    heap.collect()
    assert len(ran) == 1 and heap.closed
    with pytest.raises(tricolor.HeapClosedError):
        w.get()
    with pytest.raises(tricolor.HeapClosedError):
        heap.weakref(b)
    del w  # releasing a weak reference after close is fine
    gc.collect()


def test_handles_and_weak_refs_after_close(heap):
    a = heap.new(2, data=b"xy")
    w = heap.weakref(a)
    ident = a.id
    heap.close()
    with pytest.raises(tricolor.HeapClosedError):
        w.get()
    assert "WeakRef" in repr(w)
    for op in (lambda: a[0], lambda: a.data, lambda: len(a), lambda: a.size, lambda: a.heap):
        with pytest.raises(tricolor.HeapClosedError):
            op()
    assert a.id == ident and a == a and hash(a) == hash(ident) and "Obj" in repr(a)


def test_weakref_keeps_its_heap_alive():
    heap = tricolor.Heap(gogc=None)
    a = heap.new(0, data=b"still here")
    w = heap.weakref(a)
    del heap
    gc.collect()
    assert w.get().data == b"still here"
    del a
    gc.collect()
    got = w.get()
    assert got is not None and got.data == b"still here"  # no cycle ran: not collected yet
    del got, w
    gc.collect()  # the heap goes with its last weak reference; no crash


def test_weakref_in_a_cycle_with_a_callback_is_collected():
    dead = []

    heap = tricolor.Heap(gogc=None)
    a = heap.new(0)
    w = heap.weakref(a)
    heap.add_cleanup(a, Marker(dead), w)  # heap -> callbacks -> w -> heap
    del heap, w
    gc.collect()
    assert dead == []  # a (a live handle) keeps the heap
    del a
    gc.collect()  # the heap, its callbacks and the weak reference go together
    assert dead == [True]
