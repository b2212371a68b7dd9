-- hostile_spec.lua — hostile input and re-entrancy (issue 10): every heap,
-- handle and weak-reference method called while a Lua __gc that closes the
-- heap fires inside it (the binding's own allocations run Lua's collector,
-- and with it finalizers), gogc and memory_limit extremes, and fork in each
-- collector. The re-entrancy scenarios run in a child lua5.4: its Lua heap
-- is small, so Lua's collector finishes cycles (and calls __gc) within a
-- few allocations; a crash fails the test with the child's output. The
-- test-lua-asan run preloads the sanitizers into the children too.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local TRIALS = 20 -- per method and collector

-- The child's side: the fixture, the methods and the loop that calls one
-- method until the closing __gc has run inside it (or beside it).
local PRELUDE = [[
local tricolor = require "tricolor"
local unsafe = tricolor.unsafe
local COLLECTORS = { "stw", "incremental", "concurrent" }
-- Lua's collector steps every few bytes allocated and never pauses, so a
-- __gc runs inside almost any allocation, the binding's own too.
collectgarbage("incremental", 0, 1000, 0)

-- fixture: a heap with objects, a weak reference, finalizers and a cleanup
-- that are due (the drain loop runs in the calls), and a garbage table
-- whose __gc closes the heap as soon as Lua's collector gets to it.
local function fixture(collector)
   local heap = tricolor.heap { collector = collector }
   local f = { heap = heap, a = heap:new(2, "12345678"), b = heap:new(1) }
   f.a[1] = f.b
   f.a[2] = 7
   -- c[1]'s object has no handle Lua holds: a read of it makes one (the
   -- miss path allocates; a read of a[1] finds b's handle and does not)
   f.c = heap:new(1)
   f.c[1] = heap:new(0)
   f.weak = heap:weakref(f.b)
   for _ = 1, 4 do heap:set_finalizer(heap:new(0), function(o) local _ = o:id() end) end
   heap:add_cleanup(heap:new(0), function() end, 1)
   setmetatable({}, { __gc = function() heap:close() end })
   return f
end

METHODS = {
   ["heap:new"] = function(f) return f.heap:new(1) end,
   ["heap:new(data)"] = function(f) return f.heap:new(1, "abcdefgh") end,
   ["heap:collect"] = function(f) f.heap:collect() end,
   ["heap:stats"] = function(f) return f.heap:stats() end,
   ["heap:verify"] = function(f) f.heap:verify() end,
   ["heap:trace_start/stop"] = function(f) f.heap:trace_start("/dev/null"); f.heap:trace_stop() end,
   ["heap:set_finalizer"] = function(f) f.heap:set_finalizer(f.b, function() end) end,
   ["heap:add_cleanup"] = function(f) f.heap:add_cleanup(f.b, function() end, {}) end,
   ["heap:run_finalizers"] = function(f) return f.heap:run_finalizers() end,
   ["heap:weakref"] = function(f) return f.heap:weakref(f.a) end,
   ["heap:roots"] = function(f) return f.heap:roots() end,
   ["heap:referents/referrers"] = function(f) return f.heap:referents(f.a), f.heap:referrers(f.b) end,
   ["heap:path_to"] = function(f) return f.heap:path_to(f.b) end,
   ["heap:retained"] = function(f) return f.heap:retained(f.a) end,
   ["heap.gogc"] = function(f) f.heap.gogc = 100; return f.heap.gogc end,
   ["heap.memory_limit"] = function(f) f.heap.memory_limit = 1 << 40; return f.heap.memory_limit end,
   ["tostring(heap)"] = function(f) return tostring(f.heap) end,
   ["heap:close"] = function(f) f.heap:close() end,
   ["obj[i] (reference)"] = function(f) return f.a[1] end,
   ["obj[i] (reference, a new handle)"] = function(f) return f.c[1]:id() end,
   ["obj[i] (int)"] = function(f) return f.a[2] end,
   ["obj[i] = ref"] = function(f) f.a[1] = f.b end,
   ["obj[i] = int"] = function(f) f.a[2] = 9 end,
   ["#obj"] = function(f) return #f.a end,
   ["obj:data"] = function(f) return f.a:data() end,
   ["obj:set_data"] = function(f) f.a:set_data("87654321") end,
   ["obj:size"] = function(f) return f.a:size() end,
   ["obj:id"] = function(f) return f.a:id() end,
   ["obj:heap"] = function(f) return f.a:heap() end,
   ["tostring(obj)"] = function(f) return tostring(f.a) end,
   ["obj == obj"] = function(f) return f.a == f.b end,
   ["w:get"] = function(f) return f.weak:get() end,
   ["tostring(w)"] = function(f) return tostring(f.weak) end,
   ["unsafe.address"] = function(f) return unsafe.address(f.a) end,
   ["unsafe.free"] = function(f) unsafe.free(f.heap:new(0)) end,
}

-- hammer: call METHODS[name] until the closing __gc has run; every call
-- before works, every call after works or raises "closed"; then every
-- method once more on the closed heap.
function hammer(name, collector)
   local call, f = METHODS[name], fixture(collector)
   for _ = 1, 5000 do
      local ok, err = pcall(call, f)
      if not ok and not (type(err) == "string" and err:find("closed", 1, true)) then
         error(("%s [%s]: unexpected error %s"):format(name, collector, tostring(err)))
      end
      if not ok or tostring(f.heap):find("closed", 1, true) then break end
   end
   f.heap:close()
   for other, call2 in pairs(METHODS) do
      local ok, err = pcall(call2, f)
      assert(ok or err:find("closed", 1, true), ("%s after close: %s"):format(other, tostring(err)))
   end
end
]]

-- child — run PRELUDE .. body in a child lua5.4; it must print "done".
local function child(body)
   local out, ok = H.lua_child(PRELUDE .. body .. '\nprint("done")\n')
   assert(ok and out:find("done\n", 1, true), out)
   assert.equal("done\n", out:sub(-5))
end

local NAMES = {}
do
   local env = setmetatable({}, { __index = _G })
   assert(load(PRELUDE:gsub('collectgarbage%b()', ''), "prelude", "t", env))()
   for name in pairs(env.METHODS) do NAMES[#NAMES + 1] = name end
   table.sort(NAMES)
end

describe("hostile: a __gc that closes the heap during any call", function()
   for _, name in ipairs(NAMES) do
      it(name, function()
         child(([[
for _, c in ipairs(COLLECTORS) do
   for _ = 1, %d do hammer(%q, c) end
end]]):format(TRIALS, name))
      end)
   end

   it("the issue's reproducer: read a[1] in a loop", function()
      child([[
for _ = 1, 100 do
   local heap = tricolor.heap()
   local a = heap:new(1)
   a[1] = heap:new(0)
   setmetatable({}, { __gc = function() heap:close() end })
   local ok, err = pcall(function() for _ = 1, 20000 do local _ = a[1] end end)
   assert(ok or err:find("closed", 1, true), err)
end]])
   end)

   it("the reproducer, each read a new handle: walk a list of objects no handle holds", function()
      child([[
for _ = 1, 20 do
   local heap = tricolor.heap()
   local head = heap:new(1)
   local at = head
   for _ = 1, 2000 do
      local nxt = heap:new(1)
      at[1] = nxt
      at = nxt
   end
   at = nil
   setmetatable({}, { __gc = function() heap:close() end })
   local ok, err = pcall(function()
      for _ = 1, 10 do
         local n = head
         while n do n = n[1] end
      end
   end)
   assert(ok or err:find("closed", 1, true), err)
end]])
   end)

   it("a finalizer that closes the heap while the drain loop runs", function()
      child(([[
for _, c in ipairs(COLLECTORS) do
   for _ = 1, %d do
      local heap, ran = tricolor.heap { collector = c }, 0
      for i = 1, 8 do
         heap:set_finalizer(heap:new(1), function(o)
            ran = ran + 1
            local _ = o[1]
            if i == 4 then heap:close() end
         end)
      end
      collectgarbage("collect") -- the handles' roots go
      local ok, err = pcall(heap.collect, heap) -- its safe point drains
      assert(ok or err:find("closed", 1, true), err)
      if not tostring(heap):find("closed", 1, true) then heap:run_finalizers() end
      assert(tostring(heap):find("closed", 1, true) and ran >= 1 and ran <= 8, ran)
   end
end]]):format(TRIALS))
   end)

   it("a __gc that closes the heap while the drain loop allocates", function()
      child(([[
for _, c in ipairs(COLLECTORS) do
   for _ = 1, %d do
      local heap = tricolor.heap { collector = c }
      -- the first finalizer makes 64 more due from inside the drain (a
      -- nested collect does not drain) and leaves a closer: the outer loop
      -- then allocates a handle for each of the 64
      heap:set_finalizer(heap:new(1), function()
         for _ = 1, 64 do heap:set_finalizer(heap:new(1), function(o) local _ = o[1] end) end
         collectgarbage("collect")
         heap:collect()
         setmetatable({}, { __gc = function() heap:close() end })
      end)
      collectgarbage("collect")
      local ok, err = pcall(heap.collect, heap)
      assert(ok or err:find("closed", 1, true), err)
      heap:close()
   end
end]]):format(TRIALS))
   end)
end)

-- churn — allocate n small objects, keeping a few; true when all worked.
local function churn(heap, n)
   local keep = heap:new(1)
   for i = 1, n do
      local o = heap:new(1, 16)
      if i % 16 == 0 then o[1] = keep[1]; keep[1] = o end
   end
   return true
end

describe("hostile: gogc and memory_limit extremes", function()
   local max = math.maxinteger
   local GOOD_GOGC = { 0, 1, 100, 999999, 1000000, false }
   local BAD_GOGC = { 1000001, 400000000000000, max, -1, math.mininteger, 1.5, 1e300, math.huge, -math.huge,
                      0 / 0, true, "100", {} }
   local GOOD_LIMIT = { 1, 4096, 1 << 40, max - 1, max, false, 1.0 * (1 << 30) }
   local BAD_LIMIT = { 0, -1, math.mininteger, 0.5, 1e300, math.huge, 0 / 0, true, "1G", {} }

   -- check_tunable — every bad value raises naming the tunable, at creation
   -- and at run time (the value unchanged); every good value gives a heap
   -- that allocates, collects and verifies.
   local function check_tunable(name, bad, good, default)
      for _, c in ipairs({ "stw", "incremental", "concurrent" }) do
         for _, v in ipairs(bad) do
            H.raises({ name }, tricolor.heap, { collector = c, [name] = v })
         end
         local heap = tricolor.heap { collector = c }
         for _, v in ipairs(bad) do
            H.raises({ name }, function() heap[name] = v end)
            assert.equal(default, heap[name])
         end
         for _, v in ipairs(good) do
            heap[name] = v
            assert.equal(v and math.tointeger(v) or false, heap[name])
            local s0 = heap:stats()
            assert.is_true(churn(heap, (v == 0 or v == 1) and 2000 or 20000))
            heap:collect()
            local s = heap:stats()
            assert.is_true(s.num_gc > s0.num_gc and s.heap_goal < (1 << 62))
            heap:verify()
         end
         heap:close()
      end
   end

   it("gogc: accepted values give a working heap, others raise naming gogc", function()
      check_tunable("gogc", BAD_GOGC, GOOD_GOGC, 100)
      H.raises("[0, 1000000]", function() tricolor.heap { gogc = 1000001 } end)
   end)

   it("memory_limit: accepted values give a working heap, others raise naming memory_limit", function()
      check_tunable("memory_limit", BAD_LIMIT, GOOD_LIMIT, false)
   end)
end)

describe("hostile: option names that are no names", function()
   it("a NUL byte in collector or barrier raises naming the option (it used to cut the name short)", function()
      for _, v in ipairs({ "stw\0x", "\0", "hybrid\0" }) do
         H.raises({ "collector", "NUL" }, tricolor.heap, { collector = v })
         H.raises({ "barrier", "NUL" }, tricolor.heap, { barrier = v })
      end
      H.raises({ "collector" }, tricolor.heap, { collector = "\xff\xfe" })
   end)
end)

describe("hostile: fork", function()
   local P = require "tc_testposix"

   -- In the child: every heap collects, allocates 200,000 objects (which
   -- must start a cycle of its own: allocation goes on, to 2.2M at most,
   -- until that cycle has ended), verifies and closes; exit 0, or 1 with
   -- the error on stderr. The parent waits with a deadline: a hang fails.
   local function child_work(heaps)
      local ok, err = pcall(function()
         for k, heap in ipairs(heaps) do
            local s0 = heap:stats()
            local auto0 = s0.num_gc - s0.num_forced_gc
            heap:collect()
            for _ = 1, 200000 do heap:new(2) end
            -- a concurrent cycle the allocations started may still run:
            -- allocate on (at most 2M more) until one has ended
            local s1, more = heap:stats(), 0
            while s1.num_gc - s1.num_forced_gc <= auto0 and more < 2000000 do
               for _ = 1, 10000 do heap:new(2) end
               more, s1 = more + 10000, heap:stats()
            end
            assert(s1.num_gc - s1.num_forced_gc > auto0,
               ("heap %d: no cycle started by 2.2M allocations (%d -> %d)"):format(k, s0.num_gc, s1.num_gc))
            heap:verify()
            heap:close()
         end
      end)
      if not ok then io.stderr:write("child: ", tostring(err), "\n") end
      P.exit(ok and 0 or 1)
   end

   for _, c in ipairs({ "stw", "incremental", "concurrent" }) do
      it("the child of a fork has a working collector: " .. c, function()
         local heaps = {
            tricolor.heap { collector = c },
            tricolor.heap { collector = c, checkmark = true },
            tricolor.heap { collector = "concurrent", mark_workers = 2 },
         }
         for _, heap in ipairs(heaps) do
            local a = heap:new(1)
            a[1] = heap:new(0, "kept")
            heap:set_finalizer(heap:new(0), function() end)
            heaps[heap] = a
            churn(heap, 50000) -- cycles run (and the concurrent collector's thread) while we fork
         end
         local pids = {}
         for i = 1, 2 do
            local pid = P.fork()
            if pid == 0 then child_work(heaps) end
            pids[i] = pid
         end
         local status, why = {}, {}
         for i = 1, 2 do -- wait for (or kill) both before any assertion
            status[i], why[i] = P.wait(pids[i], 120)
         end
         for i = 1, 2 do
            assert.equal(0, status[i], why[i])
         end
         for _, heap in ipairs(heaps) do -- the parent's heaps are unharmed
            heap:collect()
            heap:verify()
            assert.equal("kept", heaps[heap][1]:data())
            heap:close()
         end
      end)
   end
end)
