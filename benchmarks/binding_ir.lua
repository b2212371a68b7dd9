-- binding_ir.lua — one operation of benchmarks/binding.lua, N times, for an
-- instruction count under callgrind: counts repeat on a shared, noisy machine
-- where times do not (exactly for the slot ops; heap:new within ~2%).
-- benchmarks/binding_ir.sh runs it with N and with 0 and prints (Ir(N) - Ir(0)) / (N * UNROLL): the
-- instructions of one statement, loop overhead included, as binding.lua's
-- <op> metric.
--
-- Usage: LUA_CPATH='build/lua/?.so;;' lua5.4 benchmarks/binding_ir.lua OP SYSTEM N
--   OP: new, store, load, store_ref, load_ref, len
--   SYSTEM: tricolor, table, or floor (benchmarks/lua_floor.c: a userdata
--   whose C metamethods do nothing, the least a C binding can pay)
-- The heap's collector is stw (IR_COLLECTOR to change it): with a concurrent
-- collector the count of heap:new includes however long the mutator spun
-- beside the collector thread, which valgrind serialises, and varies.
local OP, SYSTEM, N = arg[1], arg[2], tonumber(arg[3])
local UNROLL = 10
local OPS = {
    new = { "local o = heap:new(3)", "local o = {nil, nil, nil}" },
    store = { "obj[1] = x", "t[1] = x" },
    load = { "x = obj[1]", "x = t[1]" },
    store_ref = { "obj[1] = r", "t[1] = r" },
    load_ref = { "r = obj[2]", "r = t[2]" },
    len = { "x = #obj", "x = #t" },
}
local stmt = assert(OPS[OP], "unknown op")[SYSTEM == "table" and 2 or 1]
local src = "local H, O, T, R = ...\n"
    .. "return function(n)\n"
    .. "  local heap, obj, t, x, r = H, O, T, 42, R\n"
    .. "  for _ = 1, n do " .. string.rep(stmt .. "; ", UNROLL) .. " end\n"
    .. "  return x, r\n"
    .. "end\n"
local compiled = assert(load(src, "=" .. stmt))
if SYSTEM == "floor" then
    local floor = require("lua_floor")
    compiled(floor, floor.obj, nil, floor.obj)(N)
    return
end
local tricolor = require("tricolor")
local heap = tricolor.heap { collector = os.getenv("IR_COLLECTOR") or "stw" }
local tobj, tref = heap:new(3), heap:new(3)
tobj[1], tobj[2] = 42, tref
local tab, tabref = { 42, nil, nil }, { nil, nil, nil }
tab[2] = tabref
compiled(heap, tobj, tab, SYSTEM == "table" and tabref or tref)(N)
tobj, tref = nil, nil
heap:close()
