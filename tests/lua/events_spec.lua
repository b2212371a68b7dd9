-- events_spec.lua — GC events as Lua sees them (SPEC: Latency, issue 13):
-- the latency stats fields, heap:mmu, heap:gc_intervals, events_ring, and
-- trace files that stay whole when the script dies with an error.
-- tests/python/test_events.py has the same scenarios in Python.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")
local json = require "dkjson"

local KINDS = { pause = true, assist = true, slice = true, sweep = true, limit_wait = true }

local function churn(heap, n, live)
   live = live or 2000
   local keep = {}
   for i = 1, n do keep[(i * 7919) % live + 1] = heap:new(2, 32) end
   return keep
end

local function hist_sum(h)
   assert.are.equal(#h.bounds_ns - 1, #h.counts)
   assert.are.equal(0, h.bounds_ns[1])
   assert.are.equal(math.huge, h.bounds_ns[#h.bounds_ns])
   local s = 0
   for i, c in ipairs(h.counts) do
      assert.is_true(math.type(c) == "integer" and c >= 0)
      assert.is_true(h.bounds_ns[i] < h.bounds_ns[i + 1])
      s = s + c
   end
   return s
end

local LUA = arg and arg[-1] or "lua5.4"
local function run_lua(code)
   local script = os.tmpname()
   local f = assert(io.open(script, "w"))
   f:write(code)
   f:close()
   local p = assert(io.popen(("LUA_CPATH=%q %s %s 2>&1"):format(package.cpath, LUA, script)))
   local out = p:read("a")
   p:close()
   os.remove(script)
   return out
end

describe("GC events", function()
   for _, collector in ipairs({ "stw", "incremental", "concurrent" }) do
      it("account for every recorded interval (" .. collector .. ")", function()
         local heap = tricolor.heap { collector = collector, gogc = 50 }
         local keep = churn(heap, 150000)
         heap:collect()
         local s, iv = heap:stats(), heap:gc_intervals()
         assert.are.equal(0, s.events_dropped)
         assert.is_true(s.delay_total_ns >= s.pause_total_ns and s.pause_total_ns > 0)
         assert.are.equal(#iv, hist_sum(s.mutator_delay_hist))
         assert.are.equal(#s.pauses_ns, hist_sum(s.pause_hist))
         assert.are.equal(#s.pauses_ns, #s.pause_end_ns)
         local total, seen = 0, {}
         for _, x in ipairs(iv) do
            assert.is_true(KINDS[x[3]] and x[1] <= x[2])
            total = total + (x[2] - x[1])
            seen[x[3]] = true
         end
         assert.are.equal(s.delay_total_ns, total)
         if collector == "incremental" then
            assert.is_true(seen.slice and seen.sweep and s.delay_total_ns > s.pause_total_ns)
         elseif collector == "stw" then
            assert.is_nil(seen.slice or seen.assist or seen.sweep)
         end
         keep = nil
         heap:close()
      end)
   end

   it("heap:mmu returns one row per window with by_kind", function()
      local heap = tricolor.heap { collector = "incremental", gogc = 50 }
      local keep = churn(heap, 100000)
      local rows = heap:mmu { 0.0001, 0.001, 0.1 }
      assert.are.equal(3, #rows)
      for _, r in ipairs(rows) do
         assert.is_true(0 <= r.bmu and r.bmu <= r.mmu and r.mmu <= 1)
         assert.is_number(r.window)
         assert.is_true(math.type(r.worst_start_ns) == "integer")
         for k in pairs(KINDS) do assert.is_true(math.type(r.by_kind[k]) == "integer") end
      end
      keep = nil
      heap:close()
   end)

   it("heap:mmu rejects bad windows and a closed heap", function()
      local heap = tricolor.heap {}
      H.raises({ "mmu", "windows[1]" }, function() heap:mmu { 0 } end)
      H.raises({ "mmu", "windows[1]" }, function() heap:mmu { -1 } end)
      H.raises({ "mmu", "windows[1]" }, function() heap:mmu { 0 / 0 } end)
      H.raises({ "mmu", "windows[2]" }, function() heap:mmu { 0.1, "x" } end)
      H.raises({ "mmu", "windows" }, function() heap:mmu(1) end)
      heap:close()
      H.raises({ "mmu", "closed" }, function() heap:mmu { 0.01 } end)
      H.raises({ "stats", "closed" }, function() heap:stats() end)
      H.raises({ "gc_intervals", "closed" }, function() heap:gc_intervals() end)
   end)

   it("events_ring bounds the ring; overflow is counted and mmu warns", function()
      H.raises({ "events_ring" }, function() tricolor.heap { events_ring = -1 } end)
      H.raises({ "events_ring" }, function() tricolor.heap { events_ring = (1 << 24) + 1 } end)
      local heap = tricolor.heap { collector = "stw", events_ring = 2 }
      for _ = 1, 5 do heap:collect() end
      local s = heap:stats()
      assert.is_true(s.events_dropped >= 3)
      assert.are.equal(5, hist_sum(s.pause_hist))
      assert.are.equal(2, #heap:gc_intervals())
      heap:close()
      local out = run_lua([[
         warn("@on")
         local tricolor = require "tricolor"
         local heap = tricolor.heap { collector = "stw", events_ring = 1 }
         heap:collect(); heap:collect()
         heap:mmu { 0.01 }
         print("done")
      ]])
      assert.truthy(out:find("gap", 1, true), out)
      assert.truthy(out:find("done", 1, true), out)
   end)

   it("a script that dies with an error leaves a whole trace file", function()
      local path = os.tmpname()
      local out = run_lua(([[
         local tricolor = require "tricolor"
         local heap = tricolor.heap { collector = "stw" }
         heap:trace_start(%q)
         heap:collect()
         error("boom")
      ]]):format(path))
      assert.truthy(out:find("boom", 1, true), out)
      local f = assert(io.open(path))
      local doc = json.decode(f:read("a"))
      f:close()
      os.remove(path)
      local names, pids, procs = {}, {}, {}
      for _, e in ipairs(doc.traceEvents) do
         names[e.name] = true
         pids[e.pid] = true
         if e.name == "process_name" then procs[e.pid] = true end
      end
      assert.is_true(names.pause and names.heap_alloc and names.heap_goal and names.heap_live and names.thread_name)
      for pid in pairs(pids) do assert.is_true(procs[pid]) end
   end)

   it("closing the heap writes the trace", function()
      local path = os.tmpname()
      local heap = tricolor.heap { collector = "incremental" }
      heap:trace_start(path)
      local keep = churn(heap, 100000)
      heap:close()
      local f = assert(io.open(path))
      local doc = json.decode(f:read("a"))
      f:close()
      os.remove(path)
      local names = {}
      for _, e in ipairs(doc.traceEvents) do names[e.name] = true end
      assert.is_true(names.pause and names.slice)
      keep = nil
   end)
end)
