"""Reachability, collection and the stats invariants (SPEC: Concepts, Stats)."""
import gc

import pytest

import tricolor

STATS_FIELDS = [
    "heap_alloc", "heap_live", "heap_objects", "heap_sys", "heap_released", "heap_goal",
    "total_alloc", "mallocs", "frees", "num_gc", "num_forced_gc", "pause_total_ns",
    "pause_max_ns", "pauses_ns", "gc_cpu_fraction", "assist_ns", "roots",
    "finalizers_pending", "weak_refs", "phase", "collector", "barrier",
]
# the core's extensions beyond SPEC (docs/python.md)
EXTENSION_FIELDS = [
    "mark_ns", "sweep_ns", "mark_cpu_ns", "sweep_cpu_ns", "heap_marked", "gc_sys", "assist_marked",
    "mark_regions_shared",
]


def collect_twice(heap):
    """SPEC: garbage is reclaimed by the end of the second complete cycle."""
    heap.collect()
    heap.collect()


def test_garbage_is_reclaimed(heap):
    keep = heap.new(1)
    for _ in range(1000):
        heap.new(3, data=8)
    collect_twice(heap)
    s = heap.stats()
    assert s.heap_objects == 1
    assert s.frees >= 1000
    assert keep[0] is None


def test_objects_reachable_through_slot_chains_survive_with_payload(heap):
    root = heap.new(2)
    node = root
    for i in range(500):
        nxt = heap.new(2, data=i.to_bytes(4, "little"))
        node[0] = nxt
        node[1] = i
        node = nxt
    del node, nxt
    for _ in range(2000):
        heap.new(2, data=16)  # garbage in between
    collect_twice(heap)
    assert heap.stats().heap_objects == 501
    node, i = root[0], 0
    while node is not None:
        assert node.data == i.to_bytes(4, "little")
        node, i = node[0], i + 1
    assert i == 500
    heap.verify()


def test_dropping_the_last_handle_removes_the_root(heap):
    obj = heap.new(1)
    assert heap.stats().roots == 1
    del obj
    assert heap.stats().roots == 0
    collect_twice(heap)
    assert heap.stats().heap_objects == 0


def test_unreachable_cycle_is_reclaimed(heap):
    a, b, c = heap.new(1), heap.new(1), heap.new(1)
    a[0], b[0], c[0] = b, c, a
    a[0] = a  # and a self-loop
    del a, b, c
    collect_twice(heap)
    assert heap.stats().heap_objects == 0


def test_cycle_reachable_from_a_handle_survives(heap):
    a, b = heap.new(1), heap.new(1)
    a[0], b[0] = b, a
    del b
    collect_twice(heap)
    assert heap.stats().heap_objects == 2
    assert a[0][0] == a


def test_overwriting_a_reference_frees_the_old_target(heap):
    holder = heap.new(1)
    holder[0] = heap.new(0, data=100)
    collect_twice(heap)
    assert heap.stats().heap_objects == 2
    holder[0] = None
    collect_twice(heap)
    assert heap.stats().heap_objects == 1


def test_roots_equals_live_handles(heap):
    handles = [heap.new(1) for _ in range(10)]
    assert heap.stats().roots == 10
    handles[0][0] = handles[1]
    extra = [handles[0][0] for _ in range(5)]  # each read makes a new handle
    assert heap.stats().roots == 15
    del extra
    assert heap.stats().roots == 10
    handles.clear()
    gc.collect()
    assert heap.stats().roots == 0


def test_automatic_collections_keep_live_data(heap):
    heap.gogc = 10
    keep = heap.new(1000)
    for i in range(1000):
        keep[i] = heap.new(1, data=i.to_bytes(2, "little"))
    for _ in range(200_000):
        heap.new(2, data=24)
    s = heap.stats()
    assert s.num_gc >= 1 and s.num_forced_gc == 0
    for i in range(1000):
        assert keep[i].data == i.to_bytes(2, "little")
    heap.verify()


def test_million_node_linked_list_collects_without_recursion(heap):
    head = None
    n = 1_000_000
    for i in range(n):
        node = heap.new(2)
        node[0] = i
        node[1] = head
        head = node
    del node
    heap.collect()
    assert heap.stats().heap_objects == n
    # every node survived, in order
    count, node = 0, head
    while node is not None:
        count += 1
        last = node[0]
        node = node[1]
    assert (count, last) == (n, 0)
    heap.verify()
    del head, node
    collect_twice(heap)
    assert heap.stats().heap_objects == 0


def test_stats_has_every_spec_field_with_the_right_types(heap):
    heap.collect()
    s = heap.stats()
    assert isinstance(s, tricolor.Stats)
    d = s.as_dict()
    for name in STATS_FIELDS + EXTENSION_FIELDS:
        assert hasattr(s, name), name
        assert d[name] == getattr(s, name)
    for name in STATS_FIELDS + EXTENSION_FIELDS:
        value = getattr(s, name)
        if name == "pauses_ns":
            assert isinstance(value, list) and all(isinstance(p, int) for p in value)
        elif name == "gc_cpu_fraction":
            assert isinstance(value, float)
        elif name in ("phase", "collector", "barrier"):
            assert isinstance(value, str)
        else:
            assert isinstance(value, int) and value >= 0, name
    assert s.phase in ("off", "mark", "sweep")
    assert s.collector == heap.collector
    assert s.finalizers_pending == 0 and s.weak_refs == 0
    assert "num_gc=" in repr(s) and repr(s).startswith("tricolor.Stats(")


def test_stats_is_a_read_only_snapshot(heap):
    s = heap.stats()
    heap.collect()
    assert s.num_gc == 0 and heap.stats().num_gc == 1
    with pytest.raises(AttributeError):
        s.num_gc = 5
    s.pauses_ns.append(1)  # a fresh list each time: the snapshot is unchanged
    assert s.pauses_ns == []
    with pytest.raises(TypeError):
        tricolor.Stats()


def test_stats_invariants_hold_through_a_workload(heap):
    heap.gogc = 25
    live = [heap.new(2) for _ in range(100)]
    for round_ in range(20):
        for _ in range(5000):
            heap.new(2, data=16)
        if round_ % 3 == 0:
            heap.collect()
        s = heap.stats()
        assert s.num_forced_gc <= s.num_gc
        assert s.frees <= s.mallocs
        assert 0.0 <= s.gc_cpu_fraction <= 1.0
        assert s.roots == len(live)
        assert s.heap_objects == s.mallocs - s.frees
        assert s.pause_max_ns <= s.pause_total_ns or s.num_gc == 0
        if s.pauses_ns:
            assert max(s.pauses_ns) <= s.pause_max_ns
            assert sum(s.pauses_ns) <= s.pause_total_ns
        assert s.total_alloc >= s.heap_alloc


def test_forced_cycles_are_counted(heap):
    for _ in range(3):
        heap.collect()
    s = heap.stats()
    assert s.num_forced_gc == 3 == s.num_gc
    assert s.heap_live <= s.heap_alloc or s.heap_objects == 0


def shifted_by(old, new):
    """How many pauses `new` added after `old`, if `new` is `old` with k more
    pauses appended (and, once the ring is full, the k oldest dropped)."""
    for k in range(1, len(new) + 1):
        kept = old[max(0, len(old) + k - 256):]
        if new[: len(new) - k] == kept:
            return k
    return 0


def test_every_cycle_adds_a_pause_and_the_ring_keeps_the_last_256(heap):
    previous = heap.stats()
    total = 0
    for _ in range(300):
        heap.collect()
        s = heap.stats()
        assert s.num_gc == previous.num_gc + 1
        added = shifted_by(previous.pauses_ns, s.pauses_ns)
        assert added >= 1, "every completed cycle adds at least one pause"
        total += added
        assert len(s.pauses_ns) == min(256, total)
        previous = s
    assert len(previous.pauses_ns) == 256


def test_verify_passes_on_a_healthy_heap(heap):
    objs = [heap.new(3, data=i) for i in range(100)]
    for i, o in enumerate(objs):
        o[0] = objs[(i + 1) % 100]
        o[1] = i
        o[2] = float(i)
    heap.verify()
    heap.collect()
    heap.verify()
    assert tricolor.HeapCorruption.__mro__[1] is tricolor.HeapError


def test_heap_live_and_goal_stay_consistent_while_cycles_run(heap):
    """Sampled at any moment (also between mark termination and the end of a
    concurrent sweep), heap_live never falls far below the data kept alive
    all along, and heap_goal (gogc set, no memory limit) is at least heap_live."""
    keep = heap.new(20_000)
    for i in range(20_000):
        keep[i] = heap.new(0, data=96)
    heap.collect()
    kept = heap.stats().heap_live
    assert kept >= 20_000 * 96
    bad = []
    for i in range(300_000):
        heap.new(2, data=16)
        if i % 64 == 0:
            s = heap.stats()
            if s.num_gc > 1 and (s.heap_live < kept // 2 or s.heap_goal < s.heap_live):
                bad.append((s.phase, s.num_gc, s.heap_live, s.heap_goal))
    assert heap.stats().num_gc >= 3
    assert bad == [], f"{len(bad)} inconsistent samples, first: {bad[:3]} (phase, num_gc, heap_live, heap_goal)"


# ---- collect() returns the number of objects freed (SPEC: Environment) ----------

def test_collect_returns_the_number_of_objects_the_cycle_freed(quiet_heap):
    heap = quiet_heap
    keep = heap.new(1)
    keep[0] = heap.new(0, data=8)  # reachable: never counted
    for _ in range(1000):
        heap.new(2, data=16)
    first = heap.collect()
    second = heap.collect()
    assert type(first) is int and type(second) is int  # like gc.collect()
    assert first + second == 1000  # all by the end of the second cycle (SPEC), none twice
    assert heap.collect() == 0
    assert heap.stats().frees == 1000
    del keep
    assert heap.collect() + heap.collect() == 2


def test_collect_counts_a_finalized_object_once_its_finalizer_ran(quiet_heap):
    heap = quiet_heap
    ran = []
    obj = heap.new(1)
    heap.set_finalizer(obj, lambda o: ran.append(o.id))
    del obj
    counts = [heap.collect()]  # the finalizer is due: its object is kept for it, not freed
    while not ran and len(counts) < 4:
        counts.append(heap.collect())
    assert ran and counts[0] == 0
    counts += [heap.collect(), heap.collect()]
    assert sum(counts) == 1  # freed once, after its finalizer returned
