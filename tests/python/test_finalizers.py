"""Finalizers and cleanups (SPEC: set_finalizer, add_cleanup; issue 5), with
Go's semantics, under every collector. Scenario names follow
tests/c/test_special.c where they overlap.

Precise roots: every live Obj is a root, so each test drops its Python
handles (helpers return nothing but ids; `del`) before it collects. With
gogc=None no cycle runs unless a test asks for one, so counts are exact."""
import gc
import sys
import weakref

import pytest

import tricolor
from conftest import Marker


@pytest.fixture
def heap(quiet_heap):
    """Every test here counts exactly: automatic cycles off (conftest)."""
    return quiet_heap


@pytest.fixture
def unraisable(monkeypatch):
    """The unraisable exceptions reported while the test runs (sys.unraisablehook),
    as (type, message, object). Not the exception itself: its traceback holds
    the frames of the heap call's caller, and their handles are roots."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append((u.exc_type, str(u.exc_value), u.object)))
    return seen


def make_finalizable(heap, n, fn, nslots=1, data=8):
    """n unreachable objects, each with finalizer fn; their ids."""
    ids = []
    for _ in range(n):
        o = heap.new(nslots, data=data)
        heap.set_finalizer(o, fn)
        ids.append(o.id)
    return ids


# ---- exactly once --------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 500])
def test_finalizers_run_exactly_once(heap, n):
    seen = []
    ids = make_finalizable(heap, n, lambda o: seen.append(o.id))
    gc.collect()
    assert seen == []  # nothing runs before a cycle finds them
    heap.collect()
    assert sorted(seen) == sorted(ids)  # run at the end of collect(), on this thread
    for _ in range(3):
        heap.collect()
    assert heap.run_finalizers() == 0
    assert sorted(seen) == sorted(ids)
    s = heap.stats()
    assert (s.heap_objects, s.roots, s.finalizers_pending) == (0, 0, 0)
    heap.verify()


def test_finalizer_gets_the_object_intact(heap):
    got = []

    def fin(o):
        got.append((o.data, o[0], o[1].data, len(o), o.size, o.heap is heap))

    def build():
        a = heap.new(2, data=b"alpha")
        a[0] = 42
        a[1] = heap.new(0, data=b"beta")
        heap.set_finalizer(a, fin)

    build()
    heap.collect()
    assert got == [(b"alpha", 42, b"beta", 2, 5, True)]


def test_reachable_objects_are_not_finalized(heap):
    seen = []
    keep = heap.new(1)
    keep[0] = heap.new(0)
    heap.set_finalizer(keep, seen.append)
    heap.set_finalizer(keep[0], seen.append)
    for _ in range(3):
        heap.collect()
    assert seen == []
    assert heap.stats().heap_objects == 2


def test_set_finalizer_again_replaces_and_none_clears(heap):
    seen = []
    a, b = heap.new(0), heap.new(0)
    heap.set_finalizer(a, lambda o: seen.append("first"))
    heap.set_finalizer(a, lambda o: seen.append("second"))
    heap.set_finalizer(b, lambda o: seen.append("b"))
    heap.set_finalizer(b, None)
    heap.set_finalizer(b, None)  # clearing twice is fine
    del a, b
    heap.collect()
    assert seen == ["second"]


def test_replaced_and_cleared_callbacks_are_released(heap):
    dead = []
    a = heap.new(0)
    heap.set_finalizer(a, Marker(dead))
    heap.set_finalizer(a, Marker(dead))
    assert dead == [True]  # replaced: the heap let go of the first
    heap.set_finalizer(a, None)
    assert dead == [True, True]


def test_finalizers_run_under_automatic_cycles():
    seen = []
    with tricolor.Heap(gogc=10) as heap:
        n = 300
        make_finalizable(heap, n, lambda o: seen.append(o.id))
        for _ in range(200_000):  # garbage: automatic cycles; the safe points run them
            heap.new(2, data=16)
            if len(seen) == n:
                break
        heap.collect()
        heap.run_finalizers()
        assert len(seen) == n and len(set(seen)) == n


# ---- resurrection --------------------------------------------------------------


def test_finalizer_resurrection_keeps_referents_and_does_not_rerun(heap):
    saved, calls = [], []

    def fin(o):
        calls.append(o.id)
        saved.append(o)  # a live handle: the object is reachable again

    def build():
        a = heap.new(1)
        a[0] = heap.new(0, data=(77).to_bytes(8, "little"))
        heap.set_finalizer(a, fin)

    build()
    heap.collect()
    assert len(calls) == 1
    for _ in range(3):
        heap.collect()
    assert len(calls) == 1  # runs once unless set again
    (a,) = saved
    assert int.from_bytes(a[0].data, "little") == 77
    assert heap.stats().heap_objects == 2
    saved.clear()
    del a
    heap.collect()
    heap.collect()
    assert heap.stats().heap_objects == 0
    assert len(calls) == 1


def test_resurrection_through_a_slot(heap):
    keeper = heap.new(1)
    calls = []

    def fin(o):
        calls.append(1)
        keeper[0] = o

    def build():
        a = heap.new(1, data=b"x")
        a[0] = heap.new(0, data=b"child")
        heap.set_finalizer(a, fin)

    build()
    heap.collect()
    heap.collect()
    assert calls == [1]
    assert keeper[0][0].data == b"child"
    heap.verify()


def test_finalizer_set_again_runs_again(heap):
    calls = []

    def fin(o):
        calls.append(o.id)
        if len(calls) < 3:
            heap.set_finalizer(o, fin)  # rearm: Go runs it again next time

    make_finalizable(heap, 1, fin)
    for _ in range(5):
        heap.collect()
    assert len(calls) == 3 and len(set(calls)) == 1
    assert heap.stats().heap_objects == 0


# ---- ordering and cycles -----------------------------------------------------------


def test_finalizer_chain_runs_in_order(heap):
    order = []

    def build(n):
        prev = None
        for k in range(n):
            o = heap.new(1)
            o[0] = prev
            heap.set_finalizer(o, lambda x, k=k: order.append(k))
            prev = o
        return n

    n = build(4)  # 3 -> 2 -> 1 -> 0: the head is finalized first, one per cycle
    for expected in range(n - 1, -1, -1):
        heap.collect()
        assert order[-1] == expected
    assert order == [3, 2, 1, 0]
    heap.collect()
    assert heap.stats().heap_objects == 0


def test_cycle_of_finalizable_objects_is_never_collected(heap):
    seen = []

    def build():
        a, b = heap.new(1), heap.new(1)
        a[0], b[0] = b, a
        heap.set_finalizer(a, seen.append)
        heap.set_finalizer(b, seen.append)

    build()
    for _ in range(4):
        heap.collect()
    assert seen == []  # as in Go: documented
    assert heap.stats().heap_objects == 2
    heap.verify()


def test_cycle_through_one_finalizable_object_is_never_collected(heap):
    """As in Go: the finalizer's referents are kept for it, and they lead back."""
    seen = []

    def build():
        a, b = heap.new(1), heap.new(1)
        a[0], b[0] = b, a
        heap.set_finalizer(a, seen.append)
        c = heap.new(1)  # a chain into the cycle is kept too
        c[0] = a

    build()
    for _ in range(4):
        heap.collect()
    assert seen == []
    assert heap.stats().heap_objects == 2  # c had no finalizer: reclaimed


# ---- cleanups ---------------------------------------------------------------------


def test_cleanup_on_a_cycle_runs_and_frees(heap):
    seen = []

    def build():
        a, b = heap.new(1), heap.new(1)
        a[0], b[0] = b, a
        heap.add_cleanup(a, seen.append, "a's arg")

    build()
    heap.collect()
    assert seen == ["a's arg"]  # the cleanup did not keep the cycle alive
    assert heap.stats().heap_objects == 0
    heap.collect()
    assert seen == ["a's arg"]


def test_cleanups_run_once_each_after_the_object_is_reclaimed(heap):
    seen = []

    def build(n):
        for k in range(n):
            o = heap.new(0, data=16)
            heap.add_cleanup(o, seen.append, k)
            heap.add_cleanup(o, seen.append, -k - 1)  # several per object

    build(200)
    heap.collect()
    assert sorted(seen) == sorted(list(range(200)) + [-k - 1 for k in range(200)])
    assert heap.stats().heap_objects == 0
    heap.collect()
    assert len(seen) == 400


def test_cleanup_arg_may_be_another_object_of_the_heap(heap):
    got = []
    other = heap.new(0, data=b"other")
    heap.add_cleanup(heap.new(0), lambda o: got.append(o.data), other)
    del other
    heap.collect()
    assert got == [b"other"]
    gc.collect()
    heap.collect()
    heap.collect()
    assert heap.stats().heap_objects == 0  # the registry let go of the arg


def test_cleanup_arg_must_not_be_the_object(heap):
    a = heap.new(0)
    with pytest.raises(ValueError, match="arg"):
        heap.add_cleanup(a, print, a)
    b = heap.new(0)
    heap.add_cleanup(a, print, b)  # another object is fine


def test_cleanup_waits_for_a_resurrected_object(heap):
    saved, seen = [], []

    def build():
        a = heap.new(0)
        heap.set_finalizer(a, saved.append)
        heap.add_cleanup(a, seen.append, "cleaned")

    build()
    heap.collect()
    assert len(saved) == 1 and seen == []  # resurrected: not reclaimed yet
    saved.clear()
    heap.collect()
    heap.collect()
    assert seen == ["cleaned"]


# ---- raising ----------------------------------------------------------------------


def test_raising_finalizers_are_reported_and_do_not_stop_others(heap, unraisable):
    ran = []

    def fin(o):
        ran.append(o.id)
        if len(ran) % 2:
            raise RuntimeError("finalizer failed")

    make_finalizable(heap, 10, fin)
    heap.collect()
    assert len(ran) == 10
    assert len(unraisable) == 5
    assert all(t is RuntimeError and v == "finalizer failed" and o is fin for t, v, o in unraisable)


def test_raising_cleanup_is_reported(heap, unraisable):
    def bad(arg):
        raise ValueError(arg)

    seen = []
    heap.add_cleanup(heap.new(0), bad, "boom")
    heap.add_cleanup(heap.new(0), seen.append, "fine")
    heap.collect()
    assert seen == ["fine"]
    assert [(t, v) for t, v, _ in unraisable] == [(ValueError, "boom")]


def test_failing_calls_keep_their_exception_while_callbacks_run(unraisable):
    """The concurrent collector queues callbacks while failing calls run: the
    safe point at the end of a failing call runs them (raising ones too) and
    the call still raises its own exception."""
    seen = []

    def fin(o):
        seen.append(1)
        if len(seen) % 2:
            raise KeyError("inner")

    with tricolor.Heap(collector="concurrent", gogc=5) as heap:
        total = 0
        for _ in range(300):
            total += len(make_finalizable(heap, 5, fin))
            for _ in range(50):
                heap.new(2, data=32)
            with pytest.raises(MemoryError):
                heap.new(0, data=1 << 62)
        heap.collect()
        heap.run_finalizers()
        assert len(seen) == total
        assert len(unraisable) == (total + 1) // 2
        assert all(t is KeyError for t, _, _ in unraisable)


def test_set_finalizer_argument_errors(heap):
    a = heap.new(0)
    with pytest.raises(TypeError):
        heap.set_finalizer(a, 42)
    with pytest.raises(TypeError):
        heap.set_finalizer("not an obj", print)
    with pytest.raises(TypeError):
        heap.set_finalizer(a)
    with pytest.raises(TypeError):
        heap.add_cleanup(a, 42, None)
    with pytest.raises(TypeError):
        heap.add_cleanup(a, print)
    with tricolor.Heap() as other:
        with pytest.raises(tricolor.CrossHeapError):
            heap.set_finalizer(other.new(0), print)
        with pytest.raises(tricolor.CrossHeapError):
            heap.add_cleanup(other.new(0), print, None)


# ---- re-entrancy ------------------------------------------------------------------


def test_finalizers_that_allocate_and_reenter(heap):
    events = []
    keep = heap.new(1)

    def fin(o):
        events.append(("fin", o[0]))
        n = heap.new(1, data=b"made in a finalizer")  # allocate
        n[0] = o[0] + 1
        keep[0] = n  # store
        heap.collect()  # re-enter: no deadlock, no nested drain
        assert heap.run_finalizers() == 0  # nested: the outer loop runs them
        heap.stats()
        if o[0] < 3:
            heap.set_finalizer(n, fin)  # set a finalizer on a new object
            keep[0] = None  # ... and make it garbage: the outer loop picks it up

    def build():
        o = heap.new(1)
        o[0] = 0
        heap.set_finalizer(o, fin)

    build()
    heap.collect()
    for _ in range(4):
        heap.collect()
    assert [k for _, k in events] == [0, 1, 2, 3]
    assert keep[0][0] == 4
    heap.verify()


def test_collect_in_a_finalizer_makes_more_due_for_the_outer_loop(heap):
    order = []

    def second(o):
        order.append("second")

    def first(o):
        order.append("first")
        make_finalizable(heap, 1, second)
        heap.collect()  # the new one is due now; it runs after this returns
        assert heap.stats().finalizers_pending == 1
        order.append("first done")

    make_finalizable(heap, 1, first)
    heap.collect()
    assert order == ["first", "first done", "second"]


def test_finalizers_run_on_the_calling_thread(heap):
    import threading
    threads = []
    make_finalizable(heap, 5, lambda o: threads.append(threading.get_ident()))
    heap.collect()
    assert set(threads) == {threading.get_ident()}


def test_run_finalizers_drains_and_counts(heap):
    assert heap.run_finalizers() == 0
    seen = []
    make_finalizable(heap, 4, seen.append)
    heap.collect()
    assert len(seen) == 4 and heap.run_finalizers() == 0


# ---- close ------------------------------------------------------------------------


def test_close_with_pending_finalizers_drops_them(heap):
    ran, pending = [], []

    class Fn:
        def __call__(self, o):
            ran.append("late")

    late = Fn()
    late_ref = weakref.ref(late)

    def closer(o):
        ran.append("closer")
        make_finalizable(heap, 5, late)
        heap.collect()  # 5 due; not run while we are inside a finalizer
        pending.append(heap.stats().finalizers_pending)
        heap.close()  # safe inside a finalizer: the drain stops here

    make_finalizable(heap, 1, closer)
    heap.collect()
    del late
    assert ran == ["closer"] and pending == [5]
    assert heap.closed
    assert late_ref() is None  # the dropped callbacks were released
    with pytest.raises(tricolor.HeapClosedError):
        heap.run_finalizers()


def test_close_inside_a_finalizer_stops_the_others(heap):
    ran = []

    def fin(o):
        ran.append(o.id)
        heap.close()

    make_finalizable(heap, 10, fin)
    heap.collect()
    assert len(ran) == 1 and heap.closed


def test_finalizer_methods_after_close(heap):
    a = heap.new(0)
    heap.close()
    for call in (lambda: heap.set_finalizer(a, print), lambda: heap.set_finalizer(a, None),
                 lambda: heap.add_cleanup(a, print, 1), heap.run_finalizers, heap.scavenge):
        with pytest.raises(tricolor.HeapClosedError):
            call()


def test_heap_in_a_cycle_with_its_callbacks_is_collected():
    dead = []

    h = tricolor.Heap(gogc=None)
    o = h.new(0)
    h.set_finalizer(o, Marker(dead, ref=h))  # the callback refers back to the Heap
    del o, h
    gc.collect()
    assert dead == [True]


def test_finalizers_and_weakrefs_at_interpreter_exit():
    import subprocess
    from conftest import subprocess_env
    script = """
import threading, tricolor
heaps = [tricolor.Heap(collector=c) for c in ("concurrent", "incremental", "stw")]
keep = []
def fin(o):
    keep.append(o.heap.new(1))    # allocate in a finalizer
for h in heaps:
    for _ in range(200):
        h.set_finalizer(h.new(1, data=16), fin)
    target = h.new(1)
    keep.append((target, h.weakref(target), h.weakref(h.new(0))))
    h.collect()
    for _ in range(50):
        h.set_finalizer(h.new(1), fin)   # pending at exit
def loop(h, w):
    while True:
        w.get()
        h.set_finalizer(h.new(1), fin)
        h.collect()
for h in heaps:
    threading.Thread(target=loop, args=(h, h.weakref(h.new(0))), daemon=True).start()
print("exiting")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       env=subprocess_env())
    assert (r.returncode, r.stdout.strip()) == (0, "exiting"), r.stderr
