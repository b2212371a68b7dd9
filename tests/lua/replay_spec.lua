-- replay_spec.lua — heap:record_start / heap:record_stop / heap:replay
-- (SPEC "Introspection, teaching and replay"; issue 15 point 3): a Lua
-- program is recorded, then replayed by the core on fresh heaps under each
-- collector and barrier, and every forced collection matches the recording
-- (heap_objects and the live-graph hash). Scenario names follow
-- tests/python/test_replay.py.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local function tmpname()
   local p = os.tmpname()
   os.remove(p)
   return p .. ".tclog"
end

-- program(heap) — a mutator that builds, rewires and drops a graph, with a
-- finalizer, a weak reference and forced collections in between.
local function program(heap)
   local keep = {}
   for i = 1, 600 do
      local o = heap:new(3)
      o[1] = i
      if #keep > 0 then o[2] = keep[#keep] end
      if i % 7 == 0 then o[3] = 1.5 * i end
      keep[#keep + 1] = o
      if i % 3 == 0 then table.remove(keep, 1) end
      if i % 150 == 0 then
         H.drop_handles()
         heap:collect()
      end
   end
   local f = heap:new(1)
   f[1] = keep[1]
   heap:set_finalizer(f, function(obj) end)
   local w = heap:weakref(keep[#keep])
   assert(w:get() ~= nil)
   f = nil
   keep = nil
   H.drop_handles()
   heap:collect()
   heap:collect()
end

describe("record and replay", function()

   it("a recording replays exactly under every collector and barrier", function()
      local path = tmpname()
      local heap = tricolor.heap { collector = "stw", gogc = false }
      heap:record_start(path)
      program(heap)
      heap:record_stop()
      heap:close()
      for _, collector in ipairs(H.COLLECTORS) do
         for _, barrier in ipairs({ "hybrid", "dijkstra", "yuasa" }) do
            local h2 = tricolor.heap { collector = collector, barrier = barrier }
            local rep = h2:replay(path)
            h2:close()
            assert.equal(2, rep.version)
            assert.is_true(rep.collects >= 6)
            assert.equal(rep.collects, rep.checked)
            assert.equal(0, rep.mismatches, collector .. "/" .. barrier)
            assert.equal(-1, rep.first_mismatch)
            assert.is_true(rep.objects >= 601)
         end
      end
      os.remove(path)
   end)

   it("a truncated log is refused with its byte offset, and nothing is replayed", function()
      local path = tmpname()
      local heap = tricolor.heap { gogc = false }
      heap:record_start(path)
      program(heap)
      heap:record_stop()
      heap:close()
      local f = assert(io.open(path, "rb"))
      local bytes = f:read("a")
      f:close()
      local cut = tmpname()
      f = assert(io.open(cut, "wb"))
      f:write(bytes:sub(1, #bytes - 5))
      f:close()
      local h2 = tricolor.heap {}
      H.raises({ "byte offset", tostring(#bytes - 5) }, function() h2:replay(cut) end)
      assert.equal(0, h2:stats().mallocs)
      h2:close()
      os.remove(path)
      os.remove(cut)
   end)

   it("record_start on a closed heap and an unwritable path are errors", function()
      local heap = tricolor.heap {}
      H.raises("/nonexistent-dir/x.log", function() heap:record_start("/nonexistent-dir/x.log") end)
      H.raises("no recording", function() heap:record_stop() end)
      heap:close()
      H.raises("closed", function() heap:record_start(tmpname()) end)
   end)
end)
