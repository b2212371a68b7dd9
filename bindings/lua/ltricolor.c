/*
 * ltricolor.c — the Lua 5.4 binding: `local tricolor = require "tricolor"`.
 *
 * It converts values, maps core errors to Lua errors and ties the lifetime of
 * each core handle (tc_root) to the Lua value that owns it. Nothing else: the
 * collector, the option names, the stats field list and the gctrace line all
 * live in csrc/.
 *
 * Three userdata types, shaped after liolib.c:
 *
 *   tricolor.heap    an lheap: the tc_heap (NULL once closed). User value 1
 *                    anchors the heap's spare handle (see below), user value
 *                    2 the callback registry (finalizers and cleanups).
 *   tricolor.object  an lobj: one tc_root (NULL once released), the lheap it
 *                    belongs to, and the object's id, cached so that `==`,
 *                    `tostring` and `:id()` keep working after the heap is
 *                    closed. User value 1 is the heap userdata, so a heap
 *                    lives at least as long as any of its handles.
 *   tricolor.weak    an lweak: one tc_weak (NULL once released) and its
 *                    lheap; user value 1 is the heap userdata.
 *
 * Finalizers and cleanups. The core never calls Lua: it keeps a token per
 * callback and hands the token back when the callback is due. The binding
 * keeps the callbacks in the heap's registry table, keyed by token (a per-heap
 * counter), and runs the due ones on the Lua thread at safe points: after
 * every heap method and in heap:run_finalizers() (run_due). An entry leaves
 * the registry when its callback runs, when it is replaced or cleared, and
 * all at once when the heap is closed (the core drops pending callbacks then).
 * A per-heap `draining` flag makes a drain inside a callback a no-op, so a
 * finalizer may call any heap method, collect() and close() included.
 *
 * Speed (the Lua API costs a few ns a call, a C metamethod call ~20 ns):
 *  - Every heap has its own metatable whose __index is a table of closures
 *    over the heap, so `heap:new` is a plain table lookup (no C __index call)
 *    and the method checks its self with one lua_rawequal against the
 *    upvalue. Only gogc/memory_limit go through a C function (the methods
 *    table's own __index). The metamethods are shared; a heap's metatable
 *    carries the key &heap_mark, which is how a heap is recognised.
 *  - Handles share one metatable and are recognised by their size and a
 *    tag word derived from their own address (two API calls instead of the
 *    metatable comparison's four; see to_obj).
 *
 * Invariants:
 *  - A userdata is created in its closed state (NULL heap or NULL root) and
 *    gets its metatable before anything is acquired from the core, so an
 *    error (every Lua error longjmps) never leaks a heap or a root: whatever
 *    was acquired is already owned by a userdata whose __gc releases it.
 *  - Reading a reference out of a slot makes a new root. The userdata that
 *    will own it must exist before the root does, but allocating one per read
 *    would tax reads of plain values. So each heap keeps one closed "spare"
 *    handle (lheap.spare, anchored in the heap's user value): a read first
 *    makes sure a spare exists, then calls the core, and a reference hands
 *    its new root to the spare, which becomes the result.
 *  - lobj.lh stays valid memory as long as the lobj does (user value 1 keeps
 *    the heap userdata alive, also while both are being finalized), so every
 *    closer can test lh->h before touching the core.
 *  - Re-entrancy (issue 10, point 1). Any Lua allocation may run a __gc,
 *    and a __gc may close the heap. So a method allocates what it needs
 *    first and reads lh->h after its last allocation (heap_now, live_obj),
 *    with no allocation between that read and the core call; a loop that
 *    allocates (the finalizer drain) reads it again each round. And close
 *    only closes: the core's tc_heap (a closed shell, which answers
 *    TC_ERR_CLOSED to every call) is destroyed by the heap userdata's own
 *    __gc, when no method can be running on it (each keeps the heap
 *    userdata on its stack), or by the last weak reference after that.
 *  - No Lua error is raised while the binding holds memory of its own or a
 *    core lock: the core's calls are complete before any error is raised.
 *
 * Errors are strings that start with "tricolor: " and name the argument,
 * option or slot at fault, with tc_errmsg() appended for core failures. They
 * carry no "file:line:" prefix (luaL_error would add the caller's position),
 * so the message starts with "tricolor: " wherever the call came from.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "tricolor.h"

#define HEAP_T "tricolor.heap"
#define OBJ_T "tricolor.object"
#define WEAK_T "tricolor.weak"

/* Upvalues of every C function of the module (see set_funcs): the handle
 * metatable, the handle methods, the heap prototype metatable (what every
 * heap's metatable copies) and, for a heap's own method closures, the heap
 * (false elsewhere). */
enum { UV_OBJ_MT = 1, UV_OBJ_METHODS, UV_HEAP_PROTO, UV_HEAP, UV_COUNT = UV_HEAP };

/* heap_mark — its address is the key that marks a heap metatable. */
static const char heap_mark = 0;

typedef struct lobj lobj;

/* User values of a heap userdata. */
enum { HEAP_UV_SPARE = 1, HEAP_UV_CALLBACKS, HEAP_NUV = HEAP_UV_CALLBACKS };

typedef struct lheap {
    tc_heap *h;          /* NULL once closed */
    tc_heap *shell;      /* after close: the closed tc_heap, destroyed by the heap's
                          * __gc, or by the last weak reference released after it */
    int finalized;       /* the heap userdata's __gc ran */
    lobj *spare;         /* a closed handle anchored in user value 1, or NULL */
    size_t nweak;        /* weak userdata that still own a tc_weak */
    lua_Integer token;   /* the last callback token handed out (tokens start at 1) */
    int draining;        /* run_due is running callbacks: nested drains do nothing */
} lheap;

/* lweak — a weak reference userdata (WEAK_T). */
typedef struct lweak {
    tc_weak *w;  /* NULL: never opened, or released by __close/__gc */
    lheap *lh;   /* the heap's userdata block (user value 1 keeps it valid) */
} lweak;

struct lobj {
    uintptr_t tag; /* obj_tag(this lobj): recognises a handle cheaply */
    tc_root *root; /* NULL: never opened, released by __close/__gc */
    lheap *lh;     /* the heap's userdata block */
    uint64_t id;   /* tc_obj_id of the object, cached */
};

/* obj_tag — the tag word of the handle at `o`: its address mixed with a
 * constant, a value no other userdata holds at its start by accident. */
static inline uintptr_t obj_tag(const lobj *o) { return (uintptr_t)o ^ (uintptr_t)UINT64_C(0x74726963766c6f72); }

/* fail — raise a Lua error whose message is exactly the formatted string. */
static int fail(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

/* ---- type checks ---------------------------------------------------------- */

/* is_heap — is the value at idx a heap? Its metatable carries &heap_mark. */
static int is_heap(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return 0;
    int ok = lua_rawgetp(L, -1, &heap_mark) != LUA_TNIL;
    lua_pop(L, 2);
    return ok;
}

/* check_heap — the heap at idx. Its own method closures know it (one
 * rawequal); other callers pay for is_heap. */
static lheap *check_heap(lua_State *L, int idx, const char *fn)
{
    if (!lua_rawequal(L, idx, lua_upvalueindex(UV_HEAP)) && !is_heap(L, idx))
        fail(L, "tricolor: %s: bad self (tricolor.heap expected, got %s)", fn, luaL_typename(L, idx));
    return (lheap *)lua_touserdata(L, idx);
}

/* to_obj — the handle at idx, or NULL. A handle is recognised by its size
 * and its tag (two API calls; comparing metatables takes four): lua_rawlen
 * is also a table's border or a string's length, but lua_touserdata is NULL
 * for those, and another library's userdata of the same size does not start
 * with its own address mixed with our constant. */
static lobj *to_obj(lua_State *L, int idx)
{
    if (lua_rawlen(L, idx) != sizeof(lobj))
        return NULL;
    lobj *o = (lobj *)lua_touserdata(L, idx);
    return o && o->tag == obj_tag(o) ? o : NULL;
}

static lobj *check_obj(lua_State *L, int idx, const char *fn)
{
    lobj *o = to_obj(L, idx);
    if (!o)
        fail(L, "tricolor: %s: bad self (tricolor.object expected, got %s)", fn, luaL_typename(L, idx));
    return o;
}

/* open_heap — the tc_heap of an open heap; raises if it was closed. Read
 * after the caller's last Lua allocation (see the invariants). */
static tc_heap *open_heap(lua_State *L, int idx, const char *fn)
{
    lheap *lh = check_heap(L, idx, fn);
    if (!lh->h)
        fail(L, "tricolor: %s: the heap is closed", fn);
    return lh->h;
}

/* live_obj — the heap of a handle that can be used; raises if the heap was
 * closed, the handle released (a `<close>` variable went out of scope) or
 * the object freed with tricolor.unsafe.free. */
static tc_heap *live_obj(lua_State *L, const lobj *o, const char *fn)
{
    if (!o->lh->h)
        fail(L, "tricolor: %s: the heap is closed", fn);
    if (!o->root)
        fail(L, "tricolor: %s: the handle was closed", fn);
    if (tc_root_freed(o->root))
        fail(L, "tricolor: %s: the object was freed with tricolor.unsafe.free", fn);
    return o->lh->h;
}

/* heap_now — lh's tc_heap now, after an allocation that may have run a
 * __gc closing it; raises if it did. */
static tc_heap *heap_now(lua_State *L, const lheap *lh, const char *fn)
{
    if (!lh->h)
        fail(L, "tricolor: %s: the heap is closed", fn);
    return lh->h;
}

/* heap_obj — the handle at idx, which must be a usable handle of heap lh
 * (an argument of a heap method: set_finalizer, add_cleanup, weakref). */
static lobj *heap_obj(lua_State *L, int idx, lheap *lh, const char *fn)
{
    lobj *o = to_obj(L, idx);
    if (!o)
        fail(L, "tricolor: %s: 'obj' must be a tricolor.object (got %s)", fn, luaL_typename(L, idx));
    if (o->lh != lh)
        fail(L, "tricolor: %s: 'obj' is an object of another heap", fn);
    live_obj(L, o, fn);
    return o;
}

/* core_error — raise for a failed core call: context, then the core's message. */
static int core_error(lua_State *L, const char *what)
{
    return fail(L, "tricolor: %s: %s", what, tc_errmsg());
}

/* ---- argument conversion --------------------------------------------------- */

/* get_int — like luaL_checkinteger (floats with an integral value count), but
 * with our error message. */
static lua_Integer get_int(lua_State *L, int idx, const char *fn, const char *arg)
{
    int isnum = 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        fail(L, "tricolor: %s: '%s' must be an integer (got %s)", fn, arg, luaL_typename(L, idx));
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
        fail(L, "tricolor: %s: '%s' must be an integer (got %f)", fn, arg, lua_tonumber(L, idx));
    return v;
}

/* limit_error — the message of a bad gogc / memory_limit value, `got` the
 * Lua type's name or the integer given (as text). */
static int limit_error(lua_State *L, const char *fn, const char *arg, lua_Integer min, lua_Integer max,
                       const char *got)
{
    if (max < LUA_MAXINTEGER)
        return fail(L, "tricolor: %s: '%s' must be an integer in [%I, %I] or false (got %s)", fn, arg, min, max,
                    got);
    return fail(L, "tricolor: %s: '%s' must be %s (got %s)", fn, arg,
                min > 0 ? "a positive integer or false" : "a non-negative integer or false", got);
}

/* get_limit — a gogc or memory_limit value: false (off, -1) or an integer
 * in [min, max]. The core holds "off" as -1, so negative numbers stop here. */
static int64_t get_limit(lua_State *L, int idx, const char *fn, const char *arg, lua_Integer min, lua_Integer max)
{
    char got[32];
    if (lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx))
        return -1;
    if (lua_type(L, idx) != LUA_TNUMBER)
        limit_error(L, fn, arg, min, max, luaL_typename(L, idx));
    lua_Integer v = get_int(L, idx, fn, arg);
    if (v < min || v > max) {
        snprintf(got, sizeof got, LUA_INTEGER_FMT, v);
        limit_error(L, fn, arg, min, max, got);
    }
    return v;
}

static void push_limit(lua_State *L, int64_t v)
{
    if (v < 0)
        lua_pushboolean(L, 0);
    else
        lua_pushinteger(L, (lua_Integer)v);
}

/* ---- handles ----------------------------------------------------------------- */

/* push_closed_obj — push a new handle of the heap at `heapidx`, with no root
 * yet: its metatable (with __gc) is set before the caller acquires a root. */
static lobj *push_closed_obj(lua_State *L, int heapidx, lheap *lh)
{
    lobj *o = (lobj *)lua_newuserdatauv(L, sizeof *o, 1);
    o->tag = obj_tag(o);
    o->root = NULL;
    o->lh = lh;
    o->id = 0;
    lua_pushvalue(L, lua_upvalueindex(UV_OBJ_MT));
    lua_setmetatable(L, -2);
    lua_pushvalue(L, heapidx);
    lua_setiuservalue(L, -2, 1);
    return o;
}

/* ensure_spare — make sure the heap of the handle at index 1 has a spare
 * handle, so that a reference read cannot fail after its root exists. */
static void ensure_spare(lua_State *L, lheap *lh)
{
    if (lh->spare)
        return;
    lua_getiuservalue(L, 1, 1); /* the heap userdata */
    lobj *s = push_closed_obj(L, lua_gettop(L), lh);
    lua_setiuservalue(L, -2, 1);
    lh->spare = s;
    lua_pop(L, 1);
}

/* push_spare — hand `root` (a new root for `ref`) to the spare handle and
 * push it. Allocates nothing, so nothing can fail once the root exists. */
static void push_spare(lua_State *L, lheap *lh, tc_root *root, const tc_obj *ref)
{
    lobj *s = lh->spare;
    s->root = root;
    s->id = tc_obj_id(ref);
    lh->spare = NULL;
    lua_getiuservalue(L, 1, 1); /* heap */
    lua_getiuservalue(L, -1, 1); /* spare: the result */
    lua_pushnil(L);
    lua_setiuservalue(L, -3, 1);
}

/* ---- gctrace ------------------------------------------------------------------- */

static void stderr_sink(void *ud, const char *line)
{
    (void)ud;
    fputs(line, stderr);
    fputc('\n', stderr);
}

/* print_trace — print the gctrace lines the core queued; after every call that may
 * run a collection. */
static void print_trace(tc_heap *h) { tc_heap_drain_output(h, stderr_sink, NULL); }

/* ---- tricolor.heap{...} ------------------------------------------------------ */

/* bool_opt — a boolean option (gctrace, checkmark). */
static bool bool_opt(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        fail(L, "tricolor: heap: option '%s' must be a boolean (got %s)", name, luaL_typename(L, -1));
    return lua_toboolean(L, -1);
}

/* name_opt — a string option parsed by the core (collector, barrier). A
 * string with a NUL byte is no name (the core would read up to the NUL). */
static const char *name_opt(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TSTRING)
        fail(L, "tricolor: heap: option '%s' must be a string (got %s)", name, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
        fail(L, "tricolor: heap: option '%s': not a valid name (it contains a NUL byte)", name);
    return s;
}

/* apply_option — apply the option whose key is at -2 and value at -1. */
static void apply_option(lua_State *L, tc_config *c)
{
    if (lua_type(L, -2) != LUA_TSTRING)
        fail(L, "tricolor: heap: option names must be strings (got %s)", luaL_typename(L, -2));
    const char *k = lua_tostring(L, -2);
    tc_status st = TC_OK;
    if (strcmp(k, "collector") == 0) {
        st = tc_collector_parse(name_opt(L, k), &c->collector);
    } else if (strcmp(k, "barrier") == 0) {
        st = tc_barrier_parse(name_opt(L, k), &c->barrier);
    } else if (strcmp(k, "gogc") == 0) {
        c->gogc = get_limit(L, -1, "heap", k, 0, TC_GOGC_MAX);
    } else if (strcmp(k, "memory_limit") == 0) {
        c->memory_limit = get_limit(L, -1, "heap", k, 1, LUA_MAXINTEGER);
    } else if (strcmp(k, "mark_workers") == 0) {
        lua_Integer n = get_int(L, -1, "heap", k);
        if (n < 1 || n > 1024)
            fail(L, "tricolor: heap: 'mark_workers' must be an integer in [1, 1024] (got %I)", n);
        c->mark_workers = (int)n;
    } else if (strcmp(k, "gctrace") == 0) {
        c->gctrace = bool_opt(L, k);
    } else if (strcmp(k, "checkmark") == 0) {
        c->checkmark = bool_opt(L, k);
    } else if (strcmp(k, "events_ring") == 0) {
        lua_Integer n = get_int(L, -1, "heap", k);
        if (n < 0 || n > ((lua_Integer)1 << 24))
            fail(L, "tricolor: heap: 'events_ring' must be an integer in [0, 16777216] (got %I)", n);
        c->events_ring = (int64_t)n;
    } else {
        fail(L, "tricolor: heap: unknown option '%s'", k);
    }
    if (st != TC_OK)
        fail(L, "tricolor: heap: option '%s': %s", k, tc_errmsg());
}

/* push_upvalues — push the UV_COUNT upvalues of a module function: the
 * shared ones from the stack at `base` (or, base 0, from the running
 * function's own), then the heap at stack index `heap` (or, 0, false). */
static void push_upvalues(lua_State *L, int base, int heap)
{
    for (int i = 0; i < UV_HEAP - 1; i++)
        lua_pushvalue(L, base ? base + i : lua_upvalueindex(1 + i));
    if (heap)
        lua_pushvalue(L, heap);
    else
        lua_pushboolean(L, 0);
}

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

/* forget_token — drop the registry entry of `token` (no-op for 0). Setting an
 * existing key to nil allocates nothing, so this cannot raise. */
static void forget_token(lua_State *L, int heapidx, tc_token token)
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
 * finalizer its handle is at 3) and forget it. Errors become warnings. */
static void run_one(lua_State *L, tc_ready_kind kind, tc_token token)
{
    int t = lua_rawgeti(L, 2, (lua_Integer)token);
    lua_pushnil(L);
    lua_rawseti(L, 2, (lua_Integer)token);
    if (t == LUA_TNIL)
        return; /* forgotten (cannot happen: a token is queued once) */
    if (kind == TC_READY_FINALIZER) {
        lua_pushvalue(L, 3); /* fn(obj) */
    } else {
        lua_rawgeti(L, -1, 1); /* fn(arg) */
        lua_rawgeti(L, -2, 2);
    }
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        report(L, kind == TC_READY_FINALIZER ? "finalizer" : "cleanup");
}

/* drain_loop — the body of run_due, run protected (arg 1: the heap): take
 * each due callback and run it, until none is due or a callback closed the
 * heap. Returns how many ran. A closed handle (index 3) is ready before each
 * tc_take_ready, so the root a finalizer comes with is owned at once. */
static int drain_loop(lua_State *L)
{
    lheap *lh = (lheap *)lua_touserdata(L, 1);
    lua_Integer n = 0;
    push_callbacks(L, 1); /* 2 */
    while (lh->h) {
        lobj *o = lua_gettop(L) >= 3 ? (lobj *)lua_touserdata(L, 3) : push_closed_obj(L, 1, lh);
        tc_token token;
        tc_root *root = NULL;
        if (!lh->h) /* the allocation ran a __gc that closed the heap */
            break;
        tc_ready_kind kind = tc_take_ready(lh->h, &token, &root);
        if (kind == TC_READY_NONE)
            break;
        if (root) {
            o->root = root;
            o->id = tc_obj_id(tc_root_obj(root));
        }
        int64_t t0 = tc_now_ns();
        run_one(L, kind, token);
        if (lh->h) /* the callback may have closed it */
            tc_heap_note_callback(lh->h, kind, t0, tc_now_ns()); /* a trace event */
        lua_settop(L, root ? 2 : 3); /* a used handle is the finalizer's now */
        n++;
    }
    lua_pushinteger(L, n);
    return 1;
}

/* run_due_slow — run every due callback of the heap at `heapidx` (an open
 * heap, not draining): on this Lua thread, outside every core lock, each
 * once. Returns how many ran. Only a memory error of the binding itself
 * escapes (after the flag is reset); callback errors are warnings. */
static lua_Integer run_due_slow(lua_State *L, int heapidx, lheap *lh)
{
    heapidx = lua_absindex(L, heapidx);
    push_upvalues(L, 0, heapidx);
    lua_pushcclosure(L, drain_loop, UV_COUNT);
    lua_pushvalue(L, heapidx);
    lh->draining = 1;
    int st = lua_pcall(L, 1, 1, 0);
    lh->draining = 0;
    if (st != LUA_OK)
        lua_error(L);
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n;
}

/* run_due — the safe point of every heap method: run the due finalizers and
 * cleanups, if any (one atomic load when there are none). */
static void run_due(lua_State *L, int heapidx, lheap *lh)
{
    if (lh->h && !lh->draining && tc_has_ready(lh->h))
        run_due_slow(L, heapidx, lh);
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
    fail(L, "tricolor: %s: 'fn' must be a function (got %s)", fn, luaL_typename(L, idx));
}

/* new_token — register the value at -1 (popped) in the heap's registry under
 * a fresh token and return the token. */
static tc_token new_token(lua_State *L, int heapidx, lheap *lh)
{
    push_callbacks(L, heapidx);
    lua_insert(L, -2);
    lua_rawseti(L, -2, ++lh->token);
    lua_pop(L, 1);
    return (tc_token)lh->token;
}

/* recheck_obj — after new_token's allocation (which may have run a __gc
 * that closed the heap or freed the object): raise as live_obj would, and
 * drop the token just registered first (a no-op if close dropped the
 * registry). */
static void recheck_obj(lua_State *L, const lobj *o, tc_token token, const char *fn)
{
    if (!o->lh->h || !o->root || tc_root_freed(o->root)) {
        forget_token(L, 1, token);
        live_obj(L, o, fn);
    }
}

/* heap_set_finalizer — heap:set_finalizer(obj, fn): fn(obj) runs once after
 * obj became unreachable; nil clears; setting again replaces. */
static int heap_set_finalizer(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "set_finalizer");
    open_heap(L, 1, "set_finalizer");
    lobj *o = heap_obj(L, 2, lh, "set_finalizer");
    tc_token token = 0, old = 0;
    if (!lua_isnil(L, 3)) {
        check_callable(L, 3, "set_finalizer");
        lua_pushvalue(L, 3);
        token = new_token(L, 1, lh); /* allocates */
    }
    recheck_obj(L, o, token, "set_finalizer");
    tc_status st = tc_set_finalizer(lh->h, o->root, token, &old);
    forget_token(L, 1, st == TC_OK ? old : token);
    if (st != TC_OK)
        return core_error(L, "set_finalizer");
    run_due(L, 1, lh);
    return 0;
}

/* heap_add_cleanup — heap:add_cleanup(obj, fn, arg): fn(arg) runs once after
 * obj was reclaimed. As Go's AddCleanup, arg must not be obj itself (the
 * registry holds arg, so obj would never be reclaimed). */
static int heap_add_cleanup(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "add_cleanup");
    open_heap(L, 1, "add_cleanup");
    lobj *o = heap_obj(L, 2, lh, "add_cleanup");
    check_callable(L, 3, "add_cleanup");
    lua_settop(L, 4);
    const lobj *a = to_obj(L, 4);
    if (a && a->lh == lh && a->id == o->id && a->root)
        return fail(L, "tricolor: add_cleanup: 'arg' must not be the object itself (it would never be reclaimed)");
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 4);
    lua_rawseti(L, -2, 2);
    tc_token token = new_token(L, 1, lh); /* allocates */
    recheck_obj(L, o, token, "add_cleanup");
    if (tc_add_cleanup(lh->h, o->root, token) != TC_OK) {
        forget_token(L, 1, token);
        return core_error(L, "add_cleanup");
    }
    run_due(L, 1, lh);
    return 0;
}

/* heap_run_finalizers — heap:run_finalizers(): run every due finalizer and
 * cleanup now; returns how many ran (0 inside a callback, where the outer
 * drain goes on with them). */
static int heap_run_finalizers(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "run_finalizers");
    open_heap(L, 1, "run_finalizers");
    lua_pushinteger(L, lh->draining ? 0 : run_due_slow(L, 1, lh));
    return 1;
}

/* ---- weak references ----------------------------------------------------------- */

static lweak *check_weak(lua_State *L, int idx, const char *fn)
{
    lweak *w = (lweak *)luaL_testudata(L, idx, WEAK_T);
    if (!w)
        fail(L, "tricolor: %s: bad self (tricolor.weak expected, got %s)", fn, luaL_typename(L, idx));
    return w;
}

/* heap_weakref — heap:weakref(obj): a weak reference, created closed (its
 * metatable and __gc first) before the core's tc_weak exists. */
static int heap_weakref(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "weakref");
    open_heap(L, 1, "weakref");
    lobj *o = heap_obj(L, 2, lh, "weakref");
    lweak *w = (lweak *)lua_newuserdatauv(L, sizeof *w, 1); /* allocates */
    w->w = NULL;
    w->lh = lh;
    luaL_setmetatable(L, WEAK_T);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    tc_heap *h = heap_now(L, lh, "weakref");
    heap_obj(L, 2, lh, "weakref");
    if (tc_weak_new(h, o->root, &w->w) != TC_OK)
        return core_error(L, "weakref");
    lh->nweak++;
    run_due(L, 1, lh);
    return 1;
}

/* weak_get — w:get(): a new handle for the target, or nil once it was
 * reclaimed. The handle exists (closed) before the core makes its root. */
static int weak_get(lua_State *L)
{
    lweak *w = check_weak(L, 1, "get");
    lheap *lh = w->lh;
    if (!lh->h)
        return fail(L, "tricolor: get: the heap is closed");
    if (!w->w)
        return fail(L, "tricolor: get: the weak reference was closed");
    lua_getiuservalue(L, 1, 1); /* 2: the heap */
    lobj *o = push_closed_obj(L, 2, lh); /* allocates */
    if (tc_weak_get(heap_now(L, lh, "get"), w->w, &o->root) != TC_OK)
        return core_error(L, "get");
    if (o->root)
        o->id = tc_obj_id(tc_root_obj(o->root));
    else
        lua_pushnil(L);
    run_due(L, 2, lh);
    return 1;
}

/* release_shell — destroy the closed tc_heap once nothing needs it: the
 * heap userdata was finalized and no weak reference owns a tc_weak. */
static void release_shell(lheap *lh)
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
            release_shell(lh);
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

/* ---- heap methods ------------------------------------------------------------- */

/* heap_new — heap:new(nslots [, data]): data is a string (copied into the
 * payload) or an integer size (zeroed payload). */
static int heap_new(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "new");
    lua_Integer n = get_int(L, 2, "new", "nslots");
    size_t size = 0;
    const char *data = NULL;
    switch (lua_type(L, 3)) {
    case LUA_TNONE:
    case LUA_TNIL: break;
    case LUA_TSTRING: data = lua_tolstring(L, 3, &size); break;
    case LUA_TNUMBER: {
        lua_Integer sz = get_int(L, 3, "new", "data");
        if (sz < 0)
            return fail(L, "tricolor: new: 'data' size must be >= 0 (got %I)", sz);
        size = (size_t)sz;
        break;
    }
    default:
        return fail(L, "tricolor: new: 'data' must be a string or a size (got %s)", luaL_typename(L, 3));
    }
    if (n < 0)
        return fail(L, "tricolor: new: 'nslots' must be >= 0 (got %I)", n);
    lobj *o = push_closed_obj(L, 1, lh); /* allocates */
    tc_heap *h = heap_now(L, lh, "new");
    if (tc_obj_new(h, (size_t)n, size, data, &o->root) != TC_OK) {
        print_trace(h);
        return fail(L, "tricolor: new: cannot allocate an object with nslots=%I and data=%I bytes: %s", n,
                          (lua_Integer)size, tc_errmsg());
    }
    o->id = tc_obj_id(tc_root_obj(o->root));
    print_trace(h);
    run_due(L, 1, lh);
    return 1;
}

/* heap_collect — heap:collect(): a full Lua collection first, so that the
 * handles Lua no longer reaches release their roots (their __gc runs now
 * rather than at some later Lua cycle), then a whole cycle, then the
 * finalizers and cleanups it made due (unless called from one of them).
 * Returns the number of objects the cycle freed. Any __gc that the Lua
 * collection ran may have closed this heap, so it is checked again. */
static int heap_collect(lua_State *L)
{
    open_heap(L, 1, "collect");
    lua_gc(L, LUA_GCCOLLECT);
    tc_heap *h = open_heap(L, 1, "collect");
    uint64_t freed = 0;
    tc_status st = tc_heap_collect_n(h, &freed);
    print_trace(h);
    if (st != TC_OK)
        return core_error(L, "collect");
    run_due(L, 1, (lheap *)lua_touserdata(L, 1));
    lua_pushinteger(L, (lua_Integer)freed);
    return 1;
}

/* push_u64 — an unsigned counter; beyond lua_Integer it becomes a float. */
static void push_u64(lua_State *L, uint64_t v)
{
    if (v <= (uint64_t)LUA_MAXINTEGER)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, (lua_Number)v);
}

/* push_field — push one stats field, as tc_stats_fields() describes it. */
static void push_field(lua_State *L, const tc_stats *s, const tc_stats_field *f)
{
    const char *p = (const char *)s + f->offset;
    switch (f->type) {
    case TC_FIELD_U64: push_u64(L, *(const uint64_t *)(const void *)p); break;
    case TC_FIELD_DOUBLE: lua_pushnumber(L, *(const double *)(const void *)p); break;
    case TC_FIELD_STRING: {
        const char *str = *(const char *const *)(const void *)p;
        lua_pushstring(L, str ? str : "");
        break;
    }
    case TC_FIELD_HIST: { /* {bounds_ns = {...}, counts = {...}}; the last bound is math.huge */
        const uint64_t *counts = (const uint64_t *)(const void *)p;
        uint64_t bounds[TC_HIST_BUCKETS + 1];
        tc_hist_bounds(bounds);
        lua_createtable(L, 0, 2);
        lua_createtable(L, TC_HIST_BUCKETS + 1, 0);
        for (int i = 0; i <= TC_HIST_BUCKETS; i++) {
            if (i == TC_HIST_BUCKETS)
                lua_pushnumber(L, HUGE_VAL);
            else
                push_u64(L, bounds[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "bounds_ns");
        lua_createtable(L, TC_HIST_BUCKETS, 0);
        for (int i = 0; i < TC_HIST_BUCKETS; i++) {
            push_u64(L, counts[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "counts");
        break;
    }
    case TC_FIELD_PAUSES: {
        const uint64_t *pauses = (const uint64_t *)(const void *)p;
        lua_createtable(L, (int)s->npauses, 0);
        for (uint32_t i = 0; i < s->npauses; i++) {
            push_u64(L, pauses[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    default: lua_pushnil(L); break;
    }
}

/* heap_stats — heap:stats(): a plain table with every tc_stats_fields() entry. */
static int heap_stats(lua_State *L)
{
    run_due(L, 1, check_heap(L, 1, "stats"));
    tc_heap *h = open_heap(L, 1, "stats"); /* also if a finalizer closed it */
    tc_stats s;
    if (tc_heap_stats(h, &s) != TC_OK)
        return core_error(L, "stats");
    size_t n;
    const tc_stats_field *f = tc_stats_fields(&n);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        push_field(L, &s, &f[i]);
        lua_setfield(L, -2, f[i].name);
    }
    return 1;
}

static int heap_verify(lua_State *L)
{
    if (tc_heap_verify(open_heap(L, 1, "verify")) != TC_OK)
        return core_error(L, "verify");
    run_due(L, 1, (lheap *)lua_touserdata(L, 1));
    return 0;
}

static int heap_trace_start(lua_State *L)
{
    tc_heap *h = open_heap(L, 1, "trace_start");
    if (lua_type(L, 2) != LUA_TSTRING)
        return fail(L, "tricolor: trace_start: 'path' must be a string (got %s)", luaL_typename(L, 2));
    if (tc_trace_start(h, lua_tostring(L, 2)) != TC_OK)
        return core_error(L, "trace_start");
    return 0;
}

static int heap_trace_stop(lua_State *L)
{
    if (tc_trace_stop(open_heap(L, 1, "trace_stop")) != TC_OK)
        return core_error(L, "trace_stop");
    return 0;
}

/* heap_close — heap:close() and __close: the idempotent closer. Handles of
 * the heap keep their cached id; everything else they do raises. Pending
 * finalizers and cleanups are dropped with the registry. The closed
 * tc_heap stays as a shell (every core call on it fails with TC_ERR_CLOSED)
 * until heap_gc: a method that read the heap before a __gc closed it finds
 * it closed, not freed. Safe from inside a finalizer or any __gc: the drain
 * stops at the next callback. */
static int heap_close(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "close");
    tc_heap *h = lh->h;
    if (h) {
        lh->h = NULL;
        print_trace(h);
        lua_pushnil(L);
        lua_setiuservalue(L, 1, HEAP_UV_CALLBACKS);
        tc_heap_close(h);
        lh->shell = h;
    }
    return 0;
}

/* heap_gc — __gc: close, then destroy the shell unless weak references
 * still own a tc_weak of it (the last one destroys it). */
static int heap_gc(lua_State *L)
{
    heap_close(L);
    lheap *lh = (lheap *)lua_touserdata(L, 1);
    lh->finalized = 1;
    release_shell(lh);
    return 0;
}

/* The heap's assignable fields: false (off) or an integer >= min. */
typedef struct tunable {
    const char *name, *field; /* "gogc", "heap.gogc" */
    lua_Integer min, max;
    int64_t (*get)(const tc_heap *);
    tc_status (*set)(tc_heap *, int64_t);
} tunable;

static const tunable tunables[] = {
    {"gogc", "heap.gogc", 0, TC_GOGC_MAX, tc_heap_gogc, tc_heap_set_gogc},
    {"memory_limit", "heap.memory_limit", 1, LUA_MAXINTEGER, tc_heap_memory_limit, tc_heap_set_memory_limit},
};

/* find_tunable — the tunable named by the key at idx, or NULL. */
static const tunable *find_tunable(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return NULL;
    const char *k = lua_tostring(L, idx);
    for (size_t i = 0; i < sizeof tunables / sizeof tunables[0]; i++)
        if (strcmp(k, tunables[i].name) == 0)
            return &tunables[i];
    return NULL;
}

/* heap_field — heap.gogc and heap.memory_limit: the __index of a heap's
 * methods table, so it runs only for keys that are not methods. */
static int heap_field(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(UV_HEAP));
    lua_replace(L, 1); /* self: the heap, not its methods table */
    const tunable *t = find_tunable(L, 2);
    if (t) {
        push_limit(L, t->get(open_heap(L, 1, t->field)));
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING)
        return fail(L, "tricolor: heap has no field or method '%s'", lua_tostring(L, 2));
    return fail(L, "tricolor: heap has no field or method for a %s key", luaL_typename(L, 2));
}

/* heap_newindex — heap.gogc = v, heap.memory_limit = v (false: off). */
static int heap_newindex(lua_State *L)
{
    const tunable *t = find_tunable(L, 2);
    if (t) {
        int64_t v = get_limit(L, 3, t->field, t->name, t->min, t->max);
        if (t->set(open_heap(L, 1, t->field), v) != TC_OK)
            return core_error(L, t->field);
        return 0;
    }
    if (lua_type(L, 2) == LUA_TSTRING)
        return fail(L, "tricolor: heap has no assignable field '%s' (only gogc and memory_limit)",
                    lua_tostring(L, 2));
    return fail(L, "tricolor: heap has no assignable field for a %s key", luaL_typename(L, 2));
}

static int heap_tostring(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "tostring");
    if (!lh->h) {
        lua_pushfstring(L, HEAP_T " (closed, %p)", (void *)lh);
    } else {
        tc_config c;
        tc_heap_config(lh->h, &c);
        lua_pushfstring(L, HEAP_T " (%s, %p)", tc_collector_name(c.collector), (void *)lh);
    }
    return 1;
}

/* ---- slots ------------------------------------------------------------------------ */

/* index_error — a slot index outside [1, #obj]. */
static int index_error(lua_State *L, const lobj *o, lua_Integer i)
{
    size_t n = 0;
    if (tc_obj_nslots(o->lh->h, o->root, &n) != TC_OK)
        return core_error(L, "slot index");
    return fail(L, "tricolor: slot index %I out of range (the object has %I slots)", i, (lua_Integer)n);
}

/* slot_error — raise for a failed tc_slot_get / tc_slot_set on slot i. */
static int slot_error(lua_State *L, const lobj *o, tc_status st, lua_Integer i)
{
    if (st == TC_ERR_INDEX)
        return index_error(L, o, i);
    if (st == TC_ERR_OVERFLOW)
        return fail(L, "tricolor: slot value %I out of range [-2^62, 2^62) (slot %I)", lua_tointeger(L, 3), i);
    return fail(L, "tricolor: slot %I: %s", i, tc_errmsg());
}

/* key_index — a non-integer key used as a slot index: a float with an
 * integral value counts, as it does for tables. */
static lua_Integer key_index(lua_State *L, int idx)
{
    int exact = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Integer i = lua_tointegerx(L, idx, &exact);
        if (exact)
            return i;
        fail(L, "tricolor: slot index must be an integer (got %f)", lua_tonumber(L, idx));
    }
    fail(L, "tricolor: slot index must be an integer (got %s)", luaL_typename(L, idx));
    return 0;
}

/* get_slot — push slot i (1-based) of the handle at index 1. */
static int get_slot(lua_State *L, lobj *o, lua_Integer i)
{
    lheap *lh = o->lh;
    ensure_spare(L, lh); /* allocates: first, before the heap is read */
    tc_heap *h = live_obj(L, o, "slot read");
    if (i < 1)
        return index_error(L, o, i);
    tc_value v;
    tc_root *r = NULL;
    tc_status st = tc_slot_get(h, o->root, i - 1, &v, &r);
    if (st != TC_OK)
        return slot_error(L, o, st, i);
    switch (v.kind) {
    case TC_BOOL: lua_pushboolean(L, v.u.b); break;
    case TC_INT: lua_pushinteger(L, (lua_Integer)v.u.i); break;
    case TC_FLOAT: lua_pushnumber(L, (lua_Number)v.u.d); break;
    case TC_REF: push_spare(L, lh, r, v.u.ref); break;
    default: lua_pushnil(L); break;
    }
    return 1;
}

/* to_value — the slot value for the Lua value at idx (slot i of o). */
static tc_value to_value(lua_State *L, int idx, const lobj *o, lua_Integer i)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return tc_nil();
    case LUA_TBOOLEAN: return tc_bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return tc_int((int64_t)lua_tointeger(L, idx));
        return tc_float((double)lua_tonumber(L, idx));
    case LUA_TUSERDATA: {
        const lobj *p = to_obj(L, idx);
        if (!p)
            break;
        if (p->lh != o->lh)
            fail(L, "tricolor: slot %I: the value is an object of another heap", i);
        if (!p->root)
            fail(L, "tricolor: slot %I: the value is a closed handle", i);
        if (tc_root_freed(p->root))
            fail(L, "tricolor: slot %I: the value is an object freed with tricolor.unsafe.free", i);
        return tc_ref(tc_root_obj(p->root));
    }
    default: break;
    }
    fail(L, "tricolor: slot %I: a %s cannot be stored in a slot (nil, boolean, number or tricolor.object expected)",
               i, luaL_typename(L, idx));
    return tc_nil();
}

/* obj_index — obj[i] (integer keys first: the fast path) or obj:method. */
static int obj_index(lua_State *L)
{
    lobj *o = check_obj(L, 1, "index");
    if (lua_isinteger(L, 2))
        return get_slot(L, o, lua_tointeger(L, 2));
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(UV_OBJ_METHODS)) != LUA_TNIL)
            return 1;
        return fail(L, "tricolor: object has no method '%s' (slots take integer indexes)", lua_tostring(L, 2));
    }
    return get_slot(L, o, key_index(L, 2));
}

/* obj_newindex — obj[i] = v. */
static int obj_newindex(lua_State *L)
{
    lobj *o = check_obj(L, 1, "newindex");
    lua_Integer i;
    if (lua_isinteger(L, 2))
        i = lua_tointeger(L, 2);
    else if (lua_type(L, 2) == LUA_TSTRING)
        return fail(L, "tricolor: cannot assign field '%s' of an object (slots take integer indexes)",
                          lua_tostring(L, 2));
    else
        i = key_index(L, 2);
    tc_heap *h = live_obj(L, o, "slot write");
    if (i < 1)
        return index_error(L, o, i);
    tc_status st = tc_slot_set(h, o->root, i - 1, to_value(L, 3, o, i));
    if (st != TC_OK)
        return slot_error(L, o, st, i);
    return 0;
}

/* push_count — push what `get` (tc_obj_nslots or tc_obj_size) says of o. */
static int push_count(lua_State *L, const lobj *o, const char *fn,
                      tc_status (*get)(tc_heap *, tc_root *, size_t *))
{
    size_t n;
    if (get(live_obj(L, o, fn), o->root, &n) != TC_OK)
        return core_error(L, fn);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int obj_len(lua_State *L) { return push_count(L, check_obj(L, 1, "#obj"), "#obj", tc_obj_nslots); }

/* freed — does handle o refer to an object freed with unsafe.free? (Its
 * root keeps the address with a freed bit; after close roots are gone.) */
static int freed(const lobj *o) { return o->lh->h && o->root && tc_root_freed(o->root); }

/* obj_eq — same heap and same id: the same object (ids are unique among the
 * live objects of a heap, and a handle keeps its object alive). Closing the
 * heap keeps that true: every object with a handle was live then. A handle
 * released on its own (`<close>`) no longer keeps its object alive, so its id
 * may come back for a new object: it equals no other handle. A freed object's
 * id may come back too: its handles equal each other, not the new object's. */
static int obj_eq(lua_State *L)
{
    const lobj *a = to_obj(L, 1), *b = to_obj(L, 2);
    lua_pushboolean(L, a && b && a->root && b->root && a->lh == b->lh && a->id == b->id && freed(a) == freed(b));
    return 1;
}

static int obj_tostring(lua_State *L)
{
    const lobj *o = check_obj(L, 1, "tostring");
    const char *state = !o->lh->h ? ", heap closed" : !o->root ? ", closed" : freed(o) ? ", freed" : "";
    lua_pushfstring(L, OBJ_T " (id %I%s)", (lua_Integer)o->id, state);
    return 1;
}

/* obj_close — __gc and __close: release the root; idempotent. After the heap
 * was closed its roots are gone with it, so there is nothing to release. */
static int obj_close(lua_State *L)
{
    lobj *o = check_obj(L, 1, "close");
    if (o->root) {
        if (o->lh->h)
            tc_root_release(o->lh->h, o->root);
        o->root = NULL;
    }
    return 0;
}

/* ---- object methods --------------------------------------------------------------- */

static int obj_data(lua_State *L)
{
    lobj *o = check_obj(L, 1, "data");
    tc_heap *h = live_obj(L, o, "data");
    size_t n;
    if (tc_obj_size(h, o->root, &n) != TC_OK)
        return core_error(L, "data");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n); /* allocates */
    h = live_obj(L, o, "data");
    if (tc_obj_data_get(h, o->root, p, n) != TC_OK)
        return core_error(L, "data");
    luaL_pushresultsize(&b, n);
    return 1;
}

static int obj_set_data(lua_State *L)
{
    lobj *o = check_obj(L, 1, "set_data");
    if (lua_type(L, 2) != LUA_TSTRING)
        return fail(L, "tricolor: set_data: 'data' must be a string (got %s)", luaL_typename(L, 2));
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    tc_heap *h = live_obj(L, o, "set_data");
    if (tc_obj_data_set(h, o->root, s, len) != TC_OK)
        return core_error(L, "set_data: 'data'");
    return 0;
}

static int obj_size(lua_State *L) { return push_count(L, check_obj(L, 1, "size"), "size", tc_obj_size); }

static int obj_id(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_obj(L, 1, "id")->id);
    return 1;
}

static int obj_heap(lua_State *L)
{
    lobj *o = check_obj(L, 1, "heap");
    live_obj(L, o, "heap");
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* ---- module ------------------------------------------------------------------------ */

/* ---- introspection: why is an object alive (csrc/inspect.c) --------------------
 *
 * heap:roots(), heap:referents(obj), heap:referrers(obj), heap:path_to(obj)
 * and heap:retained(obj). Every object of an answer comes from the core as
 * a new root, with the answer in a malloc'd array. The table of handles is
 * built by a protected call (build_answer), so that a memory error while
 * making a handle cannot leak the roots not yet owned by one: after the
 * call, those are released and the array freed, then the error (if any)
 * propagates. A __gc run by one of those allocations may close the heap:
 * ids are read before any Lua allocation (the handle table dies with the
 * heap), a handle made from a dead root is like any handle of a closed heap
 * (it checks lh->h first), and the answer then raises "the heap is closed".
 */

enum { ANS_OBJ, ANS_ROOT, ANS_PATH };

typedef struct lanswer {
    lheap *lh;
    const char *fn;
    tc_link *v;
    uint64_t *ids; /* tc_obj_id of each, read before Lua allocates */
    size_t n, next; /* v[next..n) are not owned by a handle yet */
    int shape;
} lanswer;

/* build_answer — the answer's table (arg 1: the lanswer, arg 2: the heap):
 * handles, {kind, obj} pairs (roots) or {kind or 1-based slot, obj} (a path). */
static int build_answer(lua_State *L)
{
    lanswer *a = (lanswer *)lua_touserdata(L, 1);
    lua_createtable(L, (int)a->n, 0);
    for (size_t i = 0; i < a->n; i++) {
        if (a->shape != ANS_OBJ) {
            lua_createtable(L, 2, 0);
            if (a->shape == ANS_ROOT || i == 0)
                lua_pushstring(L, tc_root_kind_name(a->v[i].kind));
            else
                lua_pushinteger(L, (lua_Integer)a->v[i].slot + 1);
            lua_rawseti(L, -2, 1);
        }
        lobj *o = push_closed_obj(L, 2, a->lh);
        o->root = a->v[i].obj;
        o->id = a->ids[i];
        a->next = i + 1;
        if (a->shape != ANS_OBJ)
            lua_rawseti(L, -2, 2); /* pair[2] = obj */
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    if (!a->lh->h)
        return fail(L, "tricolor: %s: the heap is closed", a->fn);
    return 1;
}

/* push_answer — push the answer of a core call (status st) for the heap at
 * index 1, or raise. */
static int push_answer(lua_State *L, tc_status st, lanswer *a)
{
    lheap *lh = a->lh;
    print_trace(lh->h);
    if (st != TC_OK)
        return core_error(L, a->fn);
    a->ids = a->n ? malloc(a->n * sizeof *a->ids) : NULL;
    for (size_t i = 0; a->ids && i < a->n; i++)
        a->ids[i] = tc_obj_id(tc_root_obj(a->v[i].obj));
    int rc = LUA_ERRMEM;
    if (a->ids || !a->n) {
        push_upvalues(L, 0, 1);
        lua_pushcclosure(L, build_answer, UV_COUNT);
        lua_pushlightuserdata(L, a);
        lua_pushvalue(L, 1);
        rc = lua_pcall(L, 2, 1, 0);
    }
    for (size_t i = a->next; lh->h && i < a->n; i++)
        tc_root_release(lh->h, a->v[i].obj);
    tc_inspect_free(a->v);
    free(a->ids);
    if (rc == LUA_ERRMEM && !a->ids && a->n)
        return fail(L, "tricolor: %s: not enough memory", a->fn);
    if (rc != LUA_OK)
        return lua_error(L);
    run_due(L, 1, lh);
    return 1;
}

static int heap_roots(lua_State *L)
{
    lanswer a = {check_heap(L, 1, "roots"), "roots", NULL, NULL, 0, 0, ANS_ROOT};
    tc_status st = tc_heap_roots(open_heap(L, 1, "roots"), &a.v, &a.n);
    return push_answer(L, st, &a);
}

/* inspect_obj — the method `fn` of the heap at 1 on the handle at 2 (a
 * usable handle of this heap, else an error naming 'obj'). */
static int inspect_obj(lua_State *L, const char *fn, int shape,
                       tc_status (*call)(tc_heap *, tc_root *, tc_link **, size_t *))
{
    lheap *lh = check_heap(L, 1, fn);
    open_heap(L, 1, fn);
    lobj *o = heap_obj(L, 2, lh, fn);
    lanswer a = {lh, fn, NULL, NULL, 0, 0, shape};
    tc_status st = call(lh->h, o->root, &a.v, &a.n);
    if (st == TC_OK && shape == ANS_PATH && a.n == 0) {
        print_trace(lh->h);
        lua_pushnil(L);
        run_due(L, 1, lh);
        return 1;
    }
    return push_answer(L, st, &a);
}

static int heap_referents(lua_State *L) { return inspect_obj(L, "referents", ANS_OBJ, tc_obj_referents); }
static int heap_referrers(lua_State *L) { return inspect_obj(L, "referrers", ANS_OBJ, tc_obj_referrers); }
static int heap_path_to(lua_State *L) { return inspect_obj(L, "path_to", ANS_PATH, tc_obj_path_to); }

/* heap_retained — heap:retained(obj): bytes, objects (two results). */
static int heap_retained(lua_State *L)
{
    lheap *lh = check_heap(L, 1, "retained");
    open_heap(L, 1, "retained");
    lobj *o = heap_obj(L, 2, lh, "retained");
    uint64_t bytes = 0, objects = 0;
    tc_status st = tc_obj_retained(lh->h, o->root, &bytes, &objects);
    print_trace(lh->h);
    if (st != TC_OK)
        return core_error(L, "retained");
    push_u64(L, bytes);
    push_u64(L, objects);
    run_due(L, 1, lh);
    return 2;
}

static int heap_mmu(lua_State *L);
static int heap_gc_intervals(lua_State *L);

static const luaL_Reg heap_methods[] = {
    {"mmu", heap_mmu},
    {"gc_intervals", heap_gc_intervals},
    {"new", heap_new},
    {"collect", heap_collect},
    {"stats", heap_stats},
    {"verify", heap_verify},
    {"trace_start", heap_trace_start},
    {"trace_stop", heap_trace_stop},
    {"set_finalizer", heap_set_finalizer},
    {"add_cleanup", heap_add_cleanup},
    {"run_finalizers", heap_run_finalizers},
    {"weakref", heap_weakref},
    {"roots", heap_roots},
    {"referents", heap_referents},
    {"referrers", heap_referrers},
    {"path_to", heap_path_to},
    {"retained", heap_retained},
    {"close", heap_close},
    {NULL, NULL},
};

static const luaL_Reg heap_meta[] = {
    {"__newindex", heap_newindex},
    {"__tostring", heap_tostring},
    {"__gc", heap_gc},
    {"__close", heap_close},
    {NULL, NULL},
};

static const luaL_Reg obj_methods[] = {
    {"data", obj_data},
    {"set_data", obj_set_data},
    {"size", obj_size},
    {"id", obj_id},
    {"heap", obj_heap},
    {NULL, NULL},
};

static const luaL_Reg obj_meta[] = {
    {"__index", obj_index},
    {"__newindex", obj_newindex},
    {"__len", obj_len},
    {"__eq", obj_eq},
    {"__tostring", obj_tostring},
    {"__gc", obj_close},
    {"__close", obj_close},
    {NULL, NULL},
};

/* push_heap_metatable — push the metatable of the heap at `ud`: a copy of
 * the prototype (the shared metamethods and &heap_mark) whose __index is a
 * table of the heap's own method closures; that table's __index serves the
 * fields gogc and memory_limit. */
static void push_heap_metatable(lua_State *L, int ud, const luaL_Reg *methods)
{
    lua_newtable(L);
    int mt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, lua_upvalueindex(UV_HEAP_PROTO))) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, mt);
    }
    lua_createtable(L, 0, 16);
    push_upvalues(L, 0, ud);
    luaL_setfuncs(L, methods, UV_COUNT);
    lua_createtable(L, 0, 1);
    push_upvalues(L, 0, ud);
    lua_pushcclosure(L, heap_field, UV_COUNT);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, mt, "__index");
}

/* config_warn — write each of tc_config_init's complaints about
 * TRICOLOR_GOGC / TRICOLOR_MEMORY_LIMIT to stderr (the core parses them; the
 * line names the variable and the default used), once per Lua state and
 * line: the registry keeps the lines already written. On stderr rather than
 * through warn(), which the stand-alone interpreter keeps off by default. */
static void config_warn(lua_State *L)
{
    const char *w = tc_config_warning(0);
    if (!w)
        return;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, "tricolor.config_warned");
    for (int i = 0; (w = tc_config_warning(i)) != NULL; i++) {
        if (lua_getfield(L, -1, w) == LUA_TNIL) {
            lua_writestringerror("tricolor: %s\n", w);
            lua_pushboolean(L, 1);
            lua_setfield(L, -3, w);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* l_heap — tricolor.heap([options]): a new heap. Options start from
 * tc_config_init (SPEC's defaults, then the environment: TRICOLOR_GOGC,
 * TRICOLOR_MEMORY_LIMIT, TRICOLOR_DEBUG); only the keys present in the table
 * change them. */
static int l_heap(lua_State *L)
{
    tc_config c;
    tc_config_init(&c);
    config_warn(L);
    int t = lua_type(L, 1);
    if (t != LUA_TNONE && t != LUA_TNIL) {
        if (t != LUA_TTABLE)
            return fail(L, "tricolor: heap: 'options' must be a table (got %s)", luaL_typename(L, 1));
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            apply_option(L, &c);
            lua_pop(L, 1);
        }
    }
    lheap *lh = (lheap *)lua_newuserdatauv(L, sizeof *lh, HEAP_NUV);
    memset(lh, 0, sizeof *lh);
    int ud = lua_gettop(L);
    push_heap_metatable(L, ud, heap_methods);
    lua_setmetatable(L, ud);
    if (tc_heap_new(&c, &lh->h) != TC_OK)
        return core_error(L, "heap");
    return 1;
}

/* l_now_ns — tricolor.now_ns(): the monotonic clock (CLOCK_MONOTONIC, the
 * core's clock) in integer nanoseconds. Lua has no wall clock finer than a
 * second (os.clock is CPU time), and GC experiments time things. */
static int l_now_ns(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec);
    return 1;
}

/* ---- tricolor.mmu --------------------------------------------------------------- */

/* mmu_int — the number at the top of the stack as an integer (a float with
 * an integral value counts); what/i name it in the error. Pops it. */
static int64_t mmu_int(lua_State *L, const char *what, lua_Integer i)
{
    int isnum = 0;
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : 0;
    if (!isnum) {
        if (i > 0)
            fail(L, "tricolor: mmu: intervals[%I]: %s must be an integer (got %s)", i, what,
                 luaL_tolstring(L, -1, NULL));
        fail(L, "tricolor: mmu: '%s' must be an integer (got %s)", what, luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
    return (int64_t)v;
}

/* mmu_interval — intervals[i], a {start_ns, end_ns, kind} triple. */
static void mmu_interval(lua_State *L, lua_Integer i, tc_interval *out)
{
    if (lua_geti(L, 1, i) != LUA_TTABLE)
        fail(L, "tricolor: mmu: intervals[%I] must be a {start_ns, end_ns, kind} triple (got %s)", i,
             luaL_typename(L, -1));
    if (lua_rawlen(L, -1) != 3)
        fail(L, "tricolor: mmu: intervals[%I] must be a {start_ns, end_ns, kind} triple (got a table of length %I)",
             i, (lua_Integer)lua_rawlen(L, -1));
    lua_geti(L, -1, 1);
    out->start_ns = mmu_int(L, "start_ns", i);
    lua_geti(L, -1, 2);
    out->end_ns = mmu_int(L, "end_ns", i);
    size_t len = 0;
    const char *kind = lua_geti(L, -1, 3) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!kind)
        fail(L, "tricolor: mmu: intervals[%I]: kind must be a string (got %s)", i, luaL_typename(L, -1));
    if (len != strlen(kind) || tc_gc_kind_parse(kind, &out->kind) != TC_OK || tc_interval_check(out) != TC_OK)
        fail(L, "tricolor: mmu: intervals[%I]: %s", i, len != strlen(kind) ? "kind has a NUL byte" : tc_errmsg());
    lua_pop(L, 2);
}

/* mmu_windows — the window lengths (seconds) at idx into two new userdata
 * buffers (left on the stack, so an error frees them): seconds and ns. */
static size_t mmu_windows(lua_State *L, int idx, lua_Number **secs, int64_t **ns)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        fail(L, "tricolor: mmu: 'windows' must be a sequence of numbers (got %s)", luaL_typename(L, idx));
    size_t n = (size_t)luaL_len(L, idx);
    *secs = (lua_Number *)lua_newuserdatauv(L, (n ? n : 1) * sizeof **secs, 0);
    *ns = (int64_t *)lua_newuserdatauv(L, (n ? n : 1) * sizeof **ns, 0);
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, idx, (lua_Integer)i + 1) != LUA_TNUMBER)
            fail(L, "tricolor: mmu: windows[%I] must be a number of seconds (got %s)", (lua_Integer)i + 1,
                 luaL_typename(L, -1));
        (*secs)[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (tc_mmu_window_ns((double)(*secs)[i], &(*ns)[i]) != TC_OK)
            fail(L, "tricolor: mmu: windows[%I]: %s", (lua_Integer)i + 1, tc_errmsg());
    }
    return n;
}

/* push_mmu_points — the result: one table per window, in the shape of
 * SPEC's Latency section (heap:mmu will return the same). */
static void push_mmu_points(lua_State *L, const lua_Number *secs, const tc_mmu_point *p, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 5);
        lua_pushnumber(L, secs[i]);
        lua_setfield(L, -2, "window");
        lua_pushnumber(L, p[i].mmu);
        lua_setfield(L, -2, "mmu");
        lua_pushnumber(L, p[i].bmu);
        lua_setfield(L, -2, "bmu");
        lua_pushinteger(L, p[i].worst_start_ns);
        lua_setfield(L, -2, "worst_start_ns");
        lua_createtable(L, 0, TC_GC_KIND_COUNT);
        for (int k = 0; k < TC_GC_KIND_COUNT; k++) {
            lua_pushinteger(L, (lua_Integer)p[i].by_kind_ns[k]);
            lua_setfield(L, -2, tc_gc_kind_name((tc_gc_kind)k));
        }
        lua_setfield(L, -2, "by_kind");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* l_mmu — tricolor.mmu(intervals, windows [, start_ns, end_ns]): MMU and BMU
 * of GC intervals (csrc/mmu.c). Buffers are userdata, so errors leak nothing. */
static int l_mmu(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return fail(L, "tricolor: mmu: 'intervals' must be a sequence of {start_ns, end_ns, kind} (got %s)",
                    luaL_typename(L, 1));
    int64_t bound[2], *start = NULL, *end = NULL;
    for (int a = 0; a < 2; a++)
        if (!lua_isnoneornil(L, 3 + a)) {
            lua_pushvalue(L, 3 + a);
            bound[a] = mmu_int(L, a ? "end_ns" : "start_ns", 0);
            *(a ? &end : &start) = &bound[a];
        }
    lua_Number *secs;
    int64_t *ns;
    size_t nw = mmu_windows(L, 2, &secs, &ns);
    size_t n = (size_t)luaL_len(L, 1);
    tc_interval *iv = (tc_interval *)lua_newuserdatauv(L, (n ? n : 1) * sizeof *iv, 0);
    for (size_t i = 0; i < n; i++)
        mmu_interval(L, (lua_Integer)i + 1, &iv[i]);
    tc_mmu_point *pts = (tc_mmu_point *)lua_newuserdatauv(L, (nw ? nw : 1) * sizeof *pts, 0);
    if (tc_mmu(iv, n, start, end, ns, nw, pts) != TC_OK)
        return core_error(L, "mmu");
    push_mmu_points(L, secs, pts, nw);
    return 1;
}

/* heap_mmu — heap:mmu(windows): tricolor.mmu of the heap's recorded GC
 * events over [heap creation, now]; warns (Lua's warn) when the event ring
 * overflowed, so the curve has a gap. */
static int heap_mmu(lua_State *L)
{
    run_due(L, 1, check_heap(L, 1, "mmu"));
    lua_Number *secs;
    int64_t *ns;
    size_t nw = mmu_windows(L, 2, &secs, &ns);
    tc_mmu_point *pts = (tc_mmu_point *)lua_newuserdatauv(L, (nw ? nw : 1) * sizeof *pts, 0);
    uint64_t dropped = 0;
    if (tc_heap_mmu(open_heap(L, 1, "mmu"), ns, nw, pts, &dropped) != TC_OK)
        return core_error(L, "mmu");
    if (dropped) {
        lua_pushfstring(L, "tricolor: mmu: the GC event ring overflowed (%I events dropped): the curve has a gap; "
                        "raise the heap's events_ring", (lua_Integer)dropped);
        lua_warning(L, lua_tostring(L, -1), 0);
        lua_pop(L, 1);
    }
    push_mmu_points(L, secs, pts, nw);
    return 1;
}

/* heap_gc_intervals — heap:gc_intervals(): the recorded GC intervals that
 * take time from the program, {start_ns, end_ns, kind} each (for tricolor.mmu). */
static int heap_gc_intervals(lua_State *L)
{
    run_due(L, 1, check_heap(L, 1, "gc_intervals"));
    tc_interval *iv = NULL;
    size_t n = 0;
    if (tc_heap_intervals(open_heap(L, 1, "gc_intervals"), &iv, &n) != TC_OK)
        return core_error(L, "gc_intervals");
    tc_interval *copy = NULL; /* into a userdata first: a Lua memory error below leaks nothing */
    if (n && (copy = (tc_interval *)lua_newuserdatauv(L, n * sizeof *copy, 0)) != NULL)
        memcpy(copy, iv, n * sizeof *copy);
    free(iv);
    iv = copy;
    lua_createtable(L, (int)(n < INT32_MAX ? n : 0), 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 3, 0);
        lua_pushinteger(L, iv[i].start_ns);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, iv[i].end_ns);
        lua_rawseti(L, -2, 2);
        lua_pushstring(L, tc_gc_kind_name(iv[i].kind));
        lua_rawseti(L, -2, 3);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const luaL_Reg module_funcs[] = {
    {"heap", l_heap},
    {"now_ns", l_now_ns},
    {"mmu", l_mmu},
    {NULL, NULL},
};

/* ---- tricolor.unsafe ------------------------------------------------------------ */

/* unsafe_address — tricolor.unsafe.address(obj): the object's address. */
static int unsafe_address(lua_State *L)
{
    const lobj *o = check_obj(L, 1, "address");
    live_obj(L, o, "address");
    lua_pushinteger(L, (lua_Integer)tc_obj_address(tc_root_obj(o->root)));
    return 1;
}

/* unsafe_free — tricolor.unsafe.free(obj): free the object now. Its
 * finalizer is cleared first (a freed object is never finalized; its
 * registry entry goes); every handle to it then raises. */
static int unsafe_free(lua_State *L)
{
    lobj *o = check_obj(L, 1, "free");
    tc_heap *h = live_obj(L, o, "free");
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1); /* 2: the heap */
    tc_token old = 0;
    if (tc_set_finalizer(h, o->root, 0, &old) != TC_OK)
        return core_error(L, "free");
    forget_token(L, 2, old);
    if (tc_obj_free(h, o->root) != TC_OK)
        return core_error(L, "free");
    return 0;
}

static const luaL_Reg unsafe_funcs[] = {
    {"address", unsafe_address},
    {"free", unsafe_free},
    {NULL, NULL},
};

static const luaL_Reg weak_methods[] = {
    {"get", weak_get},
    {NULL, NULL},
};

static const luaL_Reg weak_meta[] = {
    {"__gc", weak_close},
    {"__close", weak_close},
    {"__tostring", weak_tostring},
    {NULL, NULL},
};

/* set_funcs — register `l` into the table at `target`, each function with
 * the shared upvalues, which sit at stack indexes 1..UV_HEAP-1. */
static void set_funcs(lua_State *L, int target, const luaL_Reg *l)
{
    lua_pushvalue(L, target);
    push_upvalues(L, 1, 0);
    luaL_setfuncs(L, l, UV_COUNT);
    lua_pop(L, 1);
}

/* luaopen_tricolor — the module's one exported symbol: everything else,
 * the core included (TC_EMBEDDED), is hidden (tests/lua/package_spec.lua). */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
LUAMOD_API int luaopen_tricolor(lua_State *L)
{
    luaL_checkversion(L);
    lua_settop(L, 0);
    luaL_newmetatable(L, OBJ_T); /* 1 = UV_OBJ_MT */
    lua_newtable(L);             /* 2 = UV_OBJ_METHODS */
    lua_newtable(L);             /* 3 = UV_HEAP_PROTO */
    set_funcs(L, UV_OBJ_METHODS, obj_methods);
    set_funcs(L, UV_OBJ_MT, obj_meta);
    set_funcs(L, UV_HEAP_PROTO, heap_meta);
    lua_pushliteral(L, HEAP_T);
    lua_setfield(L, UV_HEAP_PROTO, "__name");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, UV_HEAP_PROTO, &heap_mark);
    luaL_newmetatable(L, WEAK_T); /* 4: the weak metatable (luaL_testudata finds it) */
    set_funcs(L, 4, weak_meta);
    lua_newtable(L);
    set_funcs(L, 5, weak_methods);
    lua_setfield(L, 4, "__index");
    lua_newtable(L); /* 5: the module */
    set_funcs(L, 5, module_funcs);
    lua_pushliteral(L, TC_VERSION_STRING); /* the one version (csrc/include/tricolor.h) */
    lua_setfield(L, 5, "_VERSION");
    lua_newtable(L);
    set_funcs(L, 6, unsafe_funcs);
    lua_setfield(L, 5, "unsafe");
    return 1;
}
