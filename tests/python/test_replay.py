"""heap.record_start / heap.record_stop and the core's replay (issue 15 point 3;
SPEC "Introspection, teaching and replay"; format in docs/replay.md).

What these prove: a recorded Python program replays in C on a fresh heap
under every collector, barrier, gogc, memory limit and mark_workers with the
same heap_objects and live-graph hash after every forced collection
(finalizers, resurrection, weak references and cleanups included); a log cut
at any byte or with any byte changed is refused with an error naming a byte
offset and replays nothing; another format version names both versions;
recording survives a finalizer that closes the heap; the bad paths raise the
usual errors. Scenario names follow tests/lua/replay_spec.lua.
"""
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tricolor

COLLECTORS = ("stw", "incremental", "concurrent")
BARRIERS = ("hybrid", "dijkstra", "yuasa")


def program(heap):
    """A mutator that exercises every recorded operation, with automatic
    cycles in between (the heap is recorded with a small gogc)."""
    keep = []
    ran = []
    for i in range(1500):
        o = heap.new(3, 8 * (i % 4))
        o[0] = i if i % 5 else float(i) / 3
        if keep:
            o[1] = keep[-1]
        if i % 11 == 0:
            o[2] = True
        keep.append(o)
        if i % 3 == 0:
            keep.pop(0)
        if i % 97 == 0:
            heap.set_finalizer(o, lambda obj: ran.append(obj) if len(ran) % 2 else None)
        if i % 89 == 0:
            heap.add_cleanup(o, lambda arg: None, i)
        if i % 400 == 0:
            heap.collect()
    w = heap.weakref(keep[-1])
    assert w.get() is not None
    first = keep[0][1]  # a reference load: a new handle
    assert first is None or isinstance(first, tricolor.Obj)
    del keep[: len(keep) // 2]
    heap.collect()
    del ran[:]  # resurrected objects die now
    heap.collect()
    dead = heap.weakref(heap.new(1))
    heap.collect()
    assert dead.get() is None
    heap.collect()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("replay") / "program.tclog")
    heap = tricolor.Heap(collector="concurrent", gogc=20)
    heap.record_start(path)
    program(heap)
    heap.record_stop()
    heap.close()
    return path


def replay(path, **config):
    heap = tricolor.Heap(**config)
    try:
        return heap._replay(path)
    finally:
        heap.close()


@pytest.mark.parametrize("collector", COLLECTORS)
@pytest.mark.parametrize("barrier", BARRIERS)
def test_replay_is_exact_under_every_collector_and_barrier(recording, collector, barrier):
    rep = replay(recording, collector=collector, barrier=barrier)
    assert rep["version"] == 2
    assert rep["collects"] == 8 and rep["checked"] == 8
    assert rep["mismatches"] == 0, rep
    assert rep["first_mismatch"] == -1
    assert rep["objects"] == 1501


@pytest.mark.parametrize("config", [dict(gogc=None), dict(gogc=5), dict(memory_limit=1 << 20, gogc=None),
                                    dict(mark_workers=2), dict(collector="incremental", checkmark=True)])
def test_replay_is_exact_under_other_pacing(recording, config):
    rep = replay(recording, **config)
    assert rep["mismatches"] == 0 and rep["checked"] == 8, rep


def plain_program(heap):
    """Only new, stores, loads, releases and collects (no finalizer, weak
    reference or free): the replay drives it as one raw section with locals
    for handles (replay.c drive_raw). Trees built both ways, as GCBench."""
    def tree(depth):
        node = heap.new(2, 8)
        if depth:
            node[0] = tree(depth - 1)
            node[1] = tree(depth - 1)
        return node
    keep = tree(6)
    for i in range(60):
        t = tree(i % 5)
        t[0] = keep[0] if i % 2 else 1.5
        if i % 7 == 0:
            keep[1] = t
            left = keep[0][0]  # loads that make handles
            left[1] = i
        if i % 15 == 0:
            heap.collect()
    heap.collect()


@pytest.fixture(scope="module")
def plain_recording(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("replay") / "plain.tclog")
    heap = tricolor.Heap(collector="concurrent", gogc=10)
    heap.record_start(path)
    plain_program(heap)
    heap.record_stop()
    heap.close()
    return path


@pytest.mark.parametrize("collector", COLLECTORS)
@pytest.mark.parametrize("barrier", BARRIERS)
def test_plain_log_replays_exactly_under_every_collector_and_barrier(plain_recording, collector, barrier):
    rep = replay(plain_recording, collector=collector, barrier=barrier, gogc=5)
    assert rep["collects"] == 5 and rep["checked"] == 5
    assert rep["mismatches"] == 0, rep


def test_plain_log_with_many_handles_replays_exactly(tmp_path):
    """More live handles than drive_raw takes as locals (4096: a pause would
    scan them all): the replay drives it with handles, exactly."""
    path = str(tmp_path / "many.tclog")
    heap = tricolor.Heap(gogc=None)
    heap.record_start(path)
    held = [heap.new(1) for _ in range(5000)]
    for a, b in zip(held, held[1:]):
        a[0] = b
    heap.collect()
    del held[1000:]
    heap.collect()
    heap.record_stop()
    heap.close()
    del held
    for collector in COLLECTORS:
        rep = replay(path, collector=collector)
        assert rep["collects"] == 2 and rep["checked"] == 2 and rep["mismatches"] == 0, (collector, rep)


def test_churn_before_the_first_collect_then_a_weak_ref_replays_exactly(tmp_path):
    """The replay starts with locals for handles and no address -> id map
    (replay.c): it builds the map at the first collection with a graph hash,
    where ids whose objects died share addresses with live ones (the latest
    NEW of an address must win), and moves to handles at the first weak
    reference, with live locals to carry over. Both exactly, under every
    collector. Recorded without cycles, replayed with gogc 5: the replay
    reuses addresses the recording did not, so ids share them (a map where
    the first id of an address wins, not the latest NEW, fails here)."""
    path = str(tmp_path / "churn.tclog")
    heap = tricolor.Heap(collector="stw", gogc=None)
    heap.record_start(path)
    keep = [heap.new(2) for _ in range(50)]
    for i in range(20000):
        o = heap.new(2, 8 * (i % 3))
        o[0] = keep[i % 50]
        keep[(i * 7) % 50][1] = o
        if i % 3 == 0:
            keep[i % 50] = o
    heap.collect()
    w = heap.weakref(keep[0])
    for i in range(2000):
        keep[i % 50][0] = heap.new(1)
    assert w.get() is not None
    heap.collect()
    heap.record_stop()
    heap.close()
    for collector in COLLECTORS:
        rep = replay(path, collector=collector, gogc=5)
        assert rep["collects"] == 2 and rep["checked"] == 2 and rep["mismatches"] == 0, (collector, rep)


def test_plain_log_with_wide_fields_replays_exactly(tmp_path):
    """Fields of more than one varint byte (handle ids, slots and object-id
    differences past 127, large and negative ints) amid one-byte ones: the
    fast paths of both passes (replay_check.c quick, replay.c raw_run) take
    one-byte fields by the word and the others byte by byte."""
    path = str(tmp_path / "wide.tclog")
    heap = tricolor.Heap(gogc=None)
    heap.record_start(path)
    held = [heap.new(2) for _ in range(600)]  # handle ids and object ids past 127
    wide = heap.new(300, 5000)                # slots past 127, a payload past 127 bytes
    for i, obj in enumerate(held):
        obj[0] = held[(i * 389) % len(held)]  # far-apart objects: wide differences
        obj[1] = (-1) ** i * ((i + 1) << (i % 52))  # ints of many widths, both signs
        wide[(i * 7) % 300] = obj
    heap.collect()
    del held[100:]
    heap.collect()
    heap.record_stop()
    heap.close()
    del held, wide
    for collector in COLLECTORS:
        rep = replay(path, collector=collector)
        assert rep["collects"] == 2 and rep["checked"] == 2 and rep["mismatches"] == 0, (collector, rep)


def test_plain_log_with_a_lying_load_is_caught_by_the_raw_replay(tmp_path):
    """drive_raw's own check: a GET whose object id is not what the slot holds."""
    path = str(tmp_path / "lie.tclog")
    offsets = crafted(path, [[NEW, O(1), 1, 2, 0], [NEW, O(2), 2, 1, 0], [NEW, O(3), 3, 1, 0], [SET, 1, 0, REF, O(2)],
                             [GET, 1, 0, 4, O(3)]])
    with pytest.raises(tricolor.HeapError, match=f"byte offset {offsets[4]}.*another object"):
        replay(path)


def test_a_changed_graph_is_a_mismatch(recording, tmp_path):
    """The check can fail: a log whose recorded heap_objects differs from
    what the replay finds (checksum fixed up) is reported at that record."""
    other = str(tmp_path / "other.tclog")
    heap = tricolor.Heap(gogc=None)
    heap.record_start(other)
    a, b = heap.new(1), heap.new(1)
    a[0] = b
    heap.collect()
    heap.record_stop()
    heap.close()
    data = bytearray(open(other, "rb").read())
    rep = replay(other)
    assert rep["mismatches"] == 0
    # Rewrite the recorded heap_objects (2) of the one collect to 3 and fix
    # the block's checksum: the replay must count a mismatch at that record.
    import zlib
    body = bytes(data[24:])
    i = body.index(bytes([5, 2, 1]))  # REC_COLLECT, heap_objects 2, hash flag
    body = body[:i + 1] + b"\x03" + body[i + 2:]
    data[16:20] = len(body).to_bytes(4, "little")
    data[20:24] = zlib.crc32(body).to_bytes(4, "little")
    open(other, "wb").write(bytes(data[:24]) + body)
    rep = replay(other)
    assert rep["mismatches"] == 1 and rep["first_mismatch"] == 24 + i


def small_log(path):
    heap = tricolor.Heap(gogc=None)
    heap.record_start(path)
    a = heap.new(2)
    b = heap.new(1, 4)
    a[0] = b
    a[1] = -7
    heap.set_finalizer(b, lambda o: None)
    w = heap.weakref(a)
    del b
    heap.collect()
    w.get()
    heap.record_stop()
    heap.close()
    return open(path, "rb").read()


def test_bad_log_truncated_at_every_offset(tmp_path):
    good = small_log(str(tmp_path / "good.tclog"))
    cut = str(tmp_path / "cut.tclog")
    heap = tricolor.Heap()
    for n in range(len(good)):
        with open(cut, "wb") as f:
            f.write(good[:n])
        with pytest.raises(ValueError, match="byte offset") as e:
            heap._replay(cut)
        assert str(n) in str(e.value)
    assert heap.stats().mallocs == 0  # nothing was replayed
    assert heap._replay(str(tmp_path / "good.tclog"))["mismatches"] == 0
    heap.close()


def test_bad_log_every_byte_flipped(tmp_path):
    good = small_log(str(tmp_path / "good.tclog"))
    bad = str(tmp_path / "bad.tclog")
    heap = tricolor.Heap()
    for i in range(len(good)):
        for x in (0x01, 0x80, 0xFF):
            data = bytearray(good)
            data[i] ^= x
            with open(bad, "wb") as f:
                f.write(data)
            with pytest.raises(ValueError, match="byte offset|version"):
                heap._replay(bad)
    assert heap.stats().mallocs == 0
    heap.close()


def test_bad_log_other_version_names_both(tmp_path):
    data = bytearray(small_log(str(tmp_path / "good.tclog")))
    data[8:12] = (7).to_bytes(4, "little")
    path = str(tmp_path / "v7.tclog")
    open(path, "wb").write(data)
    with pytest.raises(ValueError, match=r"version 7.*version 2"):
        replay(path)


def test_bad_log_missing_file_and_not_a_log(tmp_path):
    missing = str(tmp_path / "missing.tclog")
    with pytest.raises(OSError, match="missing.tclog"):
        replay(missing)
    junk = str(tmp_path / "junk.tclog")
    open(junk, "wb").write(b"x" * 100)
    with pytest.raises(ValueError, match="byte offset 0"):
        replay(junk)


def test_record_start_errors(tmp_path):
    heap = tricolor.Heap()
    with pytest.raises(OSError, match="/nonexistent-dir/x.tclog"):
        heap.record_start("/nonexistent-dir/x.tclog")
    with pytest.raises(tricolor.HeapError, match="no recording"):
        heap.record_stop()
    heap.record_start(str(tmp_path / "a.tclog"))
    with pytest.raises(tricolor.HeapError, match="already running"):
        heap.record_start(str(tmp_path / "b.tclog"))
    heap.record_stop()
    heap.close()
    with pytest.raises(tricolor.HeapClosedError):
        heap.record_start(str(tmp_path / "c.tclog"))
    with pytest.raises(tricolor.HeapClosedError):
        heap.record_stop()


def test_record_start_refuses_a_heap_with_objects(tmp_path):
    """A replay starts on an empty heap, so a log cannot name objects made
    before it: record_start refuses, naming the count, and works once they
    are gone."""
    path = str(tmp_path / "late.tclog")
    heap = tricolor.Heap(gogc=None)
    old = heap.new(1)
    with pytest.raises(tricolor.HeapError, match="no objects.*has 1"):
        heap.record_start(path)
    del old
    heap.collect()
    heap.record_start(path)
    heap.new(1)
    heap.record_stop()
    heap.close()
    assert replay(path)["objects"] == 1


def test_a_handle_from_an_inspection_call_is_refused_at_replay(tmp_path):
    path = str(tmp_path / "foreign.tclog")
    heap = tricolor.Heap()
    heap.record_start(path)
    a = heap.new(1)
    (_, same), = heap.roots()  # a second handle on a's object, made outside the log
    same[0] = 5
    heap.record_stop()
    heap.close()
    del a
    with pytest.raises(ValueError, match="byte offset.*inspection call"):
        replay(path)


# ---- crafted logs: valid checksums, impossible contents ----------------------

def uvarint(x):
    out = bytearray()
    while x >= 0x80:
        out.append(x & 0x7F | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


class O(int):
    """An object id field: written as the zigzag difference from the last
    NEW's object id (format 2)."""


def crafted(path, records, per_block=None):
    """A log of the given records (each a list: opcode, then varint fields,
    O(object id) fields or raw bytes) with the right header, checksums and
    end record, per_block records to a block (all in one by default).
    Returns the byte offset of each record."""
    import zlib
    blocks, body, offsets, last = bytearray(), bytearray(), [], 0
    for n, rec in enumerate(records):
        if per_block and n and n % per_block == 0:
            blocks += len(body).to_bytes(4, "little") + zlib.crc32(body).to_bytes(4, "little") + body
            body = bytearray()
        offsets.append(16 + len(blocks) + 8 + len(body))
        body.append(rec[0])
        for f in rec[1:]:
            if isinstance(f, O):
                delta = f - last
                body += uvarint(((delta << 1) ^ (delta >> 63)) & (2**64 - 1))
                last = f if rec[0] == NEW else last
            else:
                body += f if isinstance(f, bytes) else uvarint(f)
    body += bytes([14]) + uvarint(len(records))
    head = b"TCREPLAY" + (2).to_bytes(4, "little") + bytes(4)
    block = len(body).to_bytes(4, "little") + zlib.crc32(body).to_bytes(4, "little")
    open(path, "wb").write(head + bytes(blocks) + block + bytes(body))
    return offsets


NEW, SET, GET, RELEASE, COLLECT, FREE = 1, 2, 3, 4, 5, 12
REF, INT = b"\x05", b"\x03"


@pytest.mark.parametrize("case, why", [
    # object 1 made (handle 1), its handle released: a collection frees it
    ("released", "no live handle"),
    ("never_made", "no live handle"),
    ("slot_out_of_range", "slot index out of range"),
    ("store_into_freed", "freed by unsafe.free"),
    ("ref_to_freed", "freed by unsafe.free"),
    ("id_reused_while_held", "reused while a handle"),
    ("release_not_live", "release of a handle that is not live"),
    ("set_on_released_handle", "handle that is not live"),
    ("handle_out_of_sequence", "live or out of sequence"),
    ("object_out_of_sequence", "object id out of sequence"),
    ("get_names_unmade_object", "object id no record made"),
    ("get_slot_out_of_range", "slot index out of range"),
    ("new_more_slots_than_the_heap_allocates", "larger than the heap allocates"),
    ("new_more_bytes_than_the_heap_allocates", "larger than the heap allocates"),
])
@pytest.mark.parametrize("collector", COLLECTORS)
@pytest.mark.parametrize("padded", [False, True])
def test_crafted_log_is_refused_at_its_record(tmp_path, case, why, collector, padded):
    """A log with valid checksums and impossible contents is checked record
    by record as it replays (replay.c): the bad record is refused naming its
    offset, before it runs, no report comes back, and the records before it
    leave nothing rooted. Padded: valid records follow the bad one, so it
    lies well inside its block, where the checks take their fast path
    (replay.h, quick_*)."""
    body = {
        "released": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [RELEASE, 1], [COLLECT, 1, 0], [SET, 2, 0, REF, O(1)]],
        "never_made": [[NEW, O(1), 1, 1, 0], [SET, 1, 0, REF, O(7)]],
        "slot_out_of_range": [[NEW, O(1), 1, 2, 0], [SET, 1, 2, INT, 4]],
        "store_into_freed": [[NEW, O(1), 1, 1, 0], [FREE, 1], [SET, 1, 0, INT, 4]],
        "ref_to_freed": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [FREE, 1], [SET, 2, 0, REF, O(1)]],
        "id_reused_while_held": [[NEW, O(1), 1, 1, 0], [NEW, O(1), 2, 1, 0]],
        "release_not_live": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [RELEASE, 1], [RELEASE, 1]],
        "set_on_released_handle": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [RELEASE, 1], [SET, 1, 0, INT, 4]],
        "handle_out_of_sequence": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 5, 1, 0]],
        "object_out_of_sequence": [[NEW, O(1), 1, 1, 0], [NEW, O(5), 2, 1, 0]],
        "get_names_unmade_object": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [GET, 1, 0, 3, O(9)]],
        "get_slot_out_of_range": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [GET, 2, 1, 3, O(1)]],
        # tc_alloc refuses an object past its largest span (4 GiB - a page):
        # replay must not ask the allocator for one (2^32 - 1 slots is 36 GiB)
        "new_more_slots_than_the_heap_allocates": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 2**32 - 1, 0]],
        "new_more_bytes_than_the_heap_allocates": [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 2**28, 2**32 - 1]],
    }[case]
    bad = len(body) - 1
    if padded:  # never reached: the validation stops at the bad record
        body = body + [[NEW, O(100 + i), 100 + i, 1, 0] for i in range(20)]
    path = str(tmp_path / f"{case}.tclog")
    offsets = crafted(path, body)
    heap = tricolor.Heap(collector=collector)
    with pytest.raises(ValueError, match=f"byte offset {offsets[bad]}: .*{why}"):
        heap._replay(path)
    heap.collect()
    assert heap.stats().heap_objects == 0  # the replay's handles were all dropped
    assert heap.new(1)[0] is None  # the heap stays usable
    heap.close()


@pytest.mark.parametrize("collector", COLLECTORS)
def test_crafted_error_in_a_late_block_stops_there(tmp_path, collector):
    """A bad record in the third block of a crafted log: the records of the
    blocks before it replay, the bad one is refused naming its byte offset,
    no report comes back and nothing stays rooted."""
    body = [[NEW, O(1), 1, 1, 0]]
    for i in range(2, 1002):  # object i on handle 2, a store into it, its handle released
        body += [[NEW, O(i), 2, 1, 0], [SET, 2, 0, INT, 4], [SET, 1, 0, REF, O(i)], [RELEASE, 2]]
    bad = len(body)
    body += [[SET, 1, 0, REF, O(500)]]  # object 500: released long ago
    body += [[NEW, O(2000 + i), 2 + i, 1, 0] for i in range(20)]
    path = str(tmp_path / "late.tclog")
    offsets = crafted(path, body, per_block=1000)
    assert offsets[bad] > 3 * 4000  # in the fourth or a later block
    heap = tricolor.Heap(collector=collector)
    with pytest.raises(ValueError, match=f"byte offset {offsets[bad]}: .*no live handle"):
        heap._replay(path)
    assert heap.stats().mallocs >= 1001  # the blocks before it did replay
    heap.collect()
    assert heap.stats().heap_objects == 0
    heap.close()


def test_corrupt_or_cut_late_block_replays_nothing(tmp_path):
    """Checksums and the end record are checked for the whole file before
    the first operation: a byte changed in the last block of a many-block
    log, or the log cut at a block boundary, replays nothing."""
    path = str(tmp_path / "long.tclog")
    heap = tricolor.Heap()
    heap.record_start(path)
    keep = heap.new(1)
    for i in range(40000):
        o = heap.new(1)
        o[0] = i
        keep[0] = o
    heap.record_stop()
    heap.close()
    good = open(path, "rb").read()
    assert replay(path)["mismatches"] == 0
    blocks, off = [], 16
    while off < len(good):
        blocks.append(off)
        off += 8 + int.from_bytes(good[off:off + 4], "little")
    assert len(blocks) >= 3
    bad = str(tmp_path / "bad.tclog")
    for data, what in ((good[:-3] + bytes([good[-3] ^ 0x10]) + good[-2:], "checksum"),
                       (good[:blocks[-1]], "without its end record")):
        open(bad, "wb").write(data)
        heap = tricolor.Heap()
        with pytest.raises(ValueError, match=f"byte offset.*{what}|{what}.*byte offset"):
            heap._replay(bad)
        assert heap.stats().mallocs == 0  # nothing was replayed
        heap.close()


def test_crafted_load_naming_another_object_stops_at_its_offset(tmp_path):
    """A GET names the object its new handle holds; one that lies is caught
    when the replay meets it (the log itself is consistent), by offset."""
    path = str(tmp_path / "lie.tclog")
    # the weak reference makes it a log for the checked drive (not drive_raw)
    offsets = crafted(path, [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [SET, 1, 0, REF, O(2)],
                             [GET, 1, 0, 3, O(1)], [SET, 2, 0, REF, O(1)], [9, 1, 1], [11, 1]])
    heap = tricolor.Heap()
    with pytest.raises(tricolor.HeapError, match=f"byte offset {offsets[3]}.*another object"):
        heap._replay(path)
    assert heap.new(1)[0] is None  # the heap stays usable
    heap.close()


def test_crafted_valid_log_replays(tmp_path):
    """The crafting helper itself makes logs the replay accepts."""
    path = str(tmp_path / "ok.tclog")
    crafted(path, [[NEW, O(1), 1, 1, 0], [NEW, O(2), 2, 1, 0], [SET, 1, 0, REF, O(2)], [GET, 1, 0, 3, O(2)],
                   [RELEASE, 2], [COLLECT, 2, 0], [SET, 3, 0, INT, 9]])
    rep = replay(path)
    assert rep["objects"] == 2 and rep["collects"] == 1 and rep["mismatches"] == 0


def test_finalizer_that_closes_the_heap_while_recording(tmp_path):
    path = str(tmp_path / "closed.tclog")
    heap = tricolor.Heap(gogc=None)
    heap.record_start(path)
    keep = heap.new(1)
    keep[0] = heap.new(0)
    heap.set_finalizer(heap.new(0), lambda o: heap.close())
    heap.collect()  # runs the finalizer, which closes the heap
    assert heap.closed
    with pytest.raises(tricolor.HeapClosedError):
        heap.record_stop()
    rep = replay(path)  # close finished the log
    assert rep["mismatches"] == 0 and rep["collects"] == 1


def test_unsafe_free_is_recorded(tmp_path):
    """unsafe.free replays as a free; the freed handle's object is hashed
    as freed (its memory may hold another object after the next cycle)."""
    path = str(tmp_path / "free.tclog")
    heap = tricolor.Heap(gogc=None)
    heap.record_start(path)
    keep = [heap.new(2) for _ in range(50)]
    doomed = heap.new(1)
    tricolor.unsafe.free(doomed)
    heap.collect()
    keep.extend(heap.new(1) for _ in range(50))  # may reuse the freed memory
    heap.collect()
    heap.record_stop()
    heap.close()
    for collector in COLLECTORS:
        rep = replay(path, collector=collector)
        assert rep["mismatches"] == 0 and rep["checked"] == 2, (collector, rep)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_fork_child_does_not_write_the_parents_log(tmp_path):
    """A forked child works on (and closes) its copy of the heap without
    touching the log; the parent's log replays exactly."""
    path = str(tmp_path / "fork.tclog")
    heap = tricolor.Heap(gogc=None)
    heap.record_start(path)
    keep = [heap.new(1) for _ in range(2000)]  # more than one block's worth of records
    pid = os.fork()
    if pid == 0:
        try:
            more = [heap.new(2) for _ in range(5000)]
            heap.collect()
            heap.close()
            os._exit(0 if more else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    keep.append(heap.new(1))
    heap.collect()
    heap.record_stop()
    heap.close()
    rep = replay(path)
    assert rep["objects"] == 2001 and rep["mismatches"] == 0 and rep["checked"] == 1


def test_threads_record_one_global_order(tmp_path):
    """Several threads: one log in lock order; the replay runs it on one
    thread and, the graph hash being undefined, checks heap_objects only."""
    path = str(tmp_path / "threads.tclog")
    heap = tricolor.Heap()
    heap.record_start(path)

    def work():
        keep = []
        for i in range(300):
            o = heap.new(1)
            if keep:
                o[0] = keep[-1]
            keep.append(o)
    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    heap.collect()
    heap.record_stop()
    heap.close()
    rep = replay(path, collector="incremental")
    assert rep["objects"] == 900 and rep["collects"] == 1 and rep["checked"] == 0
    assert rep["mismatches"] == 0


OPS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30), st.integers(0, 30)), max_size=120)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_random_programs_replay_exactly(tmp_path, ops):
    path = str(tmp_path / "random.tclog")
    heap = tricolor.Heap(collector="concurrent", gogc=10)
    heap.record_start(path)
    objs = []
    for op, a, b in ops:
        if op == 0 or not objs:
            objs.append(heap.new(2, a))
        elif op == 1:
            objs[a % len(objs)][b % 2] = objs[b % len(objs)]
        elif op == 2:
            objs[a % len(objs)][b % 2] = a - b
        elif op == 3:
            del objs[a % len(objs)]
        elif op == 4:
            got = objs[a % len(objs)][b % 2]
            if isinstance(got, tricolor.Obj):
                objs.append(got)
        else:
            heap.collect()
    heap.collect()
    heap.record_stop()
    heap.close()
    for collector in COLLECTORS:
        rep = replay(path, collector=collector)
        assert rep["mismatches"] == 0, (collector, rep)


# ---- the command line: replay, compare --replay, lab barrier --replay -----------------

def run_cli(*args, timeout=300):
    import subprocess
    import sys
    from conftest import subprocess_env
    return subprocess.run([sys.executable, "-m", "tricolor", *args], capture_output=True, text=True,
                          timeout=timeout, env=subprocess_env())


def test_cli_replay_json_under_two_configs(recording):
    import json
    p = run_cli("replay", recording, "--config", "collector=stw", "--config", "collector=concurrent,gogc=50",
                "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["collector"] for r in rows] == ["stw", "concurrent"]
    for r in rows:
        assert r["result"]["mismatches"] == 0 and r["result"]["records"] > 1500
        assert r["objects"] >= 1501  # mallocs of the replaying heap
        for key in ("pause_max_ms", "pause_p99_ms", "mmu_10ms", "gc_cpu", "cycles"):
            assert key in r["metrics"]


def test_cli_replay_table_and_bad_log(recording, tmp_path):
    p = run_cli("replay", recording)
    assert p.returncode == 0, p.stderr
    assert "exact" in p.stdout and "yes" in p.stdout
    cut = tmp_path / "cut.tclog"
    cut.write_bytes(open(recording, "rb").read()[:100])
    p = run_cli("replay", str(cut))
    assert p.returncode == 2 and "byte offset" in p.stderr
    p = run_cli("replay", str(tmp_path / "missing.tclog"))
    assert p.returncode == 2 and "missing.tclog" in p.stderr


def test_cli_compare_and_lab_barrier_replay(recording):
    p = run_cli("compare", "--replay", recording, "--config", "barrier=hybrid", "--config", "barrier=yuasa")
    assert p.returncode == 0, p.stderr
    assert f"replay of {recording}" in p.stdout and "barrier=yuasa" in p.stdout
    p = run_cli("lab", "barrier", "--quick", "--replay", recording, "--json")
    assert p.returncode == 0, p.stderr
    import json
    doc = json.loads(p.stdout)
    rows = doc["rows"] if isinstance(doc, dict) and "rows" in doc else doc
    assert {r["barrier"] for r in rows} == {"hybrid", "dijkstra", "yuasa"}
    assert all(r.get("mismatches", 0) == 0 for r in rows)
