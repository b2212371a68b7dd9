-- mmu_spec.lua — tricolor.mmu(intervals, windows [, start_ns, end_ns]): MMU and
-- BMU of GC intervals (SPEC: Latency), against a brute-force reference on
-- small integer times (exact there: see csrc/mmu.c's header), plus the
-- errors. tests/python/test_mmu.py has the same scenarios in Python.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local KINDS = { "pause", "assist", "slice", "sweep", "limit_wait" }
local RANK = {}
for i, k in ipairs(KINDS) do RANK[k] = i end

-- reference(iv, s, e, windows) — the expected points for integer windows (ns).
local function reference(iv, s, e, windows)
   local cell, prefix = {}, { [0] = 0 }
   for c = s, e - 1 do
      local k
      for _, x in ipairs(iv) do
         if x[1] <= c and c + 1 <= x[2] and (not k or RANK[x[3]] < k) then k = RANK[x[3]] end
      end
      cell[c] = k
      prefix[c - s + 1] = prefix[c - s] + (k and 1 or 0)
   end
   local L = e - s
   local function worst(w)
      local best, at = -1, s
      for t = 0, L - w do
         local g = prefix[t + w] - prefix[t]
         if g > best then best, at = g, s + t end
      end
      return best, at
   end
   local out = {}
   for i, w in ipairs(windows) do
      if L == 0 then
         out[i] = { mmu = 1.0, bmu = 1.0, worst_start_ns = s, by_kind = {} }
      else
         w = math.min(w, L)
         local g, at = worst(w)
         local bmu = 1.0
         for v = w, L do bmu = math.min(bmu, 1.0 - worst(v) / v) end
         local by = {}
         for c = at, at + w - 1 do
            if cell[c] then by[KINDS[cell[c]]] = (by[KINDS[cell[c]]] or 0) + 1 end
         end
         out[i] = { mmu = 1.0 - g / w, bmu = bmu, worst_start_ns = at, by_kind = by }
      end
   end
   return out
end

describe("tricolor.mmu", function()
   it("gives SPEC's example: one 1 ms pause in a 10 ms run", function()
      local r = tricolor.mmu({ { 4000000, 5000000, "pause" } }, { 0.001, 0.01 }, 0, 10000000)
      assert.equal(2, #r)
      assert.same({ window = 0.001, mmu = 0.0, bmu = 0.0, worst_start_ns = 4000000,
                    by_kind = { pause = 1000000, assist = 0, slice = 0, sweep = 0, limit_wait = 0 } }, r[1])
      assert.is_true(math.abs(r[2].mmu - 0.9) < 1e-12)
      assert.equal(r[2].mmu, r[2].bmu)
   end)

   it("matches a brute-force reference on random interval sets", function()
      local rnd = 12345
      local function rand(n) rnd = (rnd * 1103515245 + 12345) % 2147483648; return rnd % n end
      for _ = 1, 300 do
         local iv = {}
         for i = 1, rand(9) do
            local s = rand(50)
            iv[i] = { s, s + rand(rand(2) == 0 and 5 or 20), KINDS[rand(5) + 1] }
         end
         local s, e = 0, 0
         if #iv > 0 then
            s, e = math.huge, 0
            for _, x in ipairs(iv) do s, e = math.min(s, x[1]), math.max(e, x[2]) end
         end
         local windows, secs = {}, {}
         for w = 1, e - s + 2 do windows[w], secs[w] = w, w * 1e-9 end
         local got, want = tricolor.mmu(iv, secs), reference(iv, s, e, windows)
         for i = 1, #windows do
            local g, r = got[i], want[i]
            assert.equal(r.mmu, g.mmu)
            assert.equal(r.bmu, g.bmu)
            assert.equal(r.worst_start_ns, g.worst_start_ns)
            assert.is_true(0 <= g.bmu and g.bmu <= g.mmu and g.mmu <= 1)
            for _, k in ipairs(KINDS) do assert.equal(r.by_kind[k] or 0, g.by_kind[k]) end
            if i > 1 then assert.is_true(got[i - 1].bmu <= g.bmu) end
         end
      end
   end)

   it("counts overlaps once, for the first kind", function()
      local iv = { { 14, 20, "assist" }, { 10, 16, "slice" }, { 12, 13, "pause" }, { 15, 15, "sweep" } }
      local p = tricolor.mmu(iv, { 10e-9 }, 0, 40)[1]
      assert.equal(0.0, p.mmu)
      assert.equal(10, p.worst_start_ns)
      assert.same({ pause = 1, assist = 6, slice = 3, sweep = 0, limit_wait = 0 }, p.by_kind)
   end)

   it("takes a window longer than the run as the run, and an empty run as all mutator", function()
      local p = tricolor.mmu({ { 0, 3, "pause" } }, { 1 }, 0, 10)[1]
      assert.is_true(math.abs(p.mmu - 0.7) < 1e-12)
      assert.equal(0, p.worst_start_ns)
      assert.same({}, tricolor.mmu({}, {}))
      p = tricolor.mmu({}, { 1 })[1]
      assert.equal(1.0, p.mmu)
      assert.equal(1.0, p.bmu)
   end)

   it("names the argument and the index of bad input", function()
      local ok = { { 0, 1, "pause" }, { 1, 2, "sweep" } }
      local function with(bad) return { ok[1], ok[2], bad } end
      H.raises({ "intervals[3]", "triple" }, tricolor.mmu, with({ 0, 1 }), { 1 })
      H.raises({ "intervals[3]", "triple" }, tricolor.mmu, with(7), { 1 })
      H.raises({ "intervals[3]", "before" }, tricolor.mmu, with({ 5, 4, "pause" }), { 1 })
      H.raises({ "intervals[3]", ">= 0" }, tricolor.mmu, with({ -1, 4, "pause" }), { 1 })
      H.raises({ "intervals[3]", "limit_wait" }, tricolor.mmu, with({ 0, 4, "mark" }), { 1 })
      H.raises({ "intervals[3]", "kind" }, tricolor.mmu, with({ 0, 4, 3 }), { 1 })
      H.raises({ "intervals[3]", "start_ns", "integer" }, tricolor.mmu, with({ 0.5, 4, "pause" }), { 1 })
      H.raises({ "intervals[3]", "end_ns", "integer" }, tricolor.mmu, with({ 0, "4", "pause" }), { 1 })
      H.raises("'intervals'", tricolor.mmu, nil, { 1 })
      H.raises({ "windows[2]", "positive" }, tricolor.mmu, ok, { 1, 0 })
      H.raises({ "windows[1]", "positive" }, tricolor.mmu, ok, { -1 })
      H.raises({ "windows[1]", "NaN" }, tricolor.mmu, ok, { 0 / 0 })
      H.raises({ "windows[1]", "finite" }, tricolor.mmu, ok, { math.huge })
      H.raises({ "windows[1]", "number" }, tricolor.mmu, ok, { "1" })
      H.raises("'windows'", tricolor.mmu, ok, 0.001)
      H.raises({ "start_ns", "after" }, tricolor.mmu, ok, { 1 }, 5, 2)
      H.raises({ "start_ns", ">= 0" }, tricolor.mmu, ok, { 1 }, -1)
      H.raises({ "end_ns", "integer" }, tricolor.mmu, ok, { 1 }, nil, 1.5)
   end)

   it("handles many intervals", function()
      local iv, rnd = {}, 7
      for i = 1, 100000 do
         rnd = (rnd * 1103515245 + 12345) % 2147483648
         iv[i] = { rnd * 4, rnd * 4 + rnd % 3000, KINDS[rnd % 5 + 1] }
      end
      local r = tricolor.mmu(iv, { 1e-6, 1e-3, 0.1, 100 })
      for i, p in ipairs(r) do
         assert.is_true(0 <= p.bmu and p.bmu <= p.mmu and p.mmu <= 1)
         if i > 1 then assert.is_true(r[i - 1].bmu <= p.bmu) end
      end
   end)
end)
