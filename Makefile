# tricolor — top-level build. `make demo`, `make test`, `make bench` set up what
# is missing on a fresh Debian machine, build, and run.
# Each binding / benchmark area adds its targets in mk/*.mk.

CC      ?= gcc
PYTHON  ?= python3
BUILD   := build
CSRC    := $(wildcard csrc/*.c)
CHDR    := $(wildcard csrc/*.h csrc/include/*.h)
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -pthread -Icsrc/include -Icsrc -fPIC
OPT     ?= -O2 -g
CFLAGS  := $(CFLAGS_BASE) $(OPT)
LDLIBS  := -lpthread -lm

.PHONY: all lib setup demo test bench clean test-c test-debug test-exports dist test-dist
all: lib

# Debian packages and Python packages the build and tests need; `setup`
# installs whichever are missing (a fresh machine has none of them).
# golang-go: the lab's gogc question draws Go's curve beside tricolor's (tests check it)
DEBS := lua5.4 liblua5.4-dev luarocks lua-busted libgc-dev pkg-config golang-go zip unzip binutils
# setuptools 77: SPDX `license` in pyproject.toml; mypy: stubtest (test-stubs)
PIP_PKGS := pytest "setuptools>=77" wheel hypothesis mypy
# the lab's extras (pyproject: tricolor[lab]): module name=pip name
PIP_LAB  := matplotlib=matplotlib rich=rich

setup:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore $(PIP_PKGS)
	@for p in $(PIP_LAB); do $(PYTHON) -c "import $${p%%=*}" 2>/dev/null || $(PYTHON) -m pip install -q $${p#*=}; done

# make test: every test, C core first, then the bindings, then the
# sanitizer builds, then the stubs and the packages (mk/dist.mk: the sdist
# into a fresh venv, the source rock into fresh luarocks trees).
test: setup
	$(MAKE) test-c
	$(MAKE) test-planted
	$(MAKE) test-fuzz
	$(MAKE) test-debug
	$(MAKE) test-exports
	$(MAKE) test-python
	$(MAKE) test-python-versions
	$(MAKE) test-lua
	$(MAKE) test-asan
	$(MAKE) test-tsan
	$(MAKE) test-python-asan
	$(MAKE) test-lua-asan
	$(MAKE) test-stubs
	$(MAKE) test-dist

demo: setup
	$(MAKE) demo-python

lib: $(BUILD)/libtricolor.a

$(BUILD)/obj/%.o: csrc/%.c $(CHDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libtricolor.a: $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(CSRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^ # from scratch: a removed source leaves no stale member

include $(wildcard mk/*.mk)

clean:
	rm -rf $(BUILD) bindings/python/tricolor/*.so bindings/python/build bindings/python/*.egg-info
