/*
 * linspect.c — why is an object alive (csrc/inspect.c) in Lua:
 * heap:roots(), heap:referents(obj), heap:referrers(obj), heap:path_to(obj)
 * and heap:retained(obj).
 *
 * Every object of an answer comes from the core as a new root, with the
 * answer in a malloc'd array; each becomes the object's handle
 * (lhandle_adopt: the handle Lua already has, the new root released, or a
 * new one). The table of handles is built by a protected call
 * (build_answer), so that a memory error while making a handle cannot leak
 * the roots not yet owned by one: after the call, those are released and
 * the array freed, then the error (if any) propagates. A __gc run by one of
 * those allocations may close the heap: the roots are then gone with it,
 * none is touched again, and the answer raises "the heap is closed".
 *
 * Each call first lets the handles Lua has collected go (lhandle_settle),
 * so that they are not counted as roots.
 */
#include <stdlib.h>

#include "ltricolor.h"

enum { ANS_OBJ, ANS_ROOT, ANS_PATH };

typedef struct lanswer {
    lheap *lh;
    const char *fn;
    tc_link *v;
    size_t n, next; /* v[next..n) are not owned by a handle yet */
    int shape;
} lanswer;

/* build_answer — the answer's table (arg 1: the lanswer, arg 2: the heap):
 * handles, {kind, obj} pairs (roots) or {kind or 1-based slot, obj} (a
 * path). Each element's allocations come before its root is adopted. */
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
        lhandle_push_closed(L, 2, a->lh);
        if (!a->lh->h)
            return lt_fail(L, "tricolor: %s: %s", a->fn, bc_use_msg(BC_HEAP_CLOSED));
        lhandle_reserve(L, a->lh, a->fn);
        a->next = i + 1;
        lhandle_adopt(L, 2, -1, a->v[i].obj);
        lua_remove(L, -2); /* the closed handle, if unused */
        if (a->shape != ANS_OBJ)
            lua_rawseti(L, -2, 2); /* pair[2] = obj */
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* push_answer — push the answer of a core call (status st) for the heap at
 * index 1, or raise. */
static int push_answer(lua_State *L, tc_status st, lanswer *a)
{
    lheap *lh = a->lh;
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, a->fn);
    lt_push_upvalues(L, 0, 1);
    lua_pushcclosure(L, build_answer, UV_COUNT);
    lua_pushlightuserdata(L, a);
    lua_pushvalue(L, 1);
    int rc = lua_pcall(L, 2, 1, 0);
    for (size_t i = a->next; lh->h && i < a->n; i++)
        tc_root_release(lh->h, a->v[i].obj);
    tc_inspect_free(a->v);
    if (rc != LUA_OK)
        return lua_error(L);
    run_due(L, 1, lh);
    return 1;
}

/* settled — the heap at 1 (its method `fn`), once the handles Lua has
 * collected are released; raises if it is (or got) closed. */
static lheap *settled(lua_State *L, const char *fn)
{
    lheap *lh = lt_check_heap(L, 1, fn);
    lt_open_heap(L, 1, fn);
    lhandle_settle(L, 1, lh);
    return lh;
}

int linspect_roots(lua_State *L)
{
    lanswer a = {settled(L, "roots"), "roots", NULL, 0, 0, ANS_ROOT};
    tc_status st = tc_heap_roots(lt_open_heap(L, 1, "roots"), &a.v, &a.n);
    return push_answer(L, st, &a);
}

/* inspect_obj — the method `fn` of the heap at 1 on the handle at 2 (a
 * usable handle of this heap, else an error naming 'obj'). */
static int inspect_obj(lua_State *L, const char *fn, int shape,
                       tc_status (*call)(tc_heap *, tc_root *, tc_link **, size_t *))
{
    lheap *lh = settled(L, fn);
    tc_heap *h = lt_open_heap(L, 1, fn);
    lobj *o = lt_heap_obj(L, 2, lh, fn);
    lanswer a = {lh, fn, NULL, 0, 0, shape};
    tc_status st = call(h, o->root, &a.v, &a.n);
    if (st == TC_OK && shape == ANS_PATH && a.n == 0) {
        lt_print_trace(lh);
        lua_pushnil(L);
        run_due(L, 1, lh);
        return 1;
    }
    return push_answer(L, st, &a);
}

int linspect_referents(lua_State *L) { return inspect_obj(L, "referents", ANS_OBJ, tc_obj_referents); }
int linspect_referrers(lua_State *L) { return inspect_obj(L, "referrers", ANS_OBJ, tc_obj_referrers); }
int linspect_path_to(lua_State *L) { return inspect_obj(L, "path_to", ANS_PATH, tc_obj_path_to); }

/* linspect_retained — heap:retained(obj): bytes, objects (two results). */
int linspect_retained(lua_State *L)
{
    lheap *lh = settled(L, "retained");
    tc_heap *h = lt_open_heap(L, 1, "retained");
    lobj *o = lt_heap_obj(L, 2, lh, "retained");
    uint64_t bytes = 0, objects = 0;
    tc_status st = tc_obj_retained(h, o->root, &bytes, &objects);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "retained");
    lt_push_u64(L, bytes);
    lt_push_u64(L, objects);
    run_due(L, 1, lh);
    return 2;
}
