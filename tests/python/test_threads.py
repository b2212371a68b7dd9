"""Python threads sharing one heap (SPEC: Threads)."""
import threading

import tricolor
from conftest import run_threads


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
