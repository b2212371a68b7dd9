/*
 * tc_testposix.c — the few POSIX calls the busted specs need to fork
 * (stock Lua 5.4 has no fork, and Debian's lua-posix is not built for
 * 5.4): `local P = require "tc_testposix"`. Test-only; mk/lua.mk builds it
 * beside the module under test.
 *
 *   P.fork()            -> pid (0 in the child)
 *   P.exit(code)        -> _exit(code): no Lua or C atexit handlers run
 *   P.wait(pid, secs)   -> exit status, or nil and "timeout" (the child is
 *                          then killed) or "signal N"
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

static int p_fork(lua_State *L)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return luaL_error(L, "fork failed");
    lua_pushinteger(L, (lua_Integer)pid);
    return 1;
}

static int p_exit(lua_State *L)
{
    fflush(NULL);
    _exit((int)luaL_optinteger(L, 1, 0));
    return 0;
}

static int p_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    double secs = luaL_optnumber(L, 2, 60);
    int status = 0;
    for (double waited = 0;; waited += 0.005) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0)
            return luaL_error(L, "waitpid failed");
        if (waited > secs) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            lua_pushnil(L);
            lua_pushliteral(L, "timeout");
            return 2;
        }
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    if (WIFSIGNALED(status)) {
        lua_pushnil(L);
        lua_pushfstring(L, "signal %d", WTERMSIG(status));
        return 2;
    }
    lua_pushinteger(L, WEXITSTATUS(status));
    return 1;
}

int luaopen_tc_testposix(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"fork", p_fork}, {"exit", p_exit}, {"wait", p_wait}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
