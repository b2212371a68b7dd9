-- collect_spec.lua — reachability, handle lifetime, stats, gctrace, trace
-- files, verify (SPEC: Reachability, Stats fields, gctrace). Scenario names
-- follow tests/python/test_collect.py and test_gctrace.py.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local STATS_FIELDS = {
   heap_alloc = "number", heap_live = "number", heap_objects = "number", heap_sys = "number",
   heap_released = "number", heap_goal = "number", total_alloc = "number", mallocs = "number",
   frees = "number", num_gc = "number", num_forced_gc = "number", pause_total_ns = "number",
   pause_max_ns = "number", pauses_ns = "table", gc_cpu_fraction = "number", assist_ns = "number",
   roots = "number", finalizers_pending = "number", weak_refs = "number", phase = "string",
   collector = "string", barrier = "string",
   -- the core's extensions beyond SPEC (docs/lua.md)
   mark_ns = "number", sweep_ns = "number", mark_cpu_ns = "number", sweep_cpu_ns = "number",
   heap_marked = "number", gc_sys = "number", assist_marked = "number", mark_regions_shared = "number",
}

-- check_invariants — SPEC's stats invariants a user may rely on.
local function check_invariants(s)
   assert.is_true(s.num_forced_gc <= s.num_gc)
   assert.is_true(s.frees <= s.mallocs)
   assert.is_true(s.gc_cpu_fraction >= 0 and s.gc_cpu_fraction <= 1, tostring(s.gc_cpu_fraction))
   assert.is_true(#s.pauses_ns <= 256)
   assert.is_true(s.heap_objects == s.mallocs - s.frees)
   local max = 0
   for i, p in ipairs(s.pauses_ns) do
      assert.equal("integer", math.type(p))
      assert.is_true(p >= 0 and p <= s.pause_max_ns, i)
      if p > max then max = p end
   end
   if s.num_gc > 0 then
      assert.is_true(#s.pauses_ns >= 1)
      assert.is_true(s.pause_total_ns >= max)
   end
end

-- The scenarios below run under every collector.
for _, collector in ipairs { "stw", "incremental", "concurrent" } do

describe("reachability (" .. collector .. ")", function()
   local heap
   before_each(function() heap = tricolor.heap { collector = collector, gogc = false } end)
   after_each(function() heap:close() end)

   it("garbage is reclaimed", function()
      local base = H.reclaim(heap).heap_objects
      for _ = 1, 1000 do heap:new(2, 16) end
      assert.is_true(heap:stats().heap_objects >= base + 1)
      local s = H.reclaim(heap)
      assert.equal(base, s.heap_objects)
      heap:verify()
   end)

   it("objects reachable through slot chains survive with payload", function()
      local head = heap:new(1, "node 1")
      local cur = head
      for i = 2, 1000 do
         local n = heap:new(1, "node " .. i)
         cur[1] = n
         cur = n
      end
      cur = nil
      local s = H.reclaim(heap)
      assert.is_true(s.heap_objects >= 1000)
      local i, node = 0, head
      while node do
         i = i + 1
         assert.equal("node " .. i, node:data())
         node = node[1]
      end
      assert.equal(1000, i)
      heap:verify()
   end)

   it("unreachable cycle is reclaimed", function()
      local base = H.reclaim(heap).heap_objects
      do
         local a, b = heap:new(1), heap:new(1)
         a[1] = b; b[1] = a
         local c = heap:new(1); c[1] = c
      end
      assert.equal(base + 3, heap:stats().heap_objects)
      assert.equal(base, H.reclaim(heap).heap_objects)
   end)

   it("cycle reachable from a handle survives", function()
      local a = heap:new(1, "a")
      do
         local b = heap:new(1, "b")
         a[1] = b; b[1] = a
      end
      H.reclaim(heap)
      assert.equal("b", a[1]:data())
      assert.is_true(a[1][1] == a)
   end)

   it("overwriting a reference frees the old target", function()
      local a = heap:new(1)
      a[1] = heap:new(0, 100)
      local base = H.reclaim(heap).heap_objects
      a[1] = 42
      assert.equal(base - 1, H.reclaim(heap).heap_objects)
   end)

   it("a million-node linked list collects without recursion", function()
      local head = heap:new(1)
      local cur = head
      for _ = 2, 1000000 do
         local n = heap:new(1)
         cur[1] = n
         cur = n
      end
      cur = nil
      local s = H.reclaim(heap)
      assert.is_true(s.heap_objects >= 1000000)
      heap:verify()
      head = nil
      s = H.reclaim(heap)
      assert.is_true(s.heap_objects < 10, s.heap_objects)
   end)

   it("automatic collections keep live data", function()
      heap.gogc = 100
      local keep = heap:new(1, "live")
      keep[1] = heap:new(0, "child")
      for _ = 1, 20000 do heap:new(0, 512) end
      local s = heap:stats()
      assert.is_true(s.num_gc > 0)
      assert.equal(0, s.num_forced_gc)
      assert.equal("live", keep:data())
      assert.equal("child", keep[1]:data())
      heap:verify()
   end)
end)

describe("handle lifetime (" .. collector .. ")", function()
   local heap
   before_each(function() heap = tricolor.heap { collector = collector, gogc = false } end)
   after_each(function() heap:close() end)

   it("roots equals live handles", function()
      H.drop_handles()
      local r0 = heap:stats().roots
      local t = {}
      for i = 1, 100 do t[i] = heap:new(1) end
      assert.equal(r0 + 100, heap:stats().roots)
      t[1][1] = t[2]
      local again = t[1][1] -- the object's one handle: no new root
      assert.is_true(rawequal(again, t[2]))
      assert.equal(r0 + 100, heap:stats().roots)
      t[2], again = nil, nil
      H.drop_handles() -- t[2]'s handle goes; its object lives on in t[1][1]
      assert.equal(r0 + 99, heap:stats().roots)
      again = t[1][1] -- a new handle: a new root
      assert.equal(r0 + 100, heap:stats().roots)
      again = nil
      H.drop_handles()
      assert.equal(r0 + 99, heap:stats().roots)
      t = nil
      H.drop_handles()
      assert.equal(r0, heap:stats().roots)
   end)

   it("dropping the last handle removes the root", function()
      local base = H.reclaim(heap)
      local t = {}
      for i = 1, 500 do t[i] = heap:new(3, 8) end
      heap:collect()
      assert.equal(base.heap_objects + 500, heap:stats().heap_objects)
      t = nil
      local s = H.reclaim(heap)
      assert.equal(base.roots, s.roots)
      assert.equal(base.heap_objects, s.heap_objects)
   end)

   it("a <close> handle releases its root at the end of its scope", function()
      H.drop_handles()
      local r0 = heap:stats().roots
      local escaped
      do
         local obj <close> = heap:new(1, "x")
         escaped = obj
         assert.equal(r0 + 1, heap:stats().roots)
      end
      assert.equal(r0, heap:stats().roots)
      -- the handle itself lives on, closed: id, == and tostring work
      assert.equal("number", type(escaped:id()))
      assert.is_true(escaped == escaped)
      -- its object may be gone and its id reused: it equals no other handle
      H.reclaim(heap)
      local fresh = {}
      for i = 1, 100 do fresh[i] = heap:new(1, "x") end
      for i = 1, 100 do assert.is_false(escaped == fresh[i]) end
      assert.matches("closed", tostring(escaped))
      H.raises("closed", function() return escaped:data() end)
      H.raises("closed", function() return escaped[1] end)
      local holder = heap:new(1)
      H.raises({ "slot 1", "closed" }, function() holder[1] = escaped end)
   end)
end)

describe("stats (" .. collector .. ")", function()
   local heap
   before_each(function() heap = tricolor.heap { collector = collector, gogc = false } end)
   after_each(function() heap:close() end)

   it("has every SPEC field with the right types", function()
      local s = heap:stats()
      for name, ty in pairs(STATS_FIELDS) do
         assert.equal(ty, type(s[name]), name)
      end
      assert.is_true(s.phase == "off" or s.phase == "mark" or s.phase == "sweep", s.phase)
      assert.equal(collector, s.collector)
      for name, v in pairs(s) do
         if type(v) == "number" and name ~= "gc_cpu_fraction" then
            assert.equal("integer", math.type(v), name)
         end
      end
   end)

   it("is a plain table, a snapshot", function()
      local s = heap:stats()
      assert.is_nil(getmetatable(s))
      local n = s.mallocs
      heap:new(1)
      assert.equal(n, s.mallocs)
      assert.equal(n + 1, heap:stats().mallocs)
   end)

   it("forced cycles are counted", function()
      for _ = 1, 3 do heap:collect() end
      local s = heap:stats()
      assert.equal(3, s.num_gc)
      assert.equal(3, s.num_forced_gc)
      assert.is_true(#s.pauses_ns >= 3)
      check_invariants(s)
   end)

   it("every cycle adds a pause and the ring keeps the last 256", function()
      for _ = 1, 300 do heap:collect() end
      local s = heap:stats()
      assert.equal(256, #s.pauses_ns)
      check_invariants(s)
   end)

   it("invariants hold through a workload", function()
      heap.gogc = 50
      local live = {}
      for i = 1, 30000 do
         local o = heap:new(2, i % 64)
         if i % 10 == 0 then live[#live + 1] = o end
         if #live > 100 then live[1][1] = live[#live]; table.remove(live, 1) end
         if i % 5000 == 0 then check_invariants(heap:stats()) end
      end
      heap:collect()
      check_invariants(heap:stats())
      heap:verify()
   end)

   it("gogc=false means no automatic cycles", function()
      for _ = 1, 20000 do heap:new(0, 1024) end
      assert.equal(0, heap:stats().num_gc)
   end)

   it("memory_limit triggers cycles when gogc is off", function()
      heap.memory_limit = 4 << 20
      for _ = 1, 20000 do heap:new(0, 1024) end
      local s = heap:stats()
      assert.is_true(s.num_gc > 0)
      assert.equal(0, s.num_forced_gc)
   end)
end)

end -- for collector

describe("gctrace", function()
   it("the pattern matches SPEC's example", function()
      local line = "gc 7 @2.104s 3%: 0.021+4.2+0.018 ms clock, 0.021+1.1/3.9/0+0.018 ms cpu, "
         .. "48->52->20 MB, 50 MB goal, 1 P"
      assert.truthy(line:match(H.GCTRACE))
      assert.truthy(H.match_gctrace(line .. " (forced)"))
   end)

   it("gctrace from the environment: one line per cycle on stderr", function()
      local out, ok = H.lua_child([[
         local heap = require("tricolor").heap()
         heap:collect(); heap:collect(); heap:collect()
         io.stdout:write("done\n")
      ]], "TRICOLOR_DEBUG=gctrace=1")
      assert.is_true(ok, out)
      local lines = H.gc_lines(out)
      assert.equal(3, #lines, out)
      for n, line in ipairs(lines) do
         local num, _, pct = H.match_gctrace(line)
         assert.truthy(num, line)
         assert.equal(n, tonumber(num))
         assert.is_true(tonumber(pct) <= 100)
      end
   end)

   it("gctrace option, with automatic cycles", function()
      local out, ok = H.lua_child([[
         local heap = require("tricolor").heap { gctrace = true }
         for _ = 1, 20000 do heap:new(0, 1024) end
         assert(heap:stats().num_gc > 0)
      ]])
      assert.is_true(ok, out)
      local lines = H.gc_lines(out)
      assert.is_true(#lines > 0, out)
      for _, line in ipairs(lines) do assert.truthy(H.match_gctrace(line), line) end
   end)

   -- bindings/common/bc_drain.h: the calls that print queued gctrace lines
   -- are the same in both bindings (tests/python/test_gctrace.py has the
   -- same scenario); Lua's verify, stats and the tunable setters did not.
   it("a cycle verify finishes prints its gctrace line before verify returns", function()
      local out, ok = H.lua_child([[
         local heap = require("tricolor").heap { collector = "manual", gctrace = true }
         local keep = heap:new(1)
         heap:gc_start()
         heap:verify() -- finishes the running cycle first
         io.stderr:write("verified\n")
         os.exit(0) -- no close: nothing else prints
      ]])
      assert.is_true(ok, out)
      local before = out:match("^(.-)verified\n")
      assert.truthy(before, out)
      assert.equal(1, #H.gc_lines(before), out)
   end)

   it("lines go to stderr, not stdout", function()
      local out, ok = H.lua_child([[
         local heap = require("tricolor").heap { gctrace = true }
         heap:collect()
      ]], "", "2>/dev/null")
      assert.is_true(ok)
      assert.equal(0, #H.gc_lines(out), out)
   end)

   it("no gctrace by default", function()
      local out, ok = H.lua_child([[
         local heap = require("tricolor").heap()
         heap:collect(); heap:verify()
      ]], "TRICOLOR_DEBUG=")
      assert.is_true(ok, out)
      assert.equal("", out)
   end)
end)

describe("trace files and verify", function()
   local heap
   before_each(function() heap = tricolor.heap() end)
   after_each(function() heap:close() end)

   it("trace file is chrome trace json", function()
      local json = require "dkjson"
      local path = os.tmpname()
      heap:trace_start(path)
      for _ = 1, 3 do
         for _ = 1, 1000 do heap:new(2) end
         heap:collect()
      end
      heap:trace_stop()
      local f = assert(io.open(path))
      local doc = json.decode(f:read("a"))
      f:close()
      os.remove(path)
      assert.is_table(doc)
      local events = doc.traceEvents or doc
      assert.is_true(#events > 0)
      for _, e in ipairs(events) do
         assert.is_string(e.ph)
         assert.is_string(e.name)
         assert.is_true(e.ts ~= nil or e.ph == "M")
      end
   end)

   it("trace errors name the call", function()
      H.raises("trace_stop", function() heap:trace_stop() end)
      H.raises({ "trace_start", "path" }, function() heap:trace_start(42) end)
      H.raises({ "trace_start", "/nonexistent-dir/x.json" },
         function() heap:trace_start("/nonexistent-dir/x.json") end)
      local path = os.tmpname()
      heap:trace_start(path)
      H.raises("trace_start", function() heap:trace_start(path .. "2") end)
      heap:trace_stop()
      os.remove(path)
      heap:new(1) -- still usable
   end)

   it("verify passes on a healthy heap", function()
      local a = heap:new(3, "a")
      a[1] = heap:new(1); a[2] = 1.5; a[3] = a
      heap:verify()
      heap:collect()
      heap:verify()
      assert.is_nil(heap:verify())
   end)
end)
