"""tricolor.unsafe: address, buffer, free (SPEC; issue 5), under every
collector. Scenario names follow tests/c/test_special.c."""
import gc

import pytest

import tricolor
from tricolor import unsafe


@pytest.fixture
def heap(quiet_heap):
    """Every test here counts exactly: automatic cycles off (conftest)."""
    return quiet_heap


def test_unsafe_is_a_module_of_the_package():
    import tricolor.unsafe as u
    assert u is unsafe is tricolor.unsafe
    assert sorted(u.__all__) == ["address", "buffer", "free"]
    assert u.free.__name__ == "free" and u.free.__doc__


# ---- address -------------------------------------------------------------------


def test_address_is_a_stable_aligned_int(heap):
    a, b = heap.new(1), heap.new(1)
    x = unsafe.address(a)
    assert isinstance(x, int) and x > 0 and x % 8 == 0
    assert x != unsafe.address(b)
    a[0] = b
    heap.collect()
    assert unsafe.address(a) == x  # objects do not move
    assert unsafe.address(a[0]) == unsafe.address(b)


def test_address_argument_errors(heap):
    with pytest.raises(TypeError):
        unsafe.address(42)
    a = heap.new(0)
    heap.close()
    with pytest.raises(tricolor.HeapClosedError):
        unsafe.address(a)


# ---- buffer ---------------------------------------------------------------------


def test_buffer_writes_are_visible_in_data(heap):
    a = heap.new(1, data=b"hello")
    view = unsafe.buffer(a)
    assert isinstance(view, memoryview)
    assert not view.readonly and view.format == "B" and len(view) == 5 and view.nbytes == 5
    assert bytes(view) == b"hello"
    view[0:1] = b"J"
    assert a.data == b"Jello"
    a.data = b"world"
    assert bytes(view) == b"world"  # and the other way
    view[:] = b"\x00" * 5
    assert a.data == bytes(5)
    view.release()


def test_buffer_of_an_empty_payload(heap):
    with unsafe.buffer(heap.new(3)) as view:
        assert len(view) == 0 and bytes(view) == b""


def test_buffer_keeps_the_object_alive(heap):
    a = heap.new(0, data=b"kept")
    w = heap.weakref(a)
    view = unsafe.buffer(a)
    del a
    gc.collect()
    for _ in range(3):
        heap.collect()
    assert bytes(view) == b"kept" and w.get() is not None
    view.release()
    del view
    gc.collect()
    heap.collect()
    assert w.get() is None


def test_free_refused_while_a_buffer_exists(heap):
    a = heap.new(0, data=8)
    view = unsafe.buffer(a)
    second = memoryview(view.obj)  # a second export of the same payload
    with pytest.raises(BufferError, match="view"):
        unsafe.free(a)
    view.release()
    with pytest.raises(BufferError):
        unsafe.free(a)  # one view is still there
    second.release()
    unsafe.free(a)
    with pytest.raises(tricolor.FreedObjectError):
        unsafe.buffer(a)


def test_close_refused_while_a_buffer_exists(heap):
    a = heap.new(0, data=8)
    with unsafe.buffer(a) as view:
        view[0] = 1
        with pytest.raises(BufferError, match="view"):
            heap.close()
        assert not heap.closed
    heap.close()
    assert heap.closed
    with pytest.raises(tricolor.HeapClosedError):
        unsafe.buffer(a)


def test_buffer_argument_errors():
    with pytest.raises(TypeError):
        unsafe.buffer(b"bytes")
    with pytest.raises(TypeError):
        unsafe.free(None)


# ---- free -----------------------------------------------------------------------


def test_unsafe_free_then_use(heap):
    a = heap.new(1, data=8)
    tmp = heap.new(1)
    tmp[0] = a
    a2 = tmp[0]  # a second handle to the same object
    tmp[0] = None
    holder = heap.new(1)
    holder[0] = a
    ident, h = a.id, hash(a)
    unsafe.free(a)
    for handle in (a, a2):
        for op in (lambda: handle[0], lambda: handle.data, lambda: len(handle), lambda: handle.size,
                   lambda: handle.heap, lambda: list(handle), lambda: iter(handle),
                   lambda: handle.__setitem__(0, 1), lambda: setattr(handle, "data", bytes(8)),
                   lambda: unsafe.address(handle), lambda: unsafe.buffer(handle), lambda: unsafe.free(handle),
                   lambda: heap.weakref(handle), lambda: heap.set_finalizer(handle, print),
                   lambda: heap.add_cleanup(handle, print, 1), lambda: holder.__setitem__(0, handle)):
            with pytest.raises(tricolor.FreedObjectError):
                op()
    # id, ==, hash and repr keep working
    assert a.id == a2.id == ident and a == a2 and hash(a2) == h and f"id={ident}" in repr(a2)
    with pytest.raises(tricolor.HeapCorruption):
        heap.verify()  # holder still points at it: the caller's bug, reported
    holder[0] = None
    heap.verify()
    assert heap.stats().roots == 4  # the freed handles are still roots until dropped
    del a, a2, tmp, handle, op
    heap.collect()
    s = heap.stats()
    assert s.heap_objects == 1 and s.roots == 1
    heap.verify()


def test_unsafe_free_of_a_large_object(heap):
    big = heap.new(0, data=1 << 20)
    before = heap.stats()
    unsafe.free(big)
    after = heap.stats()
    assert after.heap_objects == before.heap_objects - 1
    assert after.frees == before.frees + 1
    heap.verify()


def test_free_clears_weak_refs_drops_the_finalizer_and_runs_cleanups(heap):
    ran, cleaned = [], []

    class Fn:
        def __call__(self, o):
            ran.append(o)

    import weakref
    fin = Fn()
    fin_ref = weakref.ref(fin)
    a = heap.new(0)
    w = heap.weakref(a)
    heap.set_finalizer(a, fin)
    heap.add_cleanup(a, cleaned.append, "cleanup 1")
    heap.add_cleanup(a, cleaned.append, "cleanup 2")
    del fin
    unsafe.free(a)
    assert w.get() is None
    assert sorted(cleaned) == ["cleanup 1", "cleanup 2"]  # reclaimed: its cleanups ran
    assert fin_ref() is None  # the finalizer can never run: dropped
    del a
    for _ in range(3):
        heap.collect()
    assert ran == [] and len(cleaned) == 2
    assert heap.stats().finalizers_pending == 0


def test_free_refused_keeps_the_finalizer(heap):
    """A free the core refuses (a buffer view pins the object) changes
    nothing: the finalizer stays set and runs once the object is garbage
    (bindings/common: the token is forgotten only for a free that happened)."""
    ran = []
    a = heap.new(0, data=8)
    heap.set_finalizer(a, lambda o: ran.append(o.id))
    oid = a.id
    view = unsafe.buffer(a)
    with pytest.raises(BufferError):
        unsafe.free(a)
    view.release()
    del view, a
    gc.collect()
    for _ in range(3):
        heap.collect()
    assert ran == [oid]


def test_free_forgets_one_finalizer_among_many(heap):
    """unsafe.free forgets the freed object's finalizer by its token (the
    core hands it back), not by a walk over every registered callback: the
    others stay and run."""
    ran = []
    keep = [heap.new(0) for _ in range(50)]
    for k in keep:
        heap.set_finalizer(k, lambda o: ran.append(o.id))
    del k
    ids = sorted(k.id for k in keep[1:])
    unsafe.free(keep[0])
    del keep
    for _ in range(3):
        heap.collect()
    assert sorted(ran) == ids


def test_an_object_freed_while_its_finalizer_waits_in_the_queue_is_never_finalized(heap):
    """Both bindings agree (bindings/common/bc_drain.c; the same test is in
    tests/lua/unsafe_spec.lua): a finalizer whose object was freed while it
    waited in the ready queue never runs."""
    ran, freed = [], []

    def fin(o):
        ran.append(o.id)
        for kind, r in heap.roots():
            if kind == "finalizer_queue" and r != o:
                unsafe.free(r)
                freed.append(r.id)

    x, y = heap.new(0), heap.new(0)
    heap.set_finalizer(x, fin)
    heap.set_finalizer(y, fin)
    del x, y
    for _ in range(3):
        heap.collect()
    heap.run_finalizers()
    assert len(freed) == 1 and len(ran) == 1 and ran[0] != freed[0]
    assert heap.stats().finalizers_pending == 0
    heap.verify()


def test_free_on_a_closed_heap(heap):
    a = heap.new(0)
    heap.close()
    with pytest.raises(tricolor.HeapClosedError):
        unsafe.free(a)


def test_free_many_and_keep_allocating(heap):
    objs = [heap.new(2, data=24) for _ in range(300)]
    keep = heap.new(1)
    for i, o in enumerate(objs):
        if i % 3 == 0:
            unsafe.free(o)
        elif i % 3 == 1:
            keep[0] = o
    del objs, o
    for _ in range(2):
        heap.collect()
        for _ in range(300):
            heap.new(2, data=24)
    heap.collect()
    heap.collect()
    heap.verify()
    assert heap.stats().heap_objects == 2
