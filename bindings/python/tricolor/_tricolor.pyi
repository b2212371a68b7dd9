"""Type stubs for the C extension tricolor._tricolor (re-exported by tricolor)."""
import os
from collections.abc import Iterable, Iterator
from types import TracebackType
from collections.abc import Callable
from typing import Final, Literal, TypedDict, TypeVar, final

from typing_extensions import Buffer, Self, TypeAlias

_T = TypeVar("_T")

_Value: TypeAlias = None | bool | int | float | Obj
"""What a slot holds: None, a bool, an int in [INT_MIN, INT_MAX], a float or an Obj."""

__version__: Final[str]  # TC_VERSION_STRING

RootKind: TypeAlias = Literal["handle", "local", "finalizer_queue", "finalizer"]
"""How a root keeps its object alive (Heap.roots, the first step of Heap.path_to)."""

INT_MIN: Final[int]  # -2**62
INT_MAX: Final[int]  # 2**62 - 1

class HeapError(Exception): ...
class CrossHeapError(HeapError, ValueError): ...
class HeapClosedError(HeapError): ...
class FreedObjectError(HeapError): ...
class HeapCorruption(HeapError): ...

@final
class Heap:
    def __new__(
        cls,
        collector: Literal["concurrent", "incremental", "stw"] = "concurrent",
        gogc: int | None = 100,
        memory_limit: int | None = None,
        barrier: Literal["hybrid", "dijkstra", "yuasa"] = "hybrid",
        mark_workers: int = 1,
        gctrace: bool = False,
        checkmark: bool = False,
        *,
        events_ring: int = 16384,
    ) -> Self: ...
    def new(self, nslots: int, data: int | Buffer | None = None) -> Obj: ...
    def collect(self) -> int: ...
    def stats(self) -> Stats: ...
    def verify(self) -> None: ...
    def trace_start(self, path: str | bytes | os.PathLike[str] | os.PathLike[bytes], /) -> None: ...
    def trace_stop(self) -> None: ...
    def mmu(self, windows: Iterable[float], /) -> list[_MMUPoint]: ...
    def gc_intervals(self) -> list[tuple[int, int, _GCKind]]: ...
    def close(self) -> None: ...
    def scavenge(self) -> int: ...
    def set_finalizer(self, obj: Obj, fn: Callable[[Obj], object] | None, /) -> None: ...
    def add_cleanup(self, obj: Obj, fn: Callable[[_T], object], arg: _T, /) -> None: ...
    def weakref(self, obj: Obj, /) -> WeakRef: ...
    def run_finalizers(self) -> int: ...
    def roots(self) -> list[tuple[RootKind, Obj]]: ...
    def referents(self, obj: Obj, /) -> list[Obj]: ...
    def referrers(self, obj: Obj, /) -> list[Obj]: ...
    def path_to(self, obj: Obj, /) -> list[tuple[RootKind | int, Obj]] | None: ...
    def retained(self, obj: Obj, /) -> tuple[int, int]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]: ...
    @property
    def gogc(self) -> int | None: ...
    @gogc.setter
    def gogc(self, value: int | None) -> None: ...
    @property
    def memory_limit(self) -> int | None: ...
    @memory_limit.setter
    def memory_limit(self, value: int | None) -> None: ...
    @property
    def collector(self) -> str: ...
    @property
    def barrier(self) -> str: ...
    @property
    def closed(self) -> bool: ...

@final
class Obj:
    def __getitem__(self, index: int, /) -> _Value: ...
    def __setitem__(self, index: int, value: _Value, /) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_Value]: ...
    def __bool__(self) -> Literal[True]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @data.setter
    def data(self, value: Buffer) -> None: ...
    @property
    def size(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def heap(self) -> Heap: ...

@final
class WeakRef:
    def get(self) -> Obj | None: ...

@final
class Stats:
    heap_alloc: int
    heap_live: int
    heap_objects: int
    heap_sys: int
    heap_released: int
    heap_goal: int
    total_alloc: int
    mallocs: int
    frees: int
    num_gc: int
    num_forced_gc: int
    pause_total_ns: int
    pause_max_ns: int
    pauses_ns: list[int]
    gc_cpu_fraction: float
    assist_ns: int
    roots: int
    finalizers_pending: int
    weak_refs: int
    mark_ns: int
    sweep_ns: int
    mark_cpu_ns: int
    sweep_cpu_ns: int
    heap_marked: int
    gc_sys: int
    assist_marked: int
    mark_regions_shared: int
    phase: Literal["off", "mark", "sweep"]
    collector: str
    barrier: str
    pause_end_ns: list[int]
    delay_total_ns: int
    delay_max_ns: int
    events_dropped: int
    pause_hist: _Histogram
    mutator_delay_hist: _Histogram
    def as_dict(self) -> dict[str, int | float | str | list[int] | _Histogram]: ...

class _Histogram(TypedDict):
    """A log-bucketed histogram (Stats.pause_hist, Stats.mutator_delay_hist):
    counts[i] counts intervals in [bounds_ns[i], bounds_ns[i+1]); the last
    bound is float("inf")."""

    bounds_ns: list[int | float]
    counts: list[int]

_GCKind: TypeAlias = Literal["pause", "assist", "slice", "sweep", "limit_wait"]

class _MMUPoint(TypedDict):
    """One window of tricolor.mmu's result (see docs/python.md, Latency)."""

    window: float
    mmu: float
    bmu: float
    worst_start_ns: int
    by_kind: dict[_GCKind, int]

def mmu(
    intervals: Iterable[tuple[int, int, _GCKind] | list[int | str]],
    windows: Iterable[float],
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> list[_MMUPoint]: ...
def now_ns() -> int: ...
def _unsafe_address(obj: Obj, /) -> int: ...
def _unsafe_buffer(obj: Obj, /) -> memoryview: ...
def _unsafe_free(obj: Obj, /) -> None: ...
