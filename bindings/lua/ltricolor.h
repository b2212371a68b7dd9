/*
 * ltricolor.h — the Lua binding's internal contract: the userdata types, the
 * upvalues every module function shares, and what each file of
 * bindings/lua/ offers the others. Not installed; the module exports only
 * luaopen_tricolor.
 *
 *   ltricolor.c   the module, tricolor.heap{...}, heap methods, stats, mmu,
 *                 tricolor.unsafe
 *   lhandle.c     handles: one per object per heap (the identity cache), the
 *                 root registry and its sweep, Lua's collector kept in step
 *                 with the heap, slot access, the handle methods
 *   lspecial.c    finalizers, cleanups, weak references
 *   linspect.c    why is an object alive (heap:roots, path_to, ...)
 *
 * Three userdata types, shaped after liolib.c:
 *
 *   tricolor.heap    an lheap: the tc_heap (NULL once closed). User value 1
 *                    is the heap's identity cache (a weak-valued table: object
 *                    id -> its handle), user value 2 the callback registry.
 *   tricolor.object  an lobj: one tc_root or none, the lheap, the object's id
 *                    (cached, so that ==, tostring and :id() work after
 *                    close). User value 1 is the heap userdata, so a heap lives
 *                    at least as long as any of its handles. No __gc: Lua
 *                    collecting a handle is seen by the sweep (lhandle.c).
 *   tricolor.weak    an lweak: one tc_weak (NULL once released) and its lheap;
 *                    user value 1 is the heap userdata.
 *
 * Invariants (each file's header says how it keeps its part):
 *  - A userdata is created in its closed state (NULL heap or NULL root) and
 *    gets its metatable before anything is acquired from the core, and every
 *    root the core hands out is owned (by the registry, or released) before
 *    anything can raise: every Lua error longjmps, and nothing leaks.
 *  - Re-entrancy (issue 10, point 1). Any Lua allocation, and any call that
 *    steps Lua's collector, may run a __gc, and a __gc may close the heap or
 *    call any method. So a method allocates what it needs first and reads
 *    lh->h after its last allocation (heap_now, live_obj), with no allocation
 *    between that read and the core call; a loop that allocates reads it
 *    again each round. Close only closes: the core's tc_heap (a closed shell,
 *    TC_ERR_CLOSED to every call) is destroyed by the heap userdata's own
 *    __gc, when no method can be running on it (each keeps the heap userdata
 *    on its stack), or by the last weak reference after that.
 *  - No Lua error is raised while the binding holds a core lock: the core's
 *    calls are complete before any error is raised.
 *  - Handles (lhandle.c): a handle with a root is the cache's entry for its
 *    object's id, or unreachable from Lua; its root is in the registry; the
 *    registry holds no root twice and no released root.
 *
 * Errors are strings that start with "tricolor: " and name the argument,
 * option or slot at fault, with tc_errmsg() appended for core failures. They
 * carry no "file:line:" prefix (luaL_error would add the caller's position).
 */
#ifndef LTRICOLOR_H
#define LTRICOLOR_H

#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "tricolor.h"
#include "bc_config.h"
#include "bc_drain.h"

/* Everything declared below stays inside tricolor.so: the module exports
 * only luaopen_tricolor (tests/lua/package_spec.lua). */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define HEAP_T "tricolor.heap"
#define OBJ_T "tricolor.object"
#define WEAK_T "tricolor.weak"

/* Upvalues of every C function of the module (see push_upvalues): the handle
 * metatable, the handle methods, the heap prototype metatable (what every
 * heap's metatable copies) and, for a heap's own method closures, the heap
 * (false elsewhere). */
enum { UV_OBJ_MT = 1, UV_OBJ_METHODS, UV_HEAP_PROTO, UV_HEAP, UV_COUNT = UV_HEAP };

/* User values of a heap userdata. */
enum { HEAP_UV_CACHE = 1, HEAP_UV_CALLBACKS, HEAP_NUV = HEAP_UV_CALLBACKS };

enum { SWEEP_NONE, SWEEP_YOUNG, SWEEP_FULL };

/* lentry — a registry entry: a root a handle owns and its object's id;
 * root NULL: a hole (the handle was closed or freed). */
typedef struct lentry {
    tc_root *root;
    uint64_t id;
} lentry;

/* lheap — a heap userdata's block (HEAP_T). Every field is the Lua thread's:
 * only code running on the heap's Lua state reads or writes it. */
typedef struct lheap {
    tc_heap *h;          /* NULL once closed */
    tc_heap *shell;      /* after close: the closed tc_heap, destroyed by the heap's
                          * __gc, or by the last weak reference released after it */
    int finalized;       /* the heap userdata's __gc ran */
    size_t nweak;        /* weak userdata that still own a tc_weak */
    bc_host cb;          /* callback tokens, the drain flag and the gctrace sink
                          * (bindings/common: shared with the Python binding) */
    /* handles (lhandle.c) */
    lentry *ents;        /* the registry (malloc'd): ents[0..n) entries, ents[0..old)
                          * survived the last pass */
    size_t n, cap, old;
    int sweeping;        /* SWEEP_NONE, or the kind of the pass under way */
    size_t sweep_r, sweep_w; /* the pass's read and write cursors into ents */
    int pending;         /* a Lua cycle ended since the last pass began */
    int stale;           /* a Lua cycle ended since the last full pass began */
    unsigned tick;       /* handles made since the last drive */
    uint64_t made;       /* handles made since the last full pass began */
    uint64_t since;      /* handles made since Lua's collector last ended a cycle */
    uint64_t pace;       /* handles the driver allows between full passes and
                          * between ends of Lua cycles (lhandle_drive) */
    uint64_t lua_cycles; /* Lua cycles seen ending (the cache's probe cleared) */
    uint64_t forced;     /* steps the driver gave Lua's collector */
} lheap;

/* lobj — a handle userdata's block (OBJ_T). */
typedef struct lobj {
    uintptr_t tag; /* obj_tag(this lobj): recognises a handle cheaply */
    tc_root *root; /* NULL: closed (never opened, <close>d); LOBJ_FREED: freed */
    lheap *lh;     /* the heap's userdata block (user value 1 keeps it valid) */
    uint64_t id;   /* tc_obj_id of the object, cached */
    uint32_t slot; /* root's registry entry (a real root only; the sweep
                    * moves it down) */
} lobj;

/* lweak — a weak reference userdata (WEAK_T). */
typedef struct lweak {
    tc_weak *w;  /* NULL: never opened, or released by __close/__gc */
    lheap *lh;   /* the heap's userdata block (user value 1 keeps it valid) */
} lweak;

/* LOBJ_FREED — the root of a handle whose object was freed with
 * tricolor.unsafe.free: a word with the core's freed bit, so tc_root_freed
 * is true for it, and no root of the heap (the real one was released). */
extern const uintptr_t lobj_freed_word;
#define LOBJ_FREED ((tc_root *)(uintptr_t)&lobj_freed_word)

/* real_root — does the handle own a root of the heap? */
static inline int real_root(const tc_root *r) { return r != NULL && r != LOBJ_FREED; }

/* obj_tag — the tag word of the handle at `o`: its address mixed with a
 * constant, a value no other userdata holds at its start by accident. */
static inline uintptr_t obj_tag(const lobj *o) { return (uintptr_t)o ^ (uintptr_t)UINT64_C(0x74726963766c6f72); }

/* to_obj — the handle at idx, or NULL. A handle is recognised by its size
 * and its tag (two API calls; comparing metatables takes four): lua_rawlen
 * is also a table's border or a string's length, but lua_touserdata is NULL
 * for those, and another library's userdata of the same size does not start
 * with its own address mixed with our constant. */
static inline lobj *to_obj(lua_State *L, int idx)
{
    if (lua_rawlen(L, idx) != sizeof(lobj))
        return NULL;
    lobj *o = (lobj *)lua_touserdata(L, idx);
    return o && o->tag == obj_tag(o) ? o : NULL;
}

/* ---- ltricolor.c: shared helpers ---- */
int lt_fail(lua_State *L, const char *fmt, ...);
int lt_core_error(lua_State *L, const char *what);
lheap *lt_check_heap(lua_State *L, int idx, const char *fn);
lobj *lt_check_obj(lua_State *L, int idx, const char *fn);
tc_heap *lt_open_heap(lua_State *L, int idx, const char *fn);
tc_heap *lt_heap_now(lua_State *L, const lheap *lh, const char *fn);
tc_heap *lt_live_obj(lua_State *L, const lobj *o, const char *fn);
lobj *lt_heap_obj(lua_State *L, int idx, lheap *lh, const char *fn);
void lt_push_upvalues(lua_State *L, int base, int heap);
void lt_push_u64(lua_State *L, uint64_t v);
void lt_heap_init(lheap *lh);

/* lt_print_trace — print the gctrace lines the core queued, after every
 * call bindings/common/bc_drain.h lists (nothing once the heap is closed). */
static inline void lt_print_trace(const lheap *lh) { bc_trace_flush(&lh->cb, lh->h); }

/* ---- lhandle.c ---- */
lobj *lhandle_push_closed(lua_State *L, int heapidx, lheap *lh);
void lhandle_reserve(lua_State *L, lheap *lh, const char *fn);
void lhandle_push_new(lua_State *L, int heapidx, int ud, tc_root *r);
void lhandle_adopt(lua_State *L, int heapidx, int ud, tc_root *r);
void lhandle_drive(lua_State *L, int heapidx, lheap *lh);
void lhandle_settle(lua_State *L, int heapidx, lheap *lh);
void lhandle_forget(lheap *lh, lobj *o);
void lhandle_close_all(lheap *lh);
int lhandle_registry(lua_State *L);
void lhandle_new_cache(lua_State *L);
extern const luaL_Reg lhandle_methods[], lhandle_meta[], lhandle_meta_index[];

/* DRIVE_EVERY — handles made between two looks at Lua's collector
 * (lhandle_drive): often enough that a Lua cycle is seen ending within a
 * few dozen handles, rarely enough that the look costs nothing per handle. */
#define DRIVE_EVERY 64u

/* lhandle_tick — count one handle about to be made; every DRIVE_EVERY,
 * drive. Call it before the Lua allocation that makes the handle (the drive
 * may run any __gc, as that allocation may). */
static inline void lhandle_tick(lua_State *L, int heapidx, lheap *lh)
{
    if (++lh->tick >= DRIVE_EVERY)
        lhandle_drive(L, heapidx, lh);
}

/* ---- lspecial.c ---- */
lua_Integer lspecial_run_due(lua_State *L, int heapidx, lheap *lh);
void lspecial_forget_token(lua_State *L, int heapidx, tc_token token);
void lspecial_release_shell(lheap *lh);
extern const luaL_Reg lspecial_weak_methods[], lspecial_weak_meta[];
int lspecial_set_finalizer(lua_State *L);
int lspecial_add_cleanup(lua_State *L);
int lspecial_run_finalizers(lua_State *L);
int lspecial_weakref(lua_State *L);

/* run_due — the safe point of every heap method: run the due finalizers and
 * cleanups, if any (one atomic load when there are none). */
static inline void run_due(lua_State *L, int heapidx, lheap *lh)
{
    if (bc_due(&lh->cb, lh->h))
        lspecial_run_due(L, heapidx, lh);
}

/* ---- linspect.c ---- */
int linspect_roots(lua_State *L);
int linspect_referents(lua_State *L);
int linspect_referrers(lua_State *L);
int linspect_path_to(lua_State *L);
int linspect_retained(lua_State *L);

/* lmanual.c: teaching mode (the manual collector) */
int lmanual_gc_start(lua_State *L);
int lmanual_gc_step(lua_State *L);
int lmanual_gc_finish(lua_State *L);
int lmanual_color(lua_State *L);
int lmanual_snapshot(lua_State *L);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
#endif
