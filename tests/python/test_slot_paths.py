"""obj[i] and obj[i] = v on the binding's owned paths (tc_slot_get_owned /
tc_slot_set_owned: a plain value read, and stored over a plain value, with no
heap call while the GIL is held; a reference read rooted in one).

What these prove: every case the no-call path must hand back to the checked
call does so, with the checked call's result: a closed heap (checked by the
binding first, before the handle's root is read: under ASan a read of the
freed handle table would fail), a freed object, an index out of range in
either direction, a store during a mark (the barrier counts it, and an int
over the only reference greys the old object under the deletion barriers), a
recorded store (it is in the log), an int over a reference (the reference is
gone: its object is collected), and a reference read (a new handle, a root).
"""
import sys

import pytest

import tricolor
import tricolor.unsafe

VALUES = [7, -3, 2**40, None, True, 1.5]


@pytest.mark.parametrize("value", VALUES + ["ref"])
def test_store_on_a_closed_heap_raises_before_reading_the_handle(value):
    heap = tricolor.Heap()
    obj, other = heap.new(3), heap.new(0)
    obj[0] = 1
    heap.close()  # frees the handle table: the store must not read obj's root
    v = other if value == "ref" else value
    for i in (0, -1, 5):
        with pytest.raises(tricolor.HeapClosedError):
            obj[i] = v


@pytest.mark.parametrize("held", [5, None, "ref"])
def test_load_on_a_closed_heap_raises(held):
    heap = tricolor.Heap()
    obj = heap.new(2)
    obj[0] = heap.new(0) if held == "ref" else held
    heap.close()
    for i in (0, -2, 9):
        with pytest.raises(tricolor.HeapClosedError):
            obj[i]


def test_freed_object_refuses_loads_and_int_stores():
    heap = tricolor.Heap()
    obj = heap.new(2)
    obj[0] = 4
    tricolor.unsafe.free(obj)
    with pytest.raises(tricolor.FreedObjectError):
        obj[0] = 5
    with pytest.raises(tricolor.FreedObjectError):
        obj[0]
    heap.close()


def test_indices_out_of_range_and_negative(heap):
    obj = heap.new(3)
    obj[-1] = 9
    obj[-3] = 1
    assert obj[2] == 9 and obj[0] == 1 and obj[-2] is None
    for i in (3, -4, 2**20):
        with pytest.raises(IndexError):
            obj[i] = 1
        with pytest.raises(IndexError):
            obj[i]
    assert list(obj) == [1, None, 9]


@pytest.mark.parametrize("barrier, shades", [("hybrid", 1), ("dijkstra", 0), ("yuasa", 1)])
def test_int_stores_during_a_mark_take_the_barrier(barrier, shades):
    h = tricolor.Heap(collector="manual", barrier=barrier)
    r, x = h.new(2), h.new(0)
    r[0] = x
    r[1] = 1
    del x  # reachable through r only
    s0 = h.stats()
    r[1] = 2  # no mark: the owned path, nothing counted
    h.gc_start()
    s1 = h.stats()
    assert (s1.barrier_slow - s0.barrier_slow, s1.barrier_shaded - s0.barrier_shaded) == (0, 0)
    r[1] = 3  # int over int during the mark: one slow store, nothing to grey
    s2 = h.stats()
    assert (s2.barrier_slow - s1.barrier_slow, s2.barrier_shaded - s1.barrier_shaded) == (1, 0)
    r[0] = 4  # int over the only reference: greyed by the deletion barriers
    s3 = h.stats()
    assert (s3.barrier_slow - s2.barrier_slow, s3.barrier_shaded - s2.barrier_shaded) == (1, shades)
    h.gc_finish()
    assert r[0] == 4 and r[1] == 3
    h.close()


def test_int_over_a_reference_drops_it():
    heap = tricolor.Heap(collector="stw")
    obj = heap.new(1)
    obj[0] = heap.new(0, data=64)
    heap.collect()
    before = heap.stats().heap_objects
    obj[0] = 1  # the old value is a reference: the checked store
    heap.collect()
    assert heap.stats().heap_objects == before - 1
    assert obj[0] == 1
    heap.close()


def _records(tmp_path, name, stores):
    heap = tricolor.Heap(collector="stw")
    path = str(tmp_path / name)
    heap.record_start(path)
    obj = heap.new(2)
    for k in range(stores):
        obj[k % 2] = k
    heap.record_stop()
    heap.close()
    rep = tricolor.Heap(collector="stw")
    try:
        return rep._replay(path)["records"]
    finally:
        rep.close()


def test_int_stores_are_recorded(tmp_path):
    assert _records(tmp_path, "b.tclog", 11) - _records(tmp_path, "a.tclog", 1) == 10


def test_reference_loads_are_new_roots(heap):
    obj = heap.new(2)
    obj[1] = heap.new(0)
    base = heap.stats().roots
    got = [obj[1] for _ in range(5)]
    assert heap.stats().roots == base + 5
    assert all(g == got[0] for g in got)
    del got
    assert heap.stats().roots == base


def test_reloaded_handles_keep_their_type_referenced(heap):
    # A handle on the free list keeps its reference to tricolor.Obj (the
    # load that takes it back adds none, the drop that keeps it drops
    # none): the type's refcount is the same after any number of loads and
    # drops, and counts live plus kept handles. A missed or extra reference
    # drifts it by one per round.
    obj = heap.new(2)
    obj[1] = heap.new(3, data=b"abcd")
    Obj = type(obj)
    warm = [obj[1] for _ in range(200)]  # fills the free list when dropped
    del warm
    base = sys.getrefcount(Obj)
    for _ in range(1000):
        r = obj[1]
        assert len(r) == 3 and r.size == 4 and r.data == b"abcd"
    del r
    assert sys.getrefcount(Obj) == base
    got = [obj[1] for _ in range(500)]  # more than the free list holds: new ones
    assert sys.getrefcount(Obj) == base + 500 - 64  # 64 came off the list (PYTC_OBJ_FREE_MAX)
    del got
    assert sys.getrefcount(Obj) == base
