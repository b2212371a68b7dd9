/*
 * lmanual.c — teaching mode (csrc/manual.c) in Lua: heap:gc_start(),
 * heap:gc_step([n]) -> marked, heap:gc_finish() -> freed, heap:color(obj) ->
 * "white" | "grey" | "black", heap:snapshot() -> a table of object ids.
 *
 * A snapshot holds no handle: making one must not root (or, under the
 * hybrid barrier, shade) what it shows, so it speaks in ids. It is copied
 * into Lua tables under lua_pcall, so a memory error cannot leak the
 * core's copy. gc_start and snapshot first let go of the handles Lua has
 * collected (lhandle_settle), so that a dead handle is not shown, or
 * marked, as a root; settling runs no Lua code, and every call re-checks
 * the heap (lt_open_heap) after anything that could have closed it. Every
 * call ends at a safe point (gctrace, then due callbacks), as in Python:
 * bindings/common/bc_drain.h.
 */
#include "ltricolor.h"

/* settled — the heap at 1 (its method `fn`), dead handles released. */
static lheap *settled(lua_State *L, const char *fn)
{
    lheap *lh = lt_check_heap(L, 1, fn);
    lt_open_heap(L, 1, fn);
    lhandle_settle(L, 1, lh);
    return lh;
}

int lmanual_gc_start(lua_State *L)
{
    lheap *lh = settled(L, "gc_start");
    tc_status st = tc_heap_gc_start(lt_open_heap(L, 1, "gc_start"));
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "gc_start");
    run_due(L, 1, lh);
    return 0;
}

int lmanual_gc_step(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "gc_step");
    lua_Integer n = luaL_optinteger(L, 2, 1);
    uint64_t marked = 0;
    tc_status st = tc_heap_gc_step(lt_open_heap(L, 1, "gc_step"), (int64_t)n, &marked);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "gc_step");
    lt_push_u64(L, marked);
    run_due(L, 1, lh);
    return 1;
}

int lmanual_gc_finish(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "gc_finish");
    uint64_t freed = 0;
    tc_status st = tc_heap_gc_finish(lt_open_heap(L, 1, "gc_finish"), &freed);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "gc_finish");
    lt_push_u64(L, freed);
    run_due(L, 1, lh);
    return 1;
}

int lmanual_color(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "color");
    lt_open_heap(L, 1, "color");
    lobj *o = lt_heap_obj(L, 2, lh, "color");
    tc_color c = TC_WHITE;
    tc_status st = tc_obj_color(lh->h, o->root, &c);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "color");
    lua_pushstring(L, tc_color_name(c));
    run_due(L, 1, lh);
    return 1;
}

/* push_ids — a sequence of the n ids at v. */
static void push_ids(lua_State *L, const uint64_t *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lt_push_u64(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* build_snapshot — the snapshot (arg 1, light userdata) as a Lua table:
 * {phase=, objects={id...}, edges={{src, slot (1-based), dst}...},
 * colors={[id]=colour}, roots={{kind, id}...}, grey={id...}}. */
static int build_snapshot(lua_State *L)
{
    const tc_snapshot *s = (const tc_snapshot *)lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, tc_phase_name(s->phase));
    lua_setfield(L, -2, "phase");
    push_ids(L, s->objects, s->nobjects);
    lua_setfield(L, -2, "objects");
    lua_createtable(L, 0, (int)s->nobjects);
    for (size_t i = 0; i < s->nobjects; i++) {
        lt_push_u64(L, s->objects[i]);
        lua_pushstring(L, tc_color_name((tc_color)s->colors[i]));
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "colors");
    lua_createtable(L, (int)s->nedges, 0);
    for (size_t i = 0; i < s->nedges; i++) {
        lua_createtable(L, 3, 0);
        lt_push_u64(L, s->edges[i].src);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, (lua_Integer)s->edges[i].slot + 1);
        lua_rawseti(L, -2, 2);
        lt_push_u64(L, s->edges[i].dst);
        lua_rawseti(L, -2, 3);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "edges");
    lua_createtable(L, (int)s->nroots, 0);
    for (size_t i = 0; i < s->nroots; i++) {
        lua_createtable(L, 2, 0);
        lua_pushstring(L, tc_root_kind_name(s->roots[i].kind));
        lua_rawseti(L, -2, 1);
        lt_push_u64(L, s->roots[i].id);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "roots");
    push_ids(L, s->grey, s->ngrey);
    lua_setfield(L, -2, "grey");
    return 1;
}

int lmanual_snapshot(lua_State *L)
{
    lheap *lh = settled(L, "snapshot");
    tc_snapshot *s = NULL;
    tc_status st = tc_heap_snapshot(lt_open_heap(L, 1, "snapshot"), &s);
    lt_print_trace(lh);
    if (st != TC_OK)
        return lt_core_error(L, "snapshot");
    lua_pushcfunction(L, build_snapshot);
    lua_pushlightuserdata(L, s);
    int rc = lua_pcall(L, 1, 1, 0);
    tc_snapshot_free(s);
    if (rc != LUA_OK)
        return lua_error(L);
    run_due(L, 1, lh);
    return 1;
}
