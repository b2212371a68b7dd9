-- unsafe_spec.lua — tricolor.unsafe.address and tricolor.unsafe.free (SPEC:
-- Lua; issue 5). Scenario names follow tests/c/test_special.c.
local tricolor = require "tricolor"
local unsafe = tricolor.unsafe
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local heap -- the running test's heap (H.each_collector)

H.each_collector("unsafe", function(h) heap = h end, function(collector)

   it("address is an integer, stable and distinct", function()
      local a, b = heap:new(1), heap:new(1)
      local pa = unsafe.address(a)
      assert.equal("integer", math.type(pa))
      assert.are_not.equal(pa, unsafe.address(b))
      b[1] = a
      H.reclaim(heap)
      assert.equal(pa, unsafe.address(b[1]))
      H.raises("tricolor.object", unsafe.address, 42)
   end)

   it("unsafe free then use", function()
      local a = heap:new(1, "12345678")
      local holder = heap:new(1)
      holder[1] = a
      local a2 = holder[1]
      local id = a:id()
      local w = heap:weakref(a)
      unsafe.free(a)
      -- every use of every handle to it raises, saying so
      local uses = {
         function() return a[1] end,
         function() a[1] = 1 end,
         function() return #a2 end,
         function() return a2:data() end,
         function() a:set_data("87654321") end,
         function() return a:size() end,
         function() return a:heap() end,
         function() holder[1] = a end,
         function() heap:set_finalizer(a, print) end,
         function() heap:add_cleanup(a2, print) end,
         function() heap:weakref(a) end,
         function() return unsafe.address(a) end,
         function() unsafe.free(a2) end,
      }
      for i, f in ipairs(uses) do
         local err = H.error_of(f)
         assert.matches("freed", err, 1, true, "use " .. i)
      end
      -- ==, id and tostring keep working
      assert.is_true(a == a2)
      assert.equal(id, a:id())
      assert.equal(id, a2:id())
      assert.matches("^tricolor%.object %(id %d+, freed%)$", tostring(a))
      assert.is_nil(w:get())
      -- the reference from holder is the caller's bug: verify reports it
      H.raises("verify", heap.verify, heap)
      holder[1] = nil
      heap:verify()
      -- a new object may take its place; it is not == to the freed one
      local fresh = heap:new(1, "12345678")
      assert.is_false(fresh == a)
      -- a large object
      local big = heap:new(0, 1 << 20)
      unsafe.free(big)
      heap:verify()
      assert.equal(2, heap:stats().heap_objects) -- holder and fresh
      a, a2, big = nil, nil, nil
      local s = H.reclaim(heap)
      assert.equal(2, s.heap_objects)
      assert.equal(2, s.roots)
      heap:verify()
   end)

   it("a freed object is never finalized", function()
      local ran = 0
      do
         local o = heap:new(0)
         heap:set_finalizer(o, function() ran = ran + 1 end)
         unsafe.free(o)
      end
      assert.equal(0, H.callbacks(heap))
      H.reclaim(heap)
      assert.equal(0, ran)
   end)

   -- bindings/common/bc_drain.c: both bindings agree that a finalizer whose
   -- object was freed while it waited in the ready queue never runs (Lua ran
   -- it with a freed handle, Python dropped it; the same test is in
   -- tests/python/test_unsafe.py).
   it("an object freed while its finalizer waits in the queue is never finalized", function()
      local ran, freed = {}, 0
      local function fin(o)
         ran[#ran + 1] = o:id()
         for _, r in ipairs(heap:roots()) do
            if r[1] == "finalizer_queue" and r[2] ~= o then
               unsafe.free(r[2])
               freed = freed + 1
            end
         end
      end
      do
         local x, y = heap:new(0), heap:new(0)
         heap:set_finalizer(x, fin)
         heap:set_finalizer(y, fin)
      end
      H.reclaim(heap)
      heap:run_finalizers()
      assert.equal(1, freed)
      assert.equal(1, #ran) -- the freed one's finalizer did not run
      assert.equal(0, H.callbacks(heap))
      heap:verify()
   end)

   it("free after close raises closed", function()
      local o = heap:new(0)
      heap:close()
      H.raises("closed", unsafe.free, o)
      H.raises("closed", unsafe.address, o)
   end)
end)
