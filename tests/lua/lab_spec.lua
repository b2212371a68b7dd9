-- lab_spec.lua — require("tricolor.lab") (issue 14; SPEC: Lab): the Lua
-- entry point answers a question with the same result object as Python's
-- `python -m tricolor lab --json`. Run with bindings/lua on LUA_PATH.
package.path = "bindings/lua/?.lua;" .. package.path
local lab = require("tricolor.lab")

describe("tricolor.lab", function()
   it("answers the barrier question with quick = true", function()
      local r = lab.run { question = "barrier", quick = true }
      assert.are.equal("barrier", r.question)
      assert.are.equal("random-graph", r.config.workload)
      assert.are.equal(2, r.config["repeat"])
      assert.is_false(r.config.interrupted)
      assert.are.equal(3, #r.rows)
      local seen = {}
      for _, row in ipairs(r.rows) do
         seen[row.barrier] = row
         assert.are.equal("lua", row.lang)
         assert.are.equal(2, row.runs)
         assert.are.equal(2, #row.samples.mutator_s)
         assert.are.equal(lab.median(row.samples.mutator_s), row.mutator_s)
         assert.is_true(row.ratio_lo <= row.ratio and row.ratio <= row.ratio_hi)
      end
      assert.are.equal("baseline", seen.hybrid.verdict)
      assert.are.equal(lab.verdict(seen.yuasa.ratio_lo, seen.yuasa.ratio_hi), seen.yuasa.verdict)
      assert.are.equal(3, #r.machine.load_before)
      -- the JSON text has the four keys of SPEC's object
      local text = lab.json(r)
      for _, k in ipairs({ '"question":', '"config":', '"rows":', '"machine":' }) do
         assert.truthy(text:find(k, 1, true))
      end
   end)

   it("answers pauses for every collector and size", function()
      local r = lab.run { question = "pauses", quick = true, sizes = { 1, 2 } }
      assert.are.equal(6, #r.rows)
      for _, row in ipairs(r.rows) do
         -- MMU is not monotone in the window (GC at both ends of a 15 ms run:
         -- MMU(10 ms) = 0.75 > MMU(15 ms) = 0.67; BMU is the monotone one), so
         -- only its range is checked, as tests/python/test_lab.py does
         for _, k in ipairs({ "mmu_1ms", "mmu_10ms", "mmu_100ms" }) do
            assert.is_true(row[k] >= 0 and row[k] <= 1)
         end
         assert.is_true(row.pause_p99_ms <= row.pause_max_ms)
         assert.is_true(row.live_mib >= 0.9 * row.size_mib)
      end
   end)

   it("names the valid choices for bad input", function()
      local function input_error(opts)
         local ok, err = pcall(lab.run, opts)
         assert.is_false(ok)
         assert.are.equal("input", err.kind)
         return err.msg
      end
      assert.truthy(input_error { question = "bogus" }:find("pauses, gogc, barrier, limit, why", 1, true))
      assert.truthy(input_error { question = "why", workload = "churn" }:find("worked example", 1, true))
      assert.truthy(input_error { question = "pauses", workload = "nope" }:find("churn", 1, true))
      assert.truthy(input_error { question = "barrier", params = { bogus = 1 } }:find("degree", 1, true))
   end)

   it("answers why with the worked example's findings", function()
      local res = lab.run { question = "why", collector = "incremental" }
      local rows = {}
      for _, r in ipairs(res.rows) do rows[r.section .. ":" .. r.object] = r end
      local via = {}
      for i, step in ipairs(rows["path:doc"].steps) do via[i] = step.object end
      assert.are.same({ "app", "listeners", "listener", "doc" }, via)
      assert.are.equal("listener", rows["referrers:doc"].referrer)
      assert.are.equal(3, rows["retained:listener"].objects)
      assert.are.equal(3, rows["fix:listener"].freed)
      assert.are.equal("incremental", res.config.collector)
   end)

   it("computes MMU as SPEC's example says", function()
      local ms = 1000000
      assert.are.equal(0, lab.mmu({ { 0, ms } }, ms, 0, 10 * ms))
      assert.is_true(math.abs(lab.mmu({ { 0, ms } }, 10 * ms, 0, 10 * ms) - 0.9) < 1e-9)
      assert.are.equal(1.0, lab.mmu({}, ms, 0, 10 * ms))
   end)

   it("encodes JSON with null, arrays and escapes", function()
      assert.are.equal('{"a":[1,2.5],"b":null,"c":"x\\"y\\n"}',
         lab.json { a = { 1, 2.5 }, b = lab.null, c = 'x"y\n' })
      assert.are.equal("[]", lab.json(lab.array()))
   end)
end)
