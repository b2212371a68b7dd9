"""The package itself: exports, the one version, documentation, stubs, exported
symbols, extension module design."""
import importlib.metadata
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

import tricolor
import tricolor._tricolor as ext

ROOT = pathlib.Path(__file__).resolve().parents[2]


def header_version():
    """TC_VERSION_MAJOR.MINOR.PATCH of csrc/include/tricolor.h: the one version."""
    text = (ROOT / "csrc" / "include" / "tricolor.h").read_text(encoding="utf-8")
    return ".".join(re.search(rf"^#define TC_VERSION_{p} (\d+)$", text, re.M).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def test_one_version_everywhere():
    version = header_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert tricolor.__version__ == ext.__version__ == version
    rockspecs = sorted(p.name for p in ROOT.glob("tricolor-*.rockspec"))
    assert rockspecs == [f"tricolor-{version}-1.rockspec"]
    spec = (ROOT / rockspecs[0]).read_text(encoding="utf-8")
    assert f'version = "{version}-1"' in spec
    assert f'url = "tricolor-{version}.tar.gz"' in spec and f'dir = "tricolor-{version}"' in spec
    # installed by pip (the sdist check): the distribution's metadata says the same. A
    # build that is not installed (in place, ASan) has no such metadata, or only a
    # setuptools egg-info beside the sources, which pip's INSTALLER file tells apart.
    try:
        dist = importlib.metadata.distribution("tricolor")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None and dist.read_text("INSTALLER"):
        assert dist.version == version


def test_license_is_mit_as_the_metadata_and_the_rockspec_say():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the tricolor authors" in text
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "MIT"' in next(ROOT.glob("tricolor-*.rockspec")).read_text(encoding="utf-8")


def test_extension_exports_only_its_init_function():
    """The core is compiled into the extension (TC_EMBEDDED, -fvisibility=hidden):
    its tc_* calls and internal functions stay inside, whichever way it was built."""
    out = subprocess.run(["nm", "-D", "--defined-only", ext.__file__], capture_output=True,
                         text=True, check=True).stdout
    assert [line.split()[-1] for line in out.splitlines() if line.strip()] == ["PyInit__tricolor"]


def test_help_documents_every_heap_parameter_and_method():
    doc = tricolor.Heap.__doc__
    for param in ("collector", "gogc", "memory_limit", "barrier", "mark_workers", "gctrace", "checkmark",
                  "events_ring"):
        assert re.search(rf"^  {param} +\S", doc, re.M), param  # a line of its own, with its meaning
    for word in ("TRICOLOR_GOGC", "TRICOLOR_MEMORY_LIMIT", "'concurrent'", "'incremental'", "'stw'",
                 "'hybrid'", "'dijkstra'", "'yuasa'"):
        assert word in doc, word
    assert inspect.signature(tricolor.Heap).parameters.keys() == {
        "collector", "gogc", "memory_limit", "barrier", "mark_workers", "gctrace", "checkmark", "events_ring"}
    for cls in (tricolor.Heap, tricolor.Obj, tricolor.WeakRef, tricolor.Stats):
        for name, member in vars(cls).items():
            if callable(member) or isinstance(member, property) or type(member).__name__ == "getset_descriptor":
                if name.startswith("__") and name not in ("__enter__", "__exit__"):
                    continue
                assert member.__doc__ and len(member.__doc__) > 20, f"{cls.__name__}.{name}"
    assert "number of objects" in tricolor.Heap.collect.__doc__


def test_help_documents_every_stats_field_with_unit_and_go_counterpart():
    with tricolor.Heap() as heap:
        fields = list(heap.stats().as_dict())
    for name in fields:
        doc = getattr(tricolor.Stats, name).__doc__
        assert doc and re.search(r"Unit: \w", doc) and re.search(r"Go: \S", doc), (name, doc)
    text = subprocess.run([sys.executable, "-c", "import tricolor; help(tricolor.Stats)"],
                          capture_output=True, text=True, check=True,
                          env=dict(os.environ, PAGER="cat", PYTHONPATH=os.path.dirname(
                              os.path.dirname(tricolor.__file__)))).stdout
    for name in fields:
        assert re.search(rf"^ \|  {name}\n \|      \S", text, re.M), name
    assert "MemStats.HeapAlloc" in text and "GCCPUFraction" in text


@pytest.mark.parametrize("collector", ["concurrent", "incremental", "stw"])
def test_stats_keeps_attribute_access_and_as_dict(collector):
    with tricolor.Heap(collector=collector) as heap:
        s = heap.stats()
        d = s.as_dict()
        assert set(d) == {n for n in dir(tricolor.Stats) if not n.startswith("_") and n != "as_dict"}
        assert all(getattr(s, k) == v for k, v in d.items())


def test_version_and_exports():
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


MODULE_DROPPED = """
import gc, sys, weakref
import tricolor
heap = tricolor.Heap()
obj = heap.new(2)
obj[1] = heap.new(0)
for _ in range(100):
    r = obj[1]  # each load takes a kept handle, each drop keeps one
del r, obj
heap.close()
types, mod = weakref.ref(tricolor.Obj), weakref.ref(sys.modules["tricolor._tricolor"])
del heap
for name in [n for n in sys.modules if n == "tricolor" or n.startswith("tricolor.")]:
    del sys.modules[name]
del tricolor
gc.collect()
print(types() is None, mod() is None)
"""


def test_a_dropped_module_is_collected_with_handles_kept_for_reuse():
    # The free list's handles keep their type referenced (_tricolor.h): the
    # module's traverse must visit those references, or the module and its
    # types, a cycle, look referenced from outside and are never collected
    # (nor their free list freed) once nothing else uses them.
    out = subprocess.run([sys.executable, "-c", MODULE_DROPPED], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(tricolor.__file__))))
    assert out.stdout.split() == ["True", "True"], out.stdout + out.stderr
