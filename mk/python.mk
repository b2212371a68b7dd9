# mk/python.mk — the Python binding: build in place, test, demo.
# Included by the top-level Makefile (which defines PYTHON, CSRC and CHDR).

# bindings/common: the plain C both bindings share (setup.py globs it too)
PY_EXT_SRC := $(wildcard bindings/python/*.c bindings/common/*.c)
PY_EXT_HDR := $(wildcard bindings/python/*.h bindings/common/*.h)
PY_STAMP   := $(BUILD)/python-ext.stamp

.PHONY: py-build test-python demo-python test-stubs

# py-build: compile tricolor._tricolor next to the package sources, so that
# PYTHONPATH=bindings/python finds it. Rebuilt when the binding or the core changes.
py-build: $(PY_STAMP)

$(PY_STAMP): $(PY_EXT_SRC) $(PY_EXT_HDR) $(CSRC) $(CHDR) setup.py
	$(PYTHON) setup.py -q build_ext --inplace
	@mkdir -p $(dir $@) && touch $@

# test-python: pytest over tests/python, installing pytest and hypothesis first if missing.
# The lab's tests drive the Lua side too (--lang lua|both), so the Lua module
# is built first: on a fresh clone it would not exist yet.
test-python: py-build lua-build
	@$(PYTHON) -c "import pytest, hypothesis" 2>/dev/null || $(PYTHON) -m pip install -q pytest hypothesis
	PYTHONPATH=bindings/python $(PYTHON) -m pytest -q tests/python

# test-stubs: the .pyi stubs against the built module (mypy's stubtest: every
# name, signature and type the stubs give must match what the module has);
# tests/python/stubtest/ holds its mypy config and allowlist (each entry says why).
STUBTEST_DIR := $(CURDIR)/tests/python/stubtest
test-stubs: py-build
	@$(PYTHON) -c "import mypy" 2>/dev/null || $(PYTHON) -m pip install -q mypy
	cd $(BUILD) && MYPY_CACHE_DIR=mypy-cache PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) -m mypy.stubtest \
	    --mypy-config-file $(STUBTEST_DIR)/mypy.ini --allowlist $(STUBTEST_DIR)/allowlist.txt tricolor

# demo-python: the default experiment with the in-place build.
demo-python: py-build
	PYTHONPATH=bindings/python $(PYTHON) -m tricolor demo

# test-python-asan: the same tests with the extension (binding and core) built
# with AddressSanitizer and UBSan, loaded into the ordinary interpreter with
# LD_PRELOAD (leak checking off: CPython itself keeps memory until exit);
# an ASan report of any process, the CLI children included, fails it
# (tests/san/reports.sh).
PY_ASAN_DIR := $(BUILD)/python-asan
PY_ASAN_TESTS ?= tests/python
PY_EXT_SUFFIX = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
PY_INCLUDES = $(shell $(PYTHON) -c "import sysconfig; print('-I' + sysconfig.get_paths()['include'])")

.PHONY: test-python-asan test-replay-asan
# test-replay-asan: only the replay tests (every truncated and corrupted log)
# under ASan and UBSan; `make test` runs them within test-python-asan.
test-replay-asan:
	$(MAKE) --no-print-directory test-python-asan PY_ASAN_TESTS=tests/python/test_replay.py

test-python-asan: lua-build
	@$(PYTHON) -c "import pytest, hypothesis" 2>/dev/null || $(PYTHON) -m pip install -q pytest hypothesis
	rm -rf $(PY_ASAN_DIR) && mkdir -p $(PY_ASAN_DIR)/tricolor
	cp bindings/python/tricolor/*.py bindings/python/tricolor/*.pyi bindings/python/tricolor/py.typed $(PY_ASAN_DIR)/tricolor/
	cp -r bindings/python/tricolor/lab $(PY_ASAN_DIR)/tricolor/
	$(CC) -shared -fPIC -std=c11 -D_GNU_SOURCE -O1 -g -pthread -fsanitize=address,undefined -fno-sanitize=object-size \
	    -fno-omit-frame-pointer -fvisibility=hidden -DTC_EMBEDDED -Icsrc/include -Icsrc -Ibindings/python -Ibindings/common $(PY_INCLUDES) \
	    $(PY_EXT_SRC) $(CSRC) -lm -o $(PY_ASAN_DIR)/tricolor/_tricolor$(PY_EXT_SUFFIX)
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/san/reports.sh $(BUILD)/san/python \
	    env LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	    PYTHONPATH=$(PY_ASAN_DIR) $(PYTHON) -m pytest -q -p no:cacheprovider $(PY_ASAN_TESTS)

# test-python-versions: the binding built for every other CPython that pyenv
# holds (>= 3.10, pyproject's floor), each build in its own directory, and
# the tests of what differs between versions run under it: ints (3.12 made
# ints compact, and pytc_small_int reads them in place through its own
# branch), slot loads and stores, objects. A machine without pyenv runs
# none and says so; pytest and hypothesis are installed into an interpreter
# that lacks them, as test-python does.
PYENV_ROOT ?= $(HOME)/.pyenv
PY_VERSIONS_TESTS ?= tests/python/test_objects.py tests/python/test_slot_paths.py
.PHONY: test-python-versions
test-python-versions:
	@pys=$$(ls -d $(PYENV_ROOT)/versions/3.*/bin/python3 2>/dev/null | sort -V); n=0; \
	for py in $$pys; do \
	  $$py -c "import sys; sys.exit(sys.version_info < (3, 10))" 2>/dev/null || continue; \
	  ver=$$($$py -c "import platform; print(platform.python_version())"); dir=$(BUILD)/python-$$ver; \
	  echo "test-python-versions: CPython $$ver ($$py)"; \
	  $$py -c "import pytest, hypothesis" 2>/dev/null || $$py -m pip install -q --disable-pip-version-check --root-user-action=ignore pytest hypothesis || exit 1; \
	  rm -rf $$dir && mkdir -p $$dir/tricolor && cp -r bindings/python/tricolor/*.py bindings/python/tricolor/*.pyi \
	    bindings/python/tricolor/py.typed bindings/python/tricolor/lab $$dir/tricolor/ || exit 1; \
	  $(CC) -shared -fPIC -std=c11 -D_GNU_SOURCE -O2 -g -pthread -fvisibility=hidden -DTC_EMBEDDED \
	    -Icsrc/include -Icsrc -Ibindings/python -Ibindings/common \
	    $$($$py -c "import sysconfig; print('-I' + sysconfig.get_paths()['include'])") $(PY_EXT_SRC) $(CSRC) -lm \
	    -o $$dir/tricolor/_tricolor$$($$py -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))") || exit 1; \
	  PYTHONPATH=$$dir $$py -m pytest -q -p no:cacheprovider $(PY_VERSIONS_TESTS) || exit 1; \
	  n=$$((n + 1)); \
	done; \
	echo "test-python-versions: $$n CPython version(s) passed (of pyenv's in $(PYENV_ROOT)/versions)"
