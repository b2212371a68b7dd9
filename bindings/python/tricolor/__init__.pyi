from ._tricolor import (
    INT_MAX as INT_MAX,
    INT_MIN as INT_MIN,
    CrossHeapError as CrossHeapError,
    FreedObjectError as FreedObjectError,
    Heap as Heap,
    HeapClosedError as HeapClosedError,
    HeapCorruption as HeapCorruption,
    HeapError as HeapError,
    Obj as Obj,
    Stats as Stats,
    WeakRef as WeakRef,
    __version__ as __version__,
    mmu as mmu,
)
from . import unsafe as unsafe

__all__ = [
    "Heap",
    "Obj",
    "Stats",
    "WeakRef",
    "unsafe",
    "mmu",
    "HeapError",
    "CrossHeapError",
    "HeapClosedError",
    "FreedObjectError",
    "HeapCorruption",
    "INT_MIN",
    "INT_MAX",
    "__version__",
]
