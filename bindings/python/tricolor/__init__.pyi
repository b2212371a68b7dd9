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
    mmu as mmu,
)
from . import unsafe as unsafe

__version__: str
__all__: list[str]
