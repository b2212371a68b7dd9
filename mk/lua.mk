# mk/lua.mk — the Lua 5.4 binding: build, rockspec check, tests.
#
#   make lua-build       build/lua/tricolor.so from bindings/lua/*.c + build/libtricolor.a
#                        (the rockspec's build command too: luarocks passes LUA_INCDIR and CC)
#   make test-lua        set up Lua 5.4 + busted if missing, build, check the rockspec, run busted
#   make lua-rockspec-check   fail unless the rockspec's name, version and source
#                        archive carry tricolor.h's version, it builds with `make`
#                        and it installs every bindings/lua/**.lua
#   make test-lua-asan   the same specs with module and core under ASan+UBSan
#
# The module links the core statically, so build/lua/tricolor.so needs nothing
# but the Lua interpreter that loads it. --exclude-libs hides the core's tc_*
# symbols: the module exports only luaopen_tricolor (tests/lua/package_spec.lua
# checks it), and the binding's calls into the core bind directly instead of
# through the PLT (2-4 ns a slot store).

LUA          ?= lua5.4
BUSTED       ?= /usr/bin/busted
LUA_CFLAGS   ?= $(if $(LUA_INCDIR),-I$(LUA_INCDIR),$(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4))
LUA_ROCKSPEC := $(firstword $(wildcard tricolor-*.rockspec))
LUA_MODULE   := $(BUILD)/lua/tricolor.so
# bindings/common: the plain C the Python and Lua bindings share
LUA_SRC      := $(wildcard bindings/lua/*.c bindings/common/*.c)
LUA_HDR      := $(wildcard bindings/lua/*.h bindings/common/*.h)
LUA_COMMON   := -Ibindings/common
LUA_DEBS     := lua5.4 liblua5.4-dev luarocks lua-busted lua-dkjson zip unzip

.PHONY: lua-build lua-setup lua-rockspec-check test-lua test-lua-asan

lua-build: $(LUA_MODULE)

# tc_testposix — fork/_exit/wait for the specs (tests/lua/tc_testposix.c),
# beside each module under test so that the same LUA_CPATH finds both; the
# test targets build it (lua-build, which the rockspec runs, does not).
$(BUILD)/%/tc_testposix.so: tests/lua/tc_testposix.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LUA_CFLAGS) -shared -o $@ $<

$(LUA_MODULE): $(LUA_SRC) $(LUA_HDR) csrc/include/tricolor.h $(BUILD)/libtricolor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LUA_CFLAGS) $(LUA_COMMON) -shared -Wl,--exclude-libs,ALL -o $@ $(LUA_SRC) $(BUILD)/libtricolor.a $(LDLIBS)

# lua-setup — install what is missing (Debian packages) on a fresh machine.
lua-setup:
	@if ! command -v $(LUA) >/dev/null || [ ! -f /usr/include/lua5.4/lua.h ] \
	    || ! command -v luarocks >/dev/null || [ ! -x $(BUSTED) ] \
	    || ! $(LUA) -e 'require "dkjson"' 2>/dev/null; then \
	  echo "installing $(LUA_DEBS)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(LUA_DEBS); \
	fi

# lua-rockspec-check — exactly one rockspec, named after tricolor.h's version
# (TC_VERSION, mk/dist.mk), whose version, source archive and source dir say
# the same, which builds through `make lua-build` (so that the C sources need
# no list of their own and every object lands under build/), and which lists
# every pure-Lua module under bindings/lua (install.lua has no globs).
lua-rockspec-check:
	@test "$(words $(wildcard tricolor-*.rockspec))" = 1 || \
	  { echo "want exactly one tricolor-*.rockspec, found: $(wildcard tricolor-*.rockspec)"; exit 1; }
	@test "$(LUA_ROCKSPEC)" = "tricolor-$(TC_VERSION)-1.rockspec" || \
	  { echo "$(LUA_ROCKSPEC): want tricolor-$(TC_VERSION)-1.rockspec (TC_VERSION in csrc/include/tricolor.h)"; exit 1; }
	@for want in 'version = "$(TC_VERSION)-1"' 'url = "tricolor-$(TC_VERSION).tar.gz"' \
	    'dir = "tricolor-$(TC_VERSION)"' 'type = "command"' 'make --no-print-directory lua-build' \
	    'tricolor = "build/lua/tricolor.so"'; do \
	  grep -qF "$$want" $(LUA_ROCKSPEC) || { echo "$(LUA_ROCKSPEC): no '$$want'"; exit 1; }; \
	done
	@missing=""; for f in $$(find bindings/lua -name '*.lua' | sort); do \
	  grep -qF "\"$$f\"" $(LUA_ROCKSPEC) || missing="$$missing $$f"; \
	done; \
	for f in $$(grep -o '"bindings/lua/[^"]*\.lua"' $(LUA_ROCKSPEC) | tr -d '"'); do \
	  test -f $$f || missing="$$missing $$f(gone)"; \
	done; \
	test -z "$$missing" || { echo "$(LUA_ROCKSPEC): install.lua out of date:$$missing"; exit 1; }

test-lua: lua-setup
	$(MAKE) --no-print-directory lua-build $(BUILD)/lua/tc_testposix.so
	LUA_CPATH='$(BUILD)/lua/?.so;;' $(LUA) $(BUSTED) tests/lua
	$(MAKE) --no-print-directory lua-rockspec-check

# test-lua-asan — the stock lua5.4 is not instrumented, so the sanitizer
# runtimes are preloaded; child interpreters the specs start inherit them,
# and a report of any of them fails the run (tests/san/reports.sh).
LUA_ASAN_MODULE := $(BUILD)/lua-asan/tricolor.so
LUA_SANITIZE    := -fsanitize=address,undefined -fno-sanitize=object-size -fno-omit-frame-pointer -fno-sanitize-recover=undefined

$(LUA_ASAN_MODULE): $(LUA_SRC) $(LUA_HDR) $(CSRC) $(CHDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -DTC_EMBEDDED -fvisibility=hidden -O1 -g $(LUA_SANITIZE) $(LUA_CFLAGS) $(LUA_COMMON) -shared -o $@ $(LUA_SRC) $(CSRC) $(LDLIBS)

test-lua-asan: lua-setup $(LUA_ASAN_MODULE) $(BUILD)/lua-asan/tc_testposix.so
	ASAN_OPTIONS=detect_leaks=1 tests/san/reports.sh $(BUILD)/san/lua \
	  env LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  LUA_CPATH='$(BUILD)/lua-asan/?.so;;' $(LUA) $(BUSTED) tests/lua
