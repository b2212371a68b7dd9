-- teach_spec.lua — teaching mode (SPEC: Introspection, teaching and replay;
-- issue 15): collector = "manual" with heap:gc_start / gc_step / gc_finish,
-- heap:color and heap:snapshot; every call under every collector; the
-- walk-through's colours after each step against a tri-colour model; for
-- each barrier, stores and handle releases between gc_step calls leave no
-- reachable object white and verify() passes; barrier "none" loses the
-- object and verify() reports it; require("tricolor.teach"). Scenario names
-- follow tests/python/test_teach.py.
package.path = "bindings/lua/?.lua;" .. package.path
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local BARRIERS = { "hybrid", "dijkstra", "yuasa" }

-- reachable(snap) — the set of ids the snapshot's roots reach.
local function reachable(snap)
   local succ = {}
   for _, e in ipairs(snap.edges) do
      succ[e[1]] = succ[e[1]] or {}
      table.insert(succ[e[1]], e[3])
   end
   local todo, seen = {}, {}
   for _, r in ipairs(snap.roots) do
      if r[1] ~= "finalizer" then todo[#todo + 1] = r[2] end
   end
   while #todo > 0 do
      local i = table.remove(todo)
      if not seen[i] then
         seen[i] = true
         for _, d in ipairs(succ[i] or {}) do todo[#todo + 1] = d end
      end
   end
   return seen, succ
end

local function count(set)
   local n = 0
   for _ in pairs(set) do n = n + 1 end
   return n
end

local function with_color(snap, color)
   local out = {}
   for id, c in pairs(snap.colors) do
      if c == color then out[id] = true end
   end
   return out
end

local function step_to_end(heap, between)
   local k = 0
   while true do
      local got = heap:gc_step(1)
      assert.is_true(got == 0 or got == 1)
      if got == 0 then return k end
      k = k + 1
      if between then between(k) end
   end
end

local function assert_nothing_reachable_is_white(heap)
   local snap = heap:snapshot()
   assert.equal("sweep", snap.phase)
   for id in pairs(reachable(snap)) do
      assert.equal("black", snap.colors[id], "a reachable object left " .. snap.colors[id])
   end
end

describe("teaching mode: the calls", function()
   for _, collector in ipairs(H.COLLECTORS) do
      it("gc_start, gc_step and gc_finish need collector manual (" .. collector .. ")", function()
         local h = tricolor.heap { collector = collector }
         H.raises({ "gc_start", "manual", collector }, h.gc_start, h)
         H.raises({ "gc_step", "manual" }, h.gc_step, h, 3)
         H.raises({ "gc_finish", "manual" }, h.gc_finish, h)
         h:close()
      end)
      it("barrier none needs collector manual (" .. collector .. ")", function()
         H.raises({ "barrier", "none", "collector", "manual" }, tricolor.heap,
            { collector = collector, barrier = "none" })
      end)
   end

   for _, collector in ipairs { "stw", "incremental", "concurrent", "manual" } do
      it("color and snapshot between cycles (" .. collector .. ")", function()
         local h = tricolor.heap { collector = collector, gogc = false }
         local a, b = h:new(1), h:new(1)
         a[1] = b
         assert.equal("white", h:color(a))
         local s = h:snapshot()
         assert.equal("off", s.phase)
         local found = false
         for _, e in ipairs(s.edges) do
            if e[1] == a:id() and e[2] == 1 and e[3] == b:id() then found = true end
         end
         assert.is_true(found)
         assert.equal("white", s.colors[b:id()])
         assert.equal(0, #s.grey)
         h:collect()
         assert.equal("white", h:color(b))
         h:close()
      end)
   end

   it("counts the barrier's slow stores and the objects it greys", function()
      for barrier, shades in pairs { hybrid = 1, dijkstra = 0, yuasa = 1 } do
         local h = tricolor.heap { collector = "manual", barrier = barrier }
         local r = h:new(1)
         r[1] = h:new(0)
         H.drop_handles() -- r[1]'s object is reachable through r only
         local s0 = h:stats()
         r[1] = nil       -- no mark running: the fast path
         r[1] = h:new(0)
         H.drop_handles()
         h:gc_start()
         local s1 = h:stats()
         assert.are.same({ 0, 0 }, { s1.barrier_slow - s0.barrier_slow, s1.barrier_shaded - s0.barrier_shaded })
         r[1] = nil
         local s2 = h:stats()
         assert.are.same({ 1, shades },
            { s2.barrier_slow - s1.barrier_slow, s2.barrier_shaded - s1.barrier_shaded }, barrier)
         h:gc_finish()
         h:close()
      end
   end)

   it("a manual cycle answers as the SPEC says", function()
      local h = tricolor.heap { collector = "manual" }
      local a = h:new(1)
      a[1] = h:new(0)
      h:new(0)
      H.drop_handles()
      assert.equal(0, h:gc_step())
      assert.equal(0, h:gc_finish())
      h:gc_start()
      H.raises("running", h.gc_start, h)
      assert.equal("grey", h:color(a))
      assert.equal(1, h:gc_step(1))
      assert.equal("black", h:color(a))
      assert.equal(1, h:gc_step(100))
      assert.equal(0, h:gc_step(100))
      assert.equal("sweep", h:stats().phase)
      assert.equal(1, h:gc_finish())
      assert.equal(1, h:stats().num_gc)
      H.raises("n >= 1", h.gc_step, h, 0)
      h:verify()
      h:close()
   end)

   it("no allocation starts a manual cycle", function()
      local h = tricolor.heap { collector = "manual", memory_limit = 8 * 1024 * 1024 }
      for _ = 1, 3000 do h:new(0, 4096) end
      H.drop_handles()
      assert.equal(0, h:stats().num_gc)
      h:close()
   end)

   it("color of another heap's object, a freed one, a closed heap", function()
      local h, other = tricolor.heap { collector = "manual" }, tricolor.heap { collector = "manual" }
      local o = other:new(0)
      H.raises("another heap", h.color, h, o)
      local x = h:new(0)
      tricolor.unsafe.free(x)
      H.raises("freed", h.color, h, x)
      h:close()
      H.raises("closed", h.snapshot, h)
      H.raises("closed", h.gc_start, h)
      other:close()
   end)
end)

describe("teaching mode: the walk-through against a model", function()
   for seed = 1, 4 do
      it("colours after each step (seed " .. seed .. ")", function()
         math.randomseed(seed)
         local h = tricolor.heap { collector = "manual" }
         local keep = {}
         do
            local objs = {}
            for i = 1, 30 do objs[i] = h:new(3) end
            for _, o in ipairs(objs) do
               for s = 1, 3 do
                  if math.random() < 0.45 then o[s] = objs[math.random(30)] end
               end
            end
            for i = 1, 3 do keep[i] = objs[i * 7] end
         end
         H.drop_handles()
         h:gc_start()
         local snap = h:snapshot()
         local roots = {}
         for _, r in ipairs(snap.roots) do roots[r[2]] = true end
         assert.same(roots, with_color(snap, "grey"))
         local _, succ = reachable(snap)
         local black = {}
         while true do
            local got = h:gc_step(1)
            snap = h:snapshot()
            if got == 0 then break end
            local now = with_color(snap, "black")
            assert.equal(count(black) + got, count(now))
            for id in pairs(black) do assert.is_true(now[id]) end
            black = now
            local expect = {}
            for id in pairs(roots) do expect[id] = true end
            for id in pairs(black) do
               for _, d in ipairs(succ[id] or {}) do expect[d] = true end
            end
            for id in pairs(black) do expect[id] = nil end
            assert.same(expect, with_color(snap, "grey"))
            assert.equal(count(expect), #snap.grey)
            for _, o in ipairs(keep) do assert.equal(snap.colors[o:id()], h:color(o)) end
         end
         assert.same(reachable(snap), with_color(snap, "black"))
         assert.equal(count(with_color(snap, "white")), h:gc_finish())
         h:verify()
         h:close()
      end)
   end
end)

-- hide_behind_black(h) — R (the only root) -> P, Q; P -> X; after one step R
-- is black, P and Q grey, X white. Returns R and X's id.
local function hide_behind_black(h)
   local r = h:new(3)
   local xid
   do
      local p, q, x = h:new(1), h:new(1), h:new(0, 8)
      r[1], r[2], p[1] = p, q, x
      x:set_data("survivor")
      xid = x:id()
   end
   H.drop_handles()
   h:gc_start()
   assert.equal(1, h:gc_step(1))
   assert.equal("black", h:color(r))
   assert.equal("white", h:snapshot().colors[xid])
   return r, xid
end

describe("teaching mode: barriers between steps", function()
   for _, barrier in ipairs(BARRIERS) do
      for _, release in ipairs { true, false } do
         it(("a white object moved behind a black one survives (%s, handle %s)"):format(barrier,
            release and "released" or "kept"), function()
            local h = tricolor.heap { collector = "manual", barrier = barrier }
            local r, xid = hide_behind_black(h)
            local x = r[1][1]
            r[3] = x
            r[1][1] = nil
            if release then x = nil end
            H.drop_handles()
            step_to_end(h)
            assert_nothing_reachable_is_white(h)
            h:gc_finish()
            h:verify()
            assert.equal(xid, r[3]:id())
            assert.equal("survivor", r[3]:data())
            x = nil
            h:close()
         end)
      end

      it("a white object kept only by a new handle survives (" .. barrier .. ")", function()
         local h = tricolor.heap { collector = "manual", barrier = barrier }
         local r, xid = hide_behind_black(h)
         local x = r[1][1]
         r[1][1] = nil
         H.drop_handles()
         step_to_end(h)
         assert_nothing_reachable_is_white(h)
         assert.equal("black", h:color(x))
         h:gc_finish()
         h:verify()
         assert.equal(xid, x:id())
         assert.equal("survivor", x:data())
         h:close()
      end)

      it("random stores and releases between steps lose nothing (" .. barrier .. ")", function()
         for seed = 1, 4 do
            math.randomseed(seed)
            local h = tricolor.heap { collector = "manual", barrier = barrier }
            local held = {}
            do
               local objs = {}
               for i = 1, 25 do objs[i] = h:new(3) end
               for _, o in ipairs(objs) do
                  for s = 1, 3 do
                     if math.random() < 0.45 then o[s] = objs[math.random(25)] end
                  end
               end
               held = { objs[1], objs[9], objs[17] }
            end
            H.drop_handles()
            h:gc_start()
            step_to_end(h, function()
               for _ = 1, 3 do
                  local a = held[math.random(#held)]
                  local v = a[math.random(3)]
                  if v ~= nil and math.random() < 0.5 then held[#held + 1] = v end
                  local b = held[math.random(#held)]
                  if math.random() < 0.3 then
                     b[math.random(3)] = nil
                  else
                     b[math.random(3)] = v or held[math.random(#held)]
                  end
                  if #held > 2 and math.random() < 0.4 then table.remove(held, math.random(#held)) end
               end
               H.drop_handles()
            end)
            assert_nothing_reachable_is_white(h)
            h:gc_finish()
            h:verify()
            h:close()
         end
      end)
   end

   it("barrier none loses the object and verify reports it", function()
      local h = tricolor.heap { collector = "manual", barrier = "none" }
      local r, xid = hide_behind_black(h)
      do
         local x = r[1][1]
         r[3] = x
         r[1][1] = nil
      end
      H.drop_handles()
      step_to_end(h)
      local snap = h:snapshot()
      assert.is_true(reachable(snap)[xid])
      assert.equal("white", snap.colors[xid])
      assert.equal(1, h:gc_finish())
      H.raises("slot 2", h.verify, h)
      h:close()
   end)
end)

describe("require('tricolor.teach')", function()
   local teach = require("tricolor.teach")
   local where = { hybrid = "x = R[2][1]", dijkstra = "R[3] = x", yuasa = "R[2][1] = nil" }
   for _, barrier in ipairs(BARRIERS) do
      it("shows which barrier shaded X (" .. barrier .. ")", function()
         local frames = teach.walk(barrier)
         local x
         for id, name in pairs(frames[1].names) do
            if name == "X" then x = id end
         end
         local shaded = {}
         for _, f in ipairs(frames) do
            for _, id in ipairs(f.shaded) do
               if id == x then shaded[#shaded + 1] = f.title end
            end
         end
         assert.same({ where[barrier] }, shaded)
         assert.is_nil(frames[#frames].verify_error)
      end)
   end
   it("barrier none: X is lost and verify reports it", function()
      local frames = teach.walk("none")
      local last = frames[#frames]
      assert.truthy(last.verify_error and last.verify_error:find("free", 1, true))
      local lost = false
      for _, f in ipairs(frames) do lost = lost or f.lost ~= nil end
      assert.is_true(lost)
   end)
end)
