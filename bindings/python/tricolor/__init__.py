"""tricolor — a managed heap with a Go-style tri-color mark-sweep garbage collector.

    import tricolor

    with tricolor.Heap(gogc=100) as heap:
        node = heap.new(2, data=b"payload")   # 2 slots + a 7-byte payload
        node[0] = heap.new(2)                 # a reference keeps its target alive
        node[1] = 42
        heap.collect()
        print(heap.stats().heap_objects)      # 2
        heap.set_finalizer(node, lambda o: print("dead:", o))
        w = heap.weakref(node)                # w.get() is node, or None once reclaimed

heap.collect() returns the number of objects the cycle freed. TRICOLOR_GOGC and
TRICOLOR_MEMORY_LIMIT (GOGC / GOMEMLIMIT syntax: "off", "100", "512MiB") set the
defaults of new heaps. Finalizers and cleanups run on the Python thread that makes
a heap call, at its end (or in heap.run_finalizers()). tricolor.unsafe has address, buffer and free.
See docs/python.md for the whole API, and `python -m tricolor --help` for the
experiments (demo, bench, compare).
"""
from ._tricolor import (
    INT_MAX,
    INT_MIN,
    CrossHeapError,
    FreedObjectError,
    Heap,
    HeapClosedError,
    HeapCorruption,
    HeapError,
    Obj,
    Stats,
    WeakRef,
    __version__,  # TC_VERSION_STRING of csrc/include/tricolor.h: the one version
    mmu,
    now_ns,
)
from . import unsafe

__all__ = [
    "Heap",
    "Obj",
    "Stats",
    "WeakRef",
    "unsafe",
    "mmu",
    "now_ns",
    "HeapError",
    "CrossHeapError",
    "HeapClosedError",
    "FreedObjectError",
    "HeapCorruption",
    "INT_MIN",
    "INT_MAX",
    "__version__",
]
