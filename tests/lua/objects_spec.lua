-- objects_spec.lua — objects, slots, values, identity, payloads (SPEC:
-- Concepts, Lua). Scenario names follow tests/python/test_objects.py.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local INT_MAX = (1 << 62) - 1
local INT_MIN = -(1 << 62)

describe("objects", function()
   local heap
   before_each(function() heap = tricolor.heap() end)
   after_each(function() heap:close() end)

   it("spec lua example", function()
      local obj = heap:new(3)
      local msg = heap:new(1, "hello")
      obj[1] = msg; obj[2] = 42; obj[3] = 1.5
      assert.is_true(obj[1] == msg and #obj == 3)
      assert.equal("hello", msg:data())
      msg:set_data("HELLO")
      assert.equal("HELLO", msg:data())
      assert.equal("HELLO", obj[1]:data())
      assert.equal(5, msg:size())
      assert.equal("number", type(msg:id()))
      assert.equal(42, obj[2])
      assert.equal(1.5, obj[3])
      heap:collect()
      heap:verify()
   end)

   it("new object has nil slots and no payload", function()
      local obj = heap:new(4)
      assert.equal(4, #obj)
      for i = 1, 4 do assert.is_nil(obj[i]) end
      assert.equal(0, obj:size())
      assert.equal("", obj:data())
   end)

   it("object with no slots", function()
      local obj = heap:new(0, 3)
      assert.equal(0, #obj)
      assert.equal(3, obj:size())
      H.raises("slot index 1", function() return obj[1] end)
   end)

   it("payload from a size is zeroed", function()
      local buf = heap:new(0, 16)
      assert.equal(16, buf:size())
      assert.equal(string.rep("\0", 16), buf:data())
   end)

   it("payload from a string is copied, binary safe", function()
      local s = "a\0b\255c"
      local obj = heap:new(2, s)
      assert.equal(#s, obj:size())
      assert.equal(s, obj:data())
      assert.equal(2, #obj)
   end)

   it("data returns a copy and set_data keeps the length", function()
      local obj = heap:new(0, "abc")
      local d = obj:data()
      obj:set_data("xyz")
      assert.equal("abc", d)
      assert.equal("xyz", obj:data())
      H.raises({ "set_data", "data" }, function() obj:set_data("toolong") end)
      H.raises({ "set_data", "data" }, function() obj:set_data("") end)
      H.raises({ "set_data", "data", "string" }, function() obj:set_data(123) end)
      assert.equal("xyz", obj:data())
   end)

   it("every value kind round trips", function()
      local obj = heap:new(6)
      local other = heap:new(0)
      obj[1] = nil; obj[2] = true; obj[3] = false; obj[4] = 7; obj[5] = 2.5; obj[6] = other
      assert.is_nil(obj[1])
      assert.is_true(obj[2])
      assert.is_false(obj[3])
      assert.equal(7, obj[4])
      assert.equal("integer", math.type(obj[4]))
      assert.equal(2.5, obj[5])
      assert.equal("float", math.type(obj[5]))
      assert.is_true(obj[6] == other)
      obj[6] = nil
      assert.is_nil(obj[6])
   end)

   it("integers and floats keep their kind", function()
      local obj = heap:new(3)
      obj[1] = 1.0; obj[2] = 1; obj[3] = 2^62 -- 2^62 is a float in Lua
      assert.equal("float", math.type(obj[1]))
      assert.equal("integer", math.type(obj[2]))
      assert.equal("float", math.type(obj[3]))
      assert.equal(2^62, obj[3])
   end)

   it("integer limits: [-2^62, 2^62) is stored, the rest overflows", function()
      local obj = heap:new(1)
      obj[1] = INT_MAX
      assert.equal(4611686018427387903, obj[1])
      assert.equal(math.tointeger(2^62) - 1, obj[1])
      obj[1] = INT_MIN
      assert.equal(-4611686018427387904, obj[1])
      assert.equal("integer", math.type(obj[1]))
      for _, v in ipairs { 1 << 62, INT_MIN - 1, math.maxinteger, math.mininteger } do
         local err = H.raises({ "slot", "range" }, function() obj[1] = v end)
         assert.truthy(err:find(tostring(v), 1, true), err)
      end
      assert.equal(INT_MIN, obj[1]) -- a failed store leaves the slot alone
   end)

   it("floats are stored exactly", function()
      local obj = heap:new(1)
      for _, v in ipairs { 0.1, 1 / 3, -2.5e-300, 1.7976931348623157e308, 4.9e-324, math.pi, 2^62, -2^63, 1e100 } do
         obj[1] = v
         assert.equal(v, obj[1])
         assert.equal(string.format("%a", v), string.format("%a", obj[1]))
      end
   end)

   it("nan, infinities and negative zero", function()
      local obj = heap:new(4)
      obj[1] = 0 / 0; obj[2] = math.huge; obj[3] = -math.huge; obj[4] = -0.0
      local nan = obj[1]
      assert.is_true(nan ~= nan)
      assert.equal(math.huge, obj[2])
      assert.equal(-math.huge, obj[3])
      assert.equal("float", math.type(obj[4]))
      assert.equal(-math.huge, 1 / obj[4])
   end)

   it("values of other types are type errors naming the slot", function()
      local obj = heap:new(1)
      obj[1] = 5
      local bad = { "str", {}, print, coroutine.create(function() end), heap, io.stdout }
      for _, v in ipairs(bad) do
         H.raises({ "slot 1", type(v) }, function() obj[1] = v end)
      end
      assert.equal(5, obj[1])
   end)

   it("storing an object of another heap is a cross-heap error", function()
      local other <close> = tricolor.heap()
      local obj, foreign = heap:new(1), other:new(0)
      H.raises({ "slot 1", "another heap" }, function() obj[1] = foreign end)
      assert.is_nil(obj[1])
      other:close()
      H.raises({ "slot 1", "another heap" }, function() obj[1] = foreign end)
   end)

   it("slot indexes are 1-based and fixed, on read and on write", function()
      local obj = heap:new(3)
      for _, i in ipairs { 0, -1, 4, 100, math.mininteger, math.maxinteger } do
         H.raises({ "slot index", tostring(i), "3 slots" }, function() return obj[i] end)
         H.raises({ "slot index", tostring(i), "3 slots" }, function() obj[i] = 1 end)
      end
      obj[3] = "ok" == "ok"
      assert.is_true(obj[3])
   end)

   it("float keys with an integral value index like integers", function()
      local obj = heap:new(2)
      obj[2.0] = 9
      assert.equal(9, obj[2])
      assert.equal(9, obj[2.0])
      H.raises("slot index", function() return obj[1.5] end)
      H.raises("slot index", function() obj[1.5] = 1 end)
      H.raises("slot index", function() return obj[0 / 0] end)
      H.raises("slot index", function() obj[math.huge] = 1 end)
   end)

   it("other keys: strings name methods, the rest raise", function()
      local obj = heap:new(1)
      assert.equal("function", type(obj.data))
      H.raises("'nosuch'", function() return obj.nosuch end)
      H.raises("'nosuch'", function() return obj:nosuch() end)
      H.raises("'x'", function() obj.x = 1 end)
      H.raises("'data'", function() obj.data = 1 end)
      H.raises("slot index", function() return obj[true] end)
      H.raises("slot index", function() obj[{}] = 1 end)
      H.raises("'1'", function() return obj["1"] end) -- like tables: "1" is not 1
   end)

   it("methods check their self", function()
      local obj = heap:new(1, "ab")
      H.raises({ "data", "tricolor.object" }, obj.data, heap)
      H.raises({ "size", "tricolor.object" }, obj.size, 42)
      H.raises({ "id", "tricolor.object" }, obj.id, {})
      H.raises({ "new", "tricolor.heap" }, heap.new, obj, 1)
      H.raises({ "collect", "tricolor.heap" }, heap.collect, nil)
   end)

   it("identity: equal handles refer to the same object", function()
      local a, b = heap:new(2), heap:new(0)
      a[1] = b; a[2] = b
      local r1, r2 = a[1], a[2]
      assert.is_true(r1 == b and r2 == b and r1 == r2)
      -- one handle per object: every read gives the same userdata
      assert.is_true(rawequal(r1, r2) and rawequal(r1, b))
      assert.equal(b:id(), r1:id())
      assert.is_false(a == b)
      assert.is_false(a == heap)
      assert.is_false(a == 1)
      assert.not_equal(a:id(), b:id())
      local other <close> = tricolor.heap()
      assert.is_false(a == other:new(0))
   end)

   it("handle methods: size, id, heap", function()
      local obj = heap:new(2, 10)
      assert.equal(10, obj:size())
      assert.equal(obj:id(), obj:id())
      assert.equal("integer", math.type(obj:id()))
      assert.is_true(rawequal(heap, obj:heap()))
   end)

   it("tostring names the type", function()
      local obj = heap:new(1)
      assert.matches("^tricolor%.object", tostring(obj))
      assert.truthy(tostring(obj):find(tostring(obj:id()), 1, true))
      assert.matches("^tricolor%.heap", tostring(heap))
   end)

   it("new argument errors name the argument", function()
      H.raises({ "new", "nslots" }, function() heap:new(-1) end)
      H.raises({ "new", "nslots" }, function() heap:new() end)
      H.raises({ "new", "nslots" }, function() heap:new("3") end)
      H.raises({ "new", "nslots" }, function() heap:new(1.5) end)
      H.raises({ "new", "data" }, function() heap:new(1, -1) end)
      H.raises({ "new", "data" }, function() heap:new(1, true) end)
      H.raises({ "new", "data" }, function() heap:new(1, {}) end)
      H.raises({ "new", "data" }, function() heap:new(1, 0.5) end)
      assert.equal(2, #heap:new(2.0))
   end)

   it("huge allocation is an error and the heap stays usable", function()
      local keep = heap:new(1, "kept")
      H.raises({ "new", "nslots" }, function() heap:new(1 << 40) end)
      H.raises({ "new", "data" }, function() heap:new(0, 1 << 40) end)
      H.raises({ "new", "nslots" }, function() heap:new(math.maxinteger) end)
      local obj = heap:new(3, "again")
      obj[1] = keep
      assert.equal("kept", obj[1]:data())
      heap:collect()
      heap:verify()
      assert.equal("again", obj:data())
   end)
end)
