"""Python threads sharing one heap (SPEC: Threads)."""
import subprocess
import sys
import threading

import pytest

import tricolor
from conftest import COLLECTORS, run_threads, subprocess_env


def test_threads_allocate_and_store_into_a_shared_heap(heap):
    nthreads, per_thread = 4, 20_000
    heap.gogc = 20
    table = heap.new(nthreads)

    def worker(k):
        head = None
        for i in range(per_thread):
            node = heap.new(2, data=8)
            node[0] = i
            node[1] = head
            head = node
            if i % 1000 == 0:
                heap.new(3, data=64)  # garbage
        table[k] = head

    assert run_threads(worker, nthreads) == []
    heap.collect()
    heap.verify()
    for k in range(nthreads):
        count, node = 0, table[k]
        while node is not None:
            assert node[0] == per_thread - 1 - count
            count += 1
            node = node[1]
        assert count == per_thread
    assert heap.stats().num_gc >= 2


def test_collect_in_one_thread_while_others_mutate(heap):
    shared = heap.new(64)
    stop = threading.Event()

    def mutator(k):
        i = 0
        while not stop.is_set():
            obj = heap.new(1)
            obj[0] = i
            shared[(k * 16 + i) % 64] = obj
            i += 1

    def collector():
        try:
            for _ in range(30):
                heap.collect()
                heap.stats()
        finally:
            stop.set()

    assert run_threads(lambda k: collector() if k == 3 else mutator(k), 4) == []
    heap.verify()
    assert heap.stats().num_forced_gc == 30


def test_separate_heaps_in_separate_threads():
    results = {}

    def run(k):
        with tricolor.Heap() as heap:
            keep = heap.new(1, data=bytes([k]) * 4)
            for _ in range(20_000):
                heap.new(2)
            heap.collect()
            results[k] = (keep.data, heap.stats().heap_objects)

    assert run_threads(run, 3) == []
    assert results == {k: (bytes([k]) * 4, 1) for k in range(3)}


def test_handle_dropped_in_another_thread(heap):
    objs = [heap.new(1) for _ in range(100)]
    assert run_threads(lambda k: objs.clear(), 1) == []
    assert heap.stats().roots == 0
    heap.collect()
    heap.collect()
    assert heap.stats().heap_objects == 0


def test_close_while_other_threads_collect_and_allocate(heap):
    """Closing a heap that other threads are using (one inside collect(), with
    the GIL released) neither deadlocks nor crashes: they get HeapClosedError."""
    keep = [heap.new(2, data=100) for _ in range(50_000)]
    started = threading.Barrier(3)
    outcome = []

    def collector():
        started.wait()
        try:
            while True:
                heap.collect()
        except tricolor.HeapClosedError:
            outcome.append("collect")

    def allocator():
        started.wait()
        try:
            while True:
                obj = heap.new(2)
                obj[0] = keep[0]
        except tricolor.HeapClosedError:
            outcome.append("new")

    def closer():
        started.wait()
        for _ in range(20):
            heap.stats()
        heap.close()

    assert run_threads(lambda k: (collector, allocator, closer)[k](), 3) == []
    assert sorted(outcome) == ["collect", "new"]
    assert heap.closed


EXIT_SCRIPT = """
import threading, time, tricolor
h = tricolor.Heap(collector={collector!r})
keep = [h.new(2, data=10) for _ in range(50_000)]
others = [tricolor.Heap(collector={collector!r}) for _ in range(3)]
handles = [o.new(1) for o in others]
def loop():
    while True:
        h.collect()
        for _ in range(1000):
            h.new(2)
for _ in range(2):
    threading.Thread(target=loop, daemon=True).start()
time.sleep(0.05)
print("exiting")
"""


@pytest.mark.parametrize("collector", COLLECTORS)
def test_interpreter_exits_cleanly_with_live_heaps_and_busy_daemon_threads(collector):
    r = subprocess.run([sys.executable, "-c", EXIT_SCRIPT.format(collector=collector)], capture_output=True,
                       text=True, timeout=60, env=subprocess_env())
    assert (r.returncode, r.stdout.strip()) == (0, "exiting"), r.stderr
