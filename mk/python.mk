# mk/python.mk — the Python binding: build in place, test, demo.
# Included by the top-level Makefile (which defines PYTHON, CSRC and CHDR).

PY_EXT_SRC := bindings/python/_tricolor.c
PY_STAMP   := $(BUILD)/python-ext.stamp

.PHONY: py-build test-python demo-python

# py-build: compile tricolor._tricolor next to the package sources, so that
# PYTHONPATH=bindings/python finds it. Rebuilt when the binding or the core changes.
py-build: $(PY_STAMP)

$(PY_STAMP): $(PY_EXT_SRC) $(CSRC) $(CHDR) setup.py
	$(PYTHON) setup.py -q build_ext --inplace
	@mkdir -p $(dir $@) && touch $@

# test-python: pytest over tests/python, installing pytest first if it is missing.
test-python: py-build
	@$(PYTHON) -c "import pytest" 2>/dev/null || $(PYTHON) -m pip install -q pytest
	PYTHONPATH=bindings/python $(PYTHON) -m pytest -q tests/python

# demo-python: the default experiment with the in-place build.
demo-python: py-build
	PYTHONPATH=bindings/python $(PYTHON) -m tricolor demo
