-- pause.lua — issue 3's `pause` workload on Lua's own tables (see pause.c):
-- K complete binary trees of 14 levels (K from the size, as in pause.c, so the
-- node count is tricolor's), a node is {left, right, payload}; one operation
-- builds a 7-level (127-node) subtree and stores it below a random level-6
-- node. Lua's collector runs inside allocations, so its pauses are not
-- observable apart: the per-operation latency (wall clock, from the
-- gclabclock module when built, else os.clock) is the measure.
--
-- MODE tricolor-<collector> (issue 12) runs the same program through
-- tricolor's Lua binding instead: the trees hang from one heap:new(K) array
-- object, a node is heap:new(2, 8) (pause.c's node), Lua's collector is left
-- at its defaults; besides the operation latency it reports the heap's own
-- pauses (the stats' ring of the last 256), cycles, and the roots and heap
-- size at the end.
--
-- Usage: lua5.4 pause.lua SIZE_MIB SECONDS MODE [OPS]
--   MODE: incremental | generational | tricolor-stw | tricolor-incremental |
--   tricolor-concurrent; OPS > 0: stop after OPS operations.
local size_mib = tonumber(arg[1] or 64)
local seconds = tonumber(arg[2] or os.getenv("PAUSE_SECONDS") or 10)
local mode = arg[3] or "incremental"
local nops = tonumber(arg[4] or 0)

local ok, clk = pcall(require, "gclabclock")
local now
if ok then now = clk.now else now = function() return math.floor(os.clock() * 1e9) end end

local LEVELS, SUB_LEVELS = 14, 7
local WALK = LEVELS - SUB_LEVELS - 1
local TREE_NODES = (1 << LEVELS) - 1
local K = math.max(1, math.floor(size_mib * 1048576 / (40 * TREE_NODES) + 0.5))
local wl = string.format("pause-%dM", size_mib)
local sys = "lua-" .. mode

local function result(metric, v, unit)
  print(string.format("RESULT %s %s %s %.6g %s", wl, sys, metric, v, unit))
end

-- node(levels) — a new tree node; top(k) — the array the trees hang from.
local heap, node, newtop
local tc_collector = mode:match("^tricolor%-(.*)$")
if tc_collector then
  local tricolor = require "tricolor"
  heap = tricolor.heap { collector = tc_collector }
  node = function() return heap:new(2, 8) end
  newtop = function(k) return heap:new(k) end
else
  collectgarbage(mode)
  node = function(levels) return {false, false, levels} end
  newtop = function() return {} end
end
print(string.format("INFO lua %s mode=%s clock=%s trees=%d", _VERSION, mode, ok and "monotonic" or "os.clock", K))

-- xorshift64* as in bench.h
local rs = 0x9E3779B97F4A7C15 ~ (1 * 0x2545F4914F6CDD1D)
local function rnd()
  rs = rs ~ (rs >> 12); rs = rs ~ (rs << 25); rs = rs ~ (rs >> 27)
  return rs * 2685821657736338717
end

local function populate(n, levels)
  if levels <= 0 then return end
  local l, r = node(levels), node(levels)
  n[1], n[2] = l, r
  populate(l, levels - 1)
  populate(r, levels - 1)
end

local t0 = now()
local top = newtop(K)
for t = 1, K do
  local root = node(0)
  top[t] = root
  populate(root, LEVELS - 1)
end
local live, stats0
if heap then
  heap:collect()
  stats0 = heap:stats()
  live = stats0.heap_alloc / 1048576
else
  collectgarbage("collect")
  live = collectgarbage("count") / 1024
end
local start = now()
result("build", (start - t0) / 1e9, "s")
result("live", live, "MiB")

-- log-linear histogram, as gclab.h
local SUB = 32
local hist, count, sum, max = {}, 0, 0, 0
local function hist_add(v)
  local idx
  if v < 64 then idx = v
  else
    local e = 6
    while (v >> (e + 1)) ~= 0 do e = e + 1 end
    idx = 64 + (e - 6) * SUB + ((v >> (e - 5)) & (SUB - 1))
  end
  hist[idx] = (hist[idx] or 0) + 1
  count = count + 1; sum = sum + v
  if v > max then max = v end
end
local function hist_upper(i)
  if i < 64 then return i end
  local e, sub = (i - 64) // SUB + 6, (i - 64) % SUB
  return ((SUB + sub) << (e - 5)) + (1 << (e - 5)) - 1
end
local function quantile(q)
  local rank = math.max(1, math.ceil(q * count))
  local keys = {}
  for k in pairs(hist) do keys[#keys + 1] = k end
  table.sort(keys)
  local seen = 0
  for _, k in ipairs(keys) do
    seen = seen + hist[k]
    if seen >= rank then return math.min(hist_upper(k), max) end
  end
  return max
end

local deadline = start + math.floor(seconds * 1e9)
local t = start
local i = 0
-- the worst operation's own account: process CPU time over it (far below
-- its wall time: the thread waited, for a core or a lock, rather than
-- worked) and Lua's memory before and after (a drop: Lua's collector
-- finished a cycle inside it, sweeping the handles it found dead)
local worst_cpu, worst_kb0, worst_kb1 = 0, 0, 0
local clock, luamem = os.clock, collectgarbage
while (nops > 0 and i < nops) or (nops <= 0 and t < deadline) do
  local c0, kb0 = clock(), luamem("count")
  local a = now()
  local n = top[(rnd() >> 1) % K + 1]
  for _ = 1, WALK do n = n[(rnd() >> 63) + 1] end
  local sub = node(SUB_LEVELS)
  populate(sub, SUB_LEVELS - 1)
  n[(rnd() >> 63) + 1] = sub
  t = now()
  if t - a > max then worst_cpu, worst_kb0, worst_kb1 = clock() - c0, kb0, luamem("count") end
  hist_add(t - a)
  i = i + 1
end
local wall = now() - start

local function peak_rss()
  local f = io.open("/proc/self/status")
  if not f then return -1 end
  for line in f:lines() do
    local kib = line:match("^VmHWM:%s+(%d+)")
    if kib then f:close(); return tonumber(kib) / 1024 end
  end
  f:close(); return -1
end

result("ops", count, "count")
result("time", wall / 1e9, "s")
result("op_mean", sum / count / 1e3, "us")
result("op_p50", quantile(0.50) / 1e3, "us")
result("op_p99", quantile(0.99) / 1e3, "us")
result("op_p999", quantile(0.999) / 1e3, "us")
result("op_max", max / 1e3, "us")
result("op_max_cpu", worst_cpu * 1e6, "us")
result("op_max_lua_mem_before", worst_kb0 / 1024, "MiB")
result("op_max_lua_mem_after", worst_kb1 / 1024, "MiB")
result("peak_rss", peak_rss(), "MiB")
if heap then
  local s = heap:stats()
  -- the heap's pauses of the timed run: the ring holds the last 256
  local n = math.min(#s.pauses_ns, s.num_gc - stats0.num_gc)
  local pmax, ps = 0, {}
  for j = #s.pauses_ns - n + 1, #s.pauses_ns do
    ps[#ps + 1] = s.pauses_ns[j]
    if s.pauses_ns[j] > pmax then pmax = s.pauses_ns[j] end
  end
  table.sort(ps)
  result("pause_max", pmax / 1e3, "us")
  result("pause_p99", (ps[math.max(1, math.ceil(#ps * 0.99))] or 0) / 1e3, "us")
  result("pauses", n, "count")
  result("num_gc", s.num_gc - stats0.num_gc, "count")
  result("assist", s.assist_ns / 1e6, "ms")
  result("gc_cpu", s.gc_cpu_fraction, "fraction")
  result("roots_end", s.roots, "count")
  result("alloc_end", s.heap_alloc / 1048576, "MiB")
  result("objects_end", s.heap_objects, "count")
end
