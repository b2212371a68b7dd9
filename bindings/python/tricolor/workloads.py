"""Built-in workloads: small programs that exercise a heap, written as examples
of the tricolor API.

Every workload is a function ``workload(heap, tick=None, **params)``:

- ``heap`` is an open ``tricolor.Heap``;
- ``tick`` (optional) is called now and then without arguments, so the caller
  can sample ``heap.stats()`` while the workload runs (the CLI uses it for the
  heap peak and for ``--plot``);
- it returns a short dict of what it did (``"objects"``: how many objects it
  allocated, plus any check value).

``WORKLOADS`` maps each name the CLI accepts to its function, and
``describe(name)`` gives its one-line summary.
"""
from __future__ import annotations

import random
from array import array
from typing import Callable, Dict, Optional

import tricolor

Tick = Optional[Callable[[], None]]

LEFT, RIGHT = 0, 1  # the two slots of a tree node


def _nothing() -> None:
    pass


# ---- gcbench ----------------------------------------------------------------


def tree_size(depth: int) -> int:
    """Nodes in a complete binary tree of ``depth`` (a single node has depth 0)."""
    return (1 << (depth + 1)) - 1


def make_tree(heap: tricolor.Heap, depth: int) -> tricolor.Obj:
    """Build a tree bottom-up: both children exist before their parent."""
    if depth <= 0:
        return heap.new(2)
    left = make_tree(heap, depth - 1)
    right = make_tree(heap, depth - 1)
    node = heap.new(2)
    node[LEFT] = left
    node[RIGHT] = right
    return node


def populate(heap: tricolor.Heap, depth: int, node: tricolor.Obj) -> None:
    """Grow a tree top-down: each parent is stored before its children exist."""
    if depth <= 0:
        return
    left, right = heap.new(2), heap.new(2)
    node[LEFT] = left
    node[RIGHT] = right
    populate(heap, depth - 1, left)
    populate(heap, depth - 1, right)


def check_tree(node: tricolor.Obj, depth: int) -> int:
    """Count the nodes of a tree, checking that its shape is intact."""
    count, stack = 0, [(node, depth)]
    while stack:
        n, d = stack.pop()
        count += 1
        if d > 0:
            left, right = n[LEFT], n[RIGHT]
            if not isinstance(left, tricolor.Obj) or not isinstance(right, tricolor.Obj):
                raise AssertionError("a tree lost a child")
            stack.append((left, d - 1))
            stack.append((right, d - 1))
    return count


def gcbench(heap: tricolor.Heap, tick: Tick = None, *, long_lived_depth: int = 14,
            min_depth: int = 4, max_depth: int = 14, array_size: int = 500_000,
            log: Optional[Callable[[str], None]] = None) -> Dict[str, int]:
    """GCBench: binary trees, short-lived ones built around a long-lived tree.

    The classic benchmark (Boehm, after Ellis and Kovac): a long-lived tree and
    array, then many short-lived trees of depth min_depth..max_depth (step 2), each built
    top-down and bottom-up, with the same number of nodes at every depth."""
    tick = tick or _nothing
    say = log or (lambda _msg: None)
    stretch_depth = max_depth + 1
    say(f"stretching memory with a binary tree of depth {stretch_depth}")
    make_tree(heap, stretch_depth)
    tick()

    say(f"creating a long-lived binary tree of depth {long_lived_depth}")
    long_lived = heap.new(2)
    populate(heap, long_lived_depth, long_lived)
    say(f"creating a long-lived array of {array_size:,} doubles (a {8 * array_size:,}-byte payload)")
    doubles = array("d", (1.0 / i if i else 0.0 for i in range(max(array_size, 2))))
    long_array = heap.new(0, data=doubles)
    tick()

    objects = tree_size(stretch_depth) + tree_size(long_lived_depth) + 1
    for depth in range(min_depth, max_depth + 1, 2):
        iterations = 2 * tree_size(stretch_depth) // tree_size(depth)
        say(f"creating {iterations} trees of depth {depth} top-down and {iterations} bottom-up")
        for _ in range(iterations):
            temp = heap.new(2)
            populate(heap, depth, temp)
            temp = make_tree(heap, depth)
            tick()
        objects += 2 * iterations * tree_size(depth)
        tick()

    nodes = check_tree(long_lived, long_lived_depth)
    probe = len(doubles) // 2
    if nodes != tree_size(long_lived_depth) or array("d", long_array.data)[probe] != 1.0 / probe:
        raise AssertionError("the long-lived data did not survive")
    return {"objects": objects, "long_lived_nodes": nodes}


# ---- churn --------------------------------------------------------------------


def churn(heap: tricolor.Heap, tick: Tick = None, *, live: int = 20_000, steps: int = 300_000,
          payload: int = 32, seed: int = 1) -> Dict[str, int]:
    """A steady live set of small objects under constant replacement.

    ``live`` objects are held in a table (a heap object too); each step allocates a small object with a
    payload, links it to a random survivor and overwrites a random entry."""
    tick = tick or _nothing
    rng = random.Random(seed)
    table = heap.new(live)
    for i in range(live):
        table[i] = heap.new(2, data=payload)
    for step in range(steps):
        obj = heap.new(2, data=payload)
        obj[0] = table[rng.randrange(live)]
        obj[1] = step
        table[rng.randrange(live)] = obj
        if step % 2048 == 0:
            tick()
    return {"objects": 1 + live + steps}


# ---- linkedlist ---------------------------------------------------------------


def linkedlist(heap: tricolor.Heap, tick: Tick = None, *, length: int = 200_000,
               rounds: int = 4) -> Dict[str, int]:
    """Long singly linked lists, built, walked and dropped.

    Builds one list of ``length`` nodes (slot 0 the value,
    slot 1 the next node), walk it, drop it, ``rounds`` times. The collector
    must mark such chains without recursion."""
    tick = tick or _nothing
    total = 0
    for _ in range(rounds):
        head: Optional[tricolor.Obj] = None
        for i in range(length):
            new = heap.new(2)
            new[0] = i
            new[1] = head
            head = new
            if i % 8192 == 0:
                tick()
        node: object = head
        while isinstance(node, tricolor.Obj):
            value, node = node[0], node[1]
            if not isinstance(value, int):
                raise AssertionError("a list node lost its value")
            total += value
        tick()
    expected = rounds * length * (length - 1) // 2
    if total != expected:
        raise AssertionError(f"list sum {total} != {expected}")
    return {"objects": rounds * length, "sum": total}


WORKLOADS: Dict[str, Callable[..., Dict[str, int]]] = {
    "gcbench": gcbench,
    "churn": churn,
    "linkedlist": linkedlist,
}


def describe(name: str) -> str:
    """The first line of a workload's docstring."""
    return (WORKLOADS[name].__doc__ or "").strip().splitlines()[0]
