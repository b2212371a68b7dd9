# mk/dist.mk — the packages a user installs, and the tests that install them
# the way a user would (tests/dist/distcheck.py).
#
#   make dist            build/dist/: the sdist (tricolor-<v>.tar.gz) and the
#                        Lua source rock (tricolor-<v>-1.src.rock)
#   make test-dist       the sdist into a fresh virtual environment (wheel,
#                        import, README's Python quickstart, symbols); the
#                        source rock into a fresh luarocks tree and, as a user
#                        without root, with --local (README's Lua quickstart);
#                        `luarocks make` from this checkout leaves nothing
#                        outside build/, and Python cannot import the Lua module
#
# The version is csrc/include/tricolor.h's TC_VERSION_MAJOR.MINOR.PATCH, the
# project's one version (setup.py reads it the same way).

TC_VERSION := $(shell sed -n 's/^\#define TC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9][0-9]*\)$$/\2/p' csrc/include/tricolor.h | paste -sd. -)
DIST       := $(BUILD)/dist
SDIST      := $(DIST)/tricolor-$(TC_VERSION).tar.gz
SRC_ROCK   := $(DIST)/tricolor-$(TC_VERSION)-1.src.rock
ROCKSPEC   := tricolor-$(TC_VERSION)-1.rockspec
LUAROCKS   ?= luarocks --lua-version 5.4

.PHONY: dist sdist src-rock test-dist

dist: sdist src-rock

# sdist — PEP 517's build_sdist hook of setuptools, the call `python -m build
# --sdist` makes (without needing the `build` package).
sdist:
	@mkdir -p $(DIST)
	rm -f $(SDIST)
	$(PYTHON) -c 'from setuptools import build_meta as b; b.build_sdist("$(DIST)")' >$(DIST)/sdist.log 2>&1 \
	  || { cat $(DIST)/sdist.log; exit 1; }
	@test -f $(SDIST) || { echo "sdist: no $(SDIST) (see $(DIST)/sdist.log)"; exit 1; }

# src-rock — `luarocks pack` fetches source.url; the rockspec names the
# archive only (a packed rock carries it), so pack gets a copy whose url is
# the sdist's absolute path, and the rock then gets the repository's rockspec
# back in place of that copy.
src-rock: sdist lua-rockspec-check
	rm -rf $(DIST)/pack && mkdir -p $(DIST)/pack
	sed 's|^   url = ".*",$$|   url = "file://$(abspath $(SDIST))",|' $(ROCKSPEC) >$(DIST)/pack/$(ROCKSPEC)
	cd $(DIST) && rm -f $(notdir $(SRC_ROCK)) && $(LUAROCKS) pack pack/$(ROCKSPEC)
	cp $(ROCKSPEC) $(DIST)/pack/ && cd $(DIST)/pack && zip -q ../$(notdir $(SRC_ROCK)) $(ROCKSPEC)

test-dist: lua-setup dist
	$(PYTHON) tests/dist/distcheck.py sdist $(SDIST)
	$(PYTHON) tests/dist/distcheck.py rock $(SRC_ROCK)
	$(PYTHON) tests/dist/distcheck.py luarocks-make $(ROCKSPEC)
