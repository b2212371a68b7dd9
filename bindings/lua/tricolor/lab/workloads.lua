-- tricolor.lab.workloads — the lab's workloads in Lua: the same names, the
-- same parameters and the same programs as Python's tricolor.lab.workloads
-- (tests/python/test_lab.py compares the two lists).
--
-- A workload is `fn(heap, params)`: `heap` an open tricolor heap, `params`
-- a table of its parameters (defaults filled in). It returns a table of what
-- it did (`objects`: how many objects it allocated; `keep`: optionally,
-- whatever holds its live set, so that the lab can measure that live set
-- after the run; other numbers are reported as they are), or nothing.
--
-- A workload with a steady state calls coroutine.yield() once, when its
-- set-up is done: the lab measures from there (it runs every workload in a
-- coroutine). The steady ones take `live_mib`, the size of their live set in
-- MiB, as tricolor counts it (headers and size classes included).
--
-- A user workload is a Lua script (`--workload file.lua`) that returns
-- either a function run(heap, params) or a table with a field `run`.
local tricolor = require("tricolor")

local M = {}
local MiB = 1 << 20

M.list = {}      -- the names, in order
M.workloads = {} -- name -> {name, fn, doc, params = {{name, default, doc}, ...}}

local function workload(name, doc, params, fn)
   M.list[#M.list + 1] = name
   M.workloads[name] = { name = name, fn = fn, doc = doc, params = params }
end

-- ---- helpers ----------------------------------------------------------------

local size_cache = {}

-- object_bytes(nslots, payload) — bytes tricolor counts in heap_alloc for one
-- object of this shape, measured once on a scratch heap.
function M.object_bytes(nslots, payload)
   local key = nslots .. ":" .. payload
   if not size_cache[key] then
      local h <close> = tricolor.heap { gogc = false }
      local before = h:stats().heap_alloc
      local objs = {}
      for i = 1, 256 do objs[i] = h:new(nslots, payload) end
      size_cache[key] = (h:stats().heap_alloc - before) / #objs
   end
   return size_cache[key]
end

local function count_for(live_mib, per)
   return math.max(1, math.floor(live_mib * MiB / per))
end

-- Table — n slots in the heap (0-based), in buckets of 256 slots held by a
-- Lua sequence, so that a lookup costs one heap load.
local Table = {}
Table.__index = Table

function M.table(heap, n)
   local b = {}
   for i = 1, (n + 255) // 256 do b[i] = heap:new(256) end
   return setmetatable({ n = n, buckets = b }, Table)
end

function Table:get(i) return self.buckets[(i >> 8) + 1][(i & 255) + 1] end
function Table:set(i, v) self.buckets[(i >> 8) + 1][(i & 255) + 1] = v end
function Table:bucket(i) return self.buckets[(i >> 8) + 1] end

-- fixed_set(heap, p, nslots) — the live set churn and finalizers start
-- from: live_mib MiB of objects with nslots slots and a payload, in a table
-- (math.random seeded). Returns the payload size and the table.
local function fixed_set(heap, p, nslots)
   math.randomseed(p.seed)
   local payload = math.floor(p.payload)
   local t = M.table(heap, count_for(p.live_mib, M.object_bytes(nslots, payload)))
   for i = 0, t.n - 1 do t:set(i, heap:new(nslots, payload)) end
   return payload, t
end

-- ---- gcbench and binary-trees -----------------------------------------------

local function tree_size(d) return (1 << (d + 1)) - 1 end

local function make_tree(heap, d)
   local node = heap:new(2)
   if d > 0 then
      node[1] = make_tree(heap, d - 1)
      node[2] = make_tree(heap, d - 1)
   end
   return node
end

local function populate(heap, d, node)
   if d <= 0 then return end
   local l, r = heap:new(2), heap:new(2)
   node[1], node[2] = l, r
   populate(heap, d - 1, l)
   populate(heap, d - 1, r)
end

local function check_tree(node)
   local count, stack = 0, { node }
   while #stack > 0 do
      local n = table.remove(stack)
      count = count + 1
      local l = n[1]
      if l then
         stack[#stack + 1] = l
         stack[#stack + 1] = n[2]
      end
   end
   return count
end

workload("gcbench", "GCBench (Boehm, after Ellis and Kovac): short-lived trees around a long-lived tree and array.", {
   { "long_lived_depth", 14, "depth of the long-lived tree" },
   { "min_depth", 4, "smallest short-lived tree" },
   { "max_depth", 14, "largest short-lived tree" },
   { "array_size", 500000, "doubles in the long-lived array" },
}, function(heap, p)
   local stretch = p.max_depth + 1
   make_tree(heap, stretch)
   local long_lived = heap:new(2)
   populate(heap, p.long_lived_depth, long_lived)
   local size = math.max(math.floor(p.array_size), 2)
   local long_array = heap:new(0, 8 * size)
   local objects = tree_size(stretch) + tree_size(p.long_lived_depth) + 1
   for depth = p.min_depth, p.max_depth, 2 do
      local iterations = 2 * tree_size(stretch) // tree_size(depth)
      for _ = 1, iterations do
         populate(heap, depth, heap:new(2))
         make_tree(heap, depth)
      end
      objects = objects + 2 * iterations * tree_size(depth)
   end
   local nodes = check_tree(long_lived)
   assert(nodes == tree_size(p.long_lived_depth) and long_array:size() == 8 * size,
      "the long-lived data did not survive")
   return { objects = objects, long_lived_nodes = nodes }
end)

workload("binary-trees", "binary-trees (the Benchmarks Game): many short-lived trees, each walked, beside a long-lived one.", {
   { "max_depth", 12, "depth of the long-lived tree" },
   { "min_depth", 4, "smallest short-lived tree" },
}, function(heap, p)
   local lo = p.min_depth
   local hi = math.max(lo + 2, p.max_depth)
   local checks = check_tree(make_tree(heap, hi + 1))
   local long_lived = make_tree(heap, hi)
   local objects = tree_size(hi + 1) + tree_size(hi)
   for depth = lo, hi, 2 do
      local iterations = 1 << (hi - depth + lo)
      for _ = 1, iterations do checks = checks + check_tree(make_tree(heap, depth)) end
      objects = objects + iterations * tree_size(depth)
   end
   checks = checks + check_tree(long_lived)
   assert(checks == objects, "trees lost nodes")
   return { objects = objects }
end)

-- ---- steady workloads -----------------------------------------------------------

local LIVE = { "live_mib", 16, "live set, MiB" }
local TURNOVER = { "turnover", 2.0, "allocation after set-up, as a multiple of the live set" }
local SEED = { "seed", 1, "random seed" }

workload("churn", "A fixed live set of small objects under constant replacement.", {
   LIVE, { "payload", 64, "payload bytes of each object" }, TURNOVER, SEED,
}, function(heap, p)
   local payload, t = fixed_set(heap, p, 2)
   local n = t.n
   coroutine.yield()
   local steps = math.floor(p.turnover * n)
   for step = 1, steps do
      local i = math.random(0, n - 1)
      local obj = heap:new(2, payload)
      obj[1] = t:bucket(i) -- always live: the live set stays the same size
      obj[2] = step
      t:set(i, obj)
   end
   return { objects = n + steps, live_objects = n, keep = t }
end)

workload("linkedlist", "Long singly linked lists, built, walked and dropped (the collector must mark chains without recursion).", {
   { "length", 200000, "nodes per list" }, { "rounds", 4, "lists built" },
}, function(heap, p)
   local total, length = 0, math.floor(p.length)
   for _ = 1, p.rounds do
      local head = nil
      for i = 0, length - 1 do
         local new = heap:new(2)
         new[1], new[2] = i, head
         head = new
      end
      local node = head
      while node do
         total = total + node[1]
         node = node[2]
      end
   end
   local expected = math.floor(p.rounds) * length * (length - 1) // 2
   assert(total == expected, "list sum " .. total .. " ~= " .. expected)
   return { objects = math.floor(p.rounds) * length, sum = total }
end)

workload("lru-cache", "An LRU cache in the heap: a doubly linked list and an index, every hit moves an entry to the front.", {
   LIVE, { "payload", 128, "payload bytes of each entry" },
   { "keys", 2.0, "key space, as a multiple of the capacity" }, TURNOVER, SEED,
}, function(heap, p)
   math.randomseed(p.seed)
   local payload = math.floor(p.payload)
   local cap = count_for(p.live_mib, M.object_bytes(3, payload))
   local space = math.max(cap + 1, math.floor(p.keys * cap))
   local index = M.table(heap, space)
   local head = heap:new(3) -- sentinel: head[2] is the most recent entry
   head[1], head[2] = head, head
   local size, hits, objects = 0, 0, 0
   local function unlink(e)
      local prev, nxt = e[1], e[2]
      prev[2], nxt[1] = nxt, prev
   end
   local function push_front(e)
      local first = head[2]
      e[1], e[2] = head, first
      first[1], head[2] = e, e
   end
   local function lookup(key)
      local e = index:get(key)
      if e then
         hits = hits + 1
         unlink(e); push_front(e)
         return
      end
      e = heap:new(3, payload)
      e[3] = key
      push_front(e)
      index:set(key, e)
      size, objects = size + 1, objects + 1
      if size > cap then
         local tail = head[1]
         unlink(tail)
         index:set(tail[3], nil)
         size = size - 1
      end
   end
   for key = 0, cap - 1 do lookup(key) end
   coroutine.yield()
   local steps = math.floor(p.turnover * cap)
   for _ = 1, steps do lookup(math.random(0, space - 1)) end
   return { objects = objects, hit_rate = hits / math.max(steps, 1), keep = { index, head } }
end)

workload("random-graph", "A random graph whose edges are rewritten while it is marked: pointer stores between old objects.", {
   LIVE, { "degree", 4, "reference slots per node" }, { "payload", 128, "payload bytes of each node's label" },
   { "rewrites", 2, "edges rewritten per step" }, TURNOVER, SEED,
}, function(heap, p)
   math.randomseed(p.seed)
   local degree, payload = math.floor(p.degree), math.floor(p.payload)
   local n = count_for(p.live_mib, M.object_bytes(degree + 1, 0) + M.object_bytes(0, payload))
   local nodes = M.table(heap, n)
   for i = 0, n - 1 do
      local node = heap:new(degree + 1)
      node[degree + 1] = heap:new(0, payload)
      nodes:set(i, node)
   end
   for i = 0, n - 1 do
      local node = nodes:get(i)
      for d = 1, degree do node[d] = nodes:get(math.random(0, n - 1)) end
   end
   coroutine.yield()
   local steps = math.floor(p.turnover * n)
   local random, b = math.random, nodes.buckets
   for _ = 1, steps do
      for _ = 1, p.rewrites do -- nodes[i][d] = nodes[j], Table's indexing inlined
         local i, j = random(0, n - 1), random(0, n - 1)
         b[(i >> 8) + 1][(i & 255) + 1][random(1, degree)] = b[(j >> 8) + 1][(j & 255) + 1]
      end
      local i = random(0, n - 1)
      b[(i >> 8) + 1][(i & 255) + 1][degree + 1] = heap:new(0, payload)
   end
   return { objects = 2 * n + steps, live_objects = 2 * n, keep = nodes }
end)

workload("mixed-sizes", "Objects of log-uniform random sizes replaced at random: fragmentation (compare heap_sys with the live set).", {
   LIVE, { "min_size", 16, "smallest payload, bytes" }, { "max_size", 16384, "largest payload, bytes" },
   TURNOVER, SEED,
}, function(heap, p)
   math.randomseed(p.seed)
   local lo, hi = math.max(1, math.floor(p.min_size)), math.max(1, math.floor(p.max_size))
   local ratio = hi / lo
   local function size() return math.floor(lo * ratio ^ math.random()) end
   local mean = M.object_bytes(0, hi > lo and math.floor((hi - lo) / math.log(ratio)) or lo)
   local n = count_for(p.live_mib, mean)
   local t = M.table(heap, n)
   for i = 0, n - 1 do t:set(i, heap:new(0, size())) end
   coroutine.yield()
   local steps = math.floor(p.turnover * n)
   for _ = 1, steps do t:set(math.random(0, n - 1), heap:new(0, size())) end
   return { objects = n + steps, keep = t }
end)

workload("finalizers", "Every object has a finalizer: a fixed live set under replacement, each dead object finalized.", {
   { "live_mib", 4, "live set, MiB" }, { "payload", 64, "payload bytes of each object" }, TURNOVER, SEED,
}, function(heap, p)
   local finalized = 0
   local function fin() finalized = finalized + 1 end
   local payload, t = fixed_set(heap, p, 1)
   local n = t.n
   coroutine.yield()
   local steps = math.floor(p.turnover * n)
   for step = 1, steps do
      local obj = heap:new(1, payload)
      obj[1] = step
      heap:set_finalizer(obj, fin)
      t:set(math.random(0, n - 1), obj)
   end
   heap:run_finalizers()
   return { objects = n + steps, finalized = finalized, keep = t }
end)

workload("weak-cache", "A cache of weak references: values live while recently used, lookups of collected ones miss.", {
   { "live_mib", 8, "recently used values held strongly, MiB" }, { "payload", 128, "payload bytes of each value" },
   { "keys", 4.0, "key space, as a multiple of the strong set" }, TURNOVER, SEED,
}, function(heap, p)
   math.randomseed(p.seed)
   local payload = math.floor(p.payload)
   local n = count_for(p.live_mib, M.object_bytes(1, payload))
   local space = math.max(n + 1, math.floor(p.keys * n))
   local ring, index = M.table(heap, n), {}
   local hits, objects = 0, 0
   local function lookup(step, key)
      local ref = index[key]
      local value = ref and ref:get()
      if not value then
         value = heap:new(1, payload)
         value[1] = key
         index[key] = heap:weakref(value)
         objects = objects + 1
      else
         hits = hits + 1
      end
      ring:set(step % n, value)
   end
   for step = 0, n - 1 do lookup(step, step) end
   coroutine.yield()
   local steps = math.floor(p.turnover * n)
   for step = 0, steps - 1 do lookup(step, math.random(0, space - 1)) end
   return { objects = objects, hit_rate = hits / math.max(steps, 1), keep = { ring, index } }
end)

-- ---- resolving a workload name --------------------------------------------------

-- M.choices() — the valid workload values, for error messages.
function M.choices()
   return table.concat(M.list, ", ") .. " or path/to/file.lua"
end

-- M.resolve(spec) — the workload called `spec`, or the one a Lua script
-- returns; nil and a one-line message naming the choices otherwise.
function M.resolve(spec)
   if M.workloads[spec] then return M.workloads[spec] end
   if not spec:match("%.lua$") then
      return nil, ("unknown workload '%s': choose %s"):format(spec, M.choices())
   end
   local chunk, err = loadfile(spec)
   if not chunk then return nil, ("workload %s: %s"):format(spec, err) end
   local ok, got = pcall(chunk)
   if not ok then return nil, ("workload %s raised while loading: %s"):format(spec, tostring(got)) end
   local fn = type(got) == "table" and got.run or got
   if type(fn) ~= "function" then
      return nil, ("workload %s must return run(heap, params) or a table with a run field"):format(spec)
   end
   return { name = spec, fn = fn, doc = spec, params = {}, user = true }
end

-- M.with_defaults(w, given) — the parameters to call w with: defaults, then
-- `given`; nil and a message for a name a built-in does not have.
function M.with_defaults(w, given)
   local out, known = {}, {}
   for _, p in ipairs(w.params) do out[p[1]], known[p[1]] = p[2], true end
   local names = {}
   for k in pairs(given) do names[#names + 1] = k end
   table.sort(names)
   for _, k in ipairs(names) do
      if not w.user and not known[k] then
         local list = {}
         for _, p in ipairs(w.params) do list[#list + 1] = p[1] end
         return nil, ("workload %s has no parameter '%s'; its parameters: %s"):format(w.name, k,
            table.concat(list, ", "))
      end
      out[k] = given[k]
   end
   return out
end

-- M.steady(w) — does w take live_mib (user workloads are assumed to)?
function M.steady(w)
   if w.user then return true end
   for _, p in ipairs(w.params) do if p[1] == "live_mib" then return true end end
   return false
end

return M
