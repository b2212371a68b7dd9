-- heap_spec.lua — tricolor.heap options, the gogc/memory_limit fields,
-- closing, and the errors of each (SPEC: Lua). Scenario names follow
-- tests/python/test_config.py and test_errors.py.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

describe("tricolor.heap options", function()
   it("defaults", function()
      for _, heap in ipairs { tricolor.heap(), tricolor.heap {}, tricolor.heap(nil) } do
         local s = heap:stats()
         assert.equal("concurrent", s.collector) -- SPEC's default
         assert.equal("hybrid", s.barrier)
         assert.equal(100, heap.gogc)
         assert.is_false(heap.memory_limit)
         heap:close()
      end
   end)

   it("all options at once", function()
      local heap <close> = tricolor.heap {
         collector = "stw", gogc = 50, memory_limit = 1 << 30, barrier = "dijkstra",
         mark_workers = 2, gctrace = false, checkmark = true,
      }
      assert.equal(50, heap.gogc)
      assert.equal(1 << 30, heap.memory_limit)
      local s = heap:stats()
      assert.equal("stw", s.collector)
      assert.equal("dijkstra", s.barrier)
      local obj = heap:new(1)
      obj[1] = heap:new(0)
      heap:collect() -- checkmark on: the stw mark is checked too
      heap:verify()
   end)

   it("barriers are accepted under stw", function()
      for _, b in ipairs { "hybrid", "dijkstra", "yuasa" } do
         local heap <close> = tricolor.heap { barrier = b }
         assert.equal(b, heap:stats().barrier)
      end
   end)

   it("every collector name is accepted", function()
      for _, c in ipairs { "concurrent", "incremental", "stw" } do
         local heap <close> = tricolor.heap { collector = c }
         assert.equal(c, heap:stats().collector)
         local obj = heap:new(1)
         obj[1] = heap:new(0, "x")
         heap:collect()
         assert.equal("x", obj[1]:data())
         heap:verify()
      end
   end)

   it("gogc=false and memory_limit=false mean off", function()
      local heap <close> = tricolor.heap { gogc = false, memory_limit = false }
      assert.is_false(heap.gogc)
      assert.is_false(heap.memory_limit)
   end)

   it("bad option values and types raise naming the option", function()
      local cases = {
         { { collector = "bogus" }, "collector" },
         { { collector = 1 }, "collector" },
         { { barrier = "steele" }, "barrier" },
         { { barrier = true }, "barrier" },
         { { gogc = -1 }, "gogc" },
         { { gogc = true }, "gogc" },
         { { gogc = "100" }, "gogc" },
         { { gogc = 1.5 }, "gogc" },
         { { memory_limit = 0 }, "memory_limit" },
         { { memory_limit = -5 }, "memory_limit" },
         { { memory_limit = "1G" }, "memory_limit" },
         { { mark_workers = 0 }, "mark_workers" },
         { { mark_workers = "2" }, "mark_workers" },
         { { mark_workers = 1 << 40 }, "mark_workers" },
         { { gctrace = 1 }, "gctrace" },
         { { gctrace = "yes" }, "gctrace" },
         { { checkmark = 0 }, "checkmark" },
         { { nosuch = 1 }, "nosuch" },
         { { [1] = "stw" }, "option" },
      }
      for _, case in ipairs(cases) do
         H.raises({ "heap", case[2] }, tricolor.heap, case[1])
      end
      H.raises({ "heap", "options" }, tricolor.heap, 5)
      H.raises({ "heap", "options" }, tricolor.heap, "stw")
   end)

   -- bindings/common/bc_config.c: one bound per option, the core's, and one
   -- message, the core's, in both bindings (tests/python/test_config.py:
   -- the same scenario). Lua accepted mark_workers up to 1024, Python any >= 1.
   it("integer option bounds are the core's, with its message", function()
      for _, case in ipairs({ { "mark_workers", 1, 256, "" }, { "events_ring", 0, 1 << 24, " events" } }) do
         local name, lo, hi, unit = table.unpack(case)
         for _, bad in ipairs({ lo - 1, hi + 1 }) do
            local err = H.error_of(tricolor.heap, { [name] = bad })
            assert.equal(("tricolor: heap: %s must be between %d and %d%s, not %d"):format(name, lo, hi, unit, bad), err)
         end
      end
      local heap <close> = tricolor.heap { collector = "stw", mark_workers = 256 } -- the bound itself
   end)

   it("tunables are settable while running", function()
      local heap <close> = tricolor.heap()
      heap.gogc = 50
      assert.equal(50, heap.gogc)
      heap.gogc = 0
      assert.equal(0, heap.gogc)
      heap.gogc = false
      assert.is_false(heap.gogc)
      heap.memory_limit = 1 << 30
      assert.equal(1 << 30, heap.memory_limit)
      heap.memory_limit = false
      assert.is_false(heap.memory_limit)
      heap.gogc = 100.0
      assert.equal(100, heap.gogc)
      assert.equal("integer", math.type(heap.gogc))
   end)

   it("tunable validation names the field", function()
      local heap <close> = tricolor.heap()
      for _, v in ipairs { -1, true, "50", 0.5, {} } do
         H.raises("gogc", function() heap.gogc = v end)
      end
      for _, v in ipairs { 0, -1, true, "1G" } do
         H.raises("memory_limit", function() heap.memory_limit = v end)
      end
      H.raises("gogc", function() heap.gogc = nil end)
      assert.equal(100, heap.gogc)
      assert.is_false(heap.memory_limit)
   end)

   it("other fields are neither readable nor assignable", function()
      local heap <close> = tricolor.heap()
      H.raises("'nosuch'", function() return heap.nosuch end)
      H.raises("'nosuch'", function() heap.nosuch = 1 end)
      H.raises("'new'", function() heap.new = 1 end)
      H.raises("'collector'", function() heap.collector = "stw" end)
      H.raises("heap", function() return heap[1] end)
      assert.equal("function", type(heap.new))
   end)

   it("trace debug env is applied and options win", function()
      local script = [[
         local tricolor = require "tricolor"
         local a = tricolor.heap()            -- gctrace from the environment
         a:collect()
         local b = tricolor.heap { gctrace = false }
         b:collect(); b:collect()
      ]]
      local out, ok = H.lua_child(script, "TRICOLOR_DEBUG=gctrace=1")
      assert.is_true(ok, out)
      assert.equal(1, #H.gc_lines(out), out)
   end)
end)

describe("closed heaps", function()
   it("use after close raises; only id, ==, tostring keep working", function()
      local heap = tricolor.heap()
      local a, b = heap:new(2, "x"), heap:new(0)
      a[1] = b
      local a2 = a[1]
      local ida = a:id()
      heap:close()
      assert.equal(ida, a:id())
      assert.is_true(a2 == b)
      assert.is_false(a == b)
      assert.matches("^tricolor%.object", tostring(a))
      assert.matches("closed", tostring(a))
      assert.matches("^tricolor%.heap", tostring(heap))
      assert.matches("closed", tostring(heap))
      H.raises("closed", function() return a[1] end)
      H.raises("closed", function() a[1] = 1 end)
      H.raises("closed", function() return #a end)
      H.raises("closed", function() return a:data() end)
      H.raises("closed", function() a:set_data("y") end)
      H.raises("closed", function() return a:size() end)
      H.raises("closed", function() return a:heap() end)
      H.raises("closed", function() return heap:new(1) end)
      H.raises("closed", function() heap:collect() end)
      H.raises("closed", function() return heap:stats() end)
      H.raises("closed", function() heap:verify() end)
      H.raises("closed", function() heap:trace_start(os.tmpname()) end)
      H.raises("closed", function() heap:trace_stop() end)
      H.raises("closed", function() return heap.gogc end)
      H.raises("closed", function() return heap.memory_limit end)
      H.raises("closed", function() heap.gogc = 10 end)
      H.raises("closed", function() heap.memory_limit = 1 << 20 end)
   end)

   it("close twice is a no-op", function()
      local heap = tricolor.heap()
      heap:close()
      heap:close()
      assert.matches("closed", tostring(heap))
   end)

   it("a <close> heap is closed at the end of its scope", function()
      local obj
      do
         local heap <close> = tricolor.heap()
         obj = heap:new(1)
         obj[1] = 3
         assert.equal(3, obj[1])
      end
      H.raises("closed", function() return obj[1] end)
   end)

   it("a <close> heap is closed when its scope ends with an error", function()
      local obj
      local ok = pcall(function()
         local heap <close> = tricolor.heap()
         obj = heap:new(1)
         error("boom")
      end)
      assert.is_false(ok)
      H.raises("closed", function() return obj[1] end)
   end)

   it("handles outlive their heap object", function()
      -- a handle keeps its heap alive: the heap is not closed behind it
      local obj = tricolor.heap():new(1, "still here")
      H.drop_handles()
      assert.equal("still here", obj:data())
      obj:heap():collect()
      assert.equal("still here", obj:data())
      obj:heap():close()
   end)

   it("dropped heaps are closed by the Lua collector", function()
      for _ = 1, 20 do
         local heap = tricolor.heap()
         local obj = heap:new(10, 1000)
         obj[1] = heap:new(1)
      end
      H.drop_handles() -- each heap's __gc closes it; nothing crashes
   end)
end)
