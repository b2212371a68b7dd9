-- helpers.lua — shared by the busted specs in tests/lua (loaded with dofile,
-- so busted does not run it as a spec).
local M = {}

-- M.error_of(f, ...) — call f and return the error message it raised; fails
-- the test if f returned, or if the message is not a string starting with
-- "tricolor: ".
function M.error_of(f, ...)
   local ok, err = pcall(f, ...)
   assert(not ok, "expected an error, the call returned")
   assert(type(err) == "string", "expected a string error, got " .. type(err))
   assert(err:find("^tricolor: "), "error does not start with 'tricolor: ': " .. err)
   return err
end

-- M.raises(words, f, ...) — f raises a tricolor error naming every word
-- (plain substring match) of `words` (a string or a list).
function M.raises(words, f, ...)
   local err = M.error_of(f, ...)
   if type(words) == "string" then words = { words } end
   for _, w in ipairs(words) do
      assert(err:find(w, 1, true), ("error %q does not mention %q"):format(err, w))
   end
   return err
end

-- M.drop_handles() — run Lua's collector until the finalizers of the
-- handles that are no longer referenced have released their roots.
function M.drop_handles()
   collectgarbage()
   collectgarbage()
end

-- M.reclaim(heap) — drop unreferenced handles, then run two complete heap
-- cycles (SPEC: garbage is gone by the end of the second).
function M.reclaim(heap)
   M.drop_handles()
   heap:collect()
   heap:collect()
   return heap:stats()
end

-- M.lua_child(script, env, redirect, flags) — run `script` in a child lua5.4
-- that finds the module where this process does, with `env` ("K=V ...")
-- before the command, interpreter `flags` ("-W") before the script and
-- `redirect` after it (default "2>&1": stderr too); returns what it printed
-- and whether it exited cleanly.
function M.lua_child(script, env, redirect, flags)
   local path = os.tmpname()
   local f = assert(io.open(path, "w"))
   f:write(("package.cpath = %q\n"):format(package.cpath), script)
   f:close()
   local cmd = ("%s lua5.4 %s %s %s"):format(env or "", flags or "", path, redirect or "2>&1")
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local ok = p:close()
   os.remove(path)
   return out, ok
end

-- SPEC's gctrace line, as a Lua pattern with one capture per number.
local NUM = "(%d+%.?%d*)"
M.GCTRACE = "^gc (%d+) @" .. NUM .. "s (%d+)%%: " .. NUM .. "%+" .. NUM .. "%+" .. NUM .. " ms clock, "
   .. NUM .. "%+" .. NUM .. "/" .. NUM .. "/" .. NUM .. "%+" .. NUM .. " ms cpu, "
   .. "(%d+)%->(%d+)%->(%d+) MB, (%d+) MB goal, (%d+) P$"

-- M.match_gctrace(line) — the captures of SPEC's pattern, after removing
-- the " (forced)" that Go (and tricolor) append for a forced cycle.
function M.match_gctrace(line)
   return (line:gsub(" %(forced%)$", "")):match(M.GCTRACE)
end

-- M.gc_lines(text) — the lines of text that start with "gc ".
function M.gc_lines(text)
   local lines = {}
   for line in text:gmatch("[^\n]+") do
      if line:find("^gc ") then lines[#lines + 1] = line end
   end
   return lines
end

-- The collectors every scenario of the finalizer, weak and unsafe specs runs under.
M.COLLECTORS = { "stw", "incremental", "concurrent" }

-- M.each_collector(name, set_heap, body) — describe(name .. " (<collector>)")
-- once per collector; before each test set_heap(h) gets a fresh heap
-- {collector = <collector>, gogc = false}, closed after the test.
function M.each_collector(name, set_heap, body)
   local tricolor = require "tricolor"
   local busted = require "busted" -- the spec's describe & co. are not globals here
   local describe, before_each, after_each = busted.describe, busted.before_each, busted.after_each
   for _, collector in ipairs(M.COLLECTORS) do
      describe(name .. " (" .. collector .. ")", function()
         local heap
         before_each(function()
            heap = tricolor.heap { collector = collector, gogc = false }
            set_heap(heap)
         end)
         after_each(function() heap:close() end)
         body(collector)
      end)
   end
end

-- M.callbacks(heap) — how many finalizers and cleanups the binding's registry
-- of `heap` holds (the heap userdata's user value 2; nil counts as none).
function M.callbacks(heap)
   local reg = debug.getuservalue(heap, 2)
   local n = 0
   if type(reg) == "table" then
      for _ in pairs(reg) do n = n + 1 end
   end
   return n
end

-- M.count_lines(text, pattern) — how many lines of text match the pattern.
function M.count_lines(text, pattern)
   local n = 0
   for line in text:gmatch("[^\n]+") do
      if line:find(pattern) then n = n + 1 end
   end
   return n
end

return M
