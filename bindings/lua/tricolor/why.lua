-- require("tricolor.why") — the worked example of "why is this object
-- alive?", the Lua twin of bindings/python/tricolor/why.py (same heap, same
-- steps, same rows), so that `lab.run{question = "why"}` and
-- `python -m tricolor lab why --json` answer alike.
--
-- A small program keeps a document in a cache and a session, and a listener
-- registered for it captures it too. The program "closes" the document
-- (drops it from the cache and the session), collects, and finds it still
-- there. The example then asks heap:roots(), heap:path_to(obj),
-- heap:referrers(obj) and heap:retained(obj), and fixes the leak.
--
-- Every live Lua handle is a root, so the example keeps only `app` (and,
-- for a while, `log`) in variables; handles met on the way are dropped when
-- the function that found them returns, and heap:collect() runs Lua's own
-- collector first so that they let go of their objects.
local tricolor = require("tricolor")

local why = {}
local null = nil -- what path() gives for an unreachable object (lab.run passes lab.null)

-- The objects: name, slots, payload bytes, what it stands for (Python's SHAPES).
why.SHAPES = {
   { "app", 3, 0, "the program's one global: cache, listeners, session" },
   { "cache", 4, 0, "a cache of recently used documents" },
   { "listeners", 2, 0, "the list of registered callbacks" },
   { "session", 2, 64, "the user's session: the open document" },
   { "doc", 2, 4096, "a document: 4 KiB of text" },
   { "thumb", 0, 16384, "the document's thumbnail: 16 KiB of pixels" },
   { "listener", 1, 32, "a callback that captured the document" },
   { "log", 1, 256, "an audit record, waiting for its finalizer" },
   { "entry", 0, 128, "what the audit record refers to" },
}

-- The references: holder, slot (0-based, as printed by Python), target.
why.EDGES = {
   { "app", 0, "cache" }, { "app", 1, "listeners" }, { "app", 2, "session" },
   { "cache", 0, "doc" }, { "session", 0, "doc" }, { "doc", 0, "thumb" },
   { "listeners", 0, "listener" }, { "listener", 0, "doc" }, { "log", 0, "entry" },
}

local function build(collector)
   local heap = tricolor.heap { collector = collector, gogc = false } -- cycles only when asked
   local objs, names = {}, {}
   for _, s in ipairs(why.SHAPES) do
      local o = s[3] > 0 and heap:new(s[2], s[3]) or heap:new(s[2])
      objs[s[1]] = o
      names[o:id()] = s[1]
   end
   for _, e in ipairs(why.EDGES) do objs[e[1]][e[2] + 1] = objs[e[3]] end
   heap:set_finalizer(objs.log, function() end)
   return heap, objs.app, objs.log, names
end

-- why.run(opts) — the worked example; returns {question, config, rows,
-- summary} with the rows of Python's why.run().
function why.run(opts)
   null = (opts and opts.null) or null
   local collector = (opts and opts.collector) or "concurrent"
   local heap, app, log, names = build(collector)
   collectgarbage() -- the handles build() made and dropped let go of their roots
   local function name(o) return names[o:id()] or ("object " .. o:id()) end
   -- get(n) — a handle to the object named n, found by following references
   -- from app and the finalizer roots (the handles met die with this call).
   local function get(n)
      local queue, seen = { app }, {}
      for _, r in ipairs(heap:roots()) do
         if r[1] == "finalizer" then queue[#queue + 1] = r[2] end
      end
      local i = 1
      while queue[i] do
         local o = queue[i]
         if name(o) == n then return o end
         if not seen[o:id()] then
            seen[o:id()] = true
            for _, c in ipairs(heap:referents(o)) do queue[#queue + 1] = c end
         end
         i = i + 1
      end
      error(n .. " is not reachable")
   end
   local function path(n)
      local o = get(n)
      collectgarbage() -- get()'s queue is garbage: its handles must not be roots
      local steps = heap:path_to(o)
      if steps == nil then return null end
      local out = {}
      for k, s in ipairs(steps) do
         out[k] = { via = type(s[1]) == "string" and s[1] or ("slot " .. (s[1] - 1)), object = name(s[2]) }
      end
      return out
   end
   local rows, summary = {}, {}
   for _, r in ipairs(heap:roots()) do
      rows[#rows + 1] = { section = "roots", kind = r[1], object = name(r[2]) }
   end
   -- the program "closes" the document: out of the cache and the session
   app[1][1] = nil
   app[3][1] = nil
   heap:collect()
   summary.objects_after_close = heap:stats().heap_objects
   log = nil -- and drops the audit record; no cycle ran since, so its finalizer is still set
   collectgarbage()
   for _, n in ipairs({ "doc", "thumb", "entry" }) do
      rows[#rows + 1] = { section = "path", object = n, steps = path(n) }
   end
   local function ask(fn, n)
      local o = get(n)
      collectgarbage()
      return fn(heap, o)
   end
   for _, o in ipairs(ask(heap.referrers, "doc")) do
      rows[#rows + 1] = { section = "referrers", object = "doc", referrer = name(o) }
   end
   for _, n in ipairs({ "app", "listeners", "listener", "doc", "thumb" }) do
      local bytes, objects = ask(heap.retained, n)
      rows[#rows + 1] = { section = "retained", object = n, bytes = bytes, objects = objects }
   end
   -- the fix: unregister the listener
   local before = heap:stats().heap_objects
   app[2][1] = nil
   heap:collect()
   local after = heap:stats().heap_objects
   rows[#rows + 1] = { section = "fix", object = "listener", action = "listeners[0] = None; collect()",
      objects_before = before, objects_after = after, freed = before - after }
   heap:close()
   return { question = "why", config = { collector = collector, lang = "lua" }, rows = rows, summary = summary }
end

return why
