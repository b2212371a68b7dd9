-- tricolor-0.1.0-1.rockspec — the Lua 5.4 binding and the C core, built into
-- one module, tricolor.so, by the project's Makefile (`make lua-build`: every
-- object under build/, nothing beside the sources).
--
--   luarocks --lua-version 5.4 make                 from a checkout (or an
--                                                   unpacked sdist)
--   make src-rock                                   build/dist/tricolor-0.1.0-1.src.rock
--   luarocks --lua-version 5.4 install tricolor-0.1.0-1.src.rock
--                                                   anywhere; --local or --tree DIR
--                                                   for a user without root
--
-- source.url names the project's source archive (the Python sdist, which
-- carries the Lua binding, the Makefile and this file); a source rock carries
-- that archive, so installing the rock fetches nothing. The version is
-- csrc/include/tricolor.h's TC_VERSION_STRING (`make lua-rockspec-check`).
rockspec_format = "3.0"
package = "tricolor"
version = "0.1.0-1"
source = {
   url = "tricolor-0.1.0.tar.gz",
   dir = "tricolor-0.1.0",
}
description = {
   summary = "A managed heap with a Go-style tri-color mark-sweep garbage collector",
   detailed = [[
      tricolor is a managed heap written in C with a Go-style tri-color
      mark-sweep collector: objects with value slots and a byte payload,
      finalizers, cleanups and weak references (Go's semantics),
      handles that are GC roots, statistics, gctrace lines and Chrome trace
      files. `local tricolor = require "tricolor"`.
   ]],
   license = "MIT",
   labels = { "gc", "garbage-collector", "memory" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "command",
   build_command = [[make --no-print-directory lua-build CC="$(CC)" LUA_INCDIR="$(LUA_INCDIR)"]],
   install = {
      lib = { tricolor = "build/lua/tricolor.so" },
      -- the lab (issue 14): pure Lua, require("tricolor.lab"); docs/lab.md.
      -- Every bindings/lua/**.lua is listed (`make lua-rockspec-check`).
      lua = {
         ["tricolor.lab"] = "bindings/lua/tricolor/lab.lua",
         ["tricolor.lab.workloads"] = "bindings/lua/tricolor/lab/workloads.lua",
         ["tricolor.why"] = "bindings/lua/tricolor/why.lua",
         -- teaching mode (issue 15): the mark step by step; docs/teach.md.
         ["tricolor.teach"] = "bindings/lua/tricolor/teach.lua",
      },
   },
}
