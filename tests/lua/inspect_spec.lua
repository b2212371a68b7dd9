-- inspect_spec.lua — why is an object alive (SPEC: Introspection; issue 15):
-- heap:roots(), referents, referrers, path_to (1-based slots) and retained,
-- under every collector, against a brute-force model on random graphs,
-- while cycles run, and on bad input. Scenario names follow
-- tests/c/test_inspect.c and tests/python/test_inspect.py.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

-- ids(list) — the sorted ids of a list of handles.
local function ids(list)
   local out = {}
   for i, o in ipairs(list) do out[i] = o:id() end
   table.sort(out)
   return out
end

-- chain(heap, n) — n objects, each referring to the next through slot 1.
local function chain(heap, n)
   local objs = {}
   for i = 1, n do objs[i] = heap:new(1) end
   for i = 1, n - 1 do objs[i][1] = objs[i + 1] end
   return objs
end

local heap -- the running test's heap (H.each_collector: gogc = false)

H.each_collector("why alive", function(h) heap = h end, function(collector)

   it("path_to is the shortest chain and nil when only this handle holds", function()
      local a, b, c, d = heap:new(2), heap:new(2), heap:new(2), heap:new(2)
      a[1], b[2], a[2], d[1] = b, c, d, c -- two chains of three to c
      b, d = nil, nil
      H.drop_handles()
      local p = heap:path_to(c)
      assert.equal(3, #p)
      assert.equal("handle", p[1][1])
      assert.is_true(p[1][2] == a and p[3][2] == c)
      assert.is_true((p[2][1] == 1 and p[3][1] == 2) or (p[2][1] == 2 and p[3][1] == 1))
      assert.is_true(a[p[2][1]] == p[2][2] and p[2][2][p[3][1]] == c)
      p = nil
      H.drop_handles()
      assert.is_nil(heap:path_to(a))
   end)

   it("referents follow slot order and referrers are live", function()
      local a, b, c, g = heap:new(4), heap:new(1), heap:new(0), heap:new(1)
      a[1], a[2], a[3], a[4] = c, 7, b, c
      b[1] = c
      g[1] = c
      g = nil -- garbage, never collected here: not a referrer
      local bid = b:id()
      b = nil
      H.drop_handles()
      assert.same({ c:id(), bid, c:id() }, (function()
         local out = {}
         for i, o in ipairs(heap:referents(a)) do out[i] = o:id() end
         return out
      end)())
      assert.same({}, heap:referents(c))
      local want = { a:id(), bid }
      table.sort(want)
      assert.same(want, ids(heap:referrers(c)))
      assert.same({}, heap:referrers(a))
   end)

   it("retained is the dominated subtree", function()
      local r, x, y, z, w, r2 = heap:new(2), heap:new(2), heap:new(2), heap:new(2), heap:new(2), heap:new(2)
      r[1] = x
      x[1], x[2] = y, z
      z[1] = w
      r2[1] = w
      y, z, w = nil, nil, nil
      H.drop_handles()
      local s = heap:stats()
      local each = s.heap_alloc // s.heap_objects -- one size class
      local bytes, objects = heap:retained(x)
      assert.equal(3, objects)
      assert.equal(3 * each, bytes)
      assert.equal(1, select(2, heap:retained(r))) -- x has a handle of its own
      x = nil
      H.drop_handles()
      assert.equal(4, select(2, heap:retained(r))) -- w is r2's too
      r2 = nil
      H.drop_handles()
      assert.equal(5, select(2, heap:retained(r)))
   end)

   it("roots lists handles and finalizers; a due finalizer is a finalizer_queue root", function()
      local a, f, child = heap:new(0), heap:new(1), heap:new(0)
      f[1] = child
      heap:set_finalizer(f, function() end)
      local kinds = {}
      for _, r in ipairs(heap:roots()) do
         kinds[r[1] .. ":" .. r[2]:id()] = true
      end
      assert.is_true(kinds["handle:" .. a:id()] and kinds["handle:" .. f:id()] and kinds["finalizer:" .. f:id()])
      f = nil
      H.drop_handles()
      local p = heap:path_to(child)
      assert.equal("finalizer", p[1][1])
      assert.equal(1, p[2][1])
      p = nil
      local seen = {}
      local function fin()
         local here = {}
         for _, r in ipairs(heap:roots()) do here[#here + 1] = r[1] end
         seen[#seen + 1] = table.concat(here, ",")
      end
      local x, y = heap:new(0), heap:new(0)
      heap:set_finalizer(x, fin)
      heap:set_finalizer(y, fin)
      x, y = nil, nil
      H.reclaim(heap)
      assert.is_true(#seen >= 1)
      assert.truthy(seen[1]:find("finalizer_queue", 1, true)) -- the other one waits in the queue
   end)

   it("bad input raises errors naming the argument", function()
      local other = tricolor.heap { gogc = false }
      for _, m in ipairs({ "referents", "referrers", "path_to", "retained" }) do
         H.raises({ m, "'obj'", "another heap" }, heap[m], heap, other:new(1))
         H.raises({ m, "'obj'", "tricolor.object" }, heap[m], heap, 42)
         local doomed = heap:new(1)
         tricolor.unsafe.free(doomed)
         H.raises({ m, "freed" }, heap[m], heap, doomed)
      end
      other:close()
      local a = heap:new(1)
      heap:close()
      H.raises({ "roots", "closed" }, heap.roots, heap)
      H.raises({ "path_to", "closed" }, heap.path_to, heap, a)
   end)

   it("answers stay exact while cycles run", function()
      local h = tricolor.heap { collector = collector, gogc = 20, checkmark = true }
      local objs = chain(h, 100)
      local head, tail = objs[1], objs[100]
      objs = nil
      H.drop_handles()
      local keep = {}
      local cycles0 = h:stats().num_gc
      for round = 1, 400 do
         for i = 1, 500 do keep[i % 64 + 1] = h:new(2) end -- garbage: cycles start
         local p = h:path_to(tail)
         assert.equal(100, #p)
         assert.is_true(p[1][2] == head)
         local before = p[99][2]:id()
         p = nil
         H.drop_handles()
         assert.equal(99, select(2, h:retained(head)))
         assert.same({ before }, ids(h:referrers(tail)))
         H.drop_handles() -- the answers' handles are roots until collected
         if round >= 20 and h:stats().num_gc >= cycles0 + 3 then break end
      end
      assert.is_true(h:stats().num_gc > cycles0)
      h:collect() -- checkmark: the walks left every mark sound
      h:verify()
      h:close()
   end)

   -- ---- random graphs against brute force ------------------------------------------

   local SLOTS = 3

   -- walk(g, queue, visit) — breadth-first from the queued objects:
   -- visit(c, v, k) for each edge v -k-> c returns true when c is new (then
   -- it is queued too).
   local function walk(g, queue, visit)
      local head = 1
      while queue[head] do
         local v = queue[head]
         head = head + 1
         for k = 1, SLOTS do
            local c = g.edge[v][k]
            if c and visit(c, v, k) then queue[#queue + 1] = c end
         end
      end
   end

   -- reach(g, removed, also, unrooted) — chain length - 1 to each object from
   -- the model's roots: handles (plus `also`, but not `unrooted`'s) and the
   -- referents of objects with a finalizer, never through `removed`.
   local function reach(g, removed, also, unrooted)
      local dist, queue = {}, {}
      for i = 1, g.n do
         if (g.handle[i] or i == also) and i ~= removed and i ~= unrooted then
            dist[i] = 0
            queue[#queue + 1] = i
         end
      end
      for f = 1, g.n do
         if g.fin[f] then
            for k = 1, SLOTS do
               local c = g.edge[f][k]
               if c and c ~= removed and not dist[c] then
                  dist[c] = 1
                  queue[#queue + 1] = c
               end
            end
         end
      end
      walk(g, queue, function(c, v)
         if c == removed or dist[c] then return false end
         dist[c] = dist[v] + 1
         return true
      end)
      return dist
   end

   local function random_graph(seed)
      local rnd = seed
      local function next_int(n) -- xorshift, seeded: the same graphs every run
         rnd = rnd ~ (rnd << 13); rnd = rnd ~ (rnd >> 7); rnd = rnd ~ (rnd << 17)
         return (rnd >> 1) % n + 1
      end
      local g = { n = next_int(20), edge = {}, handle = {}, fin = {} }
      for i = 1, g.n do
         g.edge[i] = {}
         for k = 1, SLOTS do
            if next_int(3) > 1 then g.edge[i][k] = next_int(g.n) end
         end
         g.handle[i] = next_int(5) == 1
         g.fin[i] = next_int(8) == 1
      end
      return g
   end

   -- handle_of(i) — object i's handle: from roots() if it is a root (the
   -- kept handle itself: one handle per object),
   -- else read along a model path from a kept handle or an object with a
   -- finalizer (roots() hands those out).
   local function handle_of(g, i, kept, index)
      local function from_roots(kind, want)
         for _, r in ipairs(heap:roots()) do
            if r[1] == kind and index[r[2]:id()] == want then return r[2] end
         end
      end
      if kept[i] then return from_roots("handle", i) end
      local parent, queue = {}, {}
      for s = 1, g.n do
         if kept[s] or g.fin[s] then parent[s] = false; queue[#queue + 1] = s end
      end
      walk(g, queue, function(c, v, k)
         if parent[c] ~= nil then return false end
         parent[c] = { v, k }
         return true
      end)
      local steps, v = {}, i
      while parent[v] do
         steps[#steps + 1] = parent[v][2]
         v = parent[v][1]
      end
      local cur = kept[v] or from_roots("finalizer", v)
      for s = #steps, 1, -1 do cur = cur[steps[s]] end
      return cur
   end

   -- check_object — q is i's one handle (a kept object's is the one kept),
   -- which path_to does not count as a root: the path comes from the other
   -- roots, or there is none.
   local function check_object(g, i, q, index, each)
      local d = reach(g, nil, nil, i)[i]
      local p = heap:path_to(q)
      local steps = {}
      for k, step in ipairs(p or {}) do steps[k] = { step[1], index[step[2]:id()] } end
      assert.equal(d == nil, p == nil)
      p = nil
      H.drop_handles()
      if d then
         assert.equal(d + 1, #steps)
         local prev = steps[1][2]
         assert.is_true((steps[1][1] == "handle" and g.handle[prev] and prev ~= i)
            or (steps[1][1] == "finalizer" and g.fin[prev]))
         for k = 2, #steps do
            assert.equal(steps[k][2], g.edge[prev][steps[k][1]])
            prev = steps[k][2]
         end
         assert.equal(i, prev)
      end
      local with_i, without_i = reach(g, nil, i), reach(g, i, nil)
      local want = 0
      for v = 1, g.n do
         if with_i[v] and not without_i[v] then want = want + 1 end
      end
      local bytes, objects = heap:retained(q)
      assert.equal(want, objects)
      assert.equal(want * each, bytes)
      local refs = {}
      for u = 1, g.n do
         for k = 1, SLOTS do
            if g.edge[u][k] == i and (with_i[u] or g.fin[u]) then refs[#refs + 1] = u; break end
         end
      end
      local got = {}
      for k, o in ipairs(heap:referrers(q)) do got[k] = index[o:id()] end
      table.sort(got)
      assert.same(refs, got)
      local want_ref, got_ref = {}, {}
      for k = 1, SLOTS do want_ref[#want_ref + 1] = g.edge[i][k] end
      for k, o in ipairs(heap:referents(q)) do got_ref[k] = index[o:id()] end
      assert.same(want_ref, got_ref)
   end

   it("random graphs match brute force", function()
      for seed = 1, 25 do
         heap = tricolor.heap { collector = collector, gogc = false } -- one per graph: no garbage of the last
         local g = random_graph(seed * 7919)
         local objs, index, kept = {}, {}, {}
         for i = 1, g.n do
            objs[i] = heap:new(SLOTS)
            index[objs[i]:id()] = i
         end
         for i = 1, g.n do
            for k = 1, SLOTS do
               if g.edge[i][k] then objs[i][k] = objs[g.edge[i][k]] end
            end
            if g.fin[i] then heap:set_finalizer(objs[i], function() end) end
            if g.handle[i] then kept[i] = objs[i] end
         end
         objs = nil
         H.drop_handles()
         local s = heap:stats()
         local each = s.heap_alloc // s.heap_objects
         local dist = reach(g)
         for i = 1, g.n do
            if dist[i] then
               local q = handle_of(g, i, kept, index)
               H.drop_handles() -- the handles read on the way are roots until collected
               check_object(g, i, q, index, each)
               q = nil
               H.drop_handles()
            end
         end
         heap:close()
      end
   end)
end)
