"""Hostile input and re-entrancy (issue 10), as the adversarial campaign
tried them: a finalizer, a weakref callback or a __del__ that closes the
heap in the middle of any call; threads closing a heap while others
allocate; fork in each collector; signals during collect; gogc and
memory_limit extremes; address-space caps; bad option strings and output
paths. Everything that can hang runs in a subprocess with a deadline, so a
hang fails the test instead of blocking the suite. The test-python-asan run
(sanitizers preloaded, inherited by the subprocesses) checks that nothing
reads freed memory.
"""
import gc
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

import tricolor
from tricolor import unsafe

COLLECTORS = ("stw", "incremental", "concurrent")
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")


def vm_size():
    """The process's address space in bytes (VmSize)."""
    with open("/proc/self/status") as f:
        return int(re.search(r"VmSize:\s+(\d+)", f.read()).group(1)) << 10


def run_python(script, timeout=300):
    """Run `script` in a fresh interpreter that imports this tricolor; a
    hang fails (TimeoutExpired) instead of blocking the suite."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---- re-entrancy: something closes the heap in the middle of a call --------------


def close_quietly(heap):
    """close(), except while an unsafe.buffer view exists (then close() is
    refused with BufferError, as documented: the view points into the heap).
    True if the heap is closed."""
    try:
        heap.close()
    except BufferError:
        return False
    return True


class Closer:
    """A garbage cycle whose __del__ closes `heap`: only the cyclic collector
    frees it, which (threshold 1) runs at any container allocation, the
    binding's own too."""

    def __init__(self, heap):
        self.heap = heap
        self.me = self

    def __del__(self):
        if not close_quietly(self.heap):
            Closer(self.heap)  # refused (a view existed): try again at a later collection


def fixture(collector, trigger):
    """A heap (gogc=1: a cycle every few hundred allocations) with objects, a
    weak reference, due finalizers and cleanups, and one of three things that
    close it: a garbage cycle with __del__ and one with a weakref callback
    (made last, young: the next container allocation anywhere, the binding's
    included, collects them), or a finalizer due at the next cycle (run at
    the safe point of the call that finishes that cycle)."""
    heap = tricolor.Heap(collector=collector, gogc=1)
    f = {"heap": heap, "a": heap.new(2, data=8), "b": heap.new(1)}
    f["a"][0] = f["b"]
    f["a"][1] = 7
    f["weak"] = heap.weakref(f["b"])
    for _ in range(4):
        heap.set_finalizer(heap.new(0), lambda o: o.id)
    heap.add_cleanup(heap.new(0), lambda arg: None, 1)
    if trigger == "finalizer":
        heap.set_finalizer(heap.new(0), lambda o: close_quietly(heap))
        return f
    gc.collect()
    if trigger == "__del__":
        Closer(heap)
    else:
        class Node:
            pass
        n = Node()
        n.me = n
        f["ref"] = weakref.ref(n, lambda r: close_quietly(heap))
        del n
    return f


METHODS = {
    "new": lambda f: f["heap"].new(1),
    "new(data=bytes)": lambda f: f["heap"].new(1, data=b"abcdefgh"),
    "new(data=int)": lambda f: f["heap"].new(1, 8),
    "collect": lambda f: f["heap"].collect(),
    "stats": lambda f: f["heap"].stats().as_dict(),
    "verify": lambda f: f["heap"].verify(),
    "scavenge": lambda f: f["heap"].scavenge(),
    "trace_start/stop": lambda f: (f["heap"].trace_start(os.devnull), f["heap"].trace_stop()),
    "set_finalizer": lambda f: f["heap"].set_finalizer(f["b"], lambda o: None),
    "add_cleanup": lambda f: f["heap"].add_cleanup(f["b"], lambda a: None, (1, 2)),
    "weakref": lambda f: f["heap"].weakref(f["a"]),
    "run_finalizers": lambda f: f["heap"].run_finalizers(),
    "roots": lambda f: f["heap"].roots(),
    "referents/referrers": lambda f: (f["heap"].referents(f["a"]), f["heap"].referrers(f["b"])),
    "path_to": lambda f: f["heap"].path_to(f["b"]),
    "retained": lambda f: f["heap"].retained(f["a"]),
    "gogc": lambda f: setattr(f["heap"], "gogc", f["heap"].gogc),
    "memory_limit": lambda f: setattr(f["heap"], "memory_limit", 1 << 40),
    "collector/barrier": lambda f: (f["heap"].collector, f["heap"].barrier),
    "repr(heap)": lambda f: repr(f["heap"]),
    "obj[i] (reference)": lambda f: f["a"][0],
    "obj[i] (int)": lambda f: f["a"][1],
    "obj[i] = ref": lambda f: f["a"].__setitem__(0, f["b"]),
    "obj[i] = int": lambda f: f["a"].__setitem__(1, 9),
    "len(obj)": lambda f: len(f["a"]),
    "list(obj)": lambda f: list(f["a"]),
    "obj.data": lambda f: f["a"].data,
    "obj.data =": lambda f: setattr(f["a"], "data", b"87654321"),
    "obj.size/id/hash/==": lambda f: (f["a"].size, f["a"].id, hash(f["a"]), f["a"] == f["b"]),
    "obj.heap": lambda f: f["a"].heap,
    "repr(obj)": lambda f: repr(f["a"]),
    "w.get": lambda f: f["weak"].get(),
    "unsafe.address": lambda f: unsafe.address(f["a"]),
    "unsafe.buffer": lambda f: unsafe.buffer(f["a"]).release(),
    "unsafe.free": lambda f: unsafe.free(f["heap"].new(0)),
}


def hammer(name, collector, trigger):
    """Call METHODS[name] until `trigger` closed the heap (inside the call
    when the call allocates what runs it; else, after a while, between two
    calls): before, every call works; then it raises HeapClosedError or
    works (the few answers a handle caches); then every method once more.
    Returns how the close was seen."""
    f = fixture(collector, trigger)
    call = METHODS[name]
    seen = "never"
    for i in range(3000):
        try:
            call(f)
        except tricolor.HeapClosedError:
            seen = "raised"
            break
        if f["heap"].closed:
            seen = "returned"
            break
        if i % 200 == 199:  # the call runs nothing that closes: close between two calls
            gc.collect()
            try:
                f["heap"].collect()
            except tricolor.HeapClosedError:
                pass
    f["heap"].close()
    for other, call2 in METHODS.items():
        try:
            call2(f)
        except tricolor.HeapClosedError:
            pass
    return seen


@pytest.mark.parametrize("trigger", ["__del__", "weakref callback", "finalizer"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_callback_closing_the_heap_during_any_call(name, trigger):
    old = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        seen = [hammer(name, c, trigger) for c in COLLECTORS for _ in range(3 if SANITIZED else 6)]
    finally:
        gc.set_threshold(*old)
    gc.collect()
    assert "never" not in seen


# ---- threads: close while others allocate (point 2) ----------------------------


def until_closed(op, errors, start=None):
    """A thread body: op() in a loop until the heap is closed
    (HeapClosedError); any other error is recorded in `errors`."""
    def body():
        if start is not None:
            start.wait()
        try:
            while True:
                op()
        except tricolor.HeapClosedError:
            pass
        except BaseException as e:  # noqa: BLE001 - any other error fails the test
            errors.append(e)
    return body


@pytest.mark.parametrize("collector", COLLECTORS)
def test_close_while_other_threads_allocate_maps_nothing(collector):
    """A thread parked in a pause inside heap.new() (the GIL released) while
    another closes the heap used to resume and map a fresh 4 GiB arena for
    the closed heap (VmSize +4,296 MiB a trial). Now every allocating thread
    gets HeapClosedError and the address space comes back."""
    trials = 8 if SANITIZED else 20
    base = None
    for trial in range(trials):
        if trial == 1:  # after one trial: thread stacks and malloc arenas stay cached
            base = vm_size()
        heap = tricolor.Heap(collector=collector, gogc=10)
        go, errors = threading.Barrier(4), []
        allocate = until_closed(lambda: heap.new(4, data=4096), errors, go)
        threads = [threading.Thread(target=allocate) for _ in range(2)]
        threads.append(threading.Thread(target=until_closed(heap.collect, errors, go)))
        for t in threads:
            t.start()
        go.wait()
        time.sleep(0.001 * (trial % 5))
        heap.close()
        for t in threads:
            t.join(60)
            assert not t.is_alive()
        assert errors == []
        with pytest.raises(tricolor.HeapClosedError):
            heap.stats()
        del heap
        gc.collect()
        if base is not None:
            grew = vm_size() - base
            assert grew < (512 << 20), f"trial {trial}: VmSize +{grew >> 20} MiB after close"


# ---- fork (point 3) -------------------------------------------------------------------

FORK_SCRIPT = """
import os, sys, threading, time
import tricolor

collector = sys.argv[1] if len(sys.argv) > 1 else %r
heaps = [tricolor.Heap(collector=collector), tricolor.Heap(collector=collector, checkmark=True),
         tricolor.Heap(collector="concurrent", mark_workers=2)]
keep = [h.new(1) for h in heaps]
for h, k in zip(heaps, keep):
    k[0] = h.new(0, data=b"kept")
    h.set_finalizer(h.new(0), lambda o: None)
stop = False

def busy(h):  # the parent keeps allocating (and collecting) while it forks
    while not stop:
        h.new(2, data=64)

threads = [threading.Thread(target=busy, args=(h,)) for h in heaps]
for t in threads:
    t.start()

def child():
    try:
        for k, h in enumerate(heaps):
            s0 = h.stats()
            auto0 = s0.num_gc - s0.num_forced_gc
            h.collect()
            for _ in range(200000):
                h.new(2)
            # a concurrent cycle the allocations started may still run:
            # allocate on (at most 2M more) until one has ended
            s1, more = h.stats(), 0
            while s1.num_gc - s1.num_forced_gc <= auto0 and more < 2000000:
                for _ in range(10000):
                    h.new(2)
                more, s1 = more + 10000, h.stats()
            auto1 = s1.num_gc - s1.num_forced_gc
            assert auto1 > auto0, f"heap {k}: 2.2M allocations started no cycle ({auto0} -> {auto1})"
            h.verify()
            assert bytes(keep[k][0].data) == b"kept"
            h.close()
        os._exit(0)
    except BaseException as e:
        print("child:", repr(e), file=sys.stderr, flush=True)
        os._exit(1)

pids = []
for _ in range(2):
    time.sleep(0.005)
    pid = os.fork()
    if pid == 0:
        child()
    pids.append(pid)
stop = True
for t in threads:
    t.join()
status = []
for pid in pids:  # a deadline per child: a hang is killed and reported
    deadline = time.monotonic() + %d
    while True:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status.append(os.waitstatus_to_exitcode(st))
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            status.append("hung")
            break
        time.sleep(0.01)
for h in heaps:
    h.collect()
    h.verify()
    h.close()
print("children:", status)
"""


@pytest.mark.parametrize("collector", COLLECTORS)
def test_fork_child_has_a_working_collector(collector):
    """The child of a fork, taken while threads allocate into three heaps,
    collects (it used to hang for ever under the concurrent collector),
    starts cycles by allocating 200,000 objects, verifies and closes."""
    r = run_python(FORK_SCRIPT % (collector, 240 if SANITIZED else 90))
    assert r.returncode == 0, r.stderr
    assert "children: [0, 0]" in r.stdout, r.stdout + r.stderr


# ---- signals during collect --------------------------------------------------------------


@pytest.mark.parametrize("collector", COLLECTORS)
def test_sigalrm_handler_allocates_and_closes_during_collect(collector):
    """A SIGALRM handler (on the main thread, between bytecodes) allocates
    and finally closes the heap while collections run: in the main thread,
    and in another thread whose collect() waits with the GIL released."""
    heap = tricolor.Heap(collector=collector)
    keep = heap.new(1)
    calls = {"n": 0}

    def handler(signum, frame):
        calls["n"] += 1
        if calls["n"] < 40:
            try:
                o = heap.new(2, data=32)
                keep[0] = o
            except tricolor.HeapClosedError:
                pass
        else:
            heap.close()

    errors = []
    old = signal.signal(signal.SIGALRM, handler)
    t = threading.Thread(target=until_closed(heap.collect, errors))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
        t.start()
        deadline = time.monotonic() + 60
        with pytest.raises(tricolor.HeapClosedError):
            while time.monotonic() < deadline:
                heap.collect()
                heap.new(1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
        t.join(60)
    assert not t.is_alive() and errors == []
    assert heap.closed and calls["n"] >= 40


# ---- gogc and memory_limit extremes (point 4) ----------------------------------------


def churn(heap, n):
    keep = heap.new(1)
    for i in range(n):
        o = heap.new(1, 16)
        if i % 16 == 0:
            o[0] = keep[0]
            keep[0] = o


BAD_GOGC = [(1_000_001, ValueError), (4 * 10**14, ValueError), (5 * 10**14, ValueError), (2**63 - 1, ValueError),
            (2**63, ValueError), (2**100, ValueError), (-1, ValueError), (-(2**63), ValueError),
            (1.5, TypeError), (100.0, TypeError), (float("inf"), TypeError), (float("nan"), TypeError),
            (True, TypeError), (False, TypeError), ("100", TypeError)]
GOOD_GOGC = [0, 1, 100, 999_999, 1_000_000, None]
BAD_LIMIT = [(0, ValueError), (-1, ValueError), (-(2**63), ValueError), (2**63, ValueError), (2**100, ValueError),
             (0.5, TypeError), (1e30, TypeError), (float("nan"), TypeError), (True, TypeError), ("1G", TypeError)]
GOOD_LIMIT = [1, 4096, 1 << 40, 2**63 - 2, 2**63 - 1, None]


def check_tunable(collector, name, bad, good, default, extra_check):
    """Every bad value raises naming the tunable, at creation and at run time
    (the value unchanged); every good value gives a heap that allocates,
    collects and verifies."""
    for value, exc in bad:
        with pytest.raises(exc, match=name):
            tricolor.Heap(collector=collector, **{name: value})
    heap = tricolor.Heap(collector=collector)
    for value, exc in bad:
        with pytest.raises(exc, match=name):
            setattr(heap, name, value)
        assert getattr(heap, name) == default
    for value in good:
        setattr(heap, name, value)
        assert getattr(heap, name) == value
        before = heap.stats().num_gc
        churn(heap, 2000 if value in (0, 1) else 20000)
        heap.collect()
        s = heap.stats()
        assert s.num_gc > before and s.heap_goal < 2**62
        extra_check(heap)
        heap.verify()
    heap.close()


@pytest.mark.parametrize("collector", COLLECTORS)
def test_gogc_extremes(collector):
    def cap_named(heap):
        with pytest.raises(ValueError, match="1000000"):
            heap.gogc = 1_000_001
    check_tunable(collector, "gogc", BAD_GOGC, GOOD_GOGC, 100, cap_named)


@pytest.mark.parametrize("collector", COLLECTORS)
def test_memory_limit_extremes(collector):
    check_tunable(collector, "memory_limit", BAD_LIMIT, GOOD_LIMIT, None, lambda heap: None)


# ---- address-space caps (point 5) ---------------------------------------------------------

CAP_SCRIPT = """
import re, resource, sys
import tricolor

def vm_size():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmSize:\\s+(\\d+)", f.read()).group(1)) << 10

headroom = int(sys.argv[1]) if len(sys.argv) > 1 else %d
now = vm_size()
# `ulimit -v 8G` for a plain interpreter; the sanitizers reserve terabytes
# of shadow first, so under them the cap is the same headroom above that
cap = headroom if now < (1 << 30) and headroom >= (1 << 30) else now + headroom
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    heaps = [tricolor.Heap(collector=c) for c in ("stw", "incremental", "concurrent")]
    for h in heaps:
        o = h.new(2, data=1)  # the issue's 17-byte first allocation
        xs = [h.new(2, data=100) for _ in range(5000)]
        h.collect()
        h.verify()
    print("ok", [h.stats().heap_sys >> 20 for h in heaps])
except MemoryError as e:
    print("MemoryError", e)
"""


@pytest.mark.parametrize("headroom", [8 << 30, 1 << 30])
def test_first_allocation_under_an_address_space_cap(headroom):
    """ulimit -v 8G (and 1 GiB): the first arena used to map 8 GiB to trim an
    aligned 4 GiB, so the first 17-byte allocation raised MemoryError."""
    r = run_python(CAP_SCRIPT % headroom, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr


def test_a_too_small_address_space_cap_is_memory_error_not_a_crash():
    r = run_python(CAP_SCRIPT % (24 << 20), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(("MemoryError", "ok")), r.stdout + r.stderr


# ---- bad strings and paths (point 8) ---------------------------------------------------------


@pytest.mark.parametrize("option", ["collector", "barrier"])
@pytest.mark.parametrize("value", ["\udcff", "st\udcffw", "stw\x00", "\x00", "hybrid\x00x"])
def test_option_names_that_are_no_names(option, value):
    """A lone surrogate raised UnicodeEncodeError without naming the option;
    a NUL cut the name short (\"stw\\0x\" was taken as \"stw\")."""
    with pytest.raises(ValueError, match=option) as info:
        tricolor.Heap(**{option: value})
    assert not isinstance(info.value, UnicodeError)


@pytest.mark.parametrize("option", ["--trace", "--plot"])
@pytest.mark.parametrize("where", ["missing directory", "a directory"])
def test_cli_unwritable_output_fails_at_once(tmp_path, option, where):
    """--trace/--plot to a path that cannot be written: one line on stderr
    and exit status 2, before the run (no summary is printed), instead of a
    traceback after the whole run."""
    name = "out.svg" if option == "--plot" else "out.json"
    if where == "missing directory":
        path = tmp_path / "no" / "such" / name
    else:
        path = tmp_path / name
        path.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-m", "tricolor", "bench", "linkedlist", option, str(path),
                        "-p", "length=200"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "no").exists()


def test_cli_output_check_leaves_no_file_behind(tmp_path):
    """The early check creates no file that was not there (the run writes it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    plot, trace = tmp_path / "p.svg", tmp_path / "t.json"
    r = subprocess.run([sys.executable, "-m", "tricolor", "bench", "linkedlist", "--plot", str(plot),
                        "--trace", str(trace), "-p", "length=200", "--gogc", "2000000"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "gogc" in r.stderr  # refused configuration, after the check
    assert not plot.exists() and not trace.exists()
