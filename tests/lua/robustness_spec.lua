-- robustness_spec.lua — "nothing crashes the interpreter" (SPEC: Lua): the
-- orders in which Lua may finalize heaps and handles, resurrected handles,
-- lua_close with live handles, metamethods called on the wrong values.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

describe("robustness", function()
   it("exiting with live heaps and handles is clean", function()
      local out, ok = H.lua_child([[
         local tricolor = require "tricolor"
         heaps = {}
         for i = 1, 3 do
            local heap = tricolor.heap { collector = ({ "stw", "incremental", "concurrent" })[i] }
            local a = heap:new(2, "x")
            a[1] = heap:new(1); a[2] = a
            heaps[i] = { heap, a, a[1] }
         end
         local closed <close> = tricolor.heap()
         kept = closed:new(1)
         print("exiting")
      ]])
      assert.is_true(ok, out)
      assert.equal("exiting\n", out)
   end)

   it("a handle resurrected after its heap was finalized raises", function()
      -- `keeper` is marked for finalization before the heap and the handle,
      -- so Lua finalizes the handle, then the heap, then keeper, which
      -- resurrects the handle.
      local seen
      local keeper = setmetatable({}, { __gc = function(self)
         local obj = self.obj
         local ok, err = pcall(function() return obj[1] end)
         seen = { ok = ok, err = err, id = obj:id(), str = tostring(obj), eq = obj == obj }
      end })
      do
         local heap = tricolor.heap()
         keeper.obj = heap:new(1)
      end
      keeper = nil
      collectgarbage(); collectgarbage()
      assert.is_table(seen)
      assert.is_false(seen.ok)
      assert.matches("^tricolor: .*closed", seen.err)
      assert.equal("number", type(seen.id))
      assert.is_true(seen.eq)
      assert.matches("^tricolor%.object", seen.str)
   end)

   it("heaps and handles dropped together in any order", function()
      for _ = 1, 50 do
         local heap = tricolor.heap()
         local t = {}
         for i = 1, 20 do t[i] = heap:new(1) end
         for i = 2, 20 do t[i][1] = t[i - 1] end
         if math.random() < 0.5 then heap:close() end
      end
      collectgarbage(); collectgarbage()
   end)

   it("metamethods called on the wrong values raise", function()
      local heap <close> = tricolor.heap()
      local obj = heap:new(1)
      local omt, hmt = debug.getmetatable(obj), debug.getmetatable(heap)
      local padded = setmetatable({}, omt) -- a table with the handle metatable
      for i = 1, 32 do rawset(padded, i, i) end -- whose border is a handle's size
      for _, bad in ipairs { 42, "x", {}, padded, heap, io.stdout } do
         H.raises("tricolor.object", omt.__index, bad, 1)
         H.raises("tricolor.object", omt.__newindex, bad, 1, 2)
         H.raises("tricolor.object", omt.__len, bad)
         H.raises("tricolor.object", omt.__gc, bad)
         H.raises("tricolor.object", omt.__close, bad)
         H.raises("tricolor.object", omt.__tostring, bad)
         assert.is_false(omt.__eq(bad, obj))
      end
      for _, bad in ipairs { 42, "x", {}, obj, io.stdout } do
         H.raises("tricolor.heap", hmt.__gc, bad)
         H.raises("tricolor.heap", hmt.__newindex, bad, "gogc", 1)
         H.raises("tricolor.heap", hmt.__tostring, bad)
      end
      obj[1] = 7
      assert.equal(7, obj[1])
   end)

   it("a heap method works on another heap when called on it", function()
      local a <close> = tricolor.heap()
      local b <close> = tricolor.heap()
      local new = a.new
      local obj = new(b, 1)
      assert.is_true(rawequal(b, obj:heap()))
   end)

   it("reading references leaks no root", function()
      local heap <close> = tricolor.heap()
      local obj = heap:new(1)
      obj[1] = heap:new(0)
      collectgarbage(); collectgarbage()
      local before = heap:stats().roots
      for _ = 1, 1000 do local _ = obj[1] end
      collectgarbage(); collectgarbage()
      assert.equal(before, heap:stats().roots)
   end)
end)
