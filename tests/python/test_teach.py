"""Teaching mode (SPEC: Introspection, teaching and replay): collector="manual"
with gc_start / gc_step / gc_finish, color and snapshot; every call under
every collector; the walk-through's colours after each step against a
tri-colour model; for each barrier, stores and handle releases placed
between gc_step calls leave no reachable object white and verify() passes;
barrier="none" loses the object and verify() reports it."""
import gc
import random

import pytest

import tricolor
from conftest import COLLECTORS

BARRIERS = ("hybrid", "dijkstra", "yuasa")


@pytest.mark.parametrize("barrier, shades", [("hybrid", 1), ("dijkstra", 0), ("yuasa", 1)])
def test_the_barrier_counts_its_slow_stores_and_the_objects_it_greys(barrier, shades):
    """Stats.barrier_slow / barrier_shaded, placed by hand: overwriting the only
    reference to a white object during the mark is one slow store, and it greys
    the object under the deletion barriers (hybrid, yuasa) but not under
    Dijkstra; storing None over None greys nothing; outside a mark nothing counts."""
    h = tricolor.Heap(collector="manual", barrier=barrier)
    r, x = h.new(1), h.new(0)
    r[0] = x
    del x  # x is reachable through r only, and white once the mark starts
    s0 = h.stats()
    r[0] = None  # no mark running: the fast path
    r[0] = h.new(0)
    h.gc_start()
    s1 = h.stats()
    assert (s1.barrier_slow - s0.barrier_slow, s1.barrier_shaded - s0.barrier_shaded) == (0, 0)
    r[0] = None
    s2 = h.stats()
    assert (s2.barrier_slow - s1.barrier_slow, s2.barrier_shaded - s1.barrier_shaded) == (1, shades)
    r[0] = None
    s3 = h.stats()
    assert (s3.barrier_slow - s2.barrier_slow, s3.barrier_shaded - s2.barrier_shaded) == (1, 0)
    h.gc_finish()
    h.close()


def reachable(snap):
    """Ids reachable from the snapshot's roots (a finalizer root roots its referents)."""
    succ = {}
    for src, _slot, dst in snap["edges"]:
        succ.setdefault(src, []).append(dst)
    todo = [i for kind, i in snap["roots"] if kind != "finalizer"]
    todo += [d for kind, i in snap["roots"] if kind == "finalizer" for d in succ.get(i, [])]
    seen = set()
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(succ.get(i, []))
    return seen


def by_color(snap, color):
    return {i for i, c in snap["colors"].items() if c == color}


def step_to_end(h, n=1, between=None):
    """gc_step(n) until it returns 0; between(k) runs after the k-th step."""
    k = 0
    while True:
        got = h.gc_step(n)
        assert 0 <= got <= n
        if got == 0:
            return k
        k += 1
        if between:
            between(k)


# ---- each call, each collector -------------------------------------------------------


@pytest.mark.parametrize("collector", COLLECTORS)
def test_driving_a_heap_that_is_not_manual_is_a_value_error(collector):
    with tricolor.Heap(collector=collector) as h:
        for call in (h.gc_start, h.gc_step, h.gc_finish):
            with pytest.raises(ValueError, match="manual"):
                call()
        with pytest.raises(ValueError, match="manual"):
            h.gc_step(5)


@pytest.mark.parametrize("collector", COLLECTORS + ("manual",))
def test_color_and_snapshot_under_every_collector(collector):
    with tricolor.Heap(collector=collector, gogc=None) as h:
        a, b = h.new(1), h.new(1)
        a[0] = b
        assert h.color(a) == "white"  # no cycle running: everything is white
        snap = h.snapshot()
        assert snap["phase"] == "off"
        assert set(snap) == {"phase", "objects", "edges", "colors", "roots", "grey"}
        assert {a.id, b.id} <= set(snap["objects"])
        assert (a.id, 0, b.id) in snap["edges"]
        assert ("handle", a.id) in snap["roots"] and ("handle", b.id) in snap["roots"]
        assert snap["grey"] == [] and set(snap["colors"].values()) == {"white"}
        h.collect()
        assert h.color(b) == "white"


def test_manual_cycle_calls_and_their_answers():
    with tricolor.Heap(collector="manual") as h:
        assert h.collector == "manual"
        a = h.new(1)
        a[0] = h.new(0)
        h.new(0)  # garbage
        assert h.gc_step() == 0  # no cycle: nothing to mark
        assert h.gc_finish() == 0  # no cycle: nothing to finish
        h.gc_start()
        assert h.stats().phase == "mark"
        with pytest.raises(tricolor.HeapError, match="running"):
            h.gc_start()
        assert h.color(a) == "grey"
        assert h.gc_step(1) == 1 and h.color(a) == "black"
        assert h.gc_step(100) == 1  # a's referent
        assert h.gc_step(100) == 0  # nothing grey: termination
        assert h.stats().phase == "sweep" and h.snapshot()["phase"] == "sweep"
        assert h.gc_step(100) == 0
        with pytest.raises(tricolor.HeapError):
            h.gc_start()  # the sweep is still to do
        assert h.gc_finish() == 1
        assert h.stats().phase == "off" and h.stats().num_gc == 1
        assert h.gc_finish() == 0
        h.verify()


def test_gc_finish_finishes_a_cycle_in_its_mark():
    with tricolor.Heap(collector="manual") as h:
        keep = h.new(1)
        keep[0] = h.new(0)
        for _ in range(10):
            h.new(0)
        h.gc_start()
        assert h.gc_finish() == 10
        assert h.stats().num_gc == 1
        h.verify()


@pytest.mark.parametrize("n", [0, -1])
def test_gc_step_needs_a_positive_count(n):
    with tricolor.Heap(collector="manual") as h:
        h.gc_start()
        with pytest.raises(ValueError, match="n >= 1"):
            h.gc_step(n)
        with pytest.raises(TypeError):
            h.gc_step(1.5)


def test_no_allocation_starts_a_manual_cycle():
    with tricolor.Heap(collector="manual", memory_limit=8 << 20) as h:
        for _ in range(3000):
            h.new(0, 4096)  # 12 MB of garbage, past the goal and the memory limit
        assert h.stats().num_gc == 0
        assert h.collect() >= 2900  # the program may still ask for a whole cycle
        assert h.stats().num_gc == 1


def test_barrier_none_needs_the_manual_collector():
    for collector in COLLECTORS:
        with pytest.raises(ValueError) as e:
            tricolor.Heap(collector=collector, barrier="none")
        assert "barrier" in str(e.value) and "collector" in str(e.value)
        assert "none" in str(e.value) and "manual" in str(e.value)
    with tricolor.Heap(collector="manual", barrier="none") as h:
        assert h.barrier == "none"


def test_color_bad_input():
    with tricolor.Heap(collector="manual") as h, tricolor.Heap(collector="manual") as other:
        o = other.new(0)
        with pytest.raises(tricolor.CrossHeapError):
            h.color(o)
        with pytest.raises(TypeError):
            h.color(3)
        x = h.new(0)
        tricolor.unsafe.free(x)
        with pytest.raises(tricolor.FreedObjectError):
            h.color(x)
        h.close()
        with pytest.raises(tricolor.HeapClosedError):
            h.color(o)
        for call in (h.gc_start, h.gc_step, h.gc_finish, h.snapshot):
            with pytest.raises(tricolor.HeapClosedError):
                call()


def test_objects_allocated_during_mark_are_black():
    with tricolor.Heap(collector="manual") as h:
        r = h.new(1)
        h.gc_start()
        n = h.new(0)
        assert h.color(n) == "black" and h.color(r) == "grey"
        r[0] = n
        step_to_end(h)
        assert h.gc_finish() == 0


# ---- the walk-through against a model ------------------------------------------------


def random_graph(h, rnd, n=40, roots=4):
    objs = [h.new(3, 8) for _ in range(n)]
    for o in objs:
        for s in range(3):
            if rnd.random() < 0.45:
                o[s] = objs[rnd.randrange(n)]
    keep = rnd.sample(objs, roots)
    return keep


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 3])
def test_walk_through_colours_match_the_model(seed, n):
    """Without stores, after every step: black grows by what gc_step said;
    grey is (roots and referents of black objects) minus black; the rest is
    white; at the end black is exactly what the roots reach, and the sweep
    frees exactly the white objects."""
    rnd = random.Random(seed)
    with tricolor.Heap(collector="manual") as h:
        keep = random_graph(h, rnd)
        gc.collect()
        h.gc_start()
        snap = h.snapshot()
        roots = {i for _, i in snap["roots"]}
        assert roots == {o.id for o in keep}
        assert by_color(snap, "grey") == roots == set(snap["grey"])
        assert by_color(snap, "black") == set()
        succ = {}
        for src, _slot, dst in snap["edges"]:
            succ.setdefault(src, set()).add(dst)
        black = set()
        while True:
            got = h.gc_step(n)
            snap = h.snapshot()
            if got == 0:
                break
            now_black = by_color(snap, "black")
            assert black < now_black and len(now_black - black) == got
            black = now_black
            expect_grey = (roots | {d for b in black for d in succ.get(b, ())}) - black
            assert by_color(snap, "grey") == expect_grey == set(snap["grey"])
            assert by_color(snap, "white") == set(snap["objects"]) - black - expect_grey
            for o in keep:
                assert h.color(o) == snap["colors"][o.id]
        assert snap["phase"] == "sweep" and snap["grey"] == []
        assert by_color(snap, "black") == reachable(snap)
        white = by_color(snap, "white")
        assert h.gc_finish() == len(white)
        after = h.snapshot()
        assert set(after["objects"]) == set(snap["objects"]) - white
        assert set(after["colors"].values()) <= {"white"}
        h.verify()


# ---- barriers: stores and releases between steps -------------------------------------


def hide_behind_black(h):
    """R (the only root) -> P, Q; P -> X. After one step R is black, P and Q
    grey, X white. Then the program moves X behind R and cuts P -> X: the
    store of a white object into a black one plus the deletion of its last
    other path, the case a barrier exists for. Returns R and X's id."""
    r = h.new(3)
    p, q, x = h.new(1), h.new(1), h.new(0, 8)
    r[0], r[1], p[0] = p, q, x
    x.data = b"survivor"
    xid = x.id
    del p, q, x
    gc.collect()
    h.gc_start()
    assert h.gc_step(1) == 1
    assert h.color(r) == "black"
    snap = h.snapshot()
    assert snap["colors"][xid] == "white" and snap["colors"][r[0].id] == "grey"
    return r, xid


def move_x(r):
    """Returns the new handle to X (the caller releases it or keeps it)."""
    x = r[0][0]  # a new handle to X (hybrid: shaded; the others: not)
    r[2] = x  # a white object stored into a black one
    r[0][0] = None  # X's other path cut
    return x


def assert_nothing_reachable_is_white(h):
    snap = h.snapshot()
    assert snap["phase"] == "sweep"
    lost = {i for i in reachable(snap) if snap["colors"][i] != "black"}
    assert not lost, f"reachable objects left white: {lost}"


@pytest.mark.parametrize("barrier", BARRIERS)
@pytest.mark.parametrize("release", [True, False])
def test_a_white_object_moved_behind_a_black_one_survives(barrier, release):
    """release: the handle used for the move is released before the next
    step (yuasa: that release shades X too); else it is held to the end,
    so only the slot store's own shades (insertion, deletion) or dijkstra's
    root re-scan keep X."""
    with tricolor.Heap(collector="manual", barrier=barrier) as h:
        r, xid = hide_behind_black(h)
        x = move_x(r)
        if release:
            del x
        gc.collect()
        step_to_end(h)
        assert_nothing_reachable_is_white(h)
        h.gc_finish()
        h.verify()
        assert r[2].id == xid and r[2].data == b"survivor"


@pytest.mark.parametrize("barrier", BARRIERS)
def test_a_white_object_kept_only_by_a_new_handle_survives(barrier):
    """X is read into a handle, then its only slot is cleared: from then on
    the handle alone keeps it (yuasa/hybrid shade the deleted value,
    dijkstra re-scans the handles at termination)."""
    with tricolor.Heap(collector="manual", barrier=barrier) as h:
        r, xid = hide_behind_black(h)
        x = r[0][0]
        r[0][0] = None
        gc.collect()
        step_to_end(h)
        assert_nothing_reachable_is_white(h)
        assert h.color(x) == "black"
        h.gc_finish()
        h.verify()
        assert x.id == xid and x.data == b"survivor"


@pytest.mark.parametrize("barrier", BARRIERS)
@pytest.mark.parametrize("seed", range(8))
def test_random_stores_and_releases_between_steps_lose_nothing(barrier, seed):
    """Random slot stores (of objects read from slots: new handles), slot
    clears and handle releases after every step; at the end nothing the
    roots reach is white, and after the sweep verify() passes."""
    rnd = random.Random(seed * 7 + BARRIERS.index(barrier))
    with tricolor.Heap(collector="manual", barrier=barrier) as h:
        held = random_graph(h, rnd, n=30, roots=3)
        gc.collect()
        h.gc_start()

        def mutate(_k):
            for _ in range(3):
                a = rnd.choice(held)
                s = rnd.randrange(3)
                v = a[s]
                if rnd.random() < 0.5 and v is not None:
                    held.append(v)  # a new handle, kept a while
                b = rnd.choice(held)
                t = rnd.randrange(3)
                if rnd.random() < 0.3:
                    b[t] = None
                else:
                    b[t] = v if v is not None else rnd.choice(held)
                if len(held) > 2 and rnd.random() < 0.4:
                    held.pop(rnd.randrange(len(held)))  # a handle released
            gc.collect()

        step_to_end(h, between=mutate)
        assert_nothing_reachable_is_white(h)
        h.gc_finish()
        h.verify()


def test_barrier_none_loses_the_object_and_verify_reports_it():
    with tricolor.Heap(collector="manual", barrier="none") as h:
        r, xid = hide_behind_black(h)
        del_x = move_x(r)
        del del_x
        gc.collect()
        step_to_end(h)
        snap = h.snapshot()
        assert xid in reachable(snap) and snap["colors"][xid] == "white"  # the lost object
        assert h.gc_finish() == 1  # the sweep frees it
        with pytest.raises(tricolor.HeapCorruption, match="slot 2"):
            h.verify()


# ---- python -m tricolor teach ----------------------------------------------------------

from tricolor import teach  # noqa: E402

SHADED_AT = {"hybrid": "x = R[1][0]", "dijkstra": "R[2] = x", "yuasa": "R[1][0] = None"}


@pytest.mark.parametrize("barrier", BARRIERS)
def test_teach_walk_shows_which_barrier_shaded_x(barrier):
    frames = teach.walk(barrier)
    x = next(i for i, n in frames[0]["names"].items() if n == "X")
    shaded = [f["title"] for f in frames if x in f["shaded"]]
    assert shaded == [SHADED_AT[barrier]]
    assert any(f"The {barrier} barrier shaded X" in f["text"] for f in frames)
    last = frames[-1]
    assert "verify_error" not in last and x in last["objects"]
    assert [f["phase"] for f in frames][:2] == ["off", "mark"] and last["phase"] == "off"


def test_teach_walk_without_a_barrier_loses_x():
    frames = teach.walk("none")
    x = next(i for i, n in frames[0]["names"].items() if n == "X")
    assert all(not f["shaded"] for f in frames)
    done = next(f for f in frames if f["title"] == "marking done")
    assert done["lost"] == [x] and done["colors"][x] == "white"
    last = frames[-1]
    assert x not in last["objects"] and "free" in last["verify_error"]


@pytest.mark.parametrize("barrier", BARRIERS)
def test_teach_random_heap_loses_nothing(barrier):
    frames = teach.walk(barrier, objects=40, seed=3)
    assert len(frames[0]["objects"]) == 40
    assert "verify_error" not in frames[-1]


def test_teach_cli_writes_html_svg_and_png(tmp_path, capsys):
    from tricolor.__main__ import main

    page = tmp_path / "t.html"
    assert main(["teach", "--barrier", "none", "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count("<svg") == len(teach.walk("none")) and "lost" in text
    assert "src=" not in text  # self-contained
    assert main(["teach", "--format", "svg", "--out", str(tmp_path / "svg")]) == 0
    svgs = sorted((tmp_path / "svg").iterdir())
    assert len(svgs) == len(teach.walk("hybrid")) and svgs[0].read_text().startswith("<svg")
    assert main(["teach", "--format", "png", "--objects", "12", "--out", str(tmp_path / "png")]) == 0
    pngs = sorted((tmp_path / "png").iterdir())
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert main(["teach", "--objects", "101"]) == 2
    assert "between 1 and 100" in capsys.readouterr().out


def test_color_during_an_incremental_cycle_sees_its_grey_set():
    """An incremental cycle paused between two slices: the marker's own
    stack counts as grey (it is flushed to the grey set before looking)."""
    with tricolor.Heap(collector="incremental", gogc=None) as h:
        keep = h.new(1)
        node = keep
        for _ in range(20000):  # a list longer than one slice (2,000 objects)
            nxt = h.new(1)
            node[0] = nxt
            node = nxt
        del node, nxt
        h.gogc = 1
        for _ in range(3000):
            h.new(0, 256)  # allocations run slices until a cycle starts and marks a while
            if h.stats().phase == "mark":
                break
        snap = h.snapshot()
        assert snap["phase"] == "mark"  # slices run on allocation: the list takes ten of them
        black = by_color(snap, "black")
        grey = by_color(snap, "grey")
        assert grey == set(snap["grey"]) and grey  # the list's frontier
        succ = {s: d for s, _slot, d in snap["edges"]}
        for b in black:  # no black object points at a white one (no stores were made)
            assert b not in succ or succ[b] in black | grey
