-- tricolor-scm-1.rockspec — `luarocks --lua-version 5.4 make` from a clone
-- builds the Lua binding and the C core into one module, tricolor.so.
-- The sources are listed by hand (the builtin backend has no globs);
-- `make lua-rockspec-check` fails when csrc/*.c and this list disagree.
package = "tricolor"
version = "scm-1"
source = {
   url = "git+file://."
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
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "builtin",
   modules = {
      tricolor = {
         sources = {
            "bindings/lua/ltricolor.c",
            "csrc/alloc.c",
            "csrc/barrier.c",
            "csrc/check.c",
            "csrc/collector.c",
            "csrc/dom.c",
            "csrc/errors.c",
            "csrc/heap.c",
            "csrc/hist.c",
            "csrc/inspect.c",
            "csrc/mark.c",
            "csrc/mmu.c",
            "csrc/mutator.c",
            "csrc/object.c",
            "csrc/pacer.c",
            "csrc/platform.c",
            "csrc/roots.c",
            "csrc/sizeclass.c",
            "csrc/span.c",
            "csrc/special.c",
            "csrc/stats.c",
            "csrc/sweep.c",
            "csrc/trace.c",
         },
         incdirs = { "csrc/include", "csrc" },
         defines = { "_GNU_SOURCE" },
         libraries = { "pthread", "m" },
      },
      -- the lab (issue 14): pure Lua, require("tricolor.lab"); docs/lab.md
      ["tricolor.lab"] = "bindings/lua/tricolor/lab.lua",
      ["tricolor.lab.workloads"] = "bindings/lua/tricolor/lab/workloads.lua",
   },
}
