#!/usr/bin/env python3
"""Install tricolor's packages the way a user would, far from this checkout, and
use them (`make test-dist`; mk/dist.mk builds the packages first).

    distcheck.py sdist build/dist/tricolor-<v>.tar.gz
        The sdist holds what it takes to build and test the whole project; it
        builds a wheel in a fresh virtual environment (python3 -m venv; pip
        fetches setuptools and pytest, or takes them from its cache); the wheel
        carries the license, the stubs and full metadata; installed, it imports
        from the environment with the header's version, its extension exports
        only PyInit__tricolor, README.md's Python quickstart runs, and the
        sdist's own package and docs tests pass against it.

    distcheck.py rock build/dist/tricolor-<v>-1.src.rock
        `luarocks install` of the source rock into a fresh --tree, and with
        --local as a user without root (`nobody` when run as root) in a fresh
        home; each time README.md's Lua quickstart runs against the installed
        module from outside the checkout (after `eval "$(luarocks path)"`),
        and the module exports only luaopen_tricolor.

    distcheck.py luarocks-make tricolor-<v>-1.rockspec
        `luarocks make` in this checkout (into a fresh --tree) leaves no file
        outside build/, and neither language can load the other's module:
        Python run in the checkout does not find a tricolor module there, and
        Lua run beside the Python package does not find that.

Every failure raises (the script exits non-zero with the reason).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
LUAROCKS = ["luarocks", "--lua-version", "5.4"]

# What the sdist must hold (besides the Python package) so that `make test`
# and `luarocks make` work in the unpacked directory.
SDIST_MUST_HOLD = [
    "LICENSE", "README.md", "Makefile", "pyproject.toml", "setup.py", "MANIFEST.in",
    "csrc/include/tricolor.h", "csrc/heap.c", "bindings/lua/ltricolor.c", "bindings/lua/tricolor/lab.lua",
    "bindings/python/_tricolor.c", "bindings/common/bc_drain.c", "bindings/common/bc_config.h",
    "bindings/python/tricolor/_tricolor.pyi",
    "bindings/python/tricolor/py.typed", "mk/c.mk", "mk/python.mk", "mk/lua.mk", "mk/dist.mk",
    "tests/c/runner.c", "tests/python/conftest.py", "tests/lua/helpers.lua",
    "tests/dist/distcheck.py", "docs/spec.md", "docs/python.md", "docs/lua.md", "docs/design.md",
    "benchmarks/README.md",
]


def run(cmd, **kw):
    """Run cmd (a list, or a string for sh), echoing it; return its stdout."""
    print("+", cmd if isinstance(cmd, str) else " ".join(map(str, cmd)), flush=True)
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {cmd}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def header_version(header):
    """TC_VERSION_MAJOR.MINOR.PATCH of a tricolor.h."""
    text = pathlib.Path(header).read_text(encoding="utf-8")
    return ".".join(re.search(rf"^#define TC_VERSION_{p} (\d+)$", text, re.M).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def readme_block(readme, lang):
    """The first ```lang fenced block of a README: its quickstart."""
    m = re.search(rf"^```{lang}\n(.*?)^```$", pathlib.Path(readme).read_text(encoding="utf-8"),
                  re.M | re.S)
    if not m:
        raise SystemExit(f"{readme}: no ```{lang} block")
    return m.group(1)


def check_exports(module, init):
    """The shared object's dynamic symbol table defines `init` and nothing else."""
    out = run(["nm", "-D", "--defined-only", str(module)])
    names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    if names != [init]:
        raise SystemExit(f"{module} exports {len(names)} symbols, not only {init}: {names[:20]}")
    print(f"  {module}: exports only {init}")


def fresh_dir():
    d = pathlib.Path(tempfile.mkdtemp(prefix="tricolor-distcheck-"))
    d.chmod(0o755)  # readable by the unprivileged user of the --local install
    return d


# ---- sdist ------------------------------------------------------------------

def check_sdist_members(sdist, tmp):
    """Unpack the sdist into tmp; return its top directory."""
    with tarfile.open(sdist) as t:
        names = t.getnames()
        t.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(tmp)
    top = names[0].split("/")[0]
    have = {n.split("/", 1)[1] for n in names if "/" in n}
    missing = [f for f in SDIST_MUST_HOLD if f not in have]
    if missing:
        raise SystemExit(f"{sdist} lacks {missing}")
    stray = [n for n in have if n.endswith((".so", ".o")) or n.startswith("build/")]
    if stray:
        raise SystemExit(f"{sdist} holds build products: {stray}")
    print(f"  {sdist}: {len(have)} entries, all of {len(SDIST_MUST_HOLD)} required ones")
    return tmp / top


def check_wheel(wheel, version):
    """The wheel carries the extension, the stubs, the license and full metadata."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"tricolor-{version}.dist-info/METADATA").decode()
    for want in ("tricolor/py.typed", "tricolor/_tricolor.pyi", "tricolor/__init__.pyi",
                 f"tricolor-{version}.dist-info/licenses/LICENSE"):
        if want not in names:
            raise SystemExit(f"{wheel} lacks {want}")
    if not any(re.fullmatch(r"tricolor/_tricolor\..*\.so", n) for n in names):
        raise SystemExit(f"{wheel} has no extension module")
    for want in (f"Version: {version}", "License-Expression: MIT", "Requires-Python: >=3.10",
                 "Provides-Extra: plot", "Provides-Extra: test", "Classifier: ",
                 "Description-Content-Type: text/markdown", "# tricolor"):
        if want not in meta:
            raise SystemExit(f"{wheel}: METADATA has no {want!r}")
    print(f"  {wheel.name}: extension, stubs, LICENSE, metadata ({len(meta)} bytes)")


def sdist(path):
    sdist_path = pathlib.Path(path).resolve()
    tmp = fresh_dir()
    try:
        src = check_sdist_members(sdist_path, tmp)
        version = header_version(src / "csrc/include/tricolor.h")
        py = tmp / "venv/bin/python"
        run([sys.executable, "-m", "venv", tmp / "venv"])
        pip = [py, "-m", "pip", "-q", "--disable-pip-version-check"]
        run(pip + ["install", "setuptools>=77", "wheel", "pytest"])
        run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "wheels", sdist_path])
        wheel = next((tmp / "wheels").glob("tricolor-*.whl"))
        check_wheel(wheel, version)
        run(pip + ["install", wheel])
        # from a directory of its own: nothing of the checkout is on the path
        work = tmp / "work"
        work.mkdir()
        probe = ("import importlib.metadata as m, sys, tricolor, tricolor._tricolor as x; "
                 "print(tricolor.__file__); print(x.__file__); print(tricolor.__version__); "
                 "print(m.version('tricolor'))")
        pkg, ext, v1, v2 = run([py, "-c", probe], cwd=work).split()
        if not pkg.startswith(str(tmp / "venv")) or {v1, v2} != {version}:
            raise SystemExit(f"imported {pkg} version {v1}/{v2}, want the venv's {version}")
        print(f"  import tricolor: {pkg}, version {v1}")
        check_exports(ext, "PyInit__tricolor")
        (work / "quickstart.py").write_text(readme_block(src / "README.md", "python"))
        print("  README quickstart:", run([py, "quickstart.py"], cwd=work).strip())
        # the sdist's own tests, against the installed package
        out = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "tests/python/test_package.py", "tests/python/test_docs.py"], cwd=src)
        print("  sdist tests:", out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- source rock ------------------------------------------------------------

def as_user(cmd, user, home):
    """sh -c cmd with HOME=home, as `user` (None: as we are); runuser would
    reset HOME to the user's own."""
    cmd = f"export HOME='{home}'; {cmd}"
    return ["runuser", "-u", user, "--", "sh", "-c", cmd] if user else ["sh", "-c", cmd]


def rock_install(rock, where, home, user, quickstart, version):
    """luarocks install the rock (`where`: --tree DIR or --local), then the Lua
    quickstart and a version/path probe from `home`, with `luarocks path`."""
    env = dict(os.environ)
    for var in ("LUA_PATH", "LUA_CPATH", "LUA_PATH_5_4", "LUA_CPATH_5_4"):
        env.pop(var, None)
    lr = " ".join(LUAROCKS + [where])
    run(as_user(f'cd "$HOME" && {lr} install "{rock}"', user, home), env=env)
    probe = ('local t = require "tricolor"; print(t._VERSION); '
             'print(package.searchpath("tricolor", package.cpath)); '
             'assert(type(require("tricolor.lab").run) == "function")')  # the rock's pure-Lua modules
    (home / "probe.lua").write_text(probe)
    (home / "quickstart.lua").write_text(quickstart)
    for f in ("probe.lua", "quickstart.lua"):
        os.chmod(home / f, 0o644)
    out = run(as_user(f'cd "$HOME" && eval "$({lr} path)" && lua5.4 probe.lua && lua5.4 quickstart.lua',
                      user, home), env=env).split("\n")
    got_version, module = out[0], out[1]
    if got_version != version or not module.startswith(str(home.parent)):
        raise SystemExit(f"{where}: required tricolor {got_version} from {module}")
    print(f"  {where} ({user or 'this user'}): tricolor {got_version} from {module}; "
          f"README quickstart: {out[2]}")
    check_exports(module, "luaopen_tricolor")


def rock(path):
    rock_path = pathlib.Path(path).resolve()
    version = header_version(ROOT / "csrc/include/tricolor.h")
    quickstart = readme_block(ROOT / "README.md", "lua")
    tmp = fresh_dir()
    try:
        local_rock = tmp / rock_path.name
        shutil.copy(rock_path, local_rock)
        local_rock.chmod(0o644)
        (tmp / "root").mkdir()
        rock_install(local_rock, f"--tree={tmp / 'tree'}", tmp / "root", None, quickstart, version)
        # --local as a user without root, in a home of its own
        user = "nobody" if os.geteuid() == 0 else None
        home = tmp / "home"
        home.mkdir()
        home.chmod(0o755)
        if user:
            shutil.chown(home, user)
        rock_install(local_rock, "--local", home, user, quickstart, version)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- luarocks make in the checkout --------------------------------------------

def tree_files():
    """Every file of the checkout outside build/ and .git/."""
    files = set()
    for d, dirs, names in os.walk(ROOT):
        rel = pathlib.Path(d).relative_to(ROOT)
        dirs[:] = [x for x in dirs if not (rel == pathlib.Path(".") and x in ("build", ".git"))]
        files.update(str(rel / n) for n in names)
    return files


def luarocks_make(rockspec):
    tmp = fresh_dir()
    try:
        before = tree_files()
        run(LUAROCKS + [f"--tree={tmp / 'tree'}", "make", rockspec], cwd=ROOT)
        new = sorted(tree_files() - before)
        if new:
            raise SystemExit(f"luarocks make left files outside build/: {new}")
        print("  luarocks make: nothing new outside build/")
        check_exports(next((tmp / "tree").rglob("tricolor.so")), "luaopen_tricolor")
        # Python in the checkout: the current directory comes first on sys.path,
        # and no tricolor module may sit there (the Lua one once did).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        origin = run([sys.executable, "-c", "import importlib.util as u; s = u.find_spec('tricolor'); "
                      "print(s.origin if s else None)"], cwd=ROOT, env=env).strip()
        if origin != "None" and pathlib.Path(origin).parent == ROOT:
            raise SystemExit(f"python in the checkout imports {origin}")
        # Lua beside the Python package: "./?.so" and "./?/init.lua" must not find it
        found = run(["lua5.4", "-e", 'print(package.searchpath("tricolor", package.cpath) or '
                     'package.searchpath("tricolor", package.path))'],
                    cwd=ROOT / "bindings/python", env=dict(env, LUA_PATH=";;", LUA_CPATH=";;")).strip()
        if found.startswith(("./", str(ROOT / "bindings"))):
            raise SystemExit(f"lua beside the Python package finds {found}")
        print(f"  python in the checkout finds tricolor at {origin}; "
              f"lua in bindings/python finds {found}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    commands = {"sdist": sdist, "rock": rock, "luarocks-make": luarocks_make}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        raise SystemExit(__doc__)
    print(f"distcheck {sys.argv[1]} {sys.argv[2]}")
    commands[sys.argv[1]](sys.argv[2])
