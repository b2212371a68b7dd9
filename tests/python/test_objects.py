"""Objects, slots, values, identity and payloads (SPEC: Concepts, Python)."""
import array
import math

import pytest

import tricolor

INT_MAX = 2**62 - 1
INT_MIN = -(2**62)


def test_new_object_has_nil_slots_and_no_payload(heap):
    obj = heap.new(3)
    assert len(obj) == 3
    assert list(obj) == [None, None, None]
    assert obj.size == 0
    assert obj.data == b""


def test_payload_from_size_is_zeroed(heap):
    buf = heap.new(0, data=16)
    assert len(buf) == 0
    assert buf.size == 16
    assert buf.data == bytes(16)


@pytest.mark.parametrize("make", [bytes, bytearray, lambda b: memoryview(bytearray(b)), lambda b: array.array("b", b)])
def test_payload_copied_from_any_bytes_like(heap, make):
    data = make(b"hello")
    msg = heap.new(1, data=data)
    assert msg.size == 5
    assert msg.data == b"hello"
    if isinstance(data, bytearray):
        data[0] = ord("j")
        assert msg.data == b"hello", "the payload is a copy"


def test_nslots_and_data_by_keyword(heap):
    obj = heap.new(nslots=2, data=b"ab")
    assert (len(obj), obj.data) == (2, b"ab")


def test_spec_python_example(heap):
    obj = heap.new(3)
    buf = heap.new(0, data=16)
    msg = heap.new(1, data=b"hello")
    obj[0] = msg
    obj[1] = 42
    obj[2] = 1.5
    obj[-1] = None
    assert obj[0] == msg
    assert len(obj) == 3
    values = list(obj)
    assert values[0] == msg and values[1:] == [42, None]
    assert repr(values[0]).startswith("<tricolor.Obj ")
    assert msg.data == b"hello"
    msg.data = b"HELLO"
    assert msg.data == b"HELLO"
    assert (msg.size, msg.heap) == (5, heap)
    assert isinstance(msg.id, int)
    assert buf.data == bytes(16)


@pytest.mark.parametrize("value", [None, True, False, 0, 1, -1, 42, INT_MAX, INT_MIN, 1.5, -2.25, 1e308, 5e-324])
def test_every_value_kind_round_trips(heap, value):
    obj = heap.new(1)
    obj[0] = value
    got = obj[0]
    assert got == value
    assert type(got) is type(value)


def test_bool_stays_bool_and_int_stays_int(heap):
    obj = heap.new(3)
    obj[0], obj[1], obj[2] = True, 1, 1.0
    assert obj[0] is True
    assert type(obj[1]) is int
    assert type(obj[2]) is float


@pytest.mark.parametrize("value", [0.1, math.inf, -math.inf, 1 / 3, 2.0**-1074])
def test_floats_are_stored_exactly(heap, value):
    obj = heap.new(1)
    obj[0] = value
    assert obj[0] == value
    assert obj[0].hex() == value.hex()


def test_nan_and_negative_zero(heap):
    obj = heap.new(2)
    obj[0] = math.nan
    obj[1] = -0.0
    assert math.isnan(obj[0])
    assert obj[1] == 0.0 and math.copysign(1.0, obj[1]) == -1.0


@pytest.mark.parametrize("value", [2**62, -(2**62) - 1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, 10**30,
                                   -(10**30)])
def test_integers_outside_62_bits_overflow(heap, value):
    obj = heap.new(1)
    obj[0] = 7
    with pytest.raises(OverflowError):
        obj[0] = value
    assert obj[0] == 7, "a failed store leaves the slot as it was"


def test_int_subclasses_are_ints(heap):
    import enum

    class Color(enum.IntEnum):
        RED = 3

    obj = heap.new(1)
    obj[0] = Color.RED
    assert obj[0] == 3 and type(obj[0]) is int


@pytest.mark.parametrize("value", ["str", b"bytes", [1], (1,), {}, object(), 1j, 2**0.5j])
def test_other_values_are_type_errors(heap, value):
    obj = heap.new(1)
    with pytest.raises(TypeError):
        obj[0] = value
    assert obj[0] is None


def test_negative_indexes_count_from_the_end(heap):
    obj = heap.new(3)
    for i in range(3):
        obj[i] = i
    assert (obj[-1], obj[-2], obj[-3]) == (2, 1, 0)
    obj[-3] = 10
    assert obj[0] == 10


# 2**30 and -(2**30) either side of the one-digit ints the binding reads in
# place (CPython 3.12+: its compact ints), and the 64-bit edges
@pytest.mark.parametrize("index", [3, 4, -4, 2**70, -(2**70), 2**30 - 1, 2**30, -(2**30), -(2**30) - 1,
                                   2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64])
def test_index_out_of_range(heap, index):
    obj = heap.new(3)
    with pytest.raises(IndexError):
        obj[index]
    with pytest.raises(IndexError):
        obj[index] = 1


def test_zero_slot_object_has_no_index(heap):
    obj = heap.new(0, data=4)
    with pytest.raises(IndexError):
        obj[0]
    assert list(obj) == []
    assert bool(obj) is True, "a handle is true even with no slots"


@pytest.mark.parametrize("index", ["0", 1.0, None, slice(0, 1)])
def test_non_integer_indexes_are_type_errors(heap, index):
    obj = heap.new(2)
    with pytest.raises(TypeError):
        obj[index]
    with pytest.raises(TypeError):
        obj[index] = 1


def test_slots_cannot_be_deleted(heap):
    obj = heap.new(1)
    with pytest.raises(TypeError):
        del obj[0]


def test_iteration_reversed_and_contains(heap):
    obj = heap.new(4)
    for i, v in enumerate([1, 2.5, True, None]):
        obj[i] = v
    assert list(obj) == [1, 2.5, True, None]
    assert list(reversed(obj)) == [None, True, 2.5, 1]
    assert 2.5 in obj and 7 not in obj


def test_reading_a_reference_makes_a_new_equal_handle(heap):
    a = heap.new(1)
    b = heap.new(0)
    a[0] = b
    first, second = a[0], a[0]
    assert first is not second
    assert first == second == b
    assert hash(first) == hash(second) == hash(b)
    assert first.id == b.id


def test_identity_equality_and_hash(heap):
    a, b = heap.new(1), heap.new(1)
    assert a == a and a != b
    assert hash(a) == hash(a.id)
    assert len({a, b, a}) == 2
    d = {a: "a"}
    a2 = heap.new(1)
    a2[0] = a
    assert d[a2[0]] == "a"
    assert (a == 5) is False and (a != "x") is True


def test_ids_are_unique_among_live_objects(heap):
    objs = [heap.new(1) for _ in range(1000)]
    assert len({o.id for o in objs}) == 1000


def test_same_id_on_other_heaps_is_not_equal():
    with tricolor.Heap() as h1, tricolor.Heap() as h2:
        a, b = h1.new(1), h2.new(1)
        assert a != b


def test_data_assignment(heap):
    msg = heap.new(0, data=b"hello")
    msg.data = bytearray(b"world")
    assert msg.data == b"world"
    msg.data = memoryview(b"xxhelloxx")[2:7]
    assert msg.data == b"hello"
    data = msg.data
    data_again = msg.data
    assert data is not data_again or data == b"hello"


@pytest.mark.parametrize("value", [b"hell", b"hello!", b""])
def test_data_of_another_length_is_value_error(heap, value):
    msg = heap.new(0, data=b"hello")
    with pytest.raises(ValueError):
        msg.data = value
    assert msg.data == b"hello"


@pytest.mark.parametrize("value", ["hello", 5, None])
def test_data_must_be_bytes_like(heap, value):
    msg = heap.new(0, data=b"hello")
    with pytest.raises(TypeError):
        msg.data = value


def test_obj_attributes_are_read_only(heap):
    obj = heap.new(1, data=3)
    for name in ("size", "id", "heap"):
        with pytest.raises(AttributeError):
            setattr(obj, name, 1)


def test_obj_cannot_be_made_directly():
    with pytest.raises(TypeError):
        tricolor.Obj()


def test_repr(heap):
    obj = heap.new(3, data=5)
    assert repr(obj) == f"<tricolor.Obj id={obj.id} nslots=3 size=5>"
    assert repr(heap).startswith("<tricolor.Heap ")


def test_int_limits_are_exported():
    assert tricolor.INT_MAX == INT_MAX
    assert tricolor.INT_MIN == INT_MIN


# The binding reads ints of one machine digit (|v| < 2**30 on CPython) in
# place, and anything else through the API: both sides of that edge (for
# indices: test_index_out_of_range).
@pytest.mark.parametrize("value", [2**30 - 1, 2**30, 2**31, -(2**30) + 1, -(2**30), -(2**30) - 1, 2**60])
def test_ints_either_side_of_one_digit_round_trip(heap, value):
    obj = heap.new(1)
    obj[0] = value
    assert obj[0] == value and type(obj[0]) is int


def test_bool_nslots_refused_and_bool_index_is_an_int(heap):
    with pytest.raises(TypeError):
        heap.new(True)
    obj = heap.new(2)
    obj[True] = 5
    assert obj[1] == 5 and obj[False] is None


def test_a_reused_handle_belongs_to_its_new_heap():
    """Dropped handles are kept for reuse (the binding's free list): a handle
    made after one of another heap was dropped is wholly the new heap's."""
    a, b = tricolor.Heap(), tricolor.Heap()
    try:
        for _ in range(3):
            drop = [a.new(1) for _ in range(100)]
            del drop
            objs = [b.new(2) for _ in range(100)]
            assert all(o.heap is b and len(o) == 2 for o in objs)
            objs[0][0] = objs[1]
            with pytest.raises(tricolor.CrossHeapError):
                a.new(1)[0] = objs[0]
        assert a.stats().roots == 0, "the dropped handles released their roots"
    finally:
        a.close()
        b.close()


def test_a_dropped_handle_roots_nothing(heap):
    """A handle kept for reuse has released its root: its object is collected."""
    keep = heap.new(1)
    gone = heap.new(1)
    wr = heap.weakref(gone)
    del gone
    heap.collect()
    heap.collect()
    assert wr.get() is None and keep[0] is None
