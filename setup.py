"""Build the tricolor package: bindings/python/tricolor plus the extension made of
bindings/python/*.c, bindings/common/*.c (what the Python and Lua bindings
share) and the whole C core.

The project metadata is in pyproject.toml; this file declares the package
layout, the extension, whose source list is a glob over bindings/python/*.c
and csrc/*.c (the core grows a file per subsystem), and the version, which it
reads from csrc/include/tricolor.h (TC_VERSION_MAJOR/MINOR/PATCH: the one
version of the project, see there). `pip install .`, building the sdist and
`python3 setup.py build_ext --inplace` all use it.
"""
import glob
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def rel(*parts):
    """A path relative to this file, as setuptools wants it."""
    return os.path.relpath(os.path.join(HERE, *parts))


def read_version():
    """TC_VERSION_MAJOR.MINOR.PATCH from the public header."""
    with open(os.path.join(HERE, "csrc", "include", "tricolor.h"), encoding="utf-8") as f:
        header = f.read()
    parts = []
    for name in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(rf"^#define TC_VERSION_{name} (\d+)$", header, re.MULTILINE)
        if m is None:
            raise RuntimeError(f"csrc/include/tricolor.h has no TC_VERSION_{name}")
        parts.append(m.group(1))
    return ".".join(parts)


core_sources = sorted(glob.glob(rel("csrc", "*.c")))
core_headers = sorted(glob.glob(rel("csrc", "*.h")) + glob.glob(rel("csrc", "include", "*.h")))
# bindings/common: plain C both bindings share (callback drain, tunables, bounds)
binding_sources = sorted(glob.glob(rel("bindings", "python", "*.c")) + glob.glob(rel("bindings", "common", "*.c")))
binding_headers = sorted(glob.glob(rel("bindings", "python", "*.h")) + glob.glob(rel("bindings", "common", "*.h")))

extension = Extension(
    "tricolor._tricolor",
    sources=binding_sources + core_sources,
    depends=core_headers + binding_headers + [rel("setup.py")],  # flags changed: rebuild
    include_dirs=[rel("csrc", "include"), rel("csrc"), rel("bindings", "python"), rel("bindings", "common")],
    # TC_EMBEDDED and -fvisibility=hidden: the core lives inside the module, so
    # only PyInit__tricolor leaves the shared object (tests/python/
    # test_package.py checks it), and calls between core files need no PLT hop.
    define_macros=[("TC_EMBEDDED", None)],
    extra_compile_args=["-std=c11", "-D_GNU_SOURCE", "-O2", "-pthread", "-fvisibility=hidden"],
    extra_link_args=["-pthread"],
    libraries=["m"],
)

setup(
    version=read_version(),
    packages=["tricolor", "tricolor.lab"],
    package_dir={"": rel("bindings", "python")},
    package_data={"tricolor": ["py.typed", "*.pyi"], "tricolor.lab": ["gcbench.go"]},
    ext_modules=[extension],
)
