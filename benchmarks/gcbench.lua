-- gcbench.lua — the classic GCBench (gcbench.c's workload and sizes) through
-- tricolor's Lua binding, and the same program on Lua's own tables: what a
-- Lua user sees of each (issue 12).
--
--   system "lua-tricolor"     a node is heap:new(2, 8) (two slots, 8 payload
--                             bytes, as gcbench.c); the heap has every default;
--                             Lua's collector incremental, as for "lua-table"
--                             (the lua5.4 interpreter starts in generational
--                             mode: lua.c switches to it)
--   system "lua-table"        a node is {left, right, i, j}, under Lua's
--                             incremental collector (its defaults)
--   system "lua-table-gen"    the same under Lua's generational collector
--
-- Steps as gcbench.c: a stretch tree (depth 18) built and dropped; a long-lived
-- tree (16, top-down) and an array of 500,000 doubles kept to the end; for d =
-- 4, 6, ..., 16, NumIters(d) trees built top-down and dropped, then as many
-- bottom-up. Nothing calls collectgarbage() or heap:collect() during the run.
-- Prints RESULT lines (bench.h): wall time (the gclabclock module's monotonic
-- clock when found, else tricolor.now_ns, else os.clock), collections, and for
-- tricolor the stats at the end (heap_live: bytes marked by the last cycle;
-- heap_alloc; heap_objects; roots) before any explicit collection, then the
-- peak resident set.
--
-- Usage: lua5.4 benchmarks/gcbench.lua SYSTEM [stretch longlived mindepth maxdepth arraysize]
local system = arg[1] or "lua-tricolor"
local STRETCH = tonumber(arg[2]) or 18
local LONG_LIVED = tonumber(arg[3]) or 16
local MIN_DEPTH = tonumber(arg[4]) or 4
local MAX_DEPTH = tonumber(arg[5]) or 16
local ARRAY_SIZE = tonumber(arg[6]) or 500000
local WORKLOAD = "gcbench-binding"

local function result(metric, v, unit)
   io.write(string.format("RESULT %s %s %s %.6g %s\n", WORKLOAD, system, metric, v, unit))
   io.flush()
end

local ok_clk, clk = pcall(require, "gclabclock")
local tricolor, heap
local new_node, set, get, new_array, array_get
if system == "lua-tricolor" then
   collectgarbage("incremental")
   tricolor = require "tricolor"
   heap = tricolor.heap()
   function new_node() return heap:new(2, 8) end
   function new_array(n) return heap:new(0, 8 * n) end
   print("INFO " .. system .. " collector=" .. heap:stats().collector .. " gogc=" .. tostring(heap.gogc))
elseif system == "lua-table" or system == "lua-table-gen" then
   collectgarbage(system == "lua-table" and "incremental" or "generational")
   function new_node() return { false, false, 0, 0 } end
   function new_array(n)
      local a = {}
      for i = 1, n do a[i] = 0.0 end
      return a
   end
else
   error("unknown system " .. system)
end
local now = ok_clk and clk.now or (tricolor and tricolor.now_ns)
   or function() return math.floor(os.clock() * 1e9) end

local function tree_size(d) return (1 << (d + 1)) - 1 end

-- populate — build n's children top-down, depth levels deep.
local function populate(depth, n)
   if depth <= 0 then return end
   depth = depth - 1
   local l = new_node()
   n[1] = l
   local r = new_node()
   n[2] = r
   populate(depth, l)
   populate(depth, r)
end

-- make_tree — a tree built bottom-up.
local function make_tree(depth)
   if depth <= 0 then return new_node() end
   local l, r = make_tree(depth - 1), make_tree(depth - 1)
   local n = new_node()
   n[1], n[2] = l, r
   return n
end

local function time_construction(depth)
   local iters = 2 * tree_size(STRETCH) // tree_size(depth)
   for _ = 1, iters do
      local temp = new_node()
      populate(depth, temp)
   end
   for _ = 1, iters do
      local _ = make_tree(depth)
   end
end

local gc0 = heap and heap:stats().num_gc or 0
local t0 = now()
do local _ = make_tree(STRETCH) end
local long_lived = new_node()
populate(LONG_LIVED, long_lived)
local array = new_array(ARRAY_SIZE)
if not heap then
   for i = 1, ARRAY_SIZE // 2 do array[i] = 1.0 / i end
end
for d = MIN_DEPTH, MAX_DEPTH, 2 do time_construction(d) end
-- the long-lived data survived
local count, stack = 0, { long_lived }
while #stack > 0 do
   local n = table.remove(stack)
   count = count + 1
   local l = n[1]
   if l then stack[#stack + 1] = l; stack[#stack + 1] = n[2] end
end
assert(count == tree_size(LONG_LIVED), "the long-lived tree lost nodes")
assert(heap and array:size() == 8 * ARRAY_SIZE or not heap and #array == ARRAY_SIZE)
local t1 = now()

local function peak_rss()
   local f = io.open("/proc/self/status")
   if not f then return -1 end
   for line in f:lines() do
      local kib = line:match("^VmHWM:%s+(%d+)")
      if kib then f:close(); return tonumber(kib) / 1024 end
   end
   f:close()
   return -1
end

result("time", (t1 - t0) / 1e9, "s")
if heap then
   local s = heap:stats()
   result("collections", s.num_gc - gc0, "count")
   result("live_end", s.heap_live / 1048576, "MiB")
   result("alloc_end", s.heap_alloc / 1048576, "MiB")
   result("objects_end", s.heap_objects, "count")
   result("roots_end", s.roots, "count")
else
   result("lua_mem_end", collectgarbage("count") / 1024, "MiB")
end
result("peak_rss", peak_rss(), "MiB")
