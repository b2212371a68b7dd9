"""The package itself: exports, version, stubs, extension module design."""
import os

import tricolor
import tricolor._tricolor as ext


def test_version_and_exports():
    assert tricolor.__version__ == "0.1.0"
    for name in tricolor.__all__:
        assert hasattr(tricolor, name), name
    for name in ("Heap", "Obj", "Stats", "HeapError", "CrossHeapError", "HeapClosedError",
                 "FreedObjectError", "HeapCorruption"):
        assert name in tricolor.__all__


def test_types_live_in_the_extension_and_print_as_tricolor():
    assert tricolor.Heap is ext.Heap
    for cls in (tricolor.Heap, tricolor.Obj, tricolor.Stats, tricolor.WeakRef):
        assert cls.__module__ == "tricolor"
        assert cls.__doc__


def test_finalizers_weak_refs_and_unsafe_are_exported():
    heap = tricolor.Heap()
    for name in ("set_finalizer", "add_cleanup", "weakref", "run_finalizers", "scavenge"):
        assert callable(getattr(heap, name)), name
    heap.close()
    assert "WeakRef" in tricolor.__all__ and "unsafe" in tricolor.__all__
    for name in ("address", "buffer", "free"):
        assert callable(getattr(tricolor.unsafe, name)), name


def test_types_are_final():
    for cls in (tricolor.Heap, tricolor.Obj, tricolor.Stats, tricolor.WeakRef):
        try:
            type("Sub", (cls,), {})
        except TypeError:
            pass
        else:
            raise AssertionError(f"{cls.__name__} can be subclassed")


def test_stubs_and_py_typed_ship_with_the_package():
    pkg = os.path.dirname(tricolor.__file__)
    for name in ("py.typed", "__init__.pyi", "_tricolor.pyi"):
        assert os.path.exists(os.path.join(pkg, name)), name


def test_stub_lists_every_stats_field():
    pkg = os.path.dirname(tricolor.__file__)
    with open(os.path.join(pkg, "_tricolor.pyi"), encoding="utf-8") as f:
        stub = f.read()
    with tricolor.Heap() as heap:
        for field in heap.stats().as_dict():
            assert f"    {field}:" in stub, field


def test_module_can_be_reloaded_independently():
    import importlib.util
    spec = importlib.util.find_spec("tricolor._tricolor")
    second = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(second)
    assert second.Heap is not ext.Heap  # per-module state: a second, independent copy
    with second.Heap() as heap:
        obj = heap.new(1)
        obj[0] = obj
        heap.collect()
        assert heap.stats().heap_objects == 1
        try:
            ext.Heap().new(1)[0] = obj
        except second.CrossHeapError:
            raise AssertionError("the other module's classes are distinct")
        except TypeError:
            pass  # an Obj of another module copy is just another type
