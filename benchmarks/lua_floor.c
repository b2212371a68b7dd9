/*
 * lua_floor.c — the least a Lua 5.4 userdata with C metamethods can cost,
 * for benchmarks/binding_ir.sh: an object whose __index pushes 42,
 * __newindex does nothing and __len pushes 3, and a `new` method that makes
 * a 40-byte userdata with one user value and a metatable (what making a
 * tricolor handle needs at least). No tricolor in it: what is left of a
 * binding op's cost above this floor is the binding's and the core's.
 */
#include <lauxlib.h>
#include <lua.h>

static int floor_index(lua_State *L)
{
    lua_pushinteger(L, 42);
    return 1;
}

static int floor_newindex(lua_State *L) { return 0; }

static int floor_len(lua_State *L)
{
    lua_pushinteger(L, 3);
    return 1;
}

/* floor_new — heap:new(n): a userdata, its metatable (upvalue 1) and the
 * "heap" as its user value, as lhandle_push_closed does. */
static int floor_new(lua_State *L)
{
    lua_newuserdatauv(L, 40, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* luaopen_lua_floor — returns the "heap": a table with `new` and `obj`. */
int luaopen_lua_floor(lua_State *L)
{
    lua_newuserdatauv(L, 40, 1);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, floor_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, floor_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, floor_len);
    lua_setfield(L, -2, "__len");
    lua_pushvalue(L, -1);
    lua_setmetatable(L, -3);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, floor_new, 1);
    lua_setfield(L, -2, "new");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "obj");
    return 1;
}
