-- finalizer_spec.lua — heap:set_finalizer, heap:add_cleanup and
-- heap:run_finalizers (SPEC: Lua; issue 5), with Go's semantics. Scenario
-- names follow tests/c/test_special.c.
--
-- Handles are roots until Lua collects them, so garbage is made inside
-- helper functions (their registers die with their frame) and dropped with
-- H.drop_handles() before each heap:collect(): the roots are precise.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

-- finalizable(heap, n, fn) — n unreachable objects (one slot, payload "obj
-- <i>"), the i-th with finalizer function(o) fn(i, o) end.
local function finalizable(heap, n, fn)
   for i = 1, n do
      local o = heap:new(1, "obj " .. i)
      heap:set_finalizer(o, function(obj) fn(i, obj) end)
   end
end

-- pair(heap, cycle) — A -> B (and B -> A when cycle), both unreachable; the
-- weak references to A and B are returned, nothing else.
local function pair(heap, cycle, fin)
   local a, b = heap:new(1, "A"), heap:new(1, "B")
   a[1] = b
   if cycle then b[1] = a end
   if fin then
      heap:set_finalizer(a, function() fin("A") end)
      heap:set_finalizer(b, function() fin("B") end)
   end
   return heap:weakref(a), heap:weakref(b)
end

-- collect(heap) — drop unreferenced handles, then one whole cycle (which
-- runs the finalizers it made due).
local function collect(heap)
   H.drop_handles()
   heap:collect()
end

local heap -- the running test's heap (H.each_collector)

H.each_collector("finalizers", function(h) heap = h end, function(collector)

   it("finalizers run exactly once", function()
      local N = 300
      local counts, pending, data = {}, {}, {}
      finalizable(heap, N, function(i, obj)
         counts[i] = (counts[i] or 0) + 1
         data[i] = obj:data()
         pending[#pending + 1] = heap:stats().finalizers_pending -- a nested drain does nothing
      end)
      assert.equal(N, H.callbacks(heap))
      collect(heap)
      assert.equal(0, heap:run_finalizers())
      for _ = 1, 3 do collect(heap) end
      assert.equal(0, heap:run_finalizers())
      for i = 1, N do
         assert.equal(1, counts[i], "finalizer " .. i)
         assert.equal("obj " .. i, data[i]) -- the object is intact in its finalizer
      end
      for k = 1, N do assert.equal(N - k, pending[k]) end -- all N were due after one cycle
      local s = H.reclaim(heap)
      assert.equal(0, s.heap_objects)
      assert.equal(0, s.roots)
      assert.equal(0, s.finalizers_pending)
      assert.equal(0, H.callbacks(heap))
      heap:verify()
   end)

   it("run_finalizers runs what a cycle made due", function()
      local n = 0
      finalizable(heap, 10, function() n = n + 1 end)
      H.drop_handles()
      -- allocation is a safe point too: garbage with gogc = 0 runs cycles
      heap.gogc = 0
      for _ = 1, 20000 do heap:new(0, 64) end
      heap.gogc = false
      heap:collect()
      heap:run_finalizers()
      assert.equal(10, n)
   end)

   it("finalizer resurrection keeps referents and does not rerun", function()
      local saved, runs = nil, 0
      local w
      do
         local a = heap:new(1)
         a[1] = heap:new(0, "referent")
         heap:set_finalizer(a, function(obj) runs = runs + 1; saved = obj end)
         w = heap:weakref(a)
      end
      collect(heap)
      assert.equal(1, runs)
      assert.is_not_nil(saved)
      for _ = 1, 3 do collect(heap) end
      assert.equal(1, runs)
      assert.equal("referent", saved[1]:data())
      assert.is_nil(w:get()) -- cleared before the finalizer ran, and stays cleared
      -- set again, it runs again
      heap:set_finalizer(saved, function() runs = runs + 1 end)
      saved = nil
      collect(heap)
      assert.equal(2, runs)
      assert.equal(0, H.reclaim(heap).heap_objects)
   end)

   it("finalizer chain runs in order", function()
      local order = {}
      pair(heap, false, function(name) order[#order + 1] = name end)
      collect(heap)
      assert.same({ "A" }, order) -- B is reachable from A while A's finalizer may run
      collect(heap)
      assert.same({ "A", "B" }, order)
      assert.equal(0, H.reclaim(heap).heap_objects)
   end)

   it("a cycle of finalizable objects is never collected", function()
      local order = {}
      local wa, wb = pair(heap, true, function(name) order[#order + 1] = name end)
      for _ = 1, 3 do collect(heap) end
      assert.same({}, order)
      assert.equal(2, heap:stats().heap_objects)
      assert.is_not_nil(wa:get())
      -- breaking the cycle lets the finalizers run, B's first (it refers to A)
      local function cut() wa:get()[1] = nil end
      cut()
      collect(heap)
      assert.same({ "B" }, order)
      collect(heap)
      assert.same({ "B", "A" }, order)
      assert.equal(0, H.reclaim(heap).heap_objects)
      assert.is_nil(wb:get())
   end)

   it("set_finalizer replaces, nil clears", function()
      local ran = {}
      do
         local a, b = heap:new(0), heap:new(0)
         heap:set_finalizer(a, function() ran[#ran + 1] = "a1" end)
         heap:set_finalizer(a, function() ran[#ran + 1] = "a2" end)
         heap:set_finalizer(b, function() ran[#ran + 1] = "b" end)
         heap:set_finalizer(b, nil)
         heap:set_finalizer(b, nil)
         assert.equal(1, H.callbacks(heap))
      end
      collect(heap)
      assert.same({ "a2" }, ran)
      assert.equal(0, H.callbacks(heap))
   end)

   it("a callable table is a finalizer", function()
      local got
      do
         local o = heap:new(0, "x")
         heap:set_finalizer(o, setmetatable({}, { __call = function(_, obj) got = obj:data() end }))
      end
      collect(heap)
      assert.equal("x", got)
   end)

   it("cleanup on a cycle runs and frees", function()
      local calls = {}
      do
         local a, b = heap:new(1), heap:new(1)
         a[1] = b; b[1] = a
         heap:add_cleanup(a, function(...) calls[#calls + 1] = table.pack(...) end, "arg")
         heap:add_cleanup(a, function(x) calls[#calls + 1] = { x } end, 2)
      end
      collect(heap)
      table.sort(calls, function(x, y) return tostring(x[1]) < tostring(y[1]) end)
      assert.same({ { 2 }, { n = 1, "arg" } }, calls) -- fn(arg): never the object
      assert.equal(0, heap:stats().heap_objects)
      assert.equal(0, H.callbacks(heap))
   end)

   it("a cleanup's arg lives until the cleanup ran", function()
      local got
      do
         local o, arg = heap:new(0), heap:new(0, "arg object")
         heap:add_cleanup(o, function(x) got = x:data() end, arg)
      end
      collect(heap)
      assert.equal("arg object", got)
   end)

   it("a cleanup waits for a resurrected object's real death", function()
      local saved, cleaned = nil, 0
      do
         local o = heap:new(0)
         heap:set_finalizer(o, function(obj) saved = obj end)
         heap:add_cleanup(o, function() cleaned = cleaned + 1 end)
      end
      collect(heap)
      assert.is_not_nil(saved)
      assert.equal(0, cleaned)
      saved = nil
      collect(heap)
      collect(heap)
      assert.equal(1, cleaned)
   end)

   it("raising finalizers do not stop the others", function()
      local ran = 0
      finalizable(heap, 10, function(i)
         ran = ran + 1
         if i % 3 == 0 then error("boom " .. i) end
      end)
      do heap:add_cleanup(heap:new(0), function() error({}) end) end
      collect(heap) -- no error here: each is reported with warn()
      assert.equal(10, ran)
      assert.equal(0, H.callbacks(heap))
   end)

   it("finalizers that allocate and re-enter", function()
      local first, second, inner = 0, 0, {}
      local keep = {}
      finalizable(heap, 50, function(_, obj)
         first = first + 1
         local o = heap:new(2, "second")     -- allocate
         o[1] = obj                          -- store the finalized object
         local holder = heap:new(1)          -- a handle that lives on
         holder[1] = o
         keep[#keep + 1] = holder
         heap:set_finalizer(o, function() second = second + 1 end)
         heap:collect()                      -- re-enter: no deadlock, no nested drain
         inner[#inner + 1] = heap:run_finalizers()
      end)
      collect(heap)
      assert.equal(50, first)
      assert.equal(0, second) -- every "second" object is reachable from keep
      for _, n in ipairs(inner) do assert.equal(0, n) end
      keep = nil
      collect(heap)
      assert.equal(50, second)
      heap:verify()
      assert.equal(0, H.reclaim(heap).heap_objects)
   end)

   it("close from inside a finalizer", function()
      local ran, err = 0, nil
      local victim
      finalizable(heap, 10, function(_, obj)
         ran = ran + 1
         heap:close()
         victim = obj
         err = select(2, pcall(heap.stats, heap))
      end)
      collect(heap)
      assert.equal(1, ran) -- the other nine were dropped with the heap
      assert.matches("^tricolor: stats: the heap is closed", err)
      H.raises("closed", function() return victim[1] end)
      H.raises("closed", heap.run_finalizers, heap)
      assert.equal(0, H.callbacks(heap))
   end)

   it("close with pending finalizers drops them", function()
      local ran, pending = 0, nil
      finalizable(heap, 5, function()
         ran = ran + 1
         if ran == 1 then
            finalizable(heap, 7, function() ran = ran + 100 end)
            H.drop_handles()
            heap:collect() -- makes the 7 due; this drain is nested: they wait
            pending = heap:stats().finalizers_pending
            heap:close()
         end
      end)
      collect(heap)
      assert.equal(1, ran)
      assert.equal(4 + 7, pending)
      collectgarbage(); collectgarbage()
   end)

   it("argument errors name the argument", function()
      local o = heap:new(0)
      H.raises("'fn'", heap.set_finalizer, heap, o, 42)
      H.raises("'fn'", heap.add_cleanup, heap, o, nil, 1)
      H.raises("'obj'", heap.set_finalizer, heap, {}, print)
      H.raises("'arg'", heap.add_cleanup, heap, o, print, o)
      local other <close> = tricolor.heap()
      H.raises("another heap", heap.set_finalizer, heap, other:new(0), print)
      H.raises("another heap", heap.add_cleanup, heap, other:new(0), print)
      H.raises("bad self", heap.set_finalizer, other:new(0), o, print)
      do
         local c <close> = heap:new(0)
         o = c
      end
      H.raises("closed", heap.set_finalizer, heap, o, print)
      assert.equal(0, H.callbacks(heap))
   end)
end)

describe("finalizer warnings", function()
   it("raising finalizers are reported with warn()", function()
      local out, ok = H.lua_child([[
         local tricolor = require "tricolor"
         local heap = tricolor.heap { collector = "concurrent", gogc = false }
         local ran = 0
         local function make()
            for i = 1, 10 do
               local o = heap:new(0)
               heap:set_finalizer(o, function()
                  ran = ran + 1
                  if i % 3 == 0 then error("boom " .. i) end
               end)
            end
            heap:add_cleanup(heap:new(0), function() error(setmetatable({}, {})) end)
         end
         make()
         collectgarbage(); collectgarbage()
         heap:collect()
         print("ran " .. ran)
      ]], "", "2>&1", "-W")
      assert.is_true(ok, out)
      assert.matches("ran 10\n", out)
      assert.equal(3, H.count_lines(out, "^Lua warning: tricolor: finalizer raised an error: .*boom %d"))
      assert.equal(1, H.count_lines(out, "^Lua warning: tricolor: cleanup raised an error: %(an error object of type table%)"))
   end)

   it("without -W the warnings are silent", function()
      local out, ok = H.lua_child([[
         local tricolor = require "tricolor"
         local heap = tricolor.heap()
         do heap:set_finalizer(heap:new(0), function() error("boom") end) end
         collectgarbage(); collectgarbage()
         heap:collect()
         print("done")
      ]])
      assert.is_true(ok, out)
      assert.equal("done\n", out)
   end)
end)
