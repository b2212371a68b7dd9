-- binding.lua — the cost of tricolor's Lua binding per operation, against the
-- plain Lua table a user would pick instead.
--
--     local o = heap:new(3)   vs  local o = {nil, nil, nil}
--     obj[1] = x              vs  t[1] = x
--     x = obj[1]              vs  x = t[1]
--     x = #obj                vs  x = #t      ("len")
--
-- Each is timed with x an integer (42; "store", "load") and with x a
-- reference (another tricolor object / another table; "store_ref",
-- "load_ref": the object's one handle, found in the heap's cache). The heap is
-- tricolor.heap() with every default, so collections run as in real use.
--
-- Method, identical for both systems: a numeric for loop with the statement
-- unrolled UNROLL times, every name a local of the timed function, timed
-- with os.clock (process CPU time); an empty loop of the same length is
-- timed the same way. Two metrics per operation, from one measurement:
--     <op>_net  (loop time - empty loop time) / operations
--     <op>      <op>_net plus one empty-loop iteration per operation
-- Prints RESULT lines (benchmarks/bench.h), one per repetition.
--
-- Usage: LUA_CPATH='build/lua/?.so;;' lua5.4 benchmarks/binding.lua [REPS] [N]

local REPS = tonumber(arg and arg[1]) or 5
local N = tonumber(arg and arg[2]) or 1000000
local UNROLL = 10
local WORKLOAD = "binding:lua"

local OPS = {
    { "new", "local o = heap:new(3)", "local o = {nil, nil, nil}" },
    { "store", "obj[1] = x", "t[1] = x" },
    { "load", "x = obj[1]", "x = t[1]" },
    { "store_ref", "obj[1] = r", "t[1] = r" },
    { "load_ref", "r = obj[2]", "r = t[2]" },
    { "len", "x = #obj", "x = #t" },
}

-- compile: a function(n) that runs `stmt` UNROLL times per iteration of an
-- n-iteration loop, with heap/obj/t/x/r copied into locals first.
local function compile(stmt)
    local body = string.rep(stmt .. "; ", UNROLL)
    local src = "local H, O, T, R = ...\n"
        .. "return function(n)\n"
        .. "  local heap, obj, t, x, r = H, O, T, 42, R\n"
        .. "  for _ = 1, n do " .. body .. " end\n"
        .. "  return x, r\n"
        .. "end\n"
    return assert(load(src, "=" .. stmt))
end

-- timed: CPU seconds for fn(n), after a full Lua collection so that each
-- measurement starts from the same Lua heap state.
local function timed(fn, n)
    collectgarbage("collect")
    local t0 = os.clock()
    fn(n)
    return os.clock() - t0
end

local function emit(system, metric, ns)
    io.write(string.format("RESULT %s %s %s %.3f ns/op\n", WORKLOAD, system, metric, ns))
    io.flush()
end

local ok, tricolor = pcall(require, "tricolor")
local heap, tobj, tref
if ok then
    local hok, h = pcall(tricolor.heap)
    if hok then
        heap = h
        tobj, tref = heap:new(3), heap:new(3)
        tobj[1], tobj[2] = 42, tref
        local st = heap:stats()
        print("INFO lua_tricolor_collector " .. tostring(st.collector))
        print("INFO lua_tricolor_gogc " .. tostring(heap.gogc))
    else
        print("SKIP " .. WORKLOAD .. " tricolor heap(): " .. tostring(h))
    end
else
    print("SKIP " .. WORKLOAD .. " tricolor require: " .. tostring(tricolor):gsub("\n.*", ""))
end
print("INFO lua_version " .. _VERSION)

local tab, tabref = { 42, nil, nil }, { nil, nil, nil }
tab[2] = tabref

local empty = compile("")(nil, nil, nil, nil)
local fns = {}
for i, op in ipairs(OPS) do
    fns[i] = {
        tricolor = heap and compile(op[2])(heap, tobj, nil, tref),
        table = compile(op[3])(nil, nil, tab, tabref),
    }
end

local ops = N * UNROLL
for _ = 1, REPS do
    local loop = timed(empty, N) / N -- seconds per iteration
    print(string.format("INFO lua_empty_loop_ns %.3f", loop * 1e9))
    for i, op in ipairs(OPS) do
        for _, system in ipairs({ "tricolor", "table" }) do
            local fn = fns[i][system]
            if fn then
                local net = timed(fn, N) / ops - loop / UNROLL
                emit(system, op[1], (net + loop) * 1e9)
                emit(system, op[1] .. "_net", net * 1e9)
            end
        end
    end
end

if heap then
    print("INFO lua_tricolor_num_gc " .. tostring(heap:stats().num_gc))
    tobj, tref = nil, nil
    heap:close()
end
