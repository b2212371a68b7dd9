"""Errors: the exception classes, MemoryError, closed heaps (SPEC: Python errors)."""
import pytest

import tricolor


@pytest.mark.parametrize("name, bases", [
    ("HeapError", (Exception,)),
    ("CrossHeapError", (tricolor.HeapError, ValueError)),
    ("HeapClosedError", (tricolor.HeapError,)),
    ("FreedObjectError", (tricolor.HeapError,)),
    ("HeapCorruption", (tricolor.HeapError,)),
])
def test_exception_classes(name, bases):
    cls = getattr(tricolor, name)
    assert cls.__name__ == name and cls.__module__ == "tricolor"
    for base in bases:
        assert issubclass(cls, base)
    assert issubclass(cls, tricolor.HeapError) or cls is tricolor.HeapError


def test_cross_heap_store_raises_cross_heap_error():
    with tricolor.Heap() as h1, tricolor.Heap() as h2:
        a, b = h1.new(1), h2.new(1)
        with pytest.raises(tricolor.CrossHeapError) as info:
            a[0] = b
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, tricolor.HeapError)
        assert a[0] is None
        a[0] = a  # its own heap is fine, even a self-reference
        assert a[0] == a


def test_cross_heap_store_of_a_closed_heaps_object():
    h1, h2 = tricolor.Heap(), tricolor.Heap()
    a, b = h1.new(1), h2.new(1)
    h2.close()
    with pytest.raises(tricolor.CrossHeapError):
        a[0] = b
    h1.close()


@pytest.mark.parametrize("nslots", [-1, -(2**70)])
def test_negative_nslots_is_value_error(heap, nslots):
    with pytest.raises(ValueError):
        heap.new(nslots)


@pytest.mark.parametrize("size", [-1, -(2**70)])
def test_negative_size_is_value_error(heap, size):
    with pytest.raises(ValueError):
        heap.new(0, data=size)


@pytest.mark.parametrize("nslots", [1.0, "3", None, True])
def test_nslots_must_be_an_int(heap, nslots):
    with pytest.raises(TypeError):
        heap.new(nslots)


@pytest.mark.parametrize("data", ["text", 1.5, True, [1, 2]])
def test_data_must_be_none_int_or_bytes_like(heap, data):
    with pytest.raises(TypeError):
        heap.new(0, data=data)


def test_new_argument_errors(heap):
    with pytest.raises(TypeError):
        heap.new()
    with pytest.raises(TypeError):
        heap.new(1, 2, 3)
    with pytest.raises(TypeError):
        heap.new(1, size=3)
    with pytest.raises(TypeError):
        heap.new(1, nslots=1)


@pytest.mark.parametrize("args", [
    (2**40,),              # more slots than an object can hold
    (0, 2**40),            # a payload no size field can hold
    (2**70,),              # does not fit any C size at all
    (0, 2**70),
    (2**31, 2**31),        # ~16 GiB of slots plus 2 GiB of payload
])
def test_huge_allocation_is_memory_error_and_heap_stays_usable(heap, args):
    keep = heap.new(1, data=b"keep")
    with pytest.raises(MemoryError):
        heap.new(*args)
    obj = heap.new(2)
    obj[0] = keep
    heap.collect()
    assert obj[0].data == b"keep"
    heap.verify()


def test_closed_heap_only_id_eq_hash_repr_work():
    heap = tricolor.Heap()
    a = heap.new(2, data=b"xy")
    b = heap.new(1)
    a[0] = b
    a_again = b[0] if False else a
    ident, h, r = a.id, hash(a), repr(a)
    heap.close()
    assert heap.closed
    # these keep working
    assert a.id == ident and hash(a) == h and repr(a) == r
    assert a == a_again and a != b
    assert {a: 1}[a_again] == 1
    # everything else raises HeapClosedError
    uses = [
        lambda: a[0], lambda: a.__setitem__(0, 1), lambda: a.__setitem__(0, b), lambda: len(a),
        lambda: list(a), lambda: a.data, lambda: setattr(a, "data", b"zz"), lambda: a.size,
        lambda: a.heap, lambda: heap.new(1), lambda: heap.collect(), lambda: heap.stats(),
        lambda: heap.verify(), lambda: heap.gogc, lambda: setattr(heap, "gogc", 50),
        lambda: heap.memory_limit, lambda: setattr(heap, "memory_limit", 1 << 20),
        lambda: heap.trace_start("never.json"), lambda: heap.trace_stop(),
        lambda: heap.collector, lambda: heap.barrier, lambda: heap.__enter__(),
    ]
    for use in uses:
        with pytest.raises(tricolor.HeapClosedError):
            use()
    assert "closed" in repr(heap)


def test_close_twice_is_a_no_op():
    heap = tricolor.Heap()
    obj = heap.new(1)
    heap.close()
    heap.close()
    assert heap.closed
    del obj  # releasing a handle of a closed heap is fine


def test_context_manager_closes():
    with tricolor.Heap() as heap:
        assert not heap.closed
        obj = heap.new(1)
    assert heap.closed
    with pytest.raises(tricolor.HeapClosedError):
        obj[0]


def test_context_manager_closes_on_exception():
    with pytest.raises(KeyError):
        with tricolor.Heap() as heap:
            raise KeyError("boom")
    assert heap.closed


def test_handles_outlive_their_heap_object():
    def make():
        heap = tricolor.Heap()
        obj = heap.new(1, data=b"alive")
        return obj
    obj = make()  # the Obj keeps its Heap alive
    assert obj.data == b"alive"
    assert obj.heap.stats().roots == 1
    obj.heap.close()


def test_heap_errors_are_not_raised_for_plain_misuse(heap):
    obj = heap.new(1)
    with pytest.raises(IndexError) as info:
        obj[5]
    assert not isinstance(info.value, tricolor.HeapError)
    assert "5" in str(info.value)
