"""The lab's workloads: small programs that exercise a heap, written as
examples of the tricolor API. bindings/lua/tricolor/lab/workloads.lua has
the same workloads under the same names with the same parameters.

A workload is called as ``fn(heap, params)``: ``heap`` is an open
``tricolor.Heap`` and ``params`` a dict of its parameters (defaults filled
in). It returns a dict of what it did (``"objects"``: how many objects it
allocated; ``"keep"``: optionally, whatever holds its live set, so that the
lab can measure that live set after the run; any other numbers are reported
as they are), or None.

A workload with a steady state is a generator: it builds its live set,
``yield``s once to say "set-up is over, measure from here", then mutates and
``return``s its dict. The steady workloads take ``live_mib``, the size of
their live set in MiB (objects as tricolor counts them, headers and size
classes included), so that the pauses and limit questions can set it.

User workloads (``--workload package.module:function``) follow the same
protocol; ``resolve()`` finds them.
"""
from __future__ import annotations

import importlib
import math
import random
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import tricolor

MiB = 1 << 20
Number = Union[int, float]
Result = Optional[Dict[str, Any]]


class LabInputError(ValueError):
    """Bad input from the command line or a caller: the message is one line
    that names the valid choices (the CLI exits with status 2)."""


@dataclass(frozen=True)
class Workload:
    name: str
    fn: Callable[..., Any]
    doc: str                                   # one line
    params: Dict[str, Tuple[Number, str]] = field(default_factory=dict)  # name -> (default, doc)
    builtin: bool = True

    @property
    def steady(self) -> bool:
        """Has a live set of a size the caller sets (the pauses and limit questions need one)."""
        return "live_mib" in self.params or not self.builtin

    def with_defaults(self, given: Dict[str, Any]) -> Dict[str, Any]:
        """The parameters to call fn with: the defaults, then `given`; an
        unknown name is a LabInputError (user workloads take any name)."""
        if self.builtin:
            unknown = sorted(set(given) - set(self.params))
            if unknown:
                raise LabInputError(f"workload {self.name} has no parameter {unknown[0]!r}; "
                                    f"its parameters: {', '.join(self.params)}")
        out = {k: v for k, (v, _doc) in self.params.items()}
        out.update(given)
        return out


WORKLOADS: Dict[str, Workload] = {}


def workload(name: str, **params: Tuple[Number, str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register fn as a built-in workload; its docstring's first line is its summary."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or name).strip().splitlines()[0]
        WORKLOADS[name] = Workload(name, fn, doc, dict(params))
        return fn
    return register


def describe(name: str) -> str:
    """The one-line summary of a built-in workload."""
    return WORKLOADS[name].doc


# ---- helpers ---------------------------------------------------------------

_SIZE_CACHE: Dict[Tuple[int, int], float] = {}


def object_bytes(nslots: int, payload: int) -> float:
    """Bytes tricolor counts in heap_alloc for one object of this shape
    (header and size class included), measured once on a scratch heap."""
    key = (nslots, payload)
    if key not in _SIZE_CACHE:
        with tricolor.Heap(gogc=None) as h:
            before = h.stats().heap_alloc
            objs = [h.new(nslots, data=payload) for _ in range(256)]
            _SIZE_CACHE[key] = (h.stats().heap_alloc - before) / len(objs)
    return _SIZE_CACHE[key]


def count_for(live_mib: float, per_object: float) -> int:
    """How many objects of per_object bytes make live_mib MiB (at least 1)."""
    return max(1, int(live_mib * MiB / per_object))


class Table:
    """n slots in the heap: buckets of 256 slots, each a heap object held by a
    Python list (so that a lookup costs one heap load). Every bucket is live
    for as long as the table is."""

    WIDTH = 256

    def __init__(self, heap: tricolor.Heap, n: int) -> None:
        self.n = n
        self.buckets = [heap.new(self.WIDTH) for _ in range((n + self.WIDTH - 1) // self.WIDTH)]

    def __getitem__(self, i: int) -> Any:
        return self.buckets[i >> 8][i & 255]

    def __setitem__(self, i: int, value: Any) -> None:
        self.buckets[i >> 8][i & 255] = value

    def bucket(self, i: int) -> tricolor.Obj:
        return self.buckets[i >> 8]


def fixed_set(heap: tricolor.Heap, p: Dict[str, Any], nslots: int) -> Tuple[random.Random, int, Table]:
    """The live set churn and finalizers start from: live_mib MiB of objects
    with nslots slots and a payload, in a Table. Returns the workload's
    random generator (seeded), the payload size and the table."""
    payload = int(p["payload"])
    table = Table(heap, count_for(p["live_mib"], object_bytes(nslots, payload)))
    for i in range(table.n):
        table[i] = heap.new(nslots, data=payload)
    return random.Random(p["seed"]), payload, table


# ---- gcbench and binary-trees ----------------------------------------------

LEFT, RIGHT = 0, 1  # the two slots of a tree node


def tree_size(depth: int) -> int:
    """Nodes in a complete binary tree of ``depth`` (a single node has depth 0)."""
    return (1 << (depth + 1)) - 1


def make_tree(heap: tricolor.Heap, depth: int) -> tricolor.Obj:
    """Build a tree bottom-up: both children exist before their parent."""
    node = heap.new(2)
    if depth > 0:
        node[LEFT] = make_tree(heap, depth - 1)
        node[RIGHT] = make_tree(heap, depth - 1)
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


def check_tree(node: tricolor.Obj) -> int:
    """Count the nodes of a tree (an iterative walk: trees may be deep)."""
    count, stack = 0, [node]
    while stack:
        n = stack.pop()
        count += 1
        left = n[LEFT]
        if isinstance(left, tricolor.Obj):
            stack.append(left)
            stack.append(n[RIGHT])
    return count


@workload("gcbench", long_lived_depth=(14, "depth of the long-lived tree"),
          min_depth=(4, "smallest short-lived tree"), max_depth=(14, "largest short-lived tree"),
          array_size=(500_000, "doubles in the long-lived array"))
def gcbench(heap: tricolor.Heap, p: Dict[str, Any]) -> Result:
    """GCBench (Boehm, after Ellis and Kovac): short-lived trees around a long-lived tree and array.

    Many short-lived trees of depth min_depth..max_depth (step 2), each built
    top-down and bottom-up, with the same number of nodes at every depth. A
    ``log`` callable in ``p`` hears what happens (the demo prints it)."""
    say = p.get("log") or (lambda _msg: None)
    stretch = p["max_depth"] + 1
    say(f"stretching memory with a binary tree of depth {stretch}")
    make_tree(heap, stretch)
    say(f"creating a long-lived binary tree of depth {p['long_lived_depth']}")
    long_lived = heap.new(2)
    populate(heap, p["long_lived_depth"], long_lived)
    size = max(int(p["array_size"]), 2)
    say(f"creating a long-lived array of {size:,} doubles (a {8 * size:,}-byte payload)")
    doubles = array("d", (1.0 / i if i else 0.0 for i in range(size)))
    long_array = heap.new(0, data=doubles)
    objects = tree_size(stretch) + tree_size(p["long_lived_depth"]) + 1
    for depth in range(p["min_depth"], p["max_depth"] + 1, 2):
        iterations = 2 * tree_size(stretch) // tree_size(depth)
        say(f"creating {iterations} trees of depth {depth} top-down and {iterations} bottom-up")
        for _ in range(iterations):
            populate(heap, depth, heap.new(2))
            make_tree(heap, depth)
        objects += 2 * iterations * tree_size(depth)
    nodes = check_tree(long_lived)
    probe = size // 2
    if nodes != tree_size(p["long_lived_depth"]) or array("d", long_array.data)[probe] != 1.0 / probe:
        raise AssertionError("the long-lived data did not survive")
    return {"objects": objects, "long_lived_nodes": nodes}


@workload("binary-trees", max_depth=(12, "depth of the long-lived tree"),
          min_depth=(4, "smallest short-lived tree"))
def binary_trees(heap: tricolor.Heap, p: Dict[str, Any]) -> Result:
    """binary-trees (the Benchmarks Game): many short-lived trees, each walked, beside a long-lived one."""
    lo, hi = p["min_depth"], max(p["min_depth"] + 2, p["max_depth"])
    checks = check_tree(make_tree(heap, hi + 1))
    long_lived = make_tree(heap, hi)
    objects = tree_size(hi + 1) + tree_size(hi)
    for depth in range(lo, hi + 1, 2):
        iterations = 1 << (hi - depth + lo)
        for _ in range(iterations):
            checks += check_tree(make_tree(heap, depth))
        objects += iterations * tree_size(depth)
    checks += check_tree(long_lived)
    if checks != objects:
        raise AssertionError(f"trees lost nodes: {checks} != {objects}")
    return {"objects": objects}


# ---- steady workloads --------------------------------------------------------

_LIVE = (16, "live set, MiB")
_TURNOVER = (2.0, "allocation after set-up, as a multiple of the live set")
_SEED = (1, "random seed")


@workload("churn", live_mib=_LIVE, payload=(64, "payload bytes of each object"),
          turnover=_TURNOVER, seed=_SEED)
def churn(heap: tricolor.Heap, p: Dict[str, Any]) -> Iterator[None]:
    """A fixed live set of small objects under constant replacement.

    live_mib MiB of objects (2 slots and a payload) in a table; each step
    allocates one, points it at its table bucket (always live, so the live set
    stays the same size) and overwrites a random entry, whose old object dies."""
    rng, payload, table = fixed_set(heap, p, 2)
    n = table.n
    yield
    steps = int(p["turnover"] * n)
    for step in range(steps):
        i = rng.randrange(n)
        obj = heap.new(2, data=payload)
        obj[0] = table.bucket(i)
        obj[1] = step
        table[i] = obj
    return {"objects": n + steps, "live_objects": n, "keep": table}


@workload("linkedlist", length=(200_000, "nodes per list"), rounds=(4, "lists built"))
def linkedlist(heap: tricolor.Heap, p: Dict[str, Any]) -> Result:
    """Long singly linked lists, built, walked and dropped (the collector must mark chains without recursion)."""
    total = 0
    length = int(p["length"])
    for _ in range(int(p["rounds"])):
        head: Optional[tricolor.Obj] = None
        for i in range(length):
            new = heap.new(2)
            new[0] = i
            new[1] = head
            head = new
        node: object = head
        while isinstance(node, tricolor.Obj):
            value, node = node[0], node[1]
            total += value  # type: ignore[operator]
    expected = int(p["rounds"]) * length * (length - 1) // 2
    if total != expected:
        raise AssertionError(f"list sum {total} != {expected}")
    return {"objects": int(p["rounds"]) * length, "sum": total}


PREV, NEXT, KEY = 0, 1, 2  # slots of an LRU entry


@workload("lru-cache", live_mib=_LIVE, payload=(128, "payload bytes of each entry"),
          keys=(2.0, "key space, as a multiple of the capacity"), turnover=_TURNOVER, seed=_SEED)
def lru_cache(heap: tricolor.Heap, p: Dict[str, Any]) -> Iterator[None]:
    """An LRU cache in the heap: a doubly linked list and an index, every hit moves an entry to the front.

    Capacity: live_mib MiB of entries. Keys are drawn from keys x capacity, so
    about half the lookups miss, allocate an entry and evict the tail; hits
    rewrite four to six pointers (write-barrier traffic)."""
    rng = random.Random(p["seed"])
    payload = int(p["payload"])
    cap = count_for(p["live_mib"], object_bytes(3, payload))
    space = max(cap + 1, int(p["keys"] * cap))
    index = Table(heap, space)
    head = heap.new(3)   # the sentinel: head[NEXT] is the most recent entry
    head[PREV] = head[NEXT] = head

    def unlink(e: tricolor.Obj) -> None:
        prev, nxt = e[PREV], e[NEXT]
        prev[NEXT] = nxt  # type: ignore[index]
        nxt[PREV] = prev  # type: ignore[index]

    def push_front(e: tricolor.Obj) -> None:
        first = head[NEXT]
        e[PREV], e[NEXT] = head, first
        first[PREV] = e  # type: ignore[index]
        head[NEXT] = e

    size = hits = objects = 0

    def lookup(key: int) -> None:
        nonlocal size, hits, objects
        e = index[key]
        if e is not None:
            hits += 1
            unlink(e)
            push_front(e)
            return
        e = heap.new(3, data=payload)
        e[KEY] = key
        push_front(e)
        index[key] = e
        size += 1
        objects += 1
        if size > cap:
            tail = head[PREV]
            unlink(tail)  # type: ignore[arg-type]
            index[tail[KEY]] = None  # type: ignore[index]
            size -= 1

    for key in range(cap):  # fill to capacity: the live set
        lookup(key)
    yield
    steps = int(p["turnover"] * cap)
    for _ in range(steps):
        lookup(rng.randrange(space))
    return {"objects": objects, "hit_rate": hits / max(steps, 1), "keep": (index, head)}


@workload("random-graph", live_mib=_LIVE, degree=(4, "reference slots per node"),
          payload=(128, "payload bytes of each node's label"),
          rewrites=(2, "edges rewritten per step"), turnover=_TURNOVER, seed=_SEED)
def random_graph(heap: tricolor.Heap, p: Dict[str, Any]) -> Iterator[None]:
    """A random graph whose edges are rewritten while it is marked: pointer stores between old objects.

    live_mib MiB of nodes (degree reference slots and a label slot) held by a
    table. Each step rewrites `rewrites` random edges to random nodes and
    replaces one node's label (a small object), so the live set is exactly
    the nodes and their labels while the topology keeps changing."""
    rng = random.Random(p["seed"])
    degree, payload = int(p["degree"]), int(p["payload"])
    n = count_for(p["live_mib"], object_bytes(degree + 1, 0) + object_bytes(0, payload))
    nodes = Table(heap, n)
    for i in range(n):
        node = heap.new(degree + 1)
        node[degree] = heap.new(0, data=payload)
        nodes[i] = node
    for i in range(n):
        node = nodes[i]
        for d in range(degree):
            node[d] = nodes[rng.randrange(n)]
    yield
    steps = int(p["turnover"] * n)
    rewrites = range(int(p["rewrites"]))
    rand, buckets, new = rng.random, nodes.buckets, heap.new
    for _ in range(steps):
        for _ in rewrites:  # nodes[i][d] = nodes[j], Table's indexing inlined
            i, j = int(rand() * n), int(rand() * n)
            buckets[i >> 8][i & 255][int(rand() * degree)] = buckets[j >> 8][j & 255]
        i = int(rand() * n)
        buckets[i >> 8][i & 255][degree] = new(0, data=payload)
    return {"objects": 2 * n + steps, "live_objects": 2 * n, "keep": nodes}


@workload("mixed-sizes", live_mib=_LIVE, min_size=(16, "smallest payload, bytes"),
          max_size=(16384, "largest payload, bytes"), turnover=_TURNOVER, seed=_SEED)
def mixed_sizes(heap: tricolor.Heap, p: Dict[str, Any]) -> Iterator[None]:
    """Objects of log-uniform random sizes replaced at random: fragmentation (compare heap_sys with the live set).

    The live set holds live_mib MiB on average (the sizes are random, so it
    wanders a little around that)."""
    rng = random.Random(p["seed"])
    lo, hi = max(1, int(p["min_size"])), max(1, int(p["max_size"]))
    ratio = hi / lo

    def size() -> int:
        return int(lo * ratio ** rng.random())

    mean = object_bytes(0, int((hi - lo) / math.log(ratio)) if hi > lo else lo)  # log-uniform mean
    n = count_for(p["live_mib"], mean)
    table = Table(heap, n)
    for i in range(n):
        table[i] = heap.new(0, data=size())
    yield
    steps = int(p["turnover"] * n)
    for _ in range(steps):
        table[rng.randrange(n)] = heap.new(0, data=size())
    return {"objects": n + steps, "keep": table}


@workload("finalizers", live_mib=(4, "live set, MiB"), payload=(64, "payload bytes of each object"),
          turnover=_TURNOVER, seed=_SEED)
def finalizers(heap: tricolor.Heap, p: Dict[str, Any]) -> Iterator[None]:
    """Every object has a finalizer: a fixed live set under replacement, each dead object finalized.

    Like churn, but each new object gets a finalizer (which counts), so every
    replaced object is queued, survives one more cycle and is then freed."""
    finalized = [0]

    def fin(_obj: tricolor.Obj) -> None:
        finalized[0] += 1

    rng, payload, table = fixed_set(heap, p, 1)
    n = table.n
    yield
    steps = int(p["turnover"] * n)
    for step in range(steps):
        obj = heap.new(1, data=payload)
        obj[0] = step
        heap.set_finalizer(obj, fin)
        table[rng.randrange(n)] = obj
    heap.run_finalizers()
    return {"objects": n + steps, "finalized": finalized[0], "keep": table}


@workload("weak-cache", live_mib=(8, "recently used values held strongly, MiB"),
          payload=(128, "payload bytes of each value"),
          keys=(4.0, "key space, as a multiple of the strong set"), turnover=_TURNOVER, seed=_SEED)
def weak_cache(heap: tricolor.Heap, p: Dict[str, Any]) -> Iterator[None]:
    """A cache of weak references: values live while recently used, lookups of collected ones miss.

    A ring of live_mib MiB holds the recently used values strongly; an index
    of weak references (one per key, keys x the ring) finds them while they
    live. A miss (never seen, or collected) allocates the value again."""
    rng = random.Random(p["seed"])
    payload = int(p["payload"])
    n = count_for(p["live_mib"], object_bytes(1, payload))
    space = max(n + 1, int(p["keys"] * n))
    ring = Table(heap, n)
    index: List[Optional[tricolor.WeakRef]] = [None] * space
    hits = objects = 0

    def lookup(step: int, key: int) -> None:
        nonlocal hits, objects
        ref = index[key]
        value = ref.get() if ref is not None else None
        if value is None:
            value = heap.new(1, data=payload)
            value[0] = key
            index[key] = heap.weakref(value)
            objects += 1
        else:
            hits += 1
        ring[step % n] = value

    for step in range(n):
        lookup(step, step)
    yield
    steps = int(p["turnover"] * n)
    for step in range(steps):
        lookup(step, rng.randrange(space))
    return {"objects": objects, "hit_rate": hits / max(steps, 1), "keep": (ring, index)}


# ---- resolving a --workload argument -----------------------------------------


def choices() -> str:
    """The valid --workload values, for error messages."""
    return ", ".join(WORKLOADS) + ", package.module:function or path/to/file.lua"


def resolve(spec: str) -> Workload:
    """A built-in name or ``package.module:function``; a LabInputError
    naming the choices otherwise (a ``.lua`` file is the Lua side's)."""
    if spec in WORKLOADS:
        return WORKLOADS[spec]
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise LabInputError(f"unknown workload {spec!r}: choose {choices()}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise LabInputError(f"workload {spec!r}: cannot import {module!r} ({e}); choose {choices()}") from None
    except AttributeError:
        raise LabInputError(f"workload {spec!r}: {module} has no {attr!r}; choose {choices()}") from None
    if not callable(fn):
        raise LabInputError(f"workload {spec!r} is not callable; choose {choices()}")
    doc = (fn.__doc__ or spec).strip().splitlines()[0]
    return Workload(spec, fn, doc, {}, builtin=False)
