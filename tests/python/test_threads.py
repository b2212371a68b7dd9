"""Python threads sharing one heap (SPEC: Threads)."""
import threading

import tricolor


def test_threads_allocate_and_store_into_a_shared_heap():
    nthreads, per_thread = 4, 20_000
    with tricolor.Heap(gogc=20) as heap:
        table = heap.new(nthreads)
        errors = []

        def worker(k):
            try:
                head = None
                for i in range(per_thread):
                    node = heap.new(2, data=8)
                    node[0] = i
                    node[1] = head
                    head = node
                    if i % 1000 == 0:
                        heap.new(3, data=64)  # garbage
                table[k] = head
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
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


def test_collect_in_one_thread_while_others_mutate():
    with tricolor.Heap() as heap:
        shared = heap.new(64)
        stop = threading.Event()
        errors = []

        def mutator(k):
            try:
                i = 0
                while not stop.is_set():
                    obj = heap.new(1)
                    obj[0] = i
                    shared[(k * 16 + i) % 64] = obj
                    i += 1
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=mutator, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for _ in range(30):
            heap.collect()
            heap.stats()
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
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

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: (bytes([k]) * 4, 1) for k in range(3)}


def test_handle_dropped_in_another_thread():
    with tricolor.Heap() as heap:
        objs = [heap.new(1) for _ in range(100)]
        t = threading.Thread(target=objs.clear)
        t.start()
        t.join()
        assert heap.stats().roots == 0
        heap.collect()
        assert heap.stats().heap_objects == 0
