"""Shared fixtures for the Python binding's tests.

The tests import the package from bindings/python (the in-place build made by
`make py-build`); an installed tricolor works too.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG_DIR = os.path.join(ROOT, "bindings", "python")
if PKG_DIR not in sys.path:
    sys.path.insert(0, PKG_DIR)

import tricolor  # noqa: E402


@pytest.fixture
def heap():
    """A fresh stop-the-world heap with default settings, closed afterwards."""
    h = tricolor.Heap(collector="stw")
    yield h
    h.close()


def subprocess_env(**extra):
    """The environment for a child Python that must import this tricolor."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TRICOLOR_DEBUG", None)
    env.update(extra)
    return env
