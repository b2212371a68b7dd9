/*
 * lhandle.c — handles (tricolor.object): one per object per heap, roots that
 * Lua's collector releases in step with the heap, and the slot fast paths.
 *
 * 1. Identity. Each heap keeps a cache, a weak-valued Lua table mapping an
 *    object's id to its handle (heap user value 1). Every handle made for an
 *    object (heap:new, a slot read, w:get(), a finalizer's argument, an
 *    answer of heap:roots() & co.) goes through it: a read that finds the
 *    object's handle returns that userdata, so two reads are rawequal, a
 *    handle works as a table key, and a hit allocates nothing and makes no
 *    root (tc_slot_peek reads the slot without one). A cached handle is a hit
 *    only while it owns a root to that very object (tc_root_obj(root) ==
 *    the object read): a closed handle (root NULL) or a freed one
 *    (LOBJ_FREED) is replaced by the next read's new handle.
 *
 * 2. Roots without __gc. A handle has no __gc. Each root a handle owns has
 *    an entry {root, id} in the heap's registry (lh->ents, malloc'd), and the
 *    handle knows its entry's index (lobj.slot). When Lua collects a handle,
 *    its weak cache entry is cleared in the atomic phase of that Lua cycle
 *    (Lua 5.4 clears weak values of unmarked objects there, and a userdata
 *    without __gc is never resurrected, so nothing can reach it after); the
 *    next sweep of the registry finds the entry's object no longer mapped to
 *    a handle owning that root, and releases the root. Why not __gc: a
 *    userdata with __gc costs Lua a finalizer call, a move to the finobj
 *    list, a walk of that list in every atomic phase and one more cycle
 *    before its memory goes; with a weak cache beside it, making a handle
 *    cost ~3x one without (measured: 100 vs 345 ns).
 *
 *    Why the sweep is right: the registry's entry {r, id} is live iff
 *    cache[id] is a handle whose root is r. (a) A handle with a root is
 *    cache[id] or unreachable: it is inserted when made, and cache[id] is
 *    only ever replaced by a handle made for an object the old entry does
 *    not own a root of (a hit would have been returned), which for a live
 *    handle with a root cannot happen: its root keeps its object, and so its
 *    address and id, from anyone else. A handle whose insertion failed (a
 *    memory error) was never returned to Lua. (b) A handle without a root
 *    (closed, freed) has no entry: close and free release the root and
 *    leave a hole (root NULL) at once. So a released root is never used
 *    again, and a root Lua still reaches is never released.
 *
 *    The sweep is incremental (sweep_step, a bounded number of entries per
 *    call, the live ones moved down with their handle told its new slot); a
 *    pass starts after a Lua cycle ended, which the driver sees as the
 *    cache's probe (cache[0], an empty table nothing else holds) gone.
 *    heap:stats(), heap:collect() and the why-alive calls finish a pass
 *    first (lhandle_settle), so `roots` counts what Lua still holds once
 *    Lua has collected.
 *
 * 3. Lua's collector in step with the heap. Lua paces its collector by its
 *    own memory, in which a handle is ~100 bytes whatever it keeps alive in
 *    the heap. So every DRIVE_EVERY handles made, lhandle_drive looks at the
 *    probe, goes on with the sweep, and once `pace` handles were made since
 *    Lua's last cycle ended without a new end (pace: the heap's objects /
 *    PACE_DIV, at least PACE_MIN), gives Lua's collector one basic step
 *    (lua_gc LUA_GCSTEP 0: the stepsize's work, a new cycle if it was
 *    paused) each DRIVE_EVERY handles until one ends. A dropped handle then
 *    keeps its objects for at most ~2 * pace handles made; the cost is one
 *    Lua cycle per pace handles, proportional to what Lua itself holds.
 *    Nothing is forced while the user has stopped Lua's collector.
 *
 * 4. <close> and unsafe.free on a shared handle. A handle is the object's
 *    one handle: closing it (a <close> variable) releases its root for every
 *    variable that holds it, as closing a file does; a later read makes a
 *    new handle. unsafe.free releases the root too and leaves LOBJ_FREED.
 *
 * Invariants: those of ltricolor.h's handle paragraph, and: ents[0..n)
 * holds each live root once, holes NULL; during a pass ents[sweep_w..
 * sweep_r) are stale copies and the live entries are ents[0..sweep_w) and
 * ents[sweep_r..n); o->slot indexes o's entry whenever o has a real root.
 * All of lheap's fields are touched only on the heap's Lua thread.
 */
#include <stdlib.h>
#include <string.h>

#include "ltricolor.h"

/* PACE_MIN, PACE_DIV — the driver lets at most max(PACE_MIN, objects /
 * PACE_DIV) handles be made between two ends of a Lua cycle: 1/32 of the
 * heap's objects keeps what dropped handles pin near 2/32 of them; below
 * 1,024 handles a forced Lua cycle would cost more than the objects it
 * frees. */
#define PACE_MIN 1024u
#define PACE_DIV 32u
/* SWEEP_MIN — entries a drive sweeps at least (4 per handle made), so a
 * pass always outruns the registry's growth. */
#define SWEEP_MIN (4u * DRIVE_EVERY)

/* REGISTRY_MIN — the registry's first and smallest capacity (entries). */
#define REGISTRY_MIN 256u

const uintptr_t lobj_freed_word = 2; /* the core's freed bit, and no address */

/* ---- making handles --------------------------------------------------------- */

/* lhandle_push_closed — push a new handle of the heap at `heapidx`, with no
 * root yet (allocates: any __gc may run). */
lobj *lhandle_push_closed(lua_State *L, int heapidx, lheap *lh)
{
    heapidx = lua_absindex(L, heapidx);
    lobj *o = (lobj *)lua_newuserdatauv(L, sizeof *o, 1);
    o->tag = obj_tag(o);
    o->root = NULL;
    o->lh = lh;
    o->id = 0;
    o->slot = 0;
    lua_pushvalue(L, lua_upvalueindex(UV_OBJ_MT));
    lua_setmetatable(L, -2);
    lua_pushvalue(L, heapidx);
    lua_setiuservalue(L, -2, 1);
    return o;
}

/* lhandle_reserve — room in the registry for one more root. Call it after
 * the last Lua allocation before the root is made (an allocation may run a
 * __gc that makes handles and takes the room): a failure raises while
 * nothing is owned yet. A closed heap needs none. */
void lhandle_reserve(lua_State *L, lheap *lh, const char *fn)
{
    if (lh->n < lh->cap || !lh->h)
        return;
    size_t cap = lh->cap ? 2 * lh->cap : REGISTRY_MIN;
    lentry *e = realloc(lh->ents, cap * sizeof *e);
    if (!e)
        lt_fail(L, "tricolor: %s: not enough memory for a handle", fn);
    lh->ents = e;
    lh->cap = cap;
}

/* own — o takes root r (of an object with id `id`): a new registry entry,
 * in the room lhandle_reserve made. Cannot fail. */
static void own(lheap *lh, lobj *o, tc_root *r, uint64_t id)
{
    o->root = r;
    o->id = id;
    o->slot = lh->n;
    lh->ents[lh->n].root = r;
    lh->ents[lh->n].id = id;
    lh->n++;
}

/* cache_key — the cache's key for the object with id `id`: the id as a
 * light userdata (never dereferenced). (Lua hashes a light userdata by its low 32 bits with one
 * 32-bit division; an integer id beyond 2^31 costs a 64-bit division, which
 * made the cache's lookups 2-3x slower.) */
static inline void *cache_key(uint64_t id) { return (void *)(uintptr_t)id; }

/* cache_put — cache[id] = the handle at `ud`; the cache is at `cache`. May
 * raise a memory error (the table grows): the handle then never reaches
 * Lua, and the sweep releases its root. */
static void cache_put(lua_State *L, int cache, int ud, uint64_t id)
{
    lua_pushvalue(L, ud);
    lua_rawsetp(L, cache, cache_key(id));
}

/* lhandle_push_new — the closed handle at `ud` takes r, a root the caller
 * owns for an object no handle has a root of (a new object): it enters the
 * registry and the cache; pushes it. The room was reserved. */
void lhandle_push_new(lua_State *L, int heapidx, int ud, tc_root *r)
{
    ud = lua_absindex(L, ud);
    lobj *o = (lobj *)lua_touserdata(L, ud);
    uint64_t id = tc_obj_id(tc_root_obj(r));
    own(o->lh, o, r, id);
    lua_getiuservalue(L, heapidx, HEAP_UV_CACHE);
    cache_put(L, lua_gettop(L), ud, id);
    lua_pop(L, 1);
    lua_pushvalue(L, ud);
}

/* cached — the handle at the top of the stack (cache[id], just read) if it
 * owns a root to `obj`, else NULL. */
static lobj *cached(lua_State *L, const tc_obj *obj)
{
    lobj *c = (lobj *)lua_touserdata(L, -1);
    return c && real_root(c->root) && tc_root_obj(c->root) == obj ? c : NULL;
}

/* lhandle_adopt — push the handle for r, a new root the caller owns (of an
 * open heap, at `heapidx`): the object's cached handle if it has one (r is
 * released), else the closed handle at `ud`, which takes r and enters the
 * registry and the cache. A root to a freed object is released at once:
 * the handle is LOBJ_FREED (the cached one if it is freed too). Room in the
 * registry was reserved; raises only once r is owned (see cache_put). */
void lhandle_adopt(lua_State *L, int heapidx, int ud, tc_root *r)
{
    ud = lua_absindex(L, ud);
    lobj *o = (lobj *)lua_touserdata(L, ud);
    lheap *lh = o->lh;
    tc_obj *obj = tc_root_obj(r);
    uint64_t id = tc_obj_id(obj);
    int freed = tc_root_freed(r);
    lua_getiuservalue(L, heapidx, HEAP_UV_CACHE);
    int cache = lua_gettop(L);
    lua_rawgetp(L, cache, cache_key(id));
    const lobj *c = (const lobj *)lua_touserdata(L, -1);
    if (cached(L, obj) || (freed && c && c->root == LOBJ_FREED)) {
        tc_root_release(lh->h, r);
        lua_remove(L, cache);
        return;
    }
    lua_pop(L, 1);
    if (freed) {
        tc_root_release(lh->h, r);
        o->root = LOBJ_FREED;
        o->id = id;
    } else {
        own(lh, o, r, id);
    }
    cache_put(L, cache, ud, id);
    lua_pop(L, 1);
    lua_pushvalue(L, ud);
}

/* lhandle_forget — o gives up its root now (<close>, unsafe.free): released
 * and its registry entry a hole, unless the heap is closed (its roots went
 * with it). o->root is then the caller's to set. */
void lhandle_forget(lheap *lh, lobj *o)
{
    if (real_root(o->root) && lh->h) {
        tc_root_release(lh->h, o->root);
        lh->ents[o->slot].root = NULL;
    }
}

/* lhandle_registry — heap:_registry(), a test hook: the registry's entries
 * and capacity. */
int lhandle_registry(lua_State *L)
{
    lheap *lh = lt_check_heap(L, 1, "_registry");
    lua_pushinteger(L, (lua_Integer)lh->n);
    lua_pushinteger(L, (lua_Integer)lh->cap);
    return 2;
}

/* lhandle_close_all — the heap is closing: its roots go with it, and so
 * does the registry. */
void lhandle_close_all(lheap *lh)
{
    free(lh->ents);
    lh->ents = NULL;
    lh->n = lh->cap = lh->old = 0;
    lh->sweeping = SWEEP_NONE;
    lh->pending = lh->stale = 0;
}

/* lhandle_new_cache — push a new identity cache: a weak-valued table, with
 * the probe in it. */
void lhandle_new_cache(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_newtable(L);
    lua_rawseti(L, -2, 0);
}

/* ---- the sweep and the driver --------------------------------------------------- */

/* alive — does Lua still reach the handle owning entry e? (Its cache entry,
 * read from the cache at `cache`, is a handle owning e's root: see the
 * header.) The live handle, else NULL. */
static lobj *alive(lua_State *L, int cache, lentry e)
{
    lua_rawgetp(L, cache, cache_key(e.id));
    lobj *c = (lobj *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return c && c->root == e.root ? c : NULL;
}

/* pass_start — start a sweep pass if one is due: after a Lua cycle ended,
 * a young one (the entries made since the last pass, ents[old..n)), or a
 * full one (all of them) once `pace` handles were made since the last full
 * pass, or if `full`. Most handles die young, and a live one is looked at
 * again only by full passes. */
static void pass_start(lheap *lh, int full)
{
    if (lh->sweeping || !lh->pending)
        return;
    full = full || lh->made >= lh->pace || lh->old > lh->n;
    lh->sweeping = full ? SWEEP_FULL : SWEEP_YOUNG;
    lh->pending = 0;
    if (full) {
        lh->made = 0;
        lh->stale = 0;
    }
    lh->sweep_r = lh->sweep_w = full ? 0 : lh->old;
}

/* shrink — at a pass's end, a registry a quarter full or less goes down to
 * twice its entries (REGISTRY_MIN at least): its memory follows the roots
 * held, not the most ever held. Amortised: the copy is no larger than the
 * pass that emptied it. The room lhandle_reserve made survives (cap > n
 * after); a failed realloc keeps the old block. */
static void shrink(lheap *lh)
{
    if (lh->cap <= REGISTRY_MIN || lh->n > lh->cap / 4)
        return;
    size_t cap = 2 * lh->n > REGISTRY_MIN ? 2 * lh->n : REGISTRY_MIN;
    lentry *e = realloc(lh->ents, cap * sizeof *e);
    if (e) {
        lh->ents = e;
        lh->cap = cap;
    }
}

/* sweep_step — go on with the pass for at most `budget` entries (SIZE_MAX:
 * to its end): release the roots of handles Lua has collected, move the
 * live entries down (they are old after the pass). Allocates nothing, so no
 * __gc runs meanwhile; the heap is open. */
static void sweep_step(lua_State *L, lheap *lh, int cache, size_t budget)
{
    while (budget && lh->sweep_r < lh->n) {
        budget--;
        lentry e = lh->ents[lh->sweep_r++];
        if (!e.root)
            continue;
        lobj *o = alive(L, cache, e);
        if (o) {
            o->slot = lh->sweep_w;
            lh->ents[lh->sweep_w++] = e;
        } else {
            tc_root_release(lh->h, e.root);
        }
    }
    if (lh->sweep_r == lh->n) {
        lh->n = lh->old = lh->sweep_w;
        lh->sweeping = SWEEP_NONE;
        shrink(lh);
    }
}

/* lua_cycle_ended — has a Lua cycle ended since the probe was set (cache at
 * `cache`)? If so a pass is due; set a new probe (allocates: any __gc may
 * run). */
static int lua_cycle_ended(lua_State *L, lheap *lh, int cache)
{
    int gone = lua_rawgeti(L, cache, 0) == LUA_TNIL;
    lua_pop(L, 1);
    if (!gone)
        return 0;
    lh->lua_cycles++;
    lh->since = 0;
    lh->pending = 1;
    lh->stale = 1;
    lua_newtable(L);
    lua_rawseti(L, cache, 0);
    return 1;
}

/* set_pace — pace from the heap's object count (every full pass). */
static void set_pace(lheap *lh)
{
    tc_stats s;
    uint64_t objects = lh->h && tc_heap_stats(lh->h, &s) == TC_OK ? s.heap_objects : 0;
    lh->pace = objects / PACE_DIV > PACE_MIN ? objects / PACE_DIV : PACE_MIN;
}

/* lhandle_drive — every DRIVE_EVERY handles (lhandle_tick): notice a Lua
 * cycle's end, go on with the sweep (a full pass ends within pace / 4
 * handles), and if Lua is behind the pace, step its collector. The heap's
 * userdata is at `heapidx`. May run any __gc (the probe, the step): the
 * caller reads lh->h again after. Nested drives are harmless: the state is
 * whole at each point a __gc may run. */
void lhandle_drive(lua_State *L, int heapidx, lheap *lh)
{
    lh->tick = 0;
    if (!lh->h)
        return;
    int top = lua_gettop(L);
    lua_getiuservalue(L, heapidx, HEAP_UV_CACHE);
    lh->since += DRIVE_EVERY;
    lh->made += DRIVE_EVERY;
    if (!lh->pace)
        set_pace(lh);
    lua_cycle_ended(L, lh, top + 1);
    if (lh->h) {
        pass_start(lh, 0);
        if (lh->sweeping == SWEEP_FULL && lh->made == 0)
            set_pace(lh);
        size_t quarter = lh->pace / 4 > DRIVE_EVERY ? lh->pace / 4 : DRIVE_EVERY;
        size_t budget = lh->n / (quarter / DRIVE_EVERY);
        if (lh->sweeping)
            sweep_step(L, lh, top + 1, budget > SWEEP_MIN ? budget : SWEEP_MIN);
    }
    if (lh->h && lh->since >= lh->pace && lua_gc(L, LUA_GCISRUNNING) == 1) {
        lh->forced++;
        lua_gc(L, LUA_GCSTEP, 0);
    }
    lua_settop(L, top);
}

/* lhandle_settle — before a call that counts or walks roots (stats,
 * collect, the why-alive calls): if a Lua cycle ended since the last full
 * pass began, finish the pass under way and sweep the whole registry, so
 * that no handle Lua has collected is still a root. May run a __gc (a new
 * probe): read lh->h again after. */
void lhandle_settle(lua_State *L, int heapidx, lheap *lh)
{
    if (!lh->h)
        return;
    int top = lua_gettop(L);
    lua_getiuservalue(L, heapidx, HEAP_UV_CACHE);
    lua_cycle_ended(L, lh, top + 1);
    if (lh->h && lh->stale) {
        if (lh->sweeping)
            sweep_step(L, lh, top + 1, SIZE_MAX);
        lh->pending = 1;
        pass_start(lh, 1);
        sweep_step(L, lh, top + 1, SIZE_MAX);
    }
    lua_settop(L, top);
}

/* ---- slots ------------------------------------------------------------------------ */

/* index_error — a slot index outside [1, #obj]. */
static int index_error(lua_State *L, const lobj *o, lua_Integer i)
{
    size_t n = 0;
    if (tc_obj_nslots(o->lh->h, o->root, &n) != TC_OK)
        return lt_core_error(L, "slot index");
    return lt_fail(L, "tricolor: slot index %I out of range (the object has %I slots)", i, (lua_Integer)n);
}

/* slot_error — raise for a failed slot call on slot i. */
static int slot_error(lua_State *L, const lobj *o, tc_status st, lua_Integer i)
{
    if (st == TC_ERR_INDEX)
        return index_error(L, o, i);
    if (st == TC_ERR_OVERFLOW)
        return lt_fail(L, "tricolor: slot value %I out of range [-2^62, 2^62) (slot %I)", lua_tointeger(L, 3), i);
    return lt_fail(L, "tricolor: slot %I: %s", i, tc_errmsg());
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
        lt_fail(L, "tricolor: slot index must be an integer (got %f)", lua_tonumber(L, idx));
    }
    lt_fail(L, "tricolor: slot index must be an integer (got %s)", luaL_typename(L, idx));
    return 0;
}

/* push_plain — push a value that is not a reference. */
static int push_plain(lua_State *L, tc_value v)
{
    switch (v.kind) {
    case TC_BOOL: lua_pushboolean(L, v.u.b); break;
    case TC_INT: lua_pushinteger(L, (lua_Integer)v.u.i); break;
    case TC_FLOAT: lua_pushnumber(L, (lua_Number)v.u.d); break;
    default: lua_pushnil(L); break;
    }
    return 1;
}

/* read_slot — slot i (1-based) of the handle at 1, the whole way: errors
 * named, and a reference made into a root and adopted (a new handle unless
 * the object has one). Allocates the handle first, then reads again. */
static int read_slot(lua_State *L, lobj *o, lua_Integer i)
{
    lheap *lh = o->lh;
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1); /* 3: the heap */
    lhandle_tick(L, 3, lh);
    lhandle_push_closed(L, 3, lh); /* 4; allocates */
    tc_heap *h = lt_live_obj(L, o, "slot read");
    if (i < 1)
        return index_error(L, o, i);
    lhandle_reserve(L, lh, "slot read");
    tc_value v;
    tc_root *r = NULL;
    tc_status st = tc_slot_get(h, o->root, i - 1, &v, &r);
    if (st != TC_OK)
        return slot_error(L, o, st, i);
    if (v.kind != TC_REF)
        return push_plain(L, v);
    lhandle_adopt(L, 3, 4, r);
    return 1;
}

/* get_slot — obj[i]: a plain value, or a reference whose object's cached
 * handle is returned as is (no root, no allocation); anything else (a
 * reference without a handle, an error) the whole way, read_slot. */
static int get_slot(lua_State *L, lobj *o, lua_Integer i)
{
    lheap *lh = o->lh;
    tc_value v;
    if (!lh->h || !real_root(o->root) || i < 1 || tc_slot_peek(lh->h, o->root, i - 1, &v) != TC_OK)
        return read_slot(L, o, i);
    if (v.kind != TC_REF)
        return push_plain(L, v);
    lua_getiuservalue(L, 1, 1);
    lua_getiuservalue(L, -1, HEAP_UV_CACHE);
    lua_rawgetp(L, -1, cache_key(tc_obj_id(v.u.ref)));
    if (cached(L, v.u.ref))
        return 1;
    return read_slot(L, o, i);
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
            lt_fail(L, "tricolor: slot %I: the value is an object of another heap", i);
        if (!p->root)
            lt_fail(L, "tricolor: slot %I: the value is a closed handle", i);
        if (tc_root_freed(p->root))
            lt_fail(L, "tricolor: slot %I: the value is an object freed with tricolor.unsafe.free", i);
        return tc_ref(tc_root_obj(p->root));
    }
    default: break;
    }
    lt_fail(L, "tricolor: slot %I: a %s cannot be stored in a slot (nil, boolean, number or tricolor.object expected)",
         i, luaL_typename(L, idx));
    return tc_nil();
}

/* obj_index — obj[i] (integer keys first: the fast path) or obj:method. */
static int obj_index(lua_State *L)
{
    lobj *o = to_obj(L, 1);
    if (__builtin_expect(o && lua_isinteger(L, 2), 1))
        return get_slot(L, o, lua_tointeger(L, 2));
    o = lt_check_obj(L, 1, "index");
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(UV_OBJ_METHODS)) != LUA_TNIL)
            return 1;
        return lt_fail(L, "tricolor: object has no method '%s' (slots take integer indexes)", lua_tostring(L, 2));
    }
    return get_slot(L, o, key_index(L, 2));
}

/* obj_newindex — obj[i] = v. The value is converted before the heap is
 * read (a conversion raises, never allocates). */
static int obj_newindex(lua_State *L)
{
    lobj *o = to_obj(L, 1);
    lua_Integer i;
    if (__builtin_expect(o && lua_isinteger(L, 2), 1)) {
        i = lua_tointeger(L, 2);
    } else {
        o = lt_check_obj(L, 1, "newindex");
        if (lua_type(L, 2) == LUA_TSTRING)
            return lt_fail(L, "tricolor: cannot assign field '%s' of an object (slots take integer indexes)",
                        lua_tostring(L, 2));
        i = key_index(L, 2);
    }
    lheap *lh = o->lh;
    if (__builtin_expect(!lh->h || !real_root(o->root) || i < 1, 0)) {
        lt_live_obj(L, o, "slot write");
        return index_error(L, o, i);
    }
    tc_status st = tc_slot_set(lh->h, o->root, i - 1, to_value(L, 3, o, i));
    if (st != TC_OK) {
        lt_live_obj(L, o, "slot write");
        return slot_error(L, o, st, i);
    }
    return 0;
}

/* push_count — push what `get` (tc_obj_nslots or tc_obj_size) says of o. */
static int push_count(lua_State *L, const lobj *o, const char *fn,
                      tc_status (*get)(tc_heap *, tc_root *, size_t *))
{
    size_t n;
    if (get(lt_live_obj(L, o, fn), o->root, &n) != TC_OK)
        return lt_core_error(L, fn);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int obj_len(lua_State *L) { return push_count(L, lt_check_obj(L, 1, "#obj"), "#obj", tc_obj_nslots); }

/* freed — does handle o refer to an object freed with unsafe.free? (Its
 * root is LOBJ_FREED, or a root the core marked freed.) */
static int freed(const lobj *o) { return o->lh->h && o->root && tc_root_freed(o->root); }

/* obj_eq — same heap and same id: the same object (ids are unique among the
 * live objects of a heap, and a handle keeps its object alive). Lua asks
 * only for two distinct userdata, which one object's handles are not while
 * it lives. Closing the heap keeps that true: every object with a handle
 * was live then. A handle closed on its own (`<close>`) no longer keeps
 * its object alive, so its id may come back for a new object: it equals no
 * other handle. A freed object's id may come back too: its handles equal
 * each other, not the new object's. */
static int obj_eq(lua_State *L)
{
    const lobj *a = to_obj(L, 1), *b = to_obj(L, 2);
    lua_pushboolean(L, a && b && a->root && b->root && a->lh == b->lh && a->id == b->id && freed(a) == freed(b));
    return 1;
}

static int obj_tostring(lua_State *L)
{
    const lobj *o = lt_check_obj(L, 1, "tostring");
    const char *state = !o->lh->h ? ", heap closed" : !o->root ? ", closed" : freed(o) ? ", freed" : "";
    lua_pushfstring(L, OBJ_T " (id %I%s)", (lua_Integer)o->id, state);
    return 1;
}

/* obj_close — __close: release the root now, for every variable holding
 * the handle (it is the object's one handle); idempotent. */
static int obj_close(lua_State *L)
{
    lobj *o = lt_check_obj(L, 1, "close");
    lhandle_forget(o->lh, o);
    o->root = NULL;
    return 0;
}

/* ---- object methods --------------------------------------------------------------- */

static int obj_data(lua_State *L)
{
    lobj *o = lt_check_obj(L, 1, "data");
    tc_heap *h = lt_live_obj(L, o, "data");
    size_t n;
    if (tc_obj_size(h, o->root, &n) != TC_OK)
        return lt_core_error(L, "data");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n); /* allocates */
    h = lt_live_obj(L, o, "data");
    if (tc_obj_data_get(h, o->root, p, n) != TC_OK)
        return lt_core_error(L, "data");
    luaL_pushresultsize(&b, n);
    return 1;
}

static int obj_set_data(lua_State *L)
{
    lobj *o = lt_check_obj(L, 1, "set_data");
    if (lua_type(L, 2) != LUA_TSTRING)
        return lt_fail(L, "tricolor: set_data: 'data' must be a string (got %s)", luaL_typename(L, 2));
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    tc_heap *h = lt_live_obj(L, o, "set_data");
    if (tc_obj_data_set(h, o->root, s, len) != TC_OK)
        return lt_core_error(L, "set_data: 'data'");
    return 0;
}

static int obj_size(lua_State *L) { return push_count(L, lt_check_obj(L, 1, "size"), "size", tc_obj_size); }

static int obj_id(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lt_check_obj(L, 1, "id")->id);
    return 1;
}

static int obj_heap(lua_State *L)
{
    lobj *o = lt_check_obj(L, 1, "heap");
    lt_live_obj(L, o, "heap");
    lua_getiuservalue(L, 1, 1);
    return 1;
}

const luaL_Reg lhandle_methods[] = {
    {"data", obj_data},
    {"set_data", obj_set_data},
    {"size", obj_size},
    {"id", obj_id},
    {"heap", obj_heap},
    {NULL, NULL},
};

const luaL_Reg lhandle_meta[] = {
    {"__index", obj_index},
    {"__newindex", obj_newindex},
    {"__len", obj_len},
    {"__eq", obj_eq},
    {"__tostring", obj_tostring},
    {"__close", obj_close},
    {NULL, NULL},
};

/* lhandle_meta_index — what the handle metatable's own __index answers:
 * __gc, the closer, for a program that calls getmetatable(obj).__gc(obj)
 * (SPEC lists it among the metamethods). It is not a field of the metatable
 * itself, where Lua would look for a finalizer (a raw get) and make every
 * handle finalizable: Lua never calls it; the sweep releases the roots of
 * collected handles. */
const luaL_Reg lhandle_meta_index[] = {
    {"__gc", obj_close},
    {NULL, NULL},
};
