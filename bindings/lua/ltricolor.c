/*
 * ltricolor.c — the Lua 5.4 binding: `local tricolor = require "tricolor"`.
 *
 * It converts values, maps core errors to Lua errors and ties the lifetime of
 * each core handle (tc_root) to the Lua value that owns it. Nothing else: the
 * collector, the option names, the stats field list and the gctrace line all
 * live in csrc/. This file has the module, tricolor.heap{...}, the heap's
 * methods and fields, tricolor.mmu and tricolor.unsafe; handles are
 * lhandle.c's, finalizers and weak references lspecial.c's, the why-alive
 * calls linspect.c's (ltricolor.h has the types and the invariants).
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
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ltricolor.h"

/* heap_mark — its address is the key that marks a heap metatable. */
static const char heap_mark = 0;

/* fail — raise a Lua error whose message is exactly the formatted string. */
int lt_fail(lua_State *L, const char *fmt, ...)
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
lheap *lt_check_heap(lua_State *L, int idx, const char *fn)
{
    if (!lua_rawequal(L, idx, lua_upvalueindex(UV_HEAP)) && !is_heap(L, idx))
        lt_fail(L, "tricolor: %s: bad self (tricolor.heap expected, got %s)", fn, luaL_typename(L, idx));
    return (lheap *)lua_touserdata(L, idx);
}

lobj *lt_check_obj(lua_State *L, int idx, const char *fn)
{
    lobj *o = to_obj(L, idx);
    if (!o)
        lt_fail(L, "tricolor: %s: bad self (tricolor.object expected, got %s)", fn, luaL_typename(L, idx));
    return o;
}

/* open_heap — the tc_heap of an open heap; raises if it was closed. Read
 * after the caller's last Lua allocation (see the invariants). */
tc_heap *lt_open_heap(lua_State *L, int idx, const char *fn)
{
    return lt_heap_now(L, lt_check_heap(L, idx, fn), fn);
}

/* live_obj — the heap of a handle that can be used; raises if the heap was
 * closed, the handle released (a `<close>` variable went out of scope) or
 * the object freed with tricolor.unsafe.free. */
tc_heap *lt_live_obj(lua_State *L, const lobj *o, const char *fn)
{
    bc_use u = bc_obj_use(o->lh->h != NULL, o->root);
    if (u != BC_USABLE)
        lt_fail(L, "tricolor: %s: %s", fn, bc_use_msg(u));
    return o->lh->h;
}

/* heap_now — lh's tc_heap now, after an allocation that may have run a
 * __gc closing it; raises if it did. */
tc_heap *lt_heap_now(lua_State *L, const lheap *lh, const char *fn)
{
    if (!lh->h)
        lt_fail(L, "tricolor: %s: %s", fn, bc_use_msg(BC_HEAP_CLOSED));
    return lh->h;
}

/* heap_obj — the handle at idx, which must be a usable handle of heap lh
 * (an argument of a heap method: set_finalizer, add_cleanup, weakref). */
lobj *lt_heap_obj(lua_State *L, int idx, lheap *lh, const char *fn)
{
    lobj *o = to_obj(L, idx);
    if (!o)
        lt_fail(L, "tricolor: %s: 'obj' must be a tricolor.object (got %s)", fn, luaL_typename(L, idx));
    if (o->lh != lh)
        lt_fail(L, "tricolor: %s: 'obj' is an object of another heap", fn);
    lt_live_obj(L, o, fn);
    return o;
}

/* core_error — raise for a failed core call: context, then the core's message. */
int lt_core_error(lua_State *L, const char *what)
{
    return lt_fail(L, "tricolor: %s: %s", what, tc_errmsg());
}

/* ---- argument conversion --------------------------------------------------- */

/* get_int — like luaL_checkinteger (floats with an integral value count), but
 * with our error message. */
static lua_Integer get_int(lua_State *L, int idx, const char *fn, const char *arg)
{
    int isnum = 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        lt_fail(L, "tricolor: %s: '%s' must be an integer (got %s)", fn, arg, luaL_typename(L, idx));
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
        lt_fail(L, "tricolor: %s: '%s' must be an integer (got %f)", fn, arg, lua_tonumber(L, idx));
    return v;
}

/* limit_error — the message of a bad gogc / memory_limit value, `got` the
 * Lua type's name or the integer given (as text). */
static int limit_error(lua_State *L, const char *fn, const char *arg, lua_Integer min, lua_Integer max,
                       const char *got)
{
    if (max < LUA_MAXINTEGER)
        return lt_fail(L, "tricolor: %s: '%s' must be an integer in [%I, %I] or false (got %s)", fn, arg, min, max,
                    got);
    return lt_fail(L, "tricolor: %s: '%s' must be %s (got %s)", fn, arg,
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


/* ---- gctrace ------------------------------------------------------------------- */

static void stderr_sink(void *ud, const char *line)
{
    (void)ud;
    fputs(line, stderr);
    fputc('\n', stderr);
}

/* lt_heap_init — a new heap userdata's block: no core heap yet, no handle,
 * no callback token; gctrace lines to the C stderr. */
void lt_heap_init(lheap *lh)
{
    memset(lh, 0, sizeof *lh);
    bc_host_init(&lh->cb, stderr_sink);
}

/* ---- tricolor.heap{...} ------------------------------------------------------ */

/* bool_opt — a boolean option (gctrace, checkmark). */
static bool bool_opt(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        lt_fail(L, "tricolor: heap: option '%s' must be a boolean (got %s)", name, luaL_typename(L, -1));
    return lua_toboolean(L, -1);
}

/* name_opt — a string option parsed by the core (collector, barrier). A
 * string with a NUL byte is no name (the core would read up to the NUL). */
static const char *name_opt(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TSTRING)
        lt_fail(L, "tricolor: heap: option '%s' must be a string (got %s)", name, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
        lt_fail(L, "tricolor: heap: option '%s': not a valid name (it contains a NUL byte)", name);
    return s;
}

/* range_opt — an integer option (value at -1) with the core's bounds and
 * the core's message for a value outside them (bindings/common). */
static int64_t range_opt(lua_State *L, const bc_range *r)
{
    char msg[160];
    lua_Integer n = get_int(L, -1, "heap", r->name);
    if (!bc_range_check(r, (int64_t)n, msg, sizeof msg))
        lt_fail(L, "tricolor: heap: %s", msg);
    return (int64_t)n;
}

/* apply_option — apply the option whose key is at -2 and value at -1. */
static void apply_option(lua_State *L, tc_config *c)
{
    if (lua_type(L, -2) != LUA_TSTRING)
        lt_fail(L, "tricolor: heap: option names must be strings (got %s)", luaL_typename(L, -2));
    const char *k = lua_tostring(L, -2);
    tc_status st = TC_OK;
    if (strcmp(k, "collector") == 0) {
        st = tc_collector_parse(name_opt(L, k), &c->collector);
    } else if (strcmp(k, "barrier") == 0) {
        st = tc_barrier_parse(name_opt(L, k), &c->barrier);
    } else if (strcmp(k, "gogc") == 0) {
        c->gogc = get_limit(L, -1, "heap", k, bc_tunable_gogc.min, bc_tunable_gogc.max);
    } else if (strcmp(k, "memory_limit") == 0) {
        c->memory_limit = get_limit(L, -1, "heap", k, bc_tunable_memory_limit.min, bc_tunable_memory_limit.max);
    } else if (strcmp(k, "mark_workers") == 0) {
        c->mark_workers = (int)range_opt(L, &bc_range_mark_workers);
    } else if (strcmp(k, "gctrace") == 0) {
        c->gctrace = bool_opt(L, k);
    } else if (strcmp(k, "checkmark") == 0) {
        c->checkmark = bool_opt(L, k);
    } else if (strcmp(k, "events_ring") == 0) {
        c->events_ring = range_opt(L, &bc_range_events_ring);
    } else {
        lt_fail(L, "tricolor: heap: unknown option '%s'", k);
    }
    if (st != TC_OK)
        lt_fail(L, "tricolor: heap: option '%s': %s", k, tc_errmsg());
}

/* push_upvalues — push the UV_COUNT upvalues of a module function: the
 * shared ones from the stack at `base` (or, base 0, from the running
 * function's own), then the heap at stack index `heap` (or, 0, false). */
void lt_push_upvalues(lua_State *L, int base, int heap)
{
    for (int i = 0; i < UV_HEAP - 1; i++)
        lua_pushvalue(L, base ? base + i : lua_upvalueindex(1 + i));
    if (heap)
        lua_pushvalue(L, heap);
    else
        lua_pushboolean(L, 0);
}

/* ---- heap methods ------------------------------------------------------------- */

/* heap_new — heap:new(nslots [, data]): data is a string (copied into the
 * payload) or an integer size (zeroed payload). */
static int heap_new(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "new");
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
            return lt_fail(L, "tricolor: new: 'data' size must be >= 0 (got %I)", sz);
        size = (size_t)sz;
        break;
    }
    default:
        return lt_fail(L, "tricolor: new: 'data' must be a string or a size (got %s)", luaL_typename(L, 3));
    }
    if (n < 0)
        return lt_fail(L, "tricolor: new: 'nslots' must be >= 0 (got %I)", n);
    lua_settop(L, 3);
    lhandle_tick(L, 1, lh);
    lhandle_push_closed(L, 1, lh); /* 4; allocates */
    tc_heap *h = lt_heap_now(L, lh, "new");
    lhandle_reserve(L, lh, "new");
    tc_root *r;
    tc_status st = tc_obj_new(h, (size_t)n, size, data, &r);
    if (st == TC_ERR_NOMEM) {
        /* Lua's emergency collection, as Lua does for its own memory: the
         * handles and heaps Lua no longer reaches may be what holds the
         * memory (a root of a dropped handle, another heap's arena waiting
         * for its __gc to close it). Any __gc may run: read the heap again. */
        lua_gc(L, LUA_GCCOLLECT);
        lhandle_settle(L, 1, lh);
        h = lt_heap_now(L, lh, "new");
        lhandle_reserve(L, lh, "new");
        st = tc_obj_new(h, (size_t)n, size, data, &r);
    }
    if (st != TC_OK) {
        lt_print_trace(lh);
        return lt_fail(L, "tricolor: new: cannot allocate an object with nslots=%I and data=%I bytes: %s", n,
                    (lua_Integer)size, tc_errmsg());
    }
    lhandle_push_new(L, 1, 4, r);
    lt_print_trace(lh);
    run_due(L, 1, lh);
    return 1;
}

/* heap_collect — heap:collect(): a full Lua collection first, and the
 * handles it collected release their roots (lhandle_settle), so that the
 * cycle reclaims every object Lua no longer reaches; then a whole cycle,
 * then the finalizers and cleanups it made due (unless called from one of
 * them). Returns the number of objects the cycle freed. Any __gc that the
 * Lua collection ran may have closed this heap, so it is checked again. */
static int heap_collect(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "collect");
    lt_open_heap(L, 1, "collect");
    lua_gc(L, LUA_GCCOLLECT);
    lhandle_settle(L, 1, lh);
    tc_heap *h = lt_open_heap(L, 1, "collect");
    uint64_t freed = 0;
    tc_status st = tc_heap_collect_n(h, &freed);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "collect");
    run_due(L, 1, lh);
    lua_pushinteger(L, (lua_Integer)freed);
    return 1;
}

/* push_u64 — an unsigned counter; beyond lua_Integer it becomes a float. */
void lt_push_u64(lua_State *L, uint64_t v)
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
    case TC_FIELD_U64: lt_push_u64(L, *(const uint64_t *)(const void *)p); break;
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
                lt_push_u64(L, bounds[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "bounds_ns");
        lua_createtable(L, TC_HIST_BUCKETS, 0);
        for (int i = 0; i < TC_HIST_BUCKETS; i++) {
            lt_push_u64(L, counts[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "counts");
        break;
    }
    case TC_FIELD_PAUSES: {
        const uint64_t *pauses = (const uint64_t *)(const void *)p;
        lua_createtable(L, (int)s->npauses, 0);
        for (uint32_t i = 0; i < s->npauses; i++) {
            lt_push_u64(L, pauses[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    default: lua_pushnil(L); break;
    }
}

/* heap_stats — heap:stats(): a plain table with every tc_stats_fields()
 * entry; the handles Lua has collected are released first (`roots` counts
 * the handles Lua holds once its collector has run). */
static int heap_stats(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "stats");
    run_due(L, 1, lh);
    lhandle_settle(L, 1, lh);
    tc_heap *h = lt_open_heap(L, 1, "stats"); /* also if a finalizer closed it */
    tc_stats s;
    tc_status st = tc_heap_stats(h, &s);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "stats");
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
    tc_status st = tc_heap_verify(lt_open_heap(L, 1, "verify"));
    lheap *lh = (lheap *)lua_touserdata(L, 1);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "verify");
    run_due(L, 1, lh);
    return 0;
}

static int heap_trace_start(lua_State *L)
{
    tc_heap *h = lt_open_heap(L, 1, "trace_start");
    if (lua_type(L, 2) != LUA_TSTRING)
        return lt_fail(L, "tricolor: trace_start: 'path' must be a string (got %s)", luaL_typename(L, 2));
    if (tc_trace_start(h, lua_tostring(L, 2)) != TC_OK)
        return lt_core_error(L, "trace_start");
    return 0;
}

static int heap_trace_stop(lua_State *L)
{
    if (tc_trace_stop(lt_open_heap(L, 1, "trace_stop")) != TC_OK)
        return lt_core_error(L, "trace_stop");
    return 0;
}

static int heap_record_start(lua_State *L)
{
    tc_heap *h = lt_open_heap(L, 1, "record_start");
    if (lua_type(L, 2) != LUA_TSTRING)
        return lt_fail(L, "tricolor: record_start: 'path' must be a string (got %s)", luaL_typename(L, 2));
    if (tc_record_start(h, lua_tostring(L, 2)) != TC_OK)
        return lt_core_error(L, "record_start");
    return 0;
}

static int heap_record_stop(lua_State *L)
{
    if (tc_record_stop(lt_open_heap(L, 1, "record_stop")) != TC_OK)
        return lt_core_error(L, "record_stop");
    return 0;
}

/* heap_replay — heap:replay(path): drive this fresh heap with a replay log,
 * in C (replay.c); a table of the report's counts. */
static int heap_replay(lua_State *L)
{
    tc_heap *h = lt_open_heap(L, 1, "replay");
    if (lua_type(L, 2) != LUA_TSTRING)
        return lt_fail(L, "tricolor: replay: 'path' must be a string (got %s)", luaL_typename(L, 2));
    tc_replay_report r;
    if (tc_replay(h, lua_tostring(L, 2), &r) != TC_OK)
        return lt_core_error(L, "replay");
    lua_createtable(L, 0, 8);
    const struct { const char *k; int64_t v; } f[] = {
        {"version", r.version}, {"records", (int64_t)r.records}, {"collects", (int64_t)r.collects},
        {"checked", (int64_t)r.checked}, {"mismatches", (int64_t)r.mismatches},
        {"first_mismatch", r.first_mismatch}, {"objects", (int64_t)r.objects},
        {"elapsed_ns", (int64_t)r.elapsed_ns},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        lua_pushinteger(L, (lua_Integer)f[i].v);
        lua_setfield(L, -2, f[i].k);
    }
    return 1;
}

/* heap_close — heap:close() and __close: the idempotent closer. Handles of
 * the heap keep their cached id; everything else they do raises. The
 * handle registry goes (the roots went with the heap). Pending
 * finalizers and cleanups are dropped with the registry. The closed
 * tc_heap stays as a shell (every core call on it fails with TC_ERR_CLOSED)
 * until heap_gc: a method that read the heap before a __gc closed it finds
 * it closed, not freed. Safe from inside a finalizer or any __gc: the drain
 * stops at the next callback. */
static int heap_close(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "close");
    tc_heap *h = lh->h;
    if (h) {
        lh->h = NULL;
        lhandle_close_all(lh);
        bc_trace_flush(&lh->cb, h);
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
    lspecial_release_shell(lh);
    return 0;
}

/* find_tunable — the tunable named by the key at idx, or NULL (the table
 * is bindings/common's, shared with the Python binding). */
static const bc_tunable *find_tunable(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TSTRING ? bc_tunable_find(lua_tostring(L, idx)) : NULL;
}

/* heap_field — heap.gogc and heap.memory_limit: the __index of a heap's
 * methods table, so it runs only for keys that are not methods. */
static int heap_field(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(UV_HEAP));
    lua_replace(L, 1); /* self: the heap, not its methods table */
    const bc_tunable *t = find_tunable(L, 2);
    if (t) {
        push_limit(L, t->get(lt_open_heap(L, 1, t->field)));
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING)
        return lt_fail(L, "tricolor: heap has no field or method '%s'", lua_tostring(L, 2));
    return lt_fail(L, "tricolor: heap has no field or method for a %s key", luaL_typename(L, 2));
}

/* heap_newindex — heap.gogc = v, heap.memory_limit = v (false: off). */
static int heap_newindex(lua_State *L)
{
    const bc_tunable *t = find_tunable(L, 2);
    if (t) {
        int64_t v = get_limit(L, 3, t->field, t->name, t->min, t->max);
        tc_status st = t->set(lt_open_heap(L, 1, t->field), v);
        lheap *lh = (lheap *)lua_touserdata(L, 1);
        lt_print_trace(lh);
        if (st != TC_OK)
            return lt_core_error(L, t->field);
        run_due(L, 1, lh);
        return 0;
    }
    if (lua_type(L, 2) == LUA_TSTRING)
        return lt_fail(L, "tricolor: heap has no assignable field '%s' (only gogc and memory_limit)",
                    lua_tostring(L, 2));
    return lt_fail(L, "tricolor: heap has no assignable field for a %s key", luaL_typename(L, 2));
}

static int heap_tostring(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "tostring");
    if (!lh->h) {
        lua_pushfstring(L, HEAP_T " (closed, %p)", (void *)lh);
    } else {
        tc_config c;
        tc_heap_config(lh->h, &c);
        lua_pushfstring(L, HEAP_T " (%s, %p)", tc_collector_name(c.collector), (void *)lh);
    }
    return 1;
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
    {"record_start", heap_record_start},
    {"record_stop", heap_record_stop},
    {"replay", heap_replay},
    {"set_finalizer", lspecial_set_finalizer},
    {"add_cleanup", lspecial_add_cleanup},
    {"run_finalizers", lspecial_run_finalizers},
    {"weakref", lspecial_weakref},
    {"roots", linspect_roots},
    {"referents", linspect_referents},
    {"referrers", linspect_referrers},
    {"path_to", linspect_path_to},
    {"retained", linspect_retained},
    {"gc_start", lmanual_gc_start},
    {"gc_step", lmanual_gc_step},
    {"gc_finish", lmanual_gc_finish},
    {"color", lmanual_color},
    {"snapshot", lmanual_snapshot},
    {"close", heap_close},
    {"_registry", lhandle_registry},
    {NULL, NULL},
};

static const luaL_Reg heap_meta[] = {
    {"__newindex", heap_newindex},
    {"__tostring", heap_tostring},
    {"__gc", heap_gc},
    {"__close", heap_close},
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
    lt_push_upvalues(L, 0, ud);
    luaL_setfuncs(L, methods, UV_COUNT);
    lua_createtable(L, 0, 1);
    lt_push_upvalues(L, 0, ud);
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
            return lt_fail(L, "tricolor: heap: 'options' must be a table (got %s)", luaL_typename(L, 1));
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            apply_option(L, &c);
            lua_pop(L, 1);
        }
    }
    lheap *lh = (lheap *)lua_newuserdatauv(L, sizeof *lh, HEAP_NUV);
    lt_heap_init(lh);
    int ud = lua_gettop(L);
    push_heap_metatable(L, ud, heap_methods);
    lua_setmetatable(L, ud);
    lhandle_new_cache(L);
    lua_setiuservalue(L, ud, HEAP_UV_CACHE);
    if (tc_heap_new(&c, &lh->h) != TC_OK)
        return lt_core_error(L, "heap");
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
            lt_fail(L, "tricolor: mmu: intervals[%I]: %s must be an integer (got %s)", i, what,
                 luaL_tolstring(L, -1, NULL));
        lt_fail(L, "tricolor: mmu: '%s' must be an integer (got %s)", what, luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
    return (int64_t)v;
}

/* mmu_interval — intervals[i], a {start_ns, end_ns, kind} triple. */
static void mmu_interval(lua_State *L, lua_Integer i, tc_interval *out)
{
    if (lua_geti(L, 1, i) != LUA_TTABLE)
        lt_fail(L, "tricolor: mmu: intervals[%I] must be a {start_ns, end_ns, kind} triple (got %s)", i,
             luaL_typename(L, -1));
    if (lua_rawlen(L, -1) != 3)
        lt_fail(L, "tricolor: mmu: intervals[%I] must be a {start_ns, end_ns, kind} triple (got a table of length %I)",
             i, (lua_Integer)lua_rawlen(L, -1));
    lua_geti(L, -1, 1);
    out->start_ns = mmu_int(L, "start_ns", i);
    lua_geti(L, -1, 2);
    out->end_ns = mmu_int(L, "end_ns", i);
    size_t len = 0;
    const char *kind = lua_geti(L, -1, 3) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!kind)
        lt_fail(L, "tricolor: mmu: intervals[%I]: kind must be a string (got %s)", i, luaL_typename(L, -1));
    if (len != strlen(kind) || tc_gc_kind_parse(kind, &out->kind) != TC_OK || tc_interval_check(out) != TC_OK)
        lt_fail(L, "tricolor: mmu: intervals[%I]: %s", i, len != strlen(kind) ? "kind has a NUL byte" : tc_errmsg());
    lua_pop(L, 2);
}

/* mmu_windows — the window lengths (seconds) at idx into two new userdata
 * buffers (left on the stack, so an error frees them): seconds and ns. */
static size_t mmu_windows(lua_State *L, int idx, lua_Number **secs, int64_t **ns)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        lt_fail(L, "tricolor: mmu: 'windows' must be a sequence of numbers (got %s)", luaL_typename(L, idx));
    size_t n = (size_t)luaL_len(L, idx);
    *secs = (lua_Number *)lua_newuserdatauv(L, (n ? n : 1) * sizeof **secs, 0);
    *ns = (int64_t *)lua_newuserdatauv(L, (n ? n : 1) * sizeof **ns, 0);
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, idx, (lua_Integer)i + 1) != LUA_TNUMBER)
            lt_fail(L, "tricolor: mmu: windows[%I] must be a number of seconds (got %s)", (lua_Integer)i + 1,
                 luaL_typename(L, -1));
        (*secs)[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (tc_mmu_window_ns((double)(*secs)[i], &(*ns)[i]) != TC_OK)
            lt_fail(L, "tricolor: mmu: windows[%I]: %s", (lua_Integer)i + 1, tc_errmsg());
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
        return lt_fail(L, "tricolor: mmu: 'intervals' must be a sequence of {start_ns, end_ns, kind} (got %s)",
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
        return lt_core_error(L, "mmu");
    push_mmu_points(L, secs, pts, nw);
    return 1;
}

/* heap_mmu — heap:mmu(windows): tricolor.mmu of the heap's recorded GC
 * events over [heap creation, now]; warns (Lua's warn) when the event ring
 * overflowed, so the curve has a gap. */
static int heap_mmu(lua_State *L)
{
    run_due(L, 1, lt_check_heap(L, 1, "mmu"));
    lua_Number *secs;
    int64_t *ns;
    size_t nw = mmu_windows(L, 2, &secs, &ns);
    tc_mmu_point *pts = (tc_mmu_point *)lua_newuserdatauv(L, (nw ? nw : 1) * sizeof *pts, 0);
    uint64_t dropped = 0;
    if (tc_heap_mmu(lt_open_heap(L, 1, "mmu"), ns, nw, pts, &dropped) != TC_OK)
        return lt_core_error(L, "mmu");
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
    run_due(L, 1, lt_check_heap(L, 1, "gc_intervals"));
    tc_interval *iv = NULL;
    size_t n = 0;
    if (tc_heap_intervals(lt_open_heap(L, 1, "gc_intervals"), &iv, &n) != TC_OK)
        return lt_core_error(L, "gc_intervals");
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
    const lobj *o = lt_check_obj(L, 1, "address");
    lt_live_obj(L, o, "address");
    lua_pushinteger(L, (lua_Integer)tc_obj_address(tc_root_obj(o->root)));
    return 1;
}

/* unsafe_free — tricolor.unsafe.free(obj): free the object now. A freed
 * object is never finalized: the core hands back the token of the
 * finalizer it dropped, whose registry entry goes (nothing is dropped when
 * the free fails). The handle (the object's one handle) gives its root back
 * and is LOBJ_FREED: it raises on every use; so does any handle a read of a
 * stale reference makes later. The object's cleanups are due at once: the
 * safe point at the end runs them, as in Python. */
static int unsafe_free(lua_State *L)
{
    lobj *o = lt_check_obj(L, 1, "free");
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1); /* 2: the heap (allocates nothing: it exists) */
    tc_heap *h = lt_live_obj(L, o, "free");
    tc_token finalizer = 0;
    if (tc_obj_free_token(h, o->root, &finalizer) != TC_OK)
        return lt_core_error(L, "free");
    lspecial_forget_token(L, 2, finalizer);
    lhandle_forget(o->lh, o);
    o->root = LOBJ_FREED;
    run_due(L, 2, o->lh);
    return 0;
}

static const luaL_Reg unsafe_funcs[] = {
    {"address", unsafe_address},
    {"free", unsafe_free},
    {NULL, NULL},
};

/* set_funcs — register `l` into the table at `target`, each function with
 * the shared upvalues, which sit at stack indexes 1..UV_HEAP-1. */
static void set_funcs(lua_State *L, int target, const luaL_Reg *l)
{
    lua_pushvalue(L, target);
    lt_push_upvalues(L, 1, 0);
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
    set_funcs(L, UV_OBJ_METHODS, lhandle_methods);
    set_funcs(L, UV_OBJ_MT, lhandle_meta);
    lua_createtable(L, 0, 1); /* the handle metatable's metatable: see lhandle_meta_index */
    lua_newtable(L);
    set_funcs(L, lua_gettop(L), lhandle_meta_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, UV_OBJ_MT);
    set_funcs(L, UV_HEAP_PROTO, heap_meta);
    lua_pushliteral(L, HEAP_T);
    lua_setfield(L, UV_HEAP_PROTO, "__name");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, UV_HEAP_PROTO, &heap_mark);
    luaL_newmetatable(L, WEAK_T); /* 4: the weak metatable (luaL_testudata finds it) */
    set_funcs(L, 4, lspecial_weak_meta);
    lua_newtable(L);
    set_funcs(L, 5, lspecial_weak_methods);
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
