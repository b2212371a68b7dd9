-- tricolor.lab — the lab in Lua: the canonical GC questions answered on a
-- tricolor heap, the same questions, plans and result object as Python's
-- `python -m tricolor lab` (docs/lab.md):
--
--   local lab = require("tricolor.lab")
--   local r = lab.run{question = "pauses", quick = true}
--   -- r.question, r.config, r.rows (one table per configuration), r.machine
--   print(lab.json(r))
--
-- Options: question ("pauses", "gogc", "barrier", "limit", or "why": the
-- worked example of tricolor.why, which takes only collector), quick, repeat (default 3, quick 1, barrier quick 2),
-- workload (a name of tricolor.lab.workloads or a path/to/file.lua),
-- params (workload parameters), sizes (pauses, MiB), barriers ("hybrid" or
-- "all", pauses), collector (gogc, barrier, limit), progress (a function
-- (i, n, label, seconds) called after each run).
--
-- Bad options raise an error whose message starts with "tricolor.lab: "
-- and names the valid choices. A workload that raises: an error carrying
-- its traceback and the configuration it failed in. Ctrl-C (the
-- interpreter's "interrupted!") stops after the current run: run returns
-- what finished, with config.interrupted = true.
--
-- Values that were not measured are lab.null (JSON null). The latency
-- columns come from the core's GC events (every pause, assist, incremental
-- slice, lazy sweep and limit wait, read from the run's trace file), as
-- bindings/python/tricolor/lab/metrics.py, which this mirrors, computes them.
local tricolor = require("tricolor")
local W = require("tricolor.lab.workloads")

local lab = { workloads = W }
local MiB = 1 << 20
local now = tricolor.now_ns

-- ---- JSON ------------------------------------------------------------------------

lab.null = setmetatable({}, { __tostring = function() return "null" end })
local ARRAY = { __name = "lab.array" }

-- lab.array(t) — mark t as a JSON array (an empty table is an object otherwise).
function lab.array(t) return setmetatable(t or {}, ARRAY) end

local function is_array(t)
   if getmetatable(t) == ARRAY then return true end
   local n = #t
   if n == 0 then return false end
   for k in pairs(t) do
      if math.type(k) ~= "integer" or k < 1 or k > n then return false end
   end
   return true
end

local function encode(v, out)
   local ty = type(v)
   if v == nil or v == lab.null then
      out[#out + 1] = "null"
   elseif ty == "boolean" then
      out[#out + 1] = tostring(v)
   elseif ty == "number" then
      if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
      elseif math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
      else out[#out + 1] = string.format("%.17g", v) end
   elseif ty == "string" then
      out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
         return ({ ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t" })[c]
            or string.format("\\u%04x", c:byte())
      end) .. '"'
   elseif ty == "table" and is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
         if i > 1 then out[#out + 1] = "," end
         encode(v[i], out)
      end
      out[#out + 1] = "]"
   elseif ty == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
         if i > 1 then out[#out + 1] = "," end
         encode(k, out)
         out[#out + 1] = ":"
         encode(v[k], out)
      end
      out[#out + 1] = "}"
   else
      out[#out + 1] = "null" -- functions, handles: not data
   end
end

-- lab.json(v) — v as JSON text (keys sorted; lab.null and NaN are null).
function lab.json(v)
   local out = {}
   encode(v, out)
   return table.concat(out)
end

-- ---- statistics (as tricolor/lab/stats.py) -------------------------------------------

local function num(v) return type(v) == "number" end

function lab.median(vs)
   local xs = {}
   for _, v in ipairs(vs) do if num(v) then xs[#xs + 1] = v end end
   if #xs == 0 then return lab.null end
   table.sort(xs)
   local mid = #xs // 2
   if #xs % 2 == 1 then return xs[mid + 1] + 0.0 end
   return (xs[mid] + xs[mid + 1]) / 2
end

-- lab.percentile(vs, q) — nearest rank: a value that was observed.
function lab.percentile(vs, q)
   if #vs == 0 then return lab.null end
   local xs = table.move(vs, 1, #vs, 1, {})
   table.sort(xs)
   return xs[math.max(1, math.ceil(q / 100 * #xs))] + 0.0
end

-- lab.bootstrap_ratio(base, other) — median of the paired ratios
-- other[i]/base[i] and its 95% percentile-bootstrap interval.
function lab.bootstrap_ratio(base, other, rounds)
   rounds = rounds or 2000
   local pairs_ = {}
   for i = 1, math.min(#base, #other) do
      if num(base[i]) and base[i] ~= 0 and num(other[i]) then pairs_[#pairs_ + 1] = other[i] / base[i] end
   end
   if #pairs_ == 0 then return lab.null, lab.null, lab.null end
   local state, n, meds = 0x2545F4914F6CDD1D, #pairs_, {}
   for r = 1, rounds do
      local sample = {}
      for j = 1, n do
         state = state ~ (state << 13); state = state ~ (state >> 7); state = state ~ (state << 17)
         sample[j] = pairs_[(state >> 1) % n + 1]
      end
      meds[r] = lab.median(sample)
   end
   table.sort(meds)
   return lab.median(pairs_), meds[math.floor(0.025 * rounds) + 1], meds[math.min(rounds, math.ceil(0.975 * rounds))]
end

function lab.verdict(lo, hi)
   if not num(lo) or not num(hi) then return "n/a" end
   if lo > 1 then return "slower" end
   if hi < 1 then return "faster" end
   return "noise"
end

-- lab.mmu(intervals, window_ns, start_ns, end_ns) — minimum mutator
-- utilisation of {start, end} GC intervals over windows of window_ns: the
-- worst window has an edge on an interval edge, so only those are tried.
function lab.mmu(intervals, window_ns, start_ns, end_ns)
   local span = end_ns - start_ns
   if span <= 0 then return 1.0 end
   local w = math.min(window_ns, span)
   local iv = {}
   for _, i in ipairs(intervals) do
      local s, e = math.max(i[1], start_ns), math.min(i[2], end_ns)
      if e > s then iv[#iv + 1] = { s, e } end
   end
   table.sort(iv, function(a, b) return a[1] < b[1] end)
   local merged = {}
   for _, i in ipairs(iv) do
      local last = merged[#merged]
      if last and i[1] <= last[2] then last[2] = math.max(last[2], i[2]) else merged[#merged + 1] = { i[1], i[2] } end
   end
   if #merged == 0 then return 1.0 end
   local prefix = { [0] = 0 }
   for k, i in ipairs(merged) do prefix[k] = prefix[k - 1] + i[2] - i[1] end
   local function busy_until(t) -- GC ns in [start_ns, t]
      local lo, hi = 1, #merged + 1 -- first interval starting after t
      while lo < hi do
         local mid = (lo + hi) // 2
         if merged[mid][1] <= t then lo = mid + 1 else hi = mid end
      end
      local k = lo - 1
      if k == 0 then return 0 end
      return prefix[k - 1] + math.min(t, merged[k][2]) - merged[k][1]
   end
   local worst = 0
   for _, i in ipairs(merged) do
      for _, edge in ipairs({ i[1], i[2] }) do
         for _, left in ipairs({ edge, edge - w }) do
            left = math.min(math.max(left, start_ns), end_ns - w)
            worst = math.max(worst, busy_until(left + w) - busy_until(left))
         end
      end
   end
   return math.max(0.0, 1.0 - worst / w)
end

-- ---- metrics (as tricolor/lab/metrics.py: the one switch on the latency layer) -------

local function layer(heap)
   local ok, mmu = pcall(function() return heap.mmu end)
   return heap:stats().delay_max_ns ~= nil and ok and mmu ~= nil
end

local LAYER = (function()
   local h = tricolor.heap { collector = "stw" }
   local yes = layer(h)
   h:close()
   return yes
end)()
lab.LAYER = LAYER

-- Columns the core does not count (write-barrier work), and, without the
-- latency layer, the ones estimated from pauses.
local HAVE_BARRIER_COUNTS = (function()
   local h = tricolor.heap { collector = "stw" }
   local yes = h:stats().barrier_slow ~= nil
   h:close()
   return yes
end)()
lab.NOT_MEASURED = HAVE_BARRIER_COUNTS and lab.array {} or lab.array { "barrier_slow", "shaded" }
lab.PROVISIONAL = LAYER and lab.NOT_MEASURED
   or lab.array { "barrier_slow", "delay_max_ms", "delay_ms", "delay_p99_ms", "limit_wait_ms",
      "mmu_100ms", "mmu_10ms", "mmu_1ms", "shaded" }

local DELAY_KINDS = { pause = true, assist = true, slice = true, sweep = true, limit_wait = true }

-- delay_kind(name) — the mutator-delay kind of a trace event name (the core
-- names each event by its kind), nil for work beside the program.
local function delay_kind(name)
   local n = name:lower()
   if n:find("pause") then return "pause" end
   if LAYER and DELAY_KINDS[n] then return n end
   return nil
end

-- read_trace(path, anchor) — the delay events of a trace file as {start,
-- end, kind} monotonic ns. Trace timestamps count microseconds from the heap's
-- birth; the "trace_start" instant was stamped as heap:trace_start()
-- returned, at `anchor` on our clock, which pins the one to the other.
local function read_trace(path, anchor)
   local f = io.open(path)
   if not f then return {} end
   local text = f:read("a")
   f:close()
   local out = {}
   local from = text:find('"traceEvents"%s*:%s*%[') or 1
   local born = anchor
   local start = text:match('"name"%s*:%s*"trace_start"[^}]-"ts"%s*:%s*([-%d.eE+]+)')
   if start then born = anchor - math.floor(tonumber(start) * 1000) end
   for ev in text:sub(from):gmatch("%b{}") do
      local name = ev:match('"name"%s*:%s*"([^"]*)"')
      local kind = name and ev:find('"ph"%s*:%s*"X"') and delay_kind(name)
      if kind then
         local ts, dur = tonumber(ev:match('"ts"%s*:%s*([-%d.eE+]+)')), tonumber(ev:match('"dur"%s*:%s*([-%d.eE+]+)'))
         if ts and dur then
            local s = born + math.floor(ts * 1000)
            out[#out + 1] = { s, s + math.floor(dur * 1000), kind }
         end
      end
   end
   return out
end

local function ms(ns) return ns / 1e6 end

-- hist_p99(h1, h0) — the upper bound (ns) of the bucket holding the 99th
-- percentile of the intervals histogram h1 gained over h0; nil if none.
local function hist_p99(h1, h0)
   local counts, total = {}, 0
   for i, c in ipairs(h1.counts) do counts[i] = c - (h0 and h0.counts[i] or 0); total = total + counts[i] end
   if total == 0 then return nil end
   local seen = 0
   for i, c in ipairs(counts) do
      seen = seen + c
      if seen >= 0.99 * total then return h1.bounds_ns[math.min(i + 1, #h1.bounds_ns)] end
   end
   return h1.bounds_ns[#h1.bounds_ns]
end

local function mmu_columns(out, inside, t0, t1)
   if tricolor.mmu and t1 > t0 then -- the core's exact MMU (csrc/mmu.c)
      local iv = {}
      for i, e in ipairs(inside) do iv[i] = { math.max(e[1], t0), math.min(e[2], t1), e[3] } end
      for _, row in ipairs(tricolor.mmu(iv, { 0.001, 0.01, 0.1 }, t0, t1)) do
         out[("mmu_%dms"):format(math.floor(row.window * 1000 + 0.5))] = row.mmu
      end
   else
      for _, w in ipairs({ 1, 10, 100 }) do out[("mmu_%dms"):format(w)] = lab.mmu(inside, w * 1000000, t0, t1) end
   end
end

-- window(heap, s0, s1, t0, t1, events) — the latency columns of [t0, t1].
local function window(heap, s0, s1, t0, t1, events)
   local pauses, inside, delays = {}, {}, {}
   for _, e in ipairs(events) do
      if e[2] > t0 and e[1] < t1 then
         inside[#inside + 1] = e
         if e[3] == "pause" then pauses[#pauses + 1] = e[2] - e[1] else delays[#delays + 1] = e end
      end
   end
   local total, max = 0, 0
   for _, p in ipairs(pauses) do total, max = total + p, math.max(max, p) end
   local out = {
      pauses = #pauses, stw_ms = ms(total), pause_max_ms = ms(max),
      pause_p50_ms = #pauses > 0 and ms(lab.percentile(pauses, 50)) or 0.0,
      pause_p99_ms = #pauses > 0 and ms(lab.percentile(pauses, 99)) or 0.0,
      assist_ms = ms(s1.assist_ns - s0.assist_ns), limit_wait_ms = lab.null,
      barrier_slow = HAVE_BARRIER_COUNTS and s1.barrier_slow - s0.barrier_slow or lab.null,
      shaded = HAVE_BARRIER_COUNTS and s1.barrier_shaded - s0.barrier_shaded or lab.null,
   }
   if LAYER then
      local dmax, waits = max, 0
      for _, e in ipairs(delays) do
         dmax = math.max(dmax, e[2] - e[1])
         if e[3] == "limit_wait" then waits = waits + (e[2] - e[1]) end
      end
      out.delay_ms = ms(s1.delay_total_ns - s0.delay_total_ns)
      out.delay_max_ms = ms(dmax)
      out.delay_p99_ms = ms(hist_p99(s1.mutator_delay_hist, s0.mutator_delay_hist) or 0)
      out.limit_wait_ms = ms(waits)
      mmu_columns(out, inside, t0, t1)
   else
      out.delay_ms = out.stw_ms + out.assist_ms
      out.delay_max_ms, out.delay_p99_ms = out.pause_max_ms, out.pause_p99_ms
      local only = {}
      for _, e in ipairs(inside) do if e[3] == "pause" then only[#only + 1] = e end end
      mmu_columns(out, only, t0, t1)
   end
   return out
end

local function proc_status(field)
   local f = io.open("/proc/self/status")
   if not f then return lab.null end
   for line in f:lines() do
      local kib = line:match("^" .. field .. ":%s+(%d+)")
      if kib then f:close(); return tonumber(kib) / 1024 end
   end
   f:close()
   return lab.null
end

local function reset_peak_rss()
   local f = io.open("/proc/self/clear_refs", "w")
   if f then f:write("5"); f:close() end
end

-- ---- one run ---------------------------------------------------------------------

local SAMPLE_NS = 5000000 -- 5 ms between heap samples

local function sampler(heap, born)
   local samples = {}
   local function take()
      local s = heap:stats()
      samples[#samples + 1] = { t = (now() - born) / 1e9, heap_alloc = s.heap_alloc, heap_goal = s.heap_goal,
         heap_sys = s.heap_sys, heap_live = s.heap_live, num_gc = s.num_gc }
   end
   return samples, take
end

-- drive(w, heap, params, take) — run the workload in a coroutine, sampling
-- every SAMPLE_NS from a count hook; returns its result and the window start.
local function drive(w, heap, params, take)
   local co = coroutine.create(w.fn)
   local last = now()
   debug.sethook(co, function()
      local t = now()
      if t - last >= SAMPLE_NS then last = t; take() end
   end, "", 1000)
   local t0, s0 = now(), heap:stats()
   local ok, res = coroutine.resume(co, heap, params)
   if ok and coroutine.status(co) == "suspended" then
      t0, s0 = now(), heap:stats()
      repeat ok, res = coroutine.resume(co) until not ok or coroutine.status(co) == "dead"
   end
   if not ok then
      error({ kind = "workload", msg = debug.traceback(co, tostring(res)) }, 0)
   end
   return type(res) == "table" and res or {}, t0, s0
end

local function floating_mib(samples, t0, live)
   if not num(live) then return lab.null end
   local sum, n = 0, 0
   for i = 2, #samples do
      local a, b = samples[i - 1], samples[i]
      if b.num_gc > a.num_gc and b.t >= t0 then sum, n = sum + b.heap_live, n + 1 end
   end
   if n == 0 then return lab.null end
   return math.max(0.0, sum / n - live) / MiB
end

local function peak(samples, field)
   local m = 0
   for _, s in ipairs(samples) do m = math.max(m, s[field]) end
   return m / MiB
end

-- lab.run_once(w, params, heapconfig, measure_live) — one run on a new heap:
-- {values = {...}, samples = {...}} (values as a Python row's).
function lab.run_once(w, params, config, measure_live)
   reset_peak_rss()
   local trace = os.tmpname()
   local born = now()
   local heap <close> = tricolor.heap(config)
   heap:trace_start(trace)
   local anchor = now() -- the trace's "trace_start" instant (read_trace)
   local samples, take = sampler(heap, born)
   take()
   local res, t0, s0 = drive(w, heap, params, take)
   local t1, s1 = now(), heap:stats()
   take()
   local rss = proc_status("VmHWM")
   heap:trace_stop()
   local v = window(heap, s0, s1, t0, t1, read_trace(trace, anchor))
   os.remove(trace)
   local live = lab.null
   if measure_live and res.keep then
      heap:collect(); heap:collect()
      live = heap:stats().heap_live
   end
   res.keep = nil
   local window_s = (t1 - t0) / 1e9
   v.wall_s, v.window_s = (t1 - born) / 1e9, window_s
   v.mutator_s = math.max(0.0, window_s - v.delay_ms / 1e3) -- delay: pauses, assists, slices, sweeps, waits
   v.cycles, v.cycles_total, v.gc_cpu = s1.num_gc - s0.num_gc, s1.num_gc, s1.gc_cpu_fraction
   v.peak_alloc_mib, v.peak_sys_mib, v.peak_rss_mib = peak(samples, "heap_alloc"), peak(samples, "heap_sys"), rss
   v.live_mib = (num(live) and live or s1.heap_live) / MiB
   v.floating_mib = floating_mib(samples, (t0 - born) / 1e9, live)
   v.objects = res.objects or lab.null
   for k, x in pairs(res) do if num(x) and v[k] == nil then v[k] = x end end
   return { values = v, samples = samples }
end

-- ---- the questions (as tricolor/lab/questions.py) -------------------------------------------

local function fail(msg) error({ kind = "input", msg = "tricolor.lab: " .. msg }, 0) end

local function gogc_name(g) return g == lab.null and "off" or tostring(g) end

local Q = {}

Q.pauses = {
   workload = "churn", needs_live = true,
   defaults = { churn = { payload = 1000 } }, quick_defaults = { churn = { payload = 1000, turnover = 3.0 } },
   sizes = { 16.0, 64.0, 256.0, 1024.0 }, quick_sizes = { 4.0, 16.0 },
   plan = function(self, ctx)
      local sizes = ctx.opts.sizes or (ctx.opts.quick and self.quick_sizes or self.sizes)
      local barriers = ctx.opts.barriers == "all" and { "hybrid", "dijkstra", "yuasa" } or { "hybrid" }
      ctx.config.sizes_mib, ctx.config.barriers = lab.array(sizes), lab.array(barriers)
      local kinds = { { "stw", "hybrid" } }
      for _, c in ipairs({ "incremental", "concurrent" }) do
         for _, b in ipairs(barriers) do kinds[#kinds + 1] = { c, b } end
      end
      local plan = {}
      for _, size in ipairs(sizes) do
         for _, k in ipairs(kinds) do
            plan[#plan + 1] = { label = ("%s/%s %g MiB"):format(k[1], k[2], size),
               keys = { collector = k[1], barrier = k[2], size_mib = size },
               heap = { collector = k[1], barrier = k[2] }, params = { live_mib = size }, measure_live = true }
         end
      end
      return plan
   end,
}

Q.gogc = {
   workload = "gcbench",
   defaults = { gcbench = { long_lived_depth = 16, max_depth = 16 } },
   quick_defaults = { gcbench = { long_lived_depth = 13, max_depth = 14, array_size = 100000 } },
   values = { 25, 50, 100, 200, 400, 800, lab.null }, quick_values = { 50, 100, 400, lab.null },
   plan = function(self, ctx)
      local values = ctx.opts.quick and self.quick_values or self.values
      ctx.config.gogc_values = lab.array(values)
      ctx.config.go = lab.null
      ctx.warnings[#ctx.warnings + 1] = "Go's curve is drawn by the Python side (python -m tricolor lab gogc)"
      local plan = {}
      for _, g in ipairs(values) do
         plan[#plan + 1] = { label = "gogc=" .. gogc_name(g), keys = { gogc = g },
            heap = { collector = ctx.opts.collector, gogc = g ~= lab.null and g or false }, params = {} }
      end
      return plan
   end,
}

Q.barrier = {
   workload = "random-graph", quick_repeat = 2,
   defaults = { ["random-graph"] = { live_mib = 8 } },
   quick_defaults = { ["random-graph"] = { live_mib = 2, turnover = 1.0 } },
   plan = function(self, ctx)
      ctx.config.baseline = "hybrid"
      local plan = {}
      for _, b in ipairs({ "hybrid", "dijkstra", "yuasa" }) do
         plan[#plan + 1] = { label = b, keys = { barrier = b }, heap = { collector = ctx.opts.collector, barrier = b },
            params = {}, measure_live = true }
      end
      return plan
   end,
}

Q.limit = {
   workload = "churn", needs_live = true,
   defaults = { churn = { live_mib = 32, turnover = 2.0 } }, quick_defaults = { churn = { live_mib = 4, turnover = 1.5 } },
   factors = { 2.0, 1.5, 1.25, 1.1, 1.0, 0.9 }, quick_factors = { 2.0, 1.1, 0.9 },
   plan = function(self, ctx)
      local probe = ctx.run({ label = "calibration", keys = {}, heap = { collector = ctx.opts.collector },
         params = {}, measure_live = true })
      local live = probe.values.live_mib
      ctx.config.live_mib_measured = live
      local factors = ctx.opts.quick and self.quick_factors or self.factors
      ctx.config.limit_factors = lab.array(factors)
      local plan = { { label = "no limit, gogc=100", keys = { gogc = 100, limit_x = lab.null, limit_mib = lab.null },
         heap = { collector = ctx.opts.collector }, params = {} } }
      for _, g in ipairs({ lab.null, 100 }) do
         for _, f in ipairs(factors) do
            local limit = math.floor(f * live * MiB)
            plan[#plan + 1] = { label = ("limit=%gx gogc=%s"):format(f, gogc_name(g)),
               keys = { gogc = g, limit_x = f, limit_mib = limit / MiB },
               heap = { collector = ctx.opts.collector, gogc = g ~= lab.null and g or false, memory_limit = limit },
               params = {} }
         end
      end
      return plan
   end,
}

local ORDER = { "pauses", "gogc", "barrier", "limit", "why" }
lab.QUESTIONS = ORDER

-- ---- what the rows conclude (as questions.py's finish) ------------------------------------

local function flatness(rows)
   local groups, order = {}, {}
   for _, r in ipairs(rows) do
      local k = r.lang .. "\0" .. r.collector .. "\0" .. r.barrier
      if not groups[k] then groups[k] = {}; order[#order + 1] = k end
      table.insert(groups[k], r)
   end
   for _, k in ipairs(order) do
      local rs = groups[k]
      table.sort(rs, function(a, b) return a.size_mib < b.size_mib end)
      local lo, hi = rs[1].pause_max_ms, rs[#rs].pause_max_ms
      local ratio = (#rs > 1 and num(lo) and lo > 0 and num(hi)) and hi / lo or lab.null
      for _, r in ipairs(rs) do r.flat_ratio = ratio end
   end
end

local function paired(rows, metric, base_name)
   local base = nil
   for _, r in ipairs(rows) do if r.barrier == base_name then base = r end end
   if not base then return end
   for _, r in ipairs(rows) do
      r.ratio, r.ratio_lo, r.ratio_hi = lab.bootstrap_ratio(base.samples[metric] or {}, r.samples[metric] or {})
      r.verdict = r == base and "baseline" or lab.verdict(r.ratio_lo, r.ratio_hi)
   end
end

local function limit_finish(rows, cpus)
   for _, r in ipairs(rows) do
      r.gc_machine = num(r.gc_cpu) and r.gc_cpu / cpus or lab.null
      if num(r.limit_mib) then
         r.over_limit = false
         for _, v in ipairs(r.samples.peak_alloc_mib or {}) do
            if v > r.limit_mib then r.over_limit = true end
         end
      end
   end
end

-- ---- the session -------------------------------------------------------------------------

local function aggregate(cfg, values)
   local row = { lang = "lua", label = cfg.label, runs = #values, samples = {} }
   for k, v in pairs(cfg.keys) do row[k] = v end
   local keys = {}
   for k in pairs(values[1]) do if row[k] == nil then keys[#keys + 1] = k end end
   for _, k in ipairs(keys) do
      local vs, numeric, bools = {}, true, true
      for i, v in ipairs(values) do
         vs[i] = v[k]
         numeric = numeric and num(v[k])
         bools = bools and type(v[k]) == "boolean"
      end
      if numeric then row[k], row.samples[k] = lab.median(vs), lab.array(vs)
      elseif bools then row[k] = false; for _, b in ipairs(vs) do row[k] = row[k] or b end
      else row[k] = lab.null end
   end
   return row
end

local function cpus()
   local n = 0
   local f = io.open("/proc/cpuinfo")
   if f then
      for line in f:lines() do if line:match("^processor") then n = n + 1 end end
      f:close()
   end
   return math.max(n, 1)
end

local function loadavg()
   local f = io.open("/proc/loadavg")
   if not f then return lab.array { 0.0, 0.0, 0.0 } end
   local a, b, c = f:read("n", "n", "n")
   f:close()
   return lab.array { a or 0.0, b or 0.0, c or 0.0 }
end

local function machine(before, warnings)
   local n, after = cpus(), loadavg()
   local busy = before[1] > 0.5 * n or after[1] > n + 0.5
   local warn = lab.array {}
   if busy then
      warn[1] = ("the machine was busy (load %.2f before, %.2f after, on %d CPUs): timings are noisy"):format(
         before[1], after[1], n)
   end
   for _, w in ipairs(warnings) do warn[#warn + 1] = w end
   return { cpus = n, lua = _VERSION, platform = "linux", load_before = before, load_after = after, busy = busy,
      warnings = warn }
end

-- check(opts) — the question, workload and parameters; raises an input error.
local function check(opts)
   local name = opts.question
   local q = Q[name]
   if not q then fail(("unknown question '%s': choose one of %s"):format(tostring(name), table.concat(ORDER, ", "))) end
   local w, err = W.resolve(opts.workload or q.workload)
   if not w then fail(err) end
   if q.needs_live and not W.steady(w) then
      local steady = {}
      for _, n in ipairs(W.list) do if W.steady(W.workloads[n]) then steady[#steady + 1] = n end end
      fail(("the %s question needs a workload with a live_mib parameter: %s, or path/to/file.lua"):format(
         name, table.concat(steady, ", ")))
   end
   local given = {}
   for k, v in pairs((opts.quick and q.quick_defaults or q.defaults)[w.name] or {}) do given[k] = v end
   for k, v in pairs(opts.params or {}) do given[k] = v end
   local params, perr = W.with_defaults(w, given)
   if not params then fail(perr) end
   return q, w, params
end

local function execute(cfg, w, params)
   local p = {}
   for k, v in pairs(params) do p[k] = v end
   for k, v in pairs(cfg.params or {}) do p[k] = v end
   local ok, res = pcall(lab.run_once, w, p, cfg.heap, cfg.measure_live)
   if ok then return res end
   if type(res) == "table" and res.kind == "workload" then
      local where = {}
      for k, v in pairs(cfg.heap) do where[#where + 1] = k .. "=" .. tostring(v) end
      for k, v in pairs(p) do where[#where + 1] = k .. "=" .. tostring(v) end
      table.sort(where)
      res.msg = res.msg .. ("\nin configuration: %s (%s: %s)"):format(cfg.label, w.name, table.concat(where, ", "))
   end
   error(res, 0)
end

local function interrupted(err) return type(err) == "string" and err:find("interrupted!", 1, true) end

-- run_why — the `why` question: the worked example of tricolor.why (no
-- workload, no repeats: it is a walk through heap:roots, path_to, referrers
-- and retained, and its rows are facts, not timings).
local function why_detail(r)
   local sec = r.section
   if sec == "roots" then return "a " .. r.kind .. " root" end
   if sec == "close" then
      return ("%d objects after cache[0] = session[0] = None; collect()"):format(r.objects_after)
   end
   if sec == "path" then
      if r.steps == lab.null then return "unreachable" end
      local parts = {}
      for i, st in ipairs(r.steps) do parts[i] = ("[%s] %s"):format(st.via, st.object) end
      return table.concat(parts, " -> ")
   end
   if sec == "referrers" then return "held by " .. r.referrer end
   if sec == "retained" then return ("%d bytes, %d objects"):format(r.bytes, r.objects) end
   return ("%s: %d freed"):format(r.action, r.freed)
end

local function run_why(opts, before)
   if opts.workload or (opts.params and next(opts.params)) then
      fail("lab why takes no workload or params: it is a worked example")
   end
   local collector = opts.collector or "concurrent"
   local res = require("tricolor.why").run { collector = collector, null = lab.null }
   local rows = lab.array { { section = "close", object = "doc", objects_after = res.summary.objects_after_close } }
   for _, r in ipairs(res.rows) do rows[#rows + 1] = r end
   for _, r in ipairs(rows) do
      if r.section == "path" and r.steps ~= lab.null then lab.array(r.steps) end
      r.lang, r.label, r.runs, r.samples = "lua", r.section .. ": " .. (r.object or ""), 1, {}
      r.detail = why_detail(r)
   end
   local config = { lang = "lua", workload = "why-example", params = {}, ["repeat"] = 1, quick = opts.quick or false,
      interrupted = false, provisional = lab.PROVISIONAL, collector = collector }
   return { question = "why", config = config, rows = rows, machine = machine(before, {}) }
end

-- lab.run(opts) — answer opts.question (see the top of this file).
function lab.run(opts)
   opts = opts or {}
   local before, warnings = loadavg(), {}
   if opts.question == "why" then return run_why(opts, before) end
   local q, w, params = check(opts)
   local repeat_ = opts["repeat"] or (opts.quick and (q.quick_repeat or 1) or 3)
   local config = { lang = "lua", workload = w.name, params = params, ["repeat"] = repeat_, quick = opts.quick or false,
      interrupted = false, provisional = lab.PROVISIONAL }
   local ctx = { opts = opts, config = config, warnings = warnings,
      run = function(cfg) return execute(cfg, w, params) end }
   ctx.opts.collector = opts.collector or "concurrent"
   local plan, done = {}, {}
   local ok, err = pcall(function()
      plan = q:plan(ctx)
      for i = 1, #plan do done[i] = {} end
      if opts.start then opts.start(#plan * repeat_, "lab " .. opts.question) end
      local n = 0
      for _ = 1, repeat_ do
         for i, cfg in ipairs(plan) do
            local t = now()
            table.insert(done[i], execute(cfg, w, params).values)
            n = n + 1
            if opts.progress then opts.progress(n, #plan * repeat_, cfg.label, (now() - t) / 1e9) end
         end
      end
   end)
   if not ok then
      if interrupted(err) then config.interrupted = true else error(err, 0) end
   end
   local rows = lab.array {}
   for i, cfg in ipairs(plan) do
      if done[i] and #done[i] > 0 then rows[#rows + 1] = aggregate(cfg, done[i]) end
   end
   if opts.question == "pauses" then flatness(rows)
   elseif opts.question == "barrier" then paired(rows, "mutator_s", "hybrid")
   elseif opts.question == "limit" then limit_finish(rows, cpus()) end
   return { question = opts.question, config = config, rows = rows, machine = machine(before, warnings) }
end

-- lab.cli(opts) — for `python -m tricolor lab --lang lua`: the result as
-- JSON on stdout, a LABPROGRESS line per run on stderr; exit 2 with one line
-- for bad input, 1 with a traceback when a workload raised.
function lab.cli(opts)
   opts.start = function(total, title)
      io.stderr:write(("LABSTART %d %s\n"):format(total, title))
   end
   opts.progress = function(i, total, label, seconds)
      io.stderr:write(("LABPROGRESS %d %d %.3f %s\n"):format(i, total, seconds, label))
      io.stderr:flush()
   end
   local ok, res = pcall(lab.run, opts)
   if ok then
      io.stdout:write(lab.json(res), "\n")
      return
   end
   local msg = type(res) == "table" and res.msg or tostring(res)
   io.stderr:write(msg, "\n")
   os.exit(type(res) == "table" and res.kind == "input" and 2 or 1)
end

return lab
