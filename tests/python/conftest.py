"""Shared fixtures for the Python binding's tests.

The tests import the package from bindings/python (the in-place build made by
`make py-build`); an installed tricolor works too.
"""
import glob
import os
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG_DIR = os.path.join(ROOT, "bindings", "python")


def _on_pythonpath():
    """Does $PYTHONPATH name a directory holding a tricolor package?"""
    dirs = filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))
    return any(os.path.exists(os.path.join(d, "tricolor", "__init__.py")) for d in dirs)


# Which tricolor is tested: the one $PYTHONPATH names (make test-python,
# make test-python-asan); else the in-place build; else an installed one.
if not _on_pythonpath() and glob.glob(os.path.join(PKG_DIR, "tricolor", "_tricolor*.so")):
    sys.path.insert(0, PKG_DIR)

import tricolor  # noqa: E402

# The environment's heap defaults would change every heap the tests make: the
# tests set them only where they test them (test_config.py).
for _knob in ("TRICOLOR_GOGC", "TRICOLOR_MEMORY_LIMIT"):
    os.environ.pop(_knob, None)


COLLECTORS = ("concurrent", "incremental", "stw")


@pytest.fixture(params=COLLECTORS)
def heap(request):
    """A fresh heap of each collector, otherwise default settings; closed afterwards."""
    h = tricolor.Heap(collector=request.param)
    yield h
    h.close()


@pytest.fixture(params=COLLECTORS)
def quiet_heap(request):
    """A heap of each collector with automatic cycles off (gogc=None), so that
    only the test's own collect() calls run cycles; closed afterwards."""
    h = tricolor.Heap(collector=request.param, gogc=None)
    yield h
    h.close()


class Marker:
    """A callable that does nothing and records its own destruction in `dead`,
    to see when a heap lets go of a callback."""

    def __init__(self, dead, ref=None):
        self.dead = dead
        self.ref = ref  # something to refer to (a heap, to make a cycle)

    def __call__(self, *args):
        pass

    def __del__(self):
        self.dead.append(True)


def subprocess_env(**extra):
    """The environment for a child Python that must import this tricolor."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(tricolor.__file__))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    for knob in ("TRICOLOR_DEBUG", "TRICOLOR_GOGC", "TRICOLOR_MEMORY_LIMIT"):
        env.pop(knob, None)
    env.update(extra)
    return env


def run_threads(target, n):
    """Run target(k) for k in 0..n-1, each on its own thread, and wait for all;
    return the exceptions they raised (an empty list when all went well)."""
    errors = []

    def guarded(k):
        try:
            target(k)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
