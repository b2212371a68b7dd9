/*
 * lspecial.c — finalizers, cleanups and weak references in Lua (Go's
 * runtime.SetFinalizer, runtime.AddCleanup and package weak; the core's
 * special.c keeps the semantics).
 *
 * The core never calls Lua: it keeps a token per callback and hands the
 * token back when the callback is due. The binding keeps the callbacks in
 * the heap's registry table (heap user value 2), keyed by token (a per-heap
 * counter), and runs the due ones on the Lua thread at safe points: after
 * every heap method and in heap:run_finalizers() (run_due). An entry leaves
 * the registry when its callback runs, when it is replaced or cleared, when
 * unsafe.free frees its object, and all at once when the heap is closed
 * (the core drops pending callbacks then). The tokens, the drain loop and
 * its re-entrancy flag are bindings/common's (bc_drain.h), shared with the
 * Python binding: a drain inside a callback is a no-op, so a finalizer may
 * call any heap method, collect() and close() included.
 *
 * A finalizer's argument and w:get()'s result are handles like any other
 * (lhandle_adopt): the object's one handle.
 *
 * Invariants: a finalizer's handle exists, closed, with room reserved in
 * the handle registry, before tc_take_ready hands out its root, so no
 * error can leak a root; likewise w:get(). The drain runs in one protected
 * call between bc_drain_enter and bc_drain_leave, so a memory error of the
 * binding itself cannot leave the heap marked as draining. A heap finalized while weak references live keeps its shell until
 * the last weak reference's __gc destroys it (tc_weak_release needs it).
 */
#include "ltricolor.h"

/* ---- finalizers and cleanups ------------------------------------------------- */

/* push_callbacks — push the callback registry of the heap at `heapidx`
 * (user value 2: token -> finalizer function, or token -> {fn, arg} for a
 * cleanup), creating it on first use. */
static void push_callbacks(lua_State *L, int heapidx)
{
    if (lua_getiuservalue(L, heapidx, HEAP_UV_CALLBACKS) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, heapidx, HEAP_UV_CALLBACKS);
}

/* lspecial_forget_token — drop the registry entry of `token` (no-op for 0).
 * Setting an existing key to nil allocates nothing, so this cannot raise. */
void lspecial_forget_token(lua_State *L, int heapidx, tc_token token)
{
    if (!token)
        return;
    if (lua_getiuservalue(L, heapidx, HEAP_UV_CALLBACKS) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)token);
    lua_pop(L, 1);
}

/* report — warn() about a callback that raised: the error is at -1. */
static void report(lua_State *L, const char *what)
{
    const char *msg = lua_tostring(L, -1);
    if (!msg)
        msg = lua_pushfstring(L, "(an error object of type %s)", luaL_typename(L, -1));
    lua_warning(L, lua_pushfstring(L, "tricolor: %s raised an error: %s", what, msg), 0);
}

/* run_one — run the callback of `token` (the registry is at 2; for a
 * finalizer its handle is at `arg`) and forget it. Errors become warnings. */
static void run_one(lua_State *L, tc_ready_kind kind, tc_token token, int arg)
{
    int t = lua_rawgeti(L, 2, (lua_Integer)token);
    lua_pushnil(L);
    lua_rawseti(L, 2, (lua_Integer)token);
    if (t == LUA_TNIL)
        return; /* forgotten (cannot happen: a token is queued once) */
    if (kind == TC_READY_FINALIZER) {
        lua_pushvalue(L, arg); /* fn(obj) */
    } else {
        lua_rawgeti(L, -1, 1); /* fn(arg) */
        lua_rawgeti(L, -2, 2);
    }
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        report(L, kind == TC_READY_FINALIZER ? "finalizer" : "cleanup");
}

/* The drain loop's host steps (bc_drain_ops), on the stack drain_loop
 * keeps: 1 the heap, 2 the registry, 3 a closed handle (made before each
 * tc_take_ready, with room in the handle registry, so the root a finalizer
 * comes with is owned at once: lhandle_adopt gives it to that handle, or
 * releases it if the object has a handle already). `ud` is the lua_State. */
static tc_heap *drain_heap(void *ud)
{
    return ((lheap *)lua_touserdata((lua_State *)ud, 1))->h;
}

static void drain_prepare(void *ud)
{
    lua_State *L = (lua_State *)ud;
    lheap *lh = (lheap *)lua_touserdata(L, 1);
    if (lua_gettop(L) < 3)
        lhandle_push_closed(L, 1, lh); /* 3; allocates: a __gc may close the heap */
    if (lh->h)
        lhandle_reserve(L, lh, "finalizer");
}

static void drain_run(void *ud, tc_ready_kind kind, tc_token token, tc_root *root)
{
    lua_State *L = (lua_State *)ud;
    if (root)
        lhandle_adopt(L, 1, 3, root); /* 4 */
    run_one(L, kind, token, 4);
    /* a handle that took its root is the finalizer's now */
    lua_settop(L, ((lobj *)lua_touserdata(L, 3))->root ? 2 : 3);
}

static void drain_forget(void *ud, tc_token token)
{
    lua_State *L = (lua_State *)ud;
    lua_pushnil(L);
    lua_rawseti(L, 2, (lua_Integer)token);
}

static const bc_drain_ops drain_ops = {drain_heap, drain_prepare, drain_run, drain_forget};

/* drain_loop — the body of run_due, run protected (arg 1: the heap): the
 * shared loop over the steps above. Returns how many callbacks ran. */
static int drain_loop(lua_State *L)
{
    push_callbacks(L, 1); /* 2 */
    lua_pushinteger(L, (lua_Integer)bc_drain_loop(&drain_ops, L));
    return 1;
}

/* lspecial_run_due — run every due callback of the heap at `heapidx` (an
 * open heap): on this Lua thread, outside every core lock, each once;
 * nothing while a drain of it runs already (bc_drain_enter). Returns how
 * many ran. Only a memory error of the binding itself escapes (after the
 * drain was left); callback errors are warnings. run_due (ltricolor.h) is
 * the cheap test in front of it. */
lua_Integer lspecial_run_due(lua_State *L, int heapidx, lheap *lh)
{
    heapidx = lua_absindex(L, heapidx);
    if (!bc_drain_enter(&lh->cb))
        return 0;
    lt_push_upvalues(L, 0, heapidx);
    lua_pushcclosure(L, drain_loop, UV_COUNT);
    lua_pushvalue(L, heapidx);
    int st = lua_pcall(L, 1, 1, 0);
    bc_drain_leave(&lh->cb);
    if (st != LUA_OK)
        lua_error(L);
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n;
}

/* check_callable — the function argument at idx: a function or a value
 * with a __call metamethod. */
static void check_callable(lua_State *L, int idx, const char *fn)
{
    if (lua_type(L, idx) == LUA_TFUNCTION)
        return;
    if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lt_fail(L, "tricolor: %s: 'fn' must be a function (got %s)", fn, luaL_typename(L, idx));
}

/* new_token — register the value at -1 (popped) in the heap's registry under
 * a fresh token and return the token. */
static tc_token new_token(lua_State *L, int heapidx, lheap *lh)
{
    push_callbacks(L, heapidx);
    lua_insert(L, -2);
    tc_token token = bc_token_next(&lh->cb);
    lua_rawseti(L, -2, (lua_Integer)token);
    lua_pop(L, 1);
    return token;
}

/* recheck_obj — after new_token's allocation (which may have run a __gc
 * that closed the heap or freed the object): raise as live_obj would, and
 * drop the token just registered first (a no-op if close dropped the
 * registry). */
static void recheck_obj(lua_State *L, const lobj *o, tc_token token, const char *fn)
{
    if (!o->lh->h || !o->root || tc_root_freed(o->root)) {
        lspecial_forget_token(L, 1, token);
        lt_live_obj(L, o, fn);
    }
}

/* heap_set_finalizer — heap:set_finalizer(obj, fn): fn(obj) runs once after
 * obj became unreachable; nil clears; setting again replaces. */
int lspecial_set_finalizer(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "set_finalizer");
    lt_open_heap(L, 1, "set_finalizer");
    lobj *o = lt_heap_obj(L, 2, lh, "set_finalizer");
    tc_token token = 0, old = 0;
    if (!lua_isnil(L, 3)) {
        check_callable(L, 3, "set_finalizer");
        lua_pushvalue(L, 3);
        token = new_token(L, 1, lh); /* allocates */
    }
    recheck_obj(L, o, token, "set_finalizer");
    tc_status st = tc_set_finalizer(lh->h, o->root, token, &old);
    lspecial_forget_token(L, 1, st == TC_OK ? old : token);
    if (st != TC_OK)
        return lt_core_error(L, "set_finalizer");
    run_due(L, 1, lh);
    return 0;
}

/* heap_add_cleanup — heap:add_cleanup(obj, fn, arg): fn(arg) runs once after
 * obj was reclaimed. As Go's AddCleanup, arg must not be obj itself (the
 * registry holds arg, so obj would never be reclaimed). */
int lspecial_add_cleanup(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "add_cleanup");
    lt_open_heap(L, 1, "add_cleanup");
    lobj *o = lt_heap_obj(L, 2, lh, "add_cleanup");
    check_callable(L, 3, "add_cleanup");
    lua_settop(L, 4);
    const lobj *a = to_obj(L, 4);
    if (a && a->lh == lh && a->id == o->id && a->root)
        return lt_fail(L, "tricolor: add_cleanup: 'arg' must not be the object itself (it would never be reclaimed)");
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 4);
    lua_rawseti(L, -2, 2);
    tc_token token = new_token(L, 1, lh); /* allocates */
    recheck_obj(L, o, token, "add_cleanup");
    if (tc_add_cleanup(lh->h, o->root, token) != TC_OK) {
        lspecial_forget_token(L, 1, token);
        return lt_core_error(L, "add_cleanup");
    }
    run_due(L, 1, lh);
    return 0;
}

/* heap_run_finalizers — heap:run_finalizers(): run every due finalizer and
 * cleanup now; returns how many ran (0 inside a callback, where the outer
 * drain goes on with them). */
int lspecial_run_finalizers(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "run_finalizers");
    lt_open_heap(L, 1, "run_finalizers");
    lua_pushinteger(L, lspecial_run_due(L, 1, lh)); /* 0 inside a callback */
    return 1;
}

/* ---- weak references ----------------------------------------------------------- */

static lweak *check_weak(lua_State *L, int idx, const char *fn)
{
    lweak *w = (lweak *)luaL_testudata(L, idx, WEAK_T);
    if (!w)
        lt_fail(L, "tricolor: %s: bad self (tricolor.weak expected, got %s)", fn, luaL_typename(L, idx));
    return w;
}

/* heap_weakref — heap:weakref(obj): a weak reference, created closed (its
 * metatable and __gc first) before the core's tc_weak exists. */
int lspecial_weakref(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "weakref");
    lt_open_heap(L, 1, "weakref");
    lobj *o = lt_heap_obj(L, 2, lh, "weakref");
    lweak *w = (lweak *)lua_newuserdatauv(L, sizeof *w, 1); /* allocates */
    w->w = NULL;
    w->lh = lh;
    luaL_setmetatable(L, WEAK_T);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    tc_heap *h = lt_heap_now(L, lh, "weakref");
    lt_heap_obj(L, 2, lh, "weakref");
    if (tc_weak_new(h, o->root, &w->w) != TC_OK)
        return lt_core_error(L, "weakref");
    lh->nweak++;
    run_due(L, 1, lh);
    return 1;
}

/* weak_get — w:get(): the target's handle (lhandle_adopt: its existing one,
 * or a new one), or nil once it was reclaimed. The handle exists (closed)
 * and the registry has room before the core makes the root. */
static int weak_get(lua_State *L)
{
    lweak *w = check_weak(L, 1, "get");
    lheap *lh = w->lh;
    if (!lh->h)
        return lt_fail(L, "tricolor: get: %s", bc_use_msg(BC_HEAP_CLOSED));
    if (!w->w)
        return lt_fail(L, "tricolor: get: the weak reference was closed");
    lua_getiuservalue(L, 1, 1); /* 2: the heap */
    lhandle_push_closed(L, 2, lh); /* 3; allocates */
    tc_heap *h = lt_heap_now(L, lh, "get");
    lhandle_reserve(L, lh, "get");
    tc_root *r = NULL;
    if (tc_weak_get(h, w->w, &r) != TC_OK)
        return lt_core_error(L, "get");
    if (r)
        lhandle_adopt(L, 2, 3, r);
    else
        lua_pushnil(L);
    run_due(L, 2, lh);
    return 1;
}

/* lspecial_release_shell — destroy the closed tc_heap once nothing needs
 * it: the heap userdata was finalized and no weak reference owns a tc_weak. */
void lspecial_release_shell(lheap *lh)
{
    if (lh->shell && lh->finalized && lh->nweak == 0) {
        tc_heap_destroy(lh->shell);
        lh->shell = NULL;
    }
}

/* weak_close — __gc and __close: release the tc_weak; idempotent. After the
 * heap was closed the core still frees it (through the kept shell), and the
 * last weak reference of a finalized heap destroys the shell. */
static int weak_close(lua_State *L)
{
    lweak *w = check_weak(L, 1, "close");
    lheap *lh = w->lh;
    if (w->w) {
        tc_weak_release(lh->h ? lh->h : lh->shell, w->w);
        w->w = NULL;
        if (--lh->nweak == 0)
            lspecial_release_shell(lh);
    }
    return 0;
}

static int weak_tostring(lua_State *L)
{
    lweak *w = check_weak(L, 1, "tostring");
    const char *state = !w->lh->h ? "heap closed, " : !w->w ? "closed, " : "";
    lua_pushfstring(L, WEAK_T " (%s%p)", state, (void *)w);
    return 1;
}

const luaL_Reg lspecial_weak_methods[] = {
    {"get", weak_get},
    {NULL, NULL},
};

const luaL_Reg lspecial_weak_meta[] = {
    {"__gc", weak_close},
    {"__close", weak_close},
    {"__tostring", weak_tostring},
    {NULL, NULL},
};
