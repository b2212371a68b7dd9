"""Dropped handles (obj_dealloc): the root of a dropped Obj is held back on
its heap's list and released with others in one heap call (tc_root_release_n)
when the list fills (32), at the 32nd allocation since, and before every call
that collects or reports on roots or liveness.

What these prove: no report sees a dropped handle as a root, whatever the
list held (0, 1, a full list and more); an object whose last handle was
dropped is collected by collect(), by teaching mode's cycle, and by the
automatic cycles of allocations that report nothing (held back for a bounded
number of allocations, not for ever); handles dropped during a mark keep the
heap sound under each barrier; handles dropped after close, by another
thread while a collection waits with the GIL released, and in a forked
child, release nothing twice and lose none.
"""
import gc
import os
import subprocess
import sys
import threading

import pytest

import tricolor

HELD = 32  # PYTC_DROPPED_MAX in bindings/python/_tricolor.h


@pytest.mark.parametrize("n", [1, HELD - 1, HELD, HELD + 1, 5 * HELD + 3])
def test_reports_never_count_dropped_handles(quiet_heap, n):
    obj = quiet_heap.new(1)
    obj[0] = quiet_heap.new(0)
    handles = [obj[0] for _ in range(n)]
    assert quiet_heap.stats().roots == 1 + n
    del handles
    assert quiet_heap.stats().roots == 1
    assert [kind for kind, _ in quiet_heap.roots()] == ["handle"]
    handles = [obj[0] for _ in range(n)]
    target = handles[0]
    del handles
    assert quiet_heap.referrers(target) == [obj]
    del target
    assert quiet_heap.stats().roots == 1
    quiet_heap.verify()


def test_an_object_whose_last_handle_was_dropped_is_collected(quiet_heap):
    ran = []
    x = quiet_heap.new(0)
    quiet_heap.set_finalizer(x, lambda o: ran.append(o.id))
    xid = x.id
    w = quiet_heap.weakref(x)
    del x
    assert quiet_heap.collect() >= 0
    quiet_heap.run_finalizers()
    assert ran == [xid]
    del ran[:]
    quiet_heap.collect()
    assert w.get() is None
    assert quiet_heap.stats().heap_objects == 0


@pytest.mark.parametrize("barrier", ["hybrid", "dijkstra", "yuasa"])
def test_handles_dropped_in_a_teaching_mode_cycle(barrier):
    """Manual cycle: handles read and dropped during the mark keep their
    objects for it; the next cycle frees what nothing else holds."""
    with tricolor.Heap(collector="manual", barrier=barrier) as heap:
        head = heap.new(2)
        head[0] = heap.new(1)
        head[0][0] = heap.new(0)
        heap.gc_start()
        for _ in range(3 * HELD):
            a = head[0]
            b = a[0]
            del a, b
        heap.gc_step(1)
        head[0] = None  # a[0]'s object is reachable from nothing now
        for _ in range(HELD + 5):
            heap.new(0)
        assert heap.gc_finish() >= 0
        heap.verify()
        heap.gc_start()
        heap.gc_finish()
        assert heap.stats().heap_objects == 1
        assert heap.stats().roots == 1


def test_a_cycle_an_allocation_starts_never_sees_a_dropped_handle():
    """SPEC: an unreachable object is reclaimed by the end of the second
    complete cycle after it became unreachable. Nothing between the drop and
    the end reports or collects; every new handle is kept (so the list never
    fills) and about every other allocation runs a whole cycle in it (stw,
    gogc=1: no other thread, so the count is the same every run). The
    dropped handle's root is released before the next allocation, so the
    first cycle after the drop frees the object, and the safe point after
    that heap.new (or the next) runs its finalizer."""
    ran = []
    with tricolor.Heap(collector="stw", gogc=1) as heap:
        keep = [heap.new(0, data=4096) for _ in range(200)]
        y = heap.new(0)
        heap.set_finalizer(y, lambda o: ran.append(1))
        start = heap.stats().num_gc  # a report: it releases the list, so drop after it
        del y
        for _ in range(2000):
            keep.append(heap.new(0, data=4096))
            if ran:
                break
        cycles = heap.stats().num_gc - start
        assert ran == [1]
        assert 1 <= cycles <= 2, cycles
        del keep


def test_handles_dropped_after_close_release_nothing():
    heap = tricolor.Heap()
    obj = heap.new(1)
    obj[0] = heap.new(0)
    handles = [obj[0] for _ in range(HELD // 2)]
    del handles  # held back
    more = [obj[0] for _ in range(3 * HELD)]
    heap.close()  # the table goes: the held-back roots are forgotten, not released
    del more  # dropped on a closed heap: released as a no-op
    with pytest.raises(tricolor.HeapClosedError):
        heap.stats()
    del obj
    gc.collect()


def test_threads_drop_handles_while_another_collects():
    """A collect() that waits gives the GIL up; the other threads drop
    handles meanwhile, and a list being released is not the one they fill."""
    with tricolor.Heap(collector="concurrent") as heap:
        obj = heap.new(1)
        obj[0] = heap.new(0)
        stop = threading.Event()
        errors = []

        def drop():
            try:
                while not stop.is_set():
                    hs = [obj[0] for _ in range(HELD + 7)]
                    del hs
                    heap.new(1)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=drop) for _ in range(2)]
        for t in threads:
            t.start()
        for _ in range(20):
            heap.collect()
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
        assert heap.stats().roots == 1
        heap.verify()


FORK_SCRIPT = """
import os, tricolor
heap = tricolor.Heap(collector="concurrent", gogc=None)
obj = heap.new(1)
obj[0] = heap.new(0)
handles = [obj[0] for _ in range(%d)]
del handles  # held back across the fork
pid = os.fork()
if pid == 0:
    code = 1
    try:
        more = [obj[0] for _ in range(%d)]
        del more
        code = 2 if heap.stats().roots != 1 else 3
        heap.collect()
        heap.verify()
        code = 0 if heap.stats().heap_objects == 2 else 4
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
print("child", os.WEXITSTATUS(status), "roots", heap.stats().roots)
heap.close()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_releases_the_handles_dropped_before_the_fork():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", FORK_SCRIPT % (HELD // 2, HELD + 1)], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "child 0 roots 1" in r.stdout, r.stdout + r.stderr
