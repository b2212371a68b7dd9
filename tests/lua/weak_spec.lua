-- weak_spec.lua — heap:weakref and w:get() (SPEC: Lua; issue 5): cleared
-- when the target is found unreachable, before its finalizer runs; a get
-- during mark shades the target; counted in stats().weak_refs. Scenario
-- names follow tests/c/test_special.c.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

-- weak_to_garbage(heap) — a weak reference to an object nothing else holds.
local function weak_to_garbage(heap, fin)
   local o = heap:new(1, "target")
   if fin then heap:set_finalizer(o, fin) end
   return heap:weakref(o)
end

local heap -- the running test's heap (H.each_collector)

H.each_collector("weak references", function(h) heap = h end, function(collector)

   it("get returns the target while it is reachable, then nil", function()
      local obj = heap:new(1, "target")
      local w = heap:weakref(obj)
      assert.equal(1, heap:stats().weak_refs)
      for _ = 1, 3 do
         local got = w:get()
         assert.is_true(got == obj)
         assert.equal("target", got:data())
         H.reclaim(heap)
      end
      obj = nil
      H.reclaim(heap)
      assert.is_nil(w:get())
      H.reclaim(heap)
      assert.is_nil(w:get())
      assert.equal(1, heap:stats().weak_refs)
      assert.equal(0, heap:stats().heap_objects)
   end)

   it("a weak reference does not keep its target alive", function()
      local ws = {}
      for i = 1, 100 do ws[i] = weak_to_garbage(heap) end
      local s = H.reclaim(heap)
      assert.equal(0, s.heap_objects)
      assert.equal(100, s.weak_refs)
      for i = 1, 100 do assert.is_nil(ws[i]:get()) end
   end)

   it("weak reference cleared before finalizer and stays cleared", function()
      local saved
      local w = weak_to_garbage(heap, function(obj) saved = obj end)
      H.drop_handles()
      heap:collect()
      assert.is_not_nil(saved) -- resurrected by its finalizer
      assert.is_nil(w:get())
      H.reclaim(heap)
      assert.is_nil(w:get())
      assert.equal("target", saved:data())
   end)

   it("releasing weak references updates weak_refs", function()
      local obj = heap:new(0)
      local closed
      do
         local w <close> = heap:weakref(obj)
         assert.equal(1, heap:stats().weak_refs)
         local w2 = heap:weakref(obj)
         assert.equal(2, heap:stats().weak_refs)
         w2 = nil
         H.drop_handles()
         assert.equal(1, heap:stats().weak_refs)
         closed = w
      end
      assert.equal(0, heap:stats().weak_refs)
      H.raises("weak reference was closed", closed.get, closed)
      assert.matches("^tricolor%.weak %(closed, ", tostring(closed))
      closed = nil
   end)

   it("weak get storm during mark under checkmark", function()
      local storm <close> = tricolor.heap { collector = collector, checkmark = true, gogc = 10 }
      -- 64 targets with a child each; the odd ones are dropped
      local keep, ws = {}, {}
      local function build()
         for i = 1, 64 do
            local t = storm:new(1)
            t[1] = storm:new(0, "child " .. i)
            ws[i] = storm:weakref(t)
            if i % 2 == 0 then keep[i] = t end
         end
      end
      build()
      H.drop_handles()
      for round = 1, 20 do
         storm:collect() -- checkmark raises if a target was left white
         for j = 1, 2000 do
            storm:new(2, 16) -- garbage: automatic cycles run meanwhile
            local i = (round * 2000 + j) % 64 + 1
            local t = ws[i]:get()
            if t then
               assert.equal("child " .. i, t[1]:data()) -- the target is intact
            end
            -- a fresh target held only by the weak reference and this get
            if j % 100 == 0 then
               local w = weak_to_garbage(storm)
               local got = w:get()
               if got then assert.equal("target", got:data()) end
            end
         end
      end
      storm:collect()
      storm:verify()
      H.drop_handles()
      storm:collect(); storm:collect()
      for i = 1, 64 do
         local t = ws[i]:get()
         assert.equal(i % 2 == 0, t ~= nil, "target " .. i)
         if t then assert.equal("child " .. i, t[1]:data()) end
      end
      storm:verify()
   end)

   it("weakref argument errors", function()
      H.raises("'obj'", heap.weakref, heap, 42)
      local other <close> = tricolor.heap()
      H.raises("another heap", heap.weakref, heap, other:new(0))
      local w = heap:weakref(heap:new(0))
      local wmt = debug.getmetatable(w)
      H.raises("tricolor.weak", wmt.__index.get, heap)
      H.raises("tricolor.weak", wmt.__gc, {})
      assert.matches("^tricolor%.weak %(", tostring(w))
   end)
end)

describe("weak references and close", function()
   it("close with pending finalizers and weak refs", function()
      local heap = tricolor.heap { gogc = false }
      local b = heap:new(0)
      local w = heap:weakref(b)
      local ran = 0
      do
         local a = heap:new(0)
         heap:set_finalizer(a, function() ran = ran + 1 end)
      end
      heap:close()
      H.drop_handles()
      assert.equal(0, ran)
      H.raises("closed", w.get, w)
      assert.matches("^tricolor%.weak %(heap closed, ", tostring(w))
      H.raises("closed", function() return b[1] end)
      assert.equal("number", type(b:id()))
      assert.is_true(b == b)
      w = nil
      collectgarbage(); collectgarbage() -- the last weak ref releases the closed heap
   end)

   it("handles and weak refs after close", function()
      local heap = tricolor.heap()
      local obj = heap:new(1)
      local ws = {}
      for i = 1, 10 do ws[i] = heap:weakref(obj) end
      local w1 <close> = heap:weakref(obj)
      heap:close()
      heap:close()
      for i = 1, 10 do H.raises("the heap is closed", ws[i].get, ws[i]) end
      -- released in every order: some by <close>, some by Lua's collector
      getmetatable(ws[3]).__close(ws[3])
      ws[3] = nil
      ws[5] = nil
      collectgarbage()
      H.raises("closed", heap.weakref, heap, obj)
   end)

   it("a weak reference keeps its heap alive", function()
      local w, obj
      do
         local heap = tricolor.heap()
         obj = heap:new(0, "kept")
         w = heap:weakref(obj)
      end
      collectgarbage(); collectgarbage()
      assert.equal("kept", w:get():data())
   end)

   it("exiting with live heaps, weak refs and finalizers is clean", function()
      local out, ok = H.lua_child([[
         local tricolor = require "tricolor"
         heaps = {}
         for i, c in ipairs { "stw", "incremental", "concurrent" } do
            local heap = tricolor.heap { collector = c }
            local a = heap:new(1, "x")
            a[1] = heap:new(0)
            heap:set_finalizer(a, function() print("never at exit") end)
            do heap:set_finalizer(heap:new(0), function(o) kept = o end) end
            heaps[i] = { heap, a, heap:weakref(a), heap:weakref(a[1]) }
         end
         collectgarbage(); collectgarbage()
         local closed = tricolor.heap()
         weak = closed:weakref(closed:new(0))
         closed:close()
         local h = tricolor.heap()
         orphan = h:weakref(h:new(0)) -- only the weak ref (and its user value) holds the heap
         print("exiting")
      ]])
      assert.is_true(ok, out)
      assert.equal("exiting\n", out)
   end)
end)
