-- tricolor.teach — the tri-colour mark, one step at a time (the Lua twin of
-- `python -m tricolor teach`; docs/teach.md).
--
-- A small heap on the manual collector is marked with heap:gc_step(1) and
-- every step becomes a frame: each object's colour, the grey set, and for
-- each store the program makes during the mark, which objects the write
-- barrier shaded. The program is the textbook case for a barrier: R (the
-- root) holds A and B, B holds X; once R is black and B grey, the program
-- moves X behind R (R[3] = X) and cuts B -> X. With barrier "none" X stays
-- white behind a black object, the sweep frees it, and verify() reports R's
-- dangling reference.
--
--   local teach = require("tricolor.teach")
--   local frames = teach.walk("yuasa")   -- plain tables (ids, colours, text)
--   teach.print(frames)
--
-- or as a script:  lua5.4 bindings/lua/tricolor/teach.lua [hybrid|dijkstra|yuasa|none]
local tricolor = require("tricolor")

local M = {}

local function release_dropped()
   collectgarbage()
   collectgarbage()
end

-- frame(w, title, text, store) — snapshot the heap as a frame; with store,
-- what turned grey since the last frame is the barrier's doing.
local function frame(w, title, text, store)
   local s = w.heap:snapshot()
   local f = { title = title, text = text or "", phase = s.phase, objects = s.objects, edges = s.edges,
               colors = s.colors, roots = s.roots, grey = s.grey, shaded = {}, names = w.names }
   if store and w.last then
      for _, id in ipairs(s.grey) do
         if w.last.colors[id] == "white" then f.shaded[#f.shaded + 1] = id end
      end
   end
   w.frames[#w.frames + 1] = f
   w.last = f
   return f
end

local function shade_text(w, f, old, new)
   local said = {}
   for _, id in ipairs(f.shaded) do
      local why = id == new and "the new value" or id == old and "the old value" or "a new handle's object"
      said[#said + 1] = (w.names[id] or "?") .. " (" .. why .. ")"
   end
   if #said == 0 then return "The " .. w.barrier .. " barrier shaded nothing." end
   return "The " .. w.barrier .. " barrier shaded " .. table.concat(said, ", ") .. "."
end

-- steps(w, stop) — gc_step(1) until marking is done or stop(frame) is true.
local function steps(w, stop)
   while true do
      local got = w.heap:gc_step(1)
      if got == 0 then
         frame(w, "marking done", "No grey object is left: the phase is sweep; what is white is garbage.")
         return
      end
      local f = frame(w, "gc_step(1) marked " .. got)
      if stop and stop(f) then return end
   end
end

-- M.walk(barrier) — the frames of the walk-through under `barrier`.
function M.walk(barrier)
   barrier = barrier or "hybrid"
   local heap = tricolor.heap { collector = "manual", barrier = barrier }
   local w = { heap = heap, barrier = barrier, frames = {}, names = {} }
   local xid, rid
   do
      local r, a, b, x, y, g1, g2 = heap:new(3), heap:new(3), heap:new(3), heap:new(3), heap:new(3),
         heap:new(3), heap:new(3)
      r[1], r[2], b[1], x[1], g1[1], g2[1] = a, b, x, y, g2, g1
      for name, o in pairs { R = r, A = a, B = b, X = x, Y = y, G1 = g1, G2 = g2 } do w.names[o:id()] = name end
      xid, rid = x:id(), r:id()
      w.root = r
   end
   release_dropped() -- only R's handle stays a root
   local r = w.root
   frame(w, "before the cycle", "Every object is white. R is the only root; G1 and G2 are a garbage cycle.")
   heap:gc_start()
   frame(w, "gc_start()", "The start pause shades the roots: R is grey.")
   steps(w, function(f) return f.colors[rid] == "black" end)
   local b = r[2]
   local f
   do
      local x <close> = b[1] -- released at the end of this block
      f = frame(w, "x = R[2][1]", "The program reads X into a handle (a new root).", true)
      f.text = f.text .. " " .. shade_text(w, f, nil, nil)
      r[3] = x
      f = frame(w, "R[3] = x", "A white object is stored into a black one.", true)
      f.text = f.text .. " " .. shade_text(w, f, nil, xid)
      b[1] = nil
      f = frame(w, "R[2][1] = nil", "B's reference to X is deleted.", true)
      f.text = f.text .. " " .. shade_text(w, f, xid, nil)
   end
   f = frame(w, "x released", "The handle is released (its <close> ran).", true)
   f.text = f.text .. " " .. shade_text(w, f, xid, nil)
   steps(w)
   local done = w.last
   if done.colors[xid] == "white" then
      done.lost = { xid }
      done.text = done.text .. " X is white but R (black) refers to it: the object is lost."
   end
   local freed = heap:gc_finish()
   f = frame(w, "gc_finish() freed " .. freed, "The sweep frees every white object.")
   local ok, err = pcall(heap.verify, heap)
   if ok then
      f.text = f.text .. " verify() passes: nothing reachable was lost."
   else
      f.verify_error = tostring(err)
      f.text = f.text .. " verify() reports the lost object: " .. tostring(err)
   end
   heap:close()
   return w.frames
end

-- M.print(frames) — the frames as text: each object's colour, the grey set.
function M.print(frames, out)
   out = out or io.stdout
   for k, f in ipairs(frames) do
      local cols, grey = {}, {}
      for _, id in ipairs(f.objects) do cols[#cols + 1] = (f.names[id] or "?") .. "=" .. f.colors[id] end
      for _, id in ipairs(f.grey) do grey[#grey + 1] = f.names[id] or "?" end
      out:write(string.format("%d. %s (phase %s)\n   %s\n   grey set: {%s}\n", k - 1, f.title, f.phase,
         table.concat(cols, " "), table.concat(grey, ", ")))
      if f.text ~= "" then out:write("   ", f.text, "\n") end
   end
end

if ... ~= "tricolor.teach" then -- run as a script
   M.print(M.walk(arg and arg[1]))
end
return M
