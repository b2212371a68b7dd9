"""Concurrency stress against a plain model: Python threads share one heap and
mutate a graph at random while cycles run; at the end every object that the
model says is alive must be alive, with its payload and references intact.
checkmark=True makes the core re-mark with the world stopped at every mark
termination and fail the cycle if the concurrent mark left a reachable object
white."""
import random

import pytest

import tricolor
from conftest import run_threads

TABLE = 48          # slots of each thread's table object
OPS = 4000          # random operations per thread
THREADS = 3
MAX_WALK = 64       # how far to follow a chain (the graph may have cycles)


class Node:
    """The model of one heap object: its payload and what slot 0 refers to."""
    __slots__ = ("payload", "child")

    def __init__(self, payload):
        self.payload = payload
        self.child = None


def payload_of(k, n):
    return k.to_bytes(2, "little") + n.to_bytes(6, "little")


def mutate(heap, k, seed, held):
    """One thread's random walk over allocate / link / drop / overwrite / hold."""
    rng = random.Random(seed)
    table = heap.new(TABLE)
    model = [None] * TABLE
    for n in range(OPS):
        i, j = rng.randrange(TABLE), rng.randrange(TABLE)
        op = rng.random()
        if op < 0.45:                       # allocate, link to a survivor, publish
            obj = heap.new(1, data=payload_of(k, n))
            node = Node(payload_of(k, n))
            obj[0] = table[j]
            node.child = model[j]
            table[i] = obj
            model[i] = node
        elif op < 0.65 and model[i] is not None:   # re-link an existing object
            table[i][0] = table[j]
            model[i].child = model[j]
        elif op < 0.80:                     # drop a reference
            table[i] = None
            model[i] = None
        elif op < 0.90 and model[i] is not None:   # keep one alive by a handle only
            held.append((table[i], model[i]))
            if len(held) > 20:
                held.pop(rng.randrange(len(held)))
        elif op < 0.92:
            heap.collect()
        else:
            for _ in range(50):             # garbage
                heap.new(2, data=24)
    return table, model


def check_chain(obj, node):
    """Follow slot 0 in the heap and .child in the model side by side."""
    for _ in range(MAX_WALK):
        if node is None:
            assert obj is None
            return
        assert obj is not None and obj.data == node.payload
        obj, node = obj[0], node.child


@pytest.mark.parametrize("collector, barrier", [
    ("concurrent", "hybrid"), ("concurrent", "dijkstra"), ("concurrent", "yuasa"),
    ("incremental", "hybrid"), ("incremental", "dijkstra"), ("incremental", "yuasa"),
    ("stw", "hybrid"),
])
def test_threads_mutate_a_shared_heap_against_a_model(collector, barrier):
    with tricolor.Heap(collector=collector, barrier=barrier, gogc=5, checkmark=True) as heap:
        results, helds = [None] * THREADS, [[] for _ in range(THREADS)]

        def run(k):
            results[k] = mutate(heap, k, 1000 * k + 7, helds[k])

        assert run_threads(run, THREADS) == []
        heap.collect()
        heap.collect()
        heap.verify()
        for table, model in results:
            for i in range(TABLE):
                check_chain(table[i], model[i])
        for held in helds:
            for obj, node in held:
                check_chain(obj, node)
        s = heap.stats()
        assert s.num_gc >= 2 and s.frees > 0
        assert s.num_forced_gc <= s.num_gc
