"""Why is an object alive (SPEC: Introspection): Heap.roots, referents,
referrers, path_to and retained, under every collector, against a
brute-force model on random graphs, while cycles run, and on bad input."""
import threading
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tricolor
from conftest import COLLECTORS


def ids(objs):
    return sorted(o.id for o in objs)


def chain(heap, n, nslots=1):
    """n objects, each referring to the next through slot 0; returns them."""
    objs = [heap.new(nslots) for _ in range(n)]
    for a, b in zip(objs, objs[1:]):
        a[0] = b
    return objs


# ---- each call on small graphs, each collector ------------------------------------


def test_path_to_is_a_shortest_chain_from_another_root(quiet_heap):
    h = quiet_heap
    a, b, c, d = (h.new(2) for _ in range(4))
    a[0] = b
    b[1] = c
    a[1] = d
    d[0] = c
    del b, d
    path = h.path_to(c)
    assert len(path) == 3
    (kind, first), (s1, mid), (s2, last) = path
    assert kind == "handle" and first == a and last == c
    assert (s1, s2) in ((0, 1), (1, 0))
    assert a[s1] == mid and mid[s2] == c


def test_path_to_is_none_when_only_this_handle_holds_the_object(heap):
    a = heap.new(1)
    assert heap.path_to(a) is None
    again = heap.new(1)
    again[0] = a
    assert heap.path_to(a) == [("handle", again), (0, a)]


def test_a_second_handle_is_a_root(heap):
    a = heap.new(0)
    holder = heap.new(1)
    holder[0] = a
    second = holder[0]  # another handle to the same object
    del holder
    assert heap.path_to(a) == [("handle", second)]


def test_referents_follow_slot_order_and_referrers_are_live(quiet_heap):
    h = quiet_heap
    a, b, c, g = h.new(4), h.new(1), h.new(0), h.new(1)
    a[0], a[1], a[2], a[3] = c, 7, b, c
    b[0] = c
    g[0] = c
    del g  # garbage, never collected here: not a referrer
    assert h.referents(a) == [c, b, c]
    assert h.referents(c) == []
    bid = b.id
    del b
    assert ids(h.referrers(c)) == sorted([a.id, bid])
    assert h.referrers(a) == []


def test_retained_is_the_dominated_subtree(quiet_heap):
    h = quiet_heap
    r, x, y, z, w, r2 = (h.new(2) for _ in range(6))
    r[0] = x
    x[0], x[1] = y, z
    z[0] = w
    r2[0] = w
    del y, z, w
    each = h.stats().heap_alloc // h.stats().heap_objects  # one size class
    assert h.retained(x) == (3 * each, 3)
    assert h.retained(r) == (each, 1)  # x has a handle of its own
    del x
    assert h.retained(r) == (4 * each, 4)  # w is r2's too
    del r2
    assert h.retained(r) == (5 * each, 5)


def test_roots_lists_handles_and_finalizers(quiet_heap):
    h = quiet_heap
    a, f = h.new(0), h.new(1)
    child = h.new(0)
    f[0] = child
    h.set_finalizer(f, lambda o: None)
    roots = h.roots()
    assert ("handle", a) in roots and ("handle", f) in roots and ("finalizer", f) in roots
    assert all(kind in ("handle", "local", "finalizer_queue", "finalizer") for kind, _ in roots)
    assert len(roots) == len(set((k, o.id) for k, o in roots))  # once per (kind, object)
    del f, roots  # roots() handed out handles too
    assert h.path_to(child)[0][0] == "finalizer"  # f's finalizer keeps what f refers to
    assert h.path_to(child)[1][0] == 0


def test_a_due_finalizer_is_a_finalizer_queue_root(quiet_heap):
    h = quiet_heap
    seen = []

    def fin(obj):
        seen.append([(kind, o.id) for kind, o in h.roots()])

    x, y = h.new(0), h.new(0)
    xid, yid = x.id, y.id
    h.set_finalizer(x, fin)
    h.set_finalizer(y, fin)
    del x, y
    h.collect()
    h.collect()
    assert len(seen) == 2
    first = seen[0]  # while the first finalizer runs, the other waits in the queue
    assert ("finalizer_queue", xid) in first or ("finalizer_queue", yid) in first


def test_answers_are_new_handles_and_leak_nothing(quiet_heap):
    h = quiet_heap
    objs = chain(h, 50)
    keep = objs[0]
    last = objs[-1]
    del objs
    roots0 = h.stats().roots
    for _ in range(3):
        path = h.path_to(last)
        assert len(path) == 50 and [o.id for _, o in path][-1] == last.id
        h.roots()
        h.referrers(last)
        h.referents(keep)
        del path
    assert h.stats().roots == roots0
    del keep
    h.collect()
    h.verify()


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["referents", "referrers", "path_to", "retained"])
def test_bad_input_raises_the_typed_errors(method):
    h, other = tricolor.Heap(gogc=None), tricolor.Heap(gogc=None)
    try:
        call = getattr(h, method)
        with pytest.raises(tricolor.CrossHeapError):
            call(other.new(1))
        with pytest.raises(TypeError):
            call(42)
        doomed = h.new(1)
        tricolor.unsafe.free(doomed)
        with pytest.raises(tricolor.FreedObjectError):
            call(doomed)
        a = h.new(1)
        h.close()
        with pytest.raises(tricolor.HeapClosedError):
            call(a)
        with pytest.raises(tricolor.HeapClosedError):
            h.roots()
    finally:
        h.close()
        other.close()


# ---- while cycles run ------------------------------------------------------------------------


@pytest.mark.parametrize("collector", COLLECTORS)
def test_answers_stay_exact_while_cycles_run(collector):
    h = tricolor.Heap(collector=collector, gogc=20, checkmark=True)
    stop = threading.Event()
    errors = []

    def churn():
        try:
            keep = []
            while not stop.is_set():
                keep.append(h.new(2))
                if len(keep) > 64:
                    keep.pop(0)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    objs = chain(h, 100)
    head, tail = objs[0], objs[-1]
    del objs
    t = threading.Thread(target=churn)
    t.start()
    try:
        cycles0 = h.stats().num_gc
        rounds = 0
        while rounds < 20 or (h.stats().num_gc < cycles0 + 3 and rounds < 100000):
            rounds += 1
            path = h.path_to(tail)
            assert len(path) == 100 and path[0] == ("handle", head)
            before_tail = path[-2][1].id
            del path  # its handles are roots too
            assert h.retained(head)[1] == 99  # tail has its own handle
            assert [o.id for o in h.referrers(tail)] == [before_tail]
        assert h.stats().num_gc > cycles0
    finally:
        stop.set()
        t.join()
    assert not errors
    h.collect()  # checkmark: the walks left every mark sound
    h.verify()
    h.close()


def test_closing_from_another_thread_during_walks_is_an_error_not_a_crash():
    for _ in range(5):
        h = tricolor.Heap(collector="concurrent")
        objs = chain(h, 2000)
        tail = objs[-1]
        del objs[1:]
        outcome = []

        def walker():
            try:
                while True:
                    h.path_to(tail)
                    h.retained(tail)
            except tricolor.HeapClosedError:
                outcome.append("closed")

        t = threading.Thread(target=walker)
        t.start()
        h.collect()
        h.close()
        t.join()
        assert outcome == ["closed"]


# ---- random graphs against brute force ---------------------------------------------------------

SLOTS = 3


def reach(n, edges, handles, fins, removed=None, also=None):
    """Chain length - 1 to each object from the model's roots (handles, and
    the referents of objects with a finalizer), never through `removed`."""
    dist = [None] * n
    queue = deque()
    for i in range(n):
        if (i in handles or i == also) and i != removed:
            dist[i] = 0
            queue.append(i)
    for f in sorted(fins):
        for c in edges[f]:
            if c is not None and c != removed and dist[c] is None:
                dist[c] = 1
                queue.append(c)
    while queue:
        v = queue.popleft()
        for c in edges[v]:
            if c is not None and c != removed and dist[c] is None:
                dist[c] = dist[v] + 1
                queue.append(c)
    return dist


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 24))
    edges = [[draw(st.one_of(st.none(), st.integers(0, n - 1))) for _ in range(SLOTS)] for _ in range(n)]
    handles = draw(st.sets(st.integers(0, n - 1), max_size=n))
    fins = draw(st.sets(st.integers(0, n - 1), max_size=3))
    return n, edges, handles, fins


def check_graph(collector, graph):
    n, edges, handles, fins = graph
    h = tricolor.Heap(collector=collector, gogc=None)  # no cycle: the model stays exact
    try:
        objs = [h.new(SLOTS) for _ in range(n)]
        index = {o.id: i for i, o in enumerate(objs)}
        for i, out in enumerate(edges):
            for k, c in enumerate(out):
                if c is not None:
                    objs[i][k] = objs[c]
        for f in fins:
            h.set_finalizer(objs[f], lambda o: None)
        kept = {i: objs[i] for i in handles}
        del objs
        each = h.stats().heap_alloc // h.stats().heap_objects
        assert sorted((k, index[o.id]) for k, o in h.roots()) == sorted(
            [("handle", i) for i in handles] + [("finalizer", f) for f in fins])
        dist = reach(n, edges, handles, fins)
        for i in range(n):
            if dist[i] is None:
                continue  # garbage: Python cannot get a handle to it
            q = handle_of(h, i, kept, edges, fins, index)
            check_queries(h, q, i, index, graph, dist, each)
            del q
    finally:
        h.close()


def handle_of(h, i, kept, edges, fins, index):
    """A new handle to object i: from Heap.roots() if it is a root, else
    read along a model path from a kept handle or an object with a
    finalizer (Heap.roots() hands those out); the handles on the way are
    dropped as it goes (they would be roots)."""
    if i in kept:
        return next(o for kind, o in h.roots() if kind == "handle" and index[o.id] == i)
    parent = {}
    queue = deque()
    for s in sorted(kept) + sorted(fins):
        parent.setdefault(s, None)
        queue.append(s)
    while queue:
        v = queue.popleft()
        for k, c in enumerate(edges[v]):
            if c is not None and c not in parent:
                parent[c] = (v, k)
                queue.append(c)
    steps = []
    v = i
    while parent[v] is not None:
        v, k = parent[v]
        steps.append(k)
    cur = kept.get(v) or next(o for kind, o in h.roots() if kind == "finalizer" and index[o.id] == v)
    for k in reversed(steps):
        cur = cur[k]
    return cur


def check_queries(h, q, i, index, graph, dist, each):
    """Each call about object i (q: a handle of its own) against the model."""
    n, edges, handles, fins = graph
    # as (kind or slot, index) pairs: the path's own handles would be roots
    path = [(step, index[o.id]) for step, o in h.path_to(q)]
    assert len(path) == dist[i] + 1
    kind, prev = path[0]
    assert (kind == "handle" and prev in handles) or (kind == "finalizer" and prev in fins)
    for slot, v in path[1:]:
        assert edges[prev][slot] == v
        prev = v
    assert prev == i
    with_i = reach(n, edges, handles, fins, also=i)  # every handle counts, q too
    without_i = reach(n, edges, handles, fins, removed=i)
    want = sum(1 for v in range(n) if with_i[v] is not None and without_i[v] is None)
    assert h.retained(q) == (want * each, want)
    refs = {u for u in range(n) if i in edges[u] and (with_i[u] is not None or u in fins)}
    assert sorted(index[o.id] for o in h.referrers(q)) == sorted(refs)
    assert [index[o.id] for o in h.referents(q)] == [c for c in edges[i] if c is not None]


@pytest.mark.parametrize("collector", COLLECTORS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=graphs())
def test_random_graphs_match_brute_force(collector, graph):
    check_graph(collector, graph)


# ---- python -m tricolor why ----------------------------------------------------------------


@pytest.mark.parametrize("collector", COLLECTORS)
def test_why_run_returns_the_worked_example_as_rows(collector):
    from argparse import Namespace

    from tricolor import why

    result = why.run(Namespace(collector=collector))
    assert result["question"] == "why" and result["config"] == {"collector": collector}
    rows = result["rows"]
    paths = {r["object"]: [s["object"] for s in r["steps"]] for r in rows if r["section"] == "path"}
    assert paths["doc"] == ["app", "listeners", "listener", "doc"]
    assert paths["entry"] == ["log", "entry"]
    assert [r for r in rows if r["section"] == "path" and r["object"] == "entry"][0]["steps"][0]["via"] == "finalizer"
    assert [r["referrer"] for r in rows if r["section"] == "referrers"] == ["listener"]
    retained = {r["object"]: r["objects"] for r in rows if r["section"] == "retained"}
    assert retained == {"app": 7, "listeners": 4, "listener": 3, "doc": 2, "thumb": 1}
    fix = [r for r in rows if r["section"] == "fix"][0]
    assert fix["freed"] == 3


def test_python_m_tricolor_why_tells_the_story():
    import json
    import subprocess
    import sys

    from conftest import subprocess_env

    r = subprocess.run([sys.executable, "-m", "tricolor", "why"], capture_output=True, text=True, timeout=120,
                       env=subprocess_env())
    assert r.returncode == 0, r.stderr
    for words in ("heap.roots()", "heap.path_to(obj)", "heap.retained(obj)", "listener --slot 0--> doc"):
        assert words in r.stdout
    r = subprocess.run([sys.executable, "-m", "tricolor", "why", "--json", "--collector", "incremental"],
                       capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"]["collector"] == "incremental"
