/*
 * gclab_clock.c — a monotonic wall clock for pause.lua (Lua's os.clock is
 * process CPU time, os.time whole seconds). Built by benchmarks/gclab.py as
 * build/gclab/gclabclock.so:
 *
 *     local now = require("gclabclock").now   -- integer nanoseconds
 */
#include <lauxlib.h>
#include <lua.h>
#include <time.h>

/* clock_now — CLOCK_MONOTONIC in integer nanoseconds. */
static int clock_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec);
    return 1;
}

int luaopen_gclabclock(lua_State *L)
{
    static const luaL_Reg fns[] = {{"now", clock_now}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
