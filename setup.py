"""Build the tricolor package: bindings/python/tricolor plus the extension made of
bindings/python/*.c and the whole C core.

The project metadata is in pyproject.toml; this file declares the package
layout and the extension, whose source list is a glob over bindings/python/*.c
and csrc/*.c (the core grows a file per subsystem). `pip install .` and
`python3 setup.py build_ext --inplace` both use it.
"""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def rel(*parts):
    """A path relative to this file, as setuptools wants it."""
    return os.path.relpath(os.path.join(HERE, *parts))


core_sources = sorted(glob.glob(rel("csrc", "*.c")))
core_headers = sorted(glob.glob(rel("csrc", "*.h")) + glob.glob(rel("csrc", "include", "*.h")))
binding_sources = sorted(glob.glob(rel("bindings", "python", "*.c")))
binding_headers = sorted(glob.glob(rel("bindings", "python", "*.h")))

extension = Extension(
    "tricolor._tricolor",
    sources=binding_sources + core_sources,
    depends=core_headers + binding_headers,
    include_dirs=[rel("csrc", "include"), rel("csrc"), rel("bindings", "python")],
    # -fvisibility=hidden: only PyInit__tricolor (and the core's TC_API calls)
    # leave the shared object, so calls between core files need no PLT hop.
    extra_compile_args=["-std=c11", "-D_GNU_SOURCE", "-O2", "-pthread", "-fvisibility=hidden"],
    extra_link_args=["-pthread"],
    libraries=["m"],
)

setup(
    packages=["tricolor", "tricolor.lab"],
    package_dir={"": rel("bindings", "python")},
    package_data={"tricolor": ["py.typed", "*.pyi"], "tricolor.lab": ["gcbench.go"]},
    ext_modules=[extension],
)
