-- package_spec.lua — the module as a package: its one version, its exported
-- symbols, the environment's heap defaults (TRICOLOR_GOGC and
-- TRICOLOR_MEMORY_LIMIT), collect()'s count and the "(forced)" gctrace
-- suffix (SPEC: Environment, gctrace). Scenario names follow
-- tests/python/test_package.py, test_config.py, test_collect.py and
-- test_gctrace.py.
local tricolor = require "tricolor"
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "helpers.lua")

local ROOT = debug.getinfo(1, "S").source:match("^@(.*[/\\])") .. "../../"

local function read(path)
   local f = assert(io.open(path, "r"))
   local text = f:read("a")
   f:close()
   return text
end

-- header_version — TC_VERSION_MAJOR.MINOR.PATCH of csrc/include/tricolor.h.
local function header_version()
   local h = read(ROOT .. "csrc/include/tricolor.h")
   local parts = {}
   for _, p in ipairs { "MAJOR", "MINOR", "PATCH" } do
      parts[#parts + 1] = assert(h:match("\n#define TC_VERSION_" .. p .. " (%d+)\n"), p)
   end
   return table.concat(parts, ".")
end

describe("package", function()
   it("one version everywhere", function()
      local v = header_version()
      assert.equal(v, tricolor._VERSION)
      local spec = read(ROOT .. "tricolor-" .. v .. "-1.rockspec")
      assert.truthy(spec:find('version = "' .. v .. '-1"', 1, true))
      assert.truthy(spec:find('url = "tricolor-' .. v .. '.tar.gz"', 1, true))
   end)

   it("the module exports only luaopen_tricolor", function()
      local path = assert(package.searchpath("tricolor", package.cpath))
      local p = assert(io.popen("nm -D --defined-only '" .. path .. "'"))
      local names = {}
      for line in p:lines() do names[#names + 1] = line:match("(%S+)$") end
      assert.is_true(p:close())
      assert.same({ "luaopen_tricolor" }, names)
   end)
end)

describe("environment", function()
   local probe = [[
      local tricolor = require "tricolor"
      local h = tricolor.heap()
      print(h.gogc, h.memory_limit)
      local e = tricolor.heap { gogc = 30, memory_limit = false }
      print(e.gogc, e.memory_limit)
      h:new(1); h:collect(); h:close(); e:close()
      tricolor.heap():close()   -- a second heap of the same state: no second warning
   ]]

   -- run the probe with `env`; its stdout lines and its stderr lines
   local function run(env)
      local both, ok = H.lua_child(probe, "TRICOLOR_DEBUG= " .. env)
      local out = H.lua_child(probe, "TRICOLOR_DEBUG= " .. env, "2>/dev/null")
      local err = {}
      for line in both:gmatch("[^\n]+") do
         if not out:find(line, 1, true) then err[#err + 1] = line end
      end
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      return lines, err, ok
   end

   it("TRICOLOR_GOGC and TRICOLOR_MEMORY_LIMIT give the defaults; explicit options win", function()
      for env, want in pairs {
         ["TRICOLOR_GOGC=off TRICOLOR_MEMORY_LIMIT=512MiB"] = "false\t536870912",
         ["TRICOLOR_GOGC=50 TRICOLOR_MEMORY_LIMIT=off"] = "50\tfalse",
         ["TRICOLOR_GOGC=-1 TRICOLOR_MEMORY_LIMIT=1GiB"] = "false\t1073741824",
         ["TRICOLOR_GOGC= TRICOLOR_MEMORY_LIMIT=4096"] = "100\t4096",
      } do
         local out, err, ok = run(env)
         assert.is_true(ok, env)
         assert.same({ want, "30\tfalse" }, out, env)
         assert.same({}, err, env)
      end
   end)

   it("a bad value warns once on stderr, naming the variable and the default; never a crash", function()
      for env, words in pairs {
         ["TRICOLOR_GOGC=abc"] = { 'TRICOLOR_GOGC="abc"', "gogc=100" },
         ["TRICOLOR_MEMORY_LIMIT=1.5GiB"] = { 'TRICOLOR_MEMORY_LIMIT="1.5GiB"', "memory_limit=off" },
         ["TRICOLOR_MEMORY_LIMIT=512MB"] = { 'TRICOLOR_MEMORY_LIMIT="512MB"', "memory_limit=off" },
         ["TRICOLOR_MEMORY_LIMIT=0"] = { 'TRICOLOR_MEMORY_LIMIT="0"', "memory_limit=off" },
      } do
         local out, err, ok = run(env)
         assert.is_true(ok, env)
         assert.same({ "100\tfalse", "30\tfalse" }, out, env)
         assert.equal(1, #err, env .. ": " .. table.concat(err, " | "))
         assert.truthy(err[1]:find("^tricolor: "), err[1])
         for _, w in ipairs(words) do assert.truthy(err[1]:find(w, 1, true), err[1]) end
      end
   end)
end)

for _, collector in ipairs(H.COLLECTORS) do
   describe("collect (" .. collector .. ")", function()
      local heap
      before_each(function() heap = tricolor.heap { collector = collector, gogc = false } end)
      after_each(function() heap:close() end)

      it("collect returns the number of objects the cycle freed", function()
         local keep = heap:new(1)
         keep[1] = heap:new(0, 8)
         H.drop_handles()
         assert.equal(0, heap:collect())
         for _ = 1, 100 do heap:new(2, 16) end
         local n = heap:collect()
         assert.equal("integer", math.type(n))
         assert.equal(100, n + heap:collect()) -- by the end of the second cycle (SPEC)
         assert.equal(0, heap:collect())
         keep = nil
         assert.equal(2, heap:collect() + heap:collect())
      end)

      it("collect runs a full Lua collection first: handles Lua no longer reaches are released", function()
         collectgarbage("stop") -- no Lua cycle on its own: only collect() can drop the handles
         for _ = 1, 200 do heap:new(1) end
         assert.equal(200, heap:stats().roots) -- the handles are garbage, not yet collected
         local n = heap:collect()
         collectgarbage("restart")
         assert.equal(200, n)
         assert.equal(0, heap:stats().roots)
      end)
   end)
end

describe("gctrace (forced)", function()
   it("collect() cycles end in (forced), as runtime.GC()'s do in Go; the pacer's do not", function()
      local out, ok = H.lua_child([[
         local heap = require("tricolor").heap { gctrace = true, gogc = 10 }
         local keep = {}
         for i = 1, 500 do keep[i] = heap:new(2, 64) end
         for _ = 1, 20000 do heap:new(1, 64) end
         heap:collect()
         heap:close()
      ]], "TRICOLOR_DEBUG=")
      assert.is_true(ok, out)
      local lines = H.gc_lines(out)
      assert.is_true(#lines >= 2, out)
      for i, line in ipairs(lines) do
         assert.truthy(H.match_gctrace(line), line)
         assert.equal(i == #lines, line:find(" %(forced%)$") ~= nil, line)
      end
   end)
end)
