/*
 * tricolor.h — the public API of the tricolor managed heap.
 *
 * A heap holds objects: `nslots` value slots plus `size` payload bytes, both
 * fixed at allocation. A value is nil, a bool, a 62-bit integer, a double or a
 * reference to an object of the same heap. Host code never holds raw object
 * pointers across heap calls: it holds *roots* (tc_root), slots of the heap's
 * handle table, and every live root keeps its object alive.
 *
 * Contract common to every function below, unless its paragraph says other:
 *  - Fallible calls return a tc_status and pass results through out-parameters;
 *    on failure the out-parameters are untouched and tc_errmsg() describes the
 *    failure in one sentence (thread-local, valid until the next failing call
 *    on the same thread).
 *  - Any thread may call any function on any heap. A call never blocks on
 *    another thread's host code: a stop-the-world pause waits only for threads
 *    that are inside a heap call.
 *  - Nothing here calls back into the host, except the gctrace drain which
 *    calls the function it is given, on the calling thread, outside any lock.
 *  - After tc_heap_close() every call on the heap returns TC_ERR_CLOSED (or
 *    does nothing, for tc_root_release); the tc_heap shell itself stays valid
 *    until tc_heap_destroy().
 */
#ifndef TRICOLOR_H
#define TRICOLOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TC_API marks the public calls. A host module that compiles the core into
 * itself defines TC_EMBEDDED: they stay inside, the module exports only its
 * init function (PyInit__tricolor, luaopen_tricolor). */
#if defined(TC_EMBEDDED) && defined(__GNUC__)
#define TC_API __attribute__((visibility("hidden")))
#elif defined(__GNUC__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

/* ---- version: the project's one version. setup.py reads the numbers; the
 * bindings publish TC_VERSION_STRING (tricolor.__version__, Lua's
 * tricolor._VERSION); the rockspec is named after it (checked by
 * `make lua-rockspec-check` and the tests). ---------------------------------- */
#define TC_VERSION_MAJOR 0
#define TC_VERSION_MINOR 1
#define TC_VERSION_PATCH 0
#define TC_VERSION (TC_VERSION_MAJOR * 10000 + TC_VERSION_MINOR * 100 + TC_VERSION_PATCH)
#define TC_VERSION_STR_(x) #x
#define TC_VERSION_XSTR_(x) TC_VERSION_STR_(x)
#define TC_VERSION_STRING                                                                    \
    TC_VERSION_XSTR_(TC_VERSION_MAJOR) "." TC_VERSION_XSTR_(TC_VERSION_MINOR) "." TC_VERSION_XSTR_(TC_VERSION_PATCH)

/* ---- status --------------------------------------------------------------- */

/* tc_status — every error the core can report. Bindings map each one to a host
 * error with tc_status_kind() (one table, in the core). */
typedef enum tc_status {
    TC_OK = 0,
    TC_ERR_TYPE,        /* a value of a kind a slot cannot hold */
    TC_ERR_INDEX,       /* slot index out of range */
    TC_ERR_OVERFLOW,    /* integer outside [-2^62, 2^62) */
    TC_ERR_CROSS_HEAP,  /* a reference to an object of another heap */
    TC_ERR_VALUE,       /* a bad argument value (negative size, length mismatch, option) */
    TC_ERR_NOMEM,       /* allocation past a hard limit, too large, or refused by the OS */
    TC_ERR_CLOSED,      /* the heap was closed */
    TC_ERR_FREED,       /* the object was freed with tc_obj_free */
    TC_ERR_CORRUPT,     /* verify or checkmark found a broken invariant */
    TC_ERR_UNSUPPORTED, /* a collector or option not available in this build */
    TC_ERR_IO,          /* a trace file could not be written */
    TC_ERR_STATE,       /* the call does not fit the heap's state (trace not started, ...) */
    TC_STATUS_COUNT
} tc_status;

/* tc_status_str — a short constant description ("index out of range"). */
TC_API const char *tc_status_str(tc_status s);
/* tc_status_kind — its error kind, a stable name for bindings to map to a
 * host error: "ok", "type", "index", "overflow", "cross_heap", "value",
 * "memory", "closed", "freed", "corruption", "unsupported", "io", "state";
 * "unknown" for a value outside tc_status. */
TC_API const char *tc_status_kind(tc_status s);

/* tc_errmsg — the calling thread's message for its last failed call. Never NULL. */
TC_API const char *tc_errmsg(void);

/* ---- values --------------------------------------------------------------- */

typedef struct tc_heap tc_heap;
typedef struct tc_obj tc_obj;   /* an object; only valid while rooted */
typedef struct tc_root tc_root; /* a handle: a root slot of the heap */

typedef enum tc_kind { TC_NIL = 0, TC_BOOL, TC_INT, TC_FLOAT, TC_REF } tc_kind;

#define TC_INT_MIN (-(INT64_C(1) << 62))
#define TC_INT_MAX ((INT64_C(1) << 62) - 1)

/* tc_value — what a slot holds. For TC_REF, `ref` is the object; an object read
 * from a root with tc_root_obj() stays valid while that root is live. */
typedef struct tc_value {
    tc_kind kind;
    union {
        bool b;
        int64_t i;
        double d;
        tc_obj *ref;
    } u;
} tc_value;

static inline tc_value tc_nil(void) { tc_value v; v.kind = TC_NIL; v.u.i = 0; return v; }
static inline tc_value tc_bool(bool b) { tc_value v; v.kind = TC_BOOL; v.u.i = 0; v.u.b = b; return v; }
static inline tc_value tc_int(int64_t i) { tc_value v; v.kind = TC_INT; v.u.i = i; return v; }
static inline tc_value tc_float(double d) { tc_value v; v.kind = TC_FLOAT; v.u.d = d; return v; }
static inline tc_value tc_ref(tc_obj *o) { tc_value v; v.kind = o ? TC_REF : TC_NIL; v.u.ref = o; return v; }

/* ---- configuration ------------------------------------------------------- */

/* TC_COLLECTOR_MANUAL: cycles only when the program drives them (tc_heap_gc_*
 * below); TC_BARRIER_NONE: no shades at all, accepted only with the manual
 * collector (a teaching heap that shows what a barrier is for). */
typedef enum tc_collector {
    TC_COLLECTOR_CONCURRENT = 0, TC_COLLECTOR_INCREMENTAL, TC_COLLECTOR_STW, TC_COLLECTOR_MANUAL
} tc_collector;
typedef enum tc_barrier { TC_BARRIER_HYBRID = 0, TC_BARRIER_DIJKSTRA, TC_BARRIER_YUASA, TC_BARRIER_NONE } tc_barrier;

/* TC_GOGC_MAX — the largest gogc: a goal of 10,001 times the live heap.
 * Go has no cap; ours keeps the goal arithmetic in range (gogc = 4e14 gave
 * a goal of 1.7e19 bytes, 5e14 wrapped to 0) and is far beyond any useful
 * setting (use -1, off, for "never by growth"). */
#define TC_GOGC_MAX INT64_C(1000000)
/* TC_MARK_WORKERS_MAX, TC_EVENTS_RING_MAX — the largest mark_workers and
 * events_ring tc_heap_new accepts (the bindings check the same bounds). */
#define TC_MARK_WORKERS_MAX 256
#define TC_EVENTS_RING_MAX (INT64_C(1) << 24)

typedef struct tc_config {
    tc_collector collector;
    tc_barrier barrier;
    int64_t gogc;          /* percent in [0, TC_GOGC_MAX], or -1: no proportional trigger */
    int64_t memory_limit;  /* soft limit in bytes > 0, or -1: none */
    int mark_workers;      /* in [1, TC_MARK_WORKERS_MAX] */
    bool gctrace;          /* queue one gctrace line per cycle (tc_heap_drain_output) */
    bool checkmark;        /* verify every mark with a stop-the-world re-mark */
    bool gcstoptheworld;   /* run every cycle with the world stopped */
    int64_t events_ring;   /* GC events kept for mmu and traces, in [0, 2^24]; 0: none (events.c) */
} tc_config;

/* tc_config_init — fill `c` with SPEC's defaults, then apply the environment
 * (read at each call): TRICOLOR_GOGC ("off" or an integer percent, negative =
 * off: Go's GOGC), TRICOLOR_MEMORY_LIMIT ("off" or an integer byte count with
 * an optional B, KiB, MiB, GiB or TiB: Go's GOMEMLIMIT), TRICOLOR_DEBUG
 * (gctrace=1, checkmark=1, gcstoptheworld=1). A malformed value keeps the
 * default and leaves a warning for tc_config_warning(); never an error. */
TC_API void tc_config_init(tc_config *c);

/* tc_config_warning — the i-th (from 0) warning of the calling thread's last
 * tc_config_init, one line naming the variable, its value and the default
 * used; NULL past the last. Valid until the thread's next tc_config_init. */
TC_API const char *tc_config_warning(int i);

/* tc_collector_parse, tc_barrier_parse — map a name to its enum. TC_ERR_VALUE
 * for an unknown name; TC_ERR_UNSUPPORTED for a known one this build lacks.
 * The message names the option and the accepted values. */
TC_API tc_status tc_collector_parse(const char *name, tc_collector *out);
TC_API tc_status tc_barrier_parse(const char *name, tc_barrier *out);
TC_API const char *tc_collector_name(tc_collector c);
TC_API const char *tc_barrier_name(tc_barrier b);

/* ---- heap lifecycle ------------------------------------------------------ */

/* tc_heap_new — a new heap with configuration `c` (NULL: tc_config_init's).
 * TC_ERR_VALUE / TC_ERR_UNSUPPORTED for a bad configuration, TC_ERR_NOMEM if
 * the OS refuses the reservation. */
TC_API tc_status tc_heap_new(const tc_config *c, tc_heap **out);

/* tc_heap_close — close the heap for every later call at once (they return
 * TC_ERR_CLOSED), wait until no other thread is inside a heap call (a call
 * waiting inside the heap, for a pause or a cycle, wakes and fails with
 * TC_ERR_CLOSED; a raw section runs to its tc_leave, its tc_alloc failing),
 * stop the collector and free every object and all memory. The host's lock
 * is released meanwhile through the block hooks. Closing again is a no-op.
 * From inside a heap call on the calling thread (a raw section) it only
 * closes: the memory is freed by the next tc_heap_close or tc_heap_destroy
 * made outside any call. Safe from a gctrace sink. */
TC_API void tc_heap_close(tc_heap *h);

/* tc_heap_destroy — close if needed, then free the shell. No root of the heap
 * may be used afterwards, and no other thread may still be returning from a
 * call on it. From inside a heap call of this heap it only closes. */
TC_API void tc_heap_destroy(tc_heap *h);

TC_API bool tc_heap_closed(const tc_heap *h);

/* tc_heap_collect — run one whole forced cycle; mark and sweep are finished on
 * return. TC_ERR_CORRUPT if checkmark is on and found an object left white. */
TC_API tc_status tc_heap_collect(tc_heap *h);

/* tc_heap_collect_n — tc_heap_collect; *freed (if not NULL) gets the number
 * of objects the cycle's sweep freed (objects kept for a finalizer are not
 * among them; if other cycles ended while it waited, the last one's). */
TC_API tc_status tc_heap_collect_n(tc_heap *h, uint64_t *freed);

/* tc_heap_scavenge — give every free page back to the OS now (the scavenger
 * does this in the background for pages the next goal does not need).
 * Waits for a running cycle. *released: bytes released by this call. */
TC_API tc_status tc_heap_scavenge(tc_heap *h, uint64_t *released);

/* Tunables: gogc in [0, TC_GOGC_MAX] or -1 = off; memory_limit > 0 or
 * -1 = none. TC_ERR_VALUE otherwise (the value is unchanged). Take effect
 * at once. */
TC_API tc_status tc_heap_set_gogc(tc_heap *h, int64_t gogc);
TC_API int64_t tc_heap_gogc(const tc_heap *h);
TC_API tc_status tc_heap_set_memory_limit(tc_heap *h, int64_t limit);
TC_API int64_t tc_heap_memory_limit(const tc_heap *h);
TC_API void tc_heap_config(const tc_heap *h, tc_config *out);

/* ---- objects --------------------------------------------------------------- */

/* tc_obj_new — allocate an object with `nslots` nil slots and a `size`-byte
 * payload (copied from `data` when non-NULL, else zeroed) and return a new
 * root for it. TC_ERR_NOMEM when no size field can hold it, past the hard
 * limit or when the OS refuses memory; the heap stays usable. */
TC_API tc_status tc_obj_new(tc_heap *h, size_t nslots, size_t size, const void *data, tc_root **out);

/* tc_slot_get — read slot `i` (0-based) of `obj`. A reference comes back as a
 * TC_REF value together with a new root in *ref_root (the caller owns it);
 * other kinds leave *ref_root NULL. With ref_root NULL, no root is made
 * (the value only, as tc_slot_peek but checked like a read). */
TC_API tc_status tc_slot_get(tc_heap *h, tc_root *obj, int64_t i, tc_value *out, tc_root **ref_root);

/* tc_slot_peek — tc_slot_get without the root: a reference comes back as a
 * TC_REF value whose `ref` names the object the slot held when it was read,
 * and nothing keeps that object alive. It is an identity, not a handle: the
 * caller may compare it with tc_root_obj() of a root it holds (equal means
 * that very object, alive through that root) or take its tc_obj_id(), and
 * must not pass it to any other call; to use the object, read the slot
 * again with tc_slot_get. Other kinds are as tc_slot_get returns them, with
 * the same errors, and the read is one store's value (the slot's lock, as
 * tc_slot_get). For a host's handle cache: a read that finds the handle it
 * already has makes no root at all. */
TC_API tc_status tc_slot_peek(tc_heap *h, tc_root *obj, int64_t i, tc_value *out);

/* tc_slot_set — write `v` into slot `i`. A TC_REF value must name an object
 * of this heap (TC_ERR_CROSS_HEAP otherwise); a TC_INT value must be in range
 * (TC_ERR_OVERFLOW). */
TC_API tc_status tc_slot_set(tc_heap *h, tc_root *obj, int64_t i, tc_value v);
/* tc_slot_set_root — tc_slot_set of a reference to the object of `val`, a
 * live root of this heap (the host's check: a root of another heap is a bug,
 * as it is for `obj`); cheaper, the object needing no lookup. */
TC_API tc_status tc_slot_set_root(tc_heap *h, tc_root *obj, int64_t i, tc_root *val);
/* tc_slot_get_owned, tc_slot_set_owned — tc_slot_get and tc_slot_set for a
 * host thread that owns the stores into obj's object: the caller knows h is
 * open and that no other thread stores into that object while the call runs
 * (the host's lock: Python's GIL, which no store releases; not for
 * free-threaded Python). Then a plain value is read, and stored over a
 * plain value, with no heap call. tc_slot_get_owned also roots a reference
 * with no heap call (unless a mark is seen running), which asks more of the
 * host: every slot store, allocation, root release and close on h is made
 * under that lock, which the caller holds (object.c says why a mark loses
 * nothing then). Same results and errors as the checked calls (every other
 * case is one of them). */
TC_API tc_status tc_slot_get_owned(tc_heap *h, tc_root *obj, int64_t i, tc_value *out, tc_root **ref_root);
TC_API tc_status tc_slot_set_owned(tc_heap *h, tc_root *obj, int64_t i, tc_value v);

TC_API tc_status tc_obj_nslots(tc_heap *h, tc_root *obj, size_t *out);
TC_API tc_status tc_obj_size(tc_heap *h, tc_root *obj, size_t *out);

/* tc_obj_data_get — copy min(cap, size) payload bytes to dst. */
TC_API tc_status tc_obj_data_get(tc_heap *h, tc_root *obj, void *dst, size_t cap);
/* tc_obj_data_set — overwrite the payload; `len` must equal its size (TC_ERR_VALUE). */
TC_API tc_status tc_obj_data_set(tc_heap *h, tc_root *obj, const void *src, size_t len);

/* ---- roots (handles) ------------------------------------------------------- */

/* tc_root_obj — the object a root refers to. Valid while the root is live.
 * A root is one word of the heap's handle table holding the object pointer. */
static inline tc_obj *tc_root_obj(const tc_root *r) { return *(tc_obj *const *)(const void *)r; }

/* tc_obj_id — a stable id for the object's lifetime, unique among the live
 * objects of its heap (today derived from its address; objects do not move). */
static inline uint64_t tc_obj_id(const tc_obj *o) { return (uint64_t)(uintptr_t)o >> 3; } /* unchanged by free */

/* tc_root_new — a new root for `o` (which must be kept alive by another root
 * of the same heap during the call). O(1). */
TC_API tc_status tc_root_new(tc_heap *h, tc_obj *o, tc_root **out);

/* tc_root_release — drop a root. O(1). A no-op on a closed heap. */
TC_API void tc_root_release(tc_heap *h, tc_root *r);
/* tc_root_release_n — tc_root_release of each of roots[0..n) (NULL entries
 * skipped), a heap call per 64 roots rather than per root: for a host that
 * holds back the roots of handles it drops. Same thread rules; a no-op on a
 * closed heap. */
TC_API void tc_root_release_n(tc_heap *h, tc_root *const *roots, size_t n);

/* ---- finalizers, cleanups, weak references (special.c) ---------------------
 *
 * The host keeps its callbacks; the core keeps a token (any nonzero 64-bit
 * value the host chooses) and hands it back when the callback is due. Nothing
 * here calls the host: the host drains due callbacks with tc_take_ready, on
 * its own thread, at points it chooses.
 *
 * Semantics (Go's): a finalizer is due once, after its object became
 * unreachable; the object and everything it references stay intact until the
 * host is done with it, and if the finalizer makes it reachable again it
 * lives on (its finalizer does not run again unless set again). If A
 * references B and both have finalizers, A's is due first and B's in a later
 * cycle; a cycle of finalizable objects is never collected (as in Go). A
 * cleanup is due after its object was reclaimed; it never sees the object. A
 * weak reference is cleared when its target is found unreachable, before any
 * finalizer of the target is due, so a resurrected object's weak references
 * stay cleared. */

typedef uint64_t tc_token;
typedef struct tc_weak tc_weak;
typedef enum tc_ready_kind { TC_READY_NONE = 0, TC_READY_FINALIZER, TC_READY_CLEANUP } tc_ready_kind;

/* tc_set_finalizer — set (token != 0) or clear (token == 0) obj's finalizer.
 * *old gets the token it replaces (0 if none). */
TC_API tc_status tc_set_finalizer(tc_heap *h, tc_root *obj, tc_token token, tc_token *old);
/* tc_add_cleanup — queue `token` for after obj is reclaimed. */
TC_API tc_status tc_add_cleanup(tc_heap *h, tc_root *obj, tc_token token);
/* tc_take_ready — the next due callback: TC_READY_NONE if none. For a
 * finalizer *obj is a new root for the object (the caller releases it when
 * the finalizer returns); for a cleanup *obj is NULL. */
TC_API tc_ready_kind tc_take_ready(tc_heap *h, tc_token *token, tc_root **obj);
TC_API bool tc_has_ready(const tc_heap *h);

/* tc_weak_new — a weak reference to obj. tc_weak_get — a new root for the
 * target in *out, or NULL once it was reclaimed (during mark, getting the
 * target shades it). tc_weak_release frees the weak reference (also after the
 * heap was closed). */
TC_API tc_status tc_weak_new(tc_heap *h, tc_root *obj, tc_weak **out);
TC_API tc_status tc_weak_get(tc_heap *h, tc_weak *w, tc_root **out);
TC_API void tc_weak_release(tc_heap *h, tc_weak *w);

/* ---- unsafe ---------------------------------------------------------------- */

/* tc_obj_free — free obj now. Every root to it then fails with TC_ERR_FREED
 * (their tc_root_obj keeps its address, so ids and equality still work);
 * references to it from other objects are the caller's bug, which
 * tc_heap_verify reports (reading one gives a freed root). Its cleanups
 * become due (it is reclaimed); its finalizer never runs. TC_ERR_STATE if
 * the object is pinned. Waits for a running cycle to finish and stops the
 * world for a time that does not depend on the number of handles: the
 * object's memory is taken back by the next cycle that finds no reference
 * to it, once that cycle's root scan has marked every handle to it freed. */
TC_API tc_status tc_obj_free(tc_heap *h, tc_root *obj);
/* tc_obj_free_token — tc_obj_free that also gives the token of the finalizer
 * the free dropped in *finalizer (0 if it had none), so the host forgets
 * that one callback; on failure nothing changed and *finalizer is 0. */
TC_API tc_status tc_obj_free_token(tc_heap *h, tc_root *obj, tc_token *finalizer);
/* tc_obj_payload — the payload's address and size, for a host buffer view;
 * pin the object for as long as the view exists (tc_obj_free is refused). */
TC_API tc_status tc_obj_payload(tc_heap *h, tc_root *obj, void **ptr, size_t *size);
TC_API tc_status tc_obj_pin(tc_heap *h, tc_root *obj);
TC_API void tc_obj_unpin(tc_heap *h, tc_root *obj);
/* tc_root_freed — does this root refer to a freed object? Either the root
 * carries the freed bit (2), or the object's header still reads "freed"
 * (nslots 0, size 2^32-1: no object has that shape) until a cycle marks the
 * root. Only for a root of an open heap. */
static inline bool tc_root_freed(const tc_root *r)
{
    uintptr_t v = (uintptr_t)tc_root_obj(r);
    const uint32_t *hdr = (const uint32_t *)v;
    return (v & 2) != 0 || (hdr[0] == 0 && hdr[1] == 0xffffffffu);
}
/* tc_root_shape — the slot count and payload size of the object a root
 * refers to, read in line from the header's two words (those tc_root_freed
 * reads: what tc_obj_nslots_raw and tc_obj_size_raw return); 0 and 0, and
 * false, for a freed object (tc_root_freed). For a host that makes a handle
 * for every reference it reads. Only for a live root of an open heap. */
static inline bool tc_root_shape(const tc_root *r, size_t *nslots, size_t *size)
{
    if (tc_root_freed(r)) {
        *nslots = *size = 0;
        return false;
    }
    const uint32_t *hdr = (const uint32_t *)(const void *)tc_root_obj(r);
    *nslots = hdr[0];
    *size = hdr[1];
    return true;
}
/* tc_obj_address — the object's address (with the freed bit cleared). */
static inline uintptr_t tc_obj_address(const tc_obj *o) { return (uintptr_t)o & ~(uintptr_t)7; }

/* ---- statistics ------------------------------------------------------------ */

#define TC_PAUSE_RING 256
#define TC_HIST_BUCKETS 281 /* see "latency" below */

typedef struct tc_stats {
    uint64_t heap_alloc, heap_live, heap_objects, heap_sys, heap_released, heap_goal;
    uint64_t total_alloc, mallocs, frees, num_gc, num_forced_gc;
    uint64_t pause_total_ns, pause_max_ns;
    uint64_t pauses_ns[TC_PAUSE_RING]; /* oldest first */
    uint32_t npauses;                  /* entries used in pauses_ns */
    double gc_cpu_fraction;
    uint64_t assist_ns, roots, finalizers_pending, weak_refs;
    /* extensions beyond SPEC */
    uint64_t mark_ns, sweep_ns, mark_cpu_ns, sweep_cpu_ns, heap_marked;
    uint64_t gc_sys; /* collector metadata (bitmaps, span structs), not in heap_sys (as Go's GCSys) */
    uint64_t assist_marked; /* bytes marked by mutators' assists (estimated as the markers count) */
    uint64_t mark_regions_shared; /* mark-bit regions two markers wanted at once, so shared (all cycles) */
    /* latency (events.c) */
    uint64_t pause_end_ns[TC_PAUSE_RING]; /* monotonic end of each pause in pauses_ns, same order */
    uint64_t delay_total_ns, delay_max_ns, events_dropped;
    uint64_t barrier_slow, barrier_shaded; /* write barrier: slow-path stores, objects greyed (all cycles) */
    uint64_t pause_hist[TC_HIST_BUCKETS];        /* counts; bounds from tc_hist_bounds */
    uint64_t mutator_delay_hist[TC_HIST_BUCKETS];
    const char *phase;     /* "off", "mark", "sweep" */
    const char *collector; /* "concurrent", "incremental", "stw" */
    const char *barrier;   /* "hybrid", "dijkstra", "yuasa" */
} tc_stats;

TC_API tc_status tc_heap_stats(tc_heap *h, tc_stats *out);

/* One row per tc_stats field, in SPEC's order, so bindings build their
 * Stats objects (and their documentation) from one list. */
typedef enum tc_field_type { TC_FIELD_U64, TC_FIELD_DOUBLE, TC_FIELD_STRING, TC_FIELD_PAUSES, TC_FIELD_HIST } tc_field_type;
typedef struct tc_stats_field {
    const char *name;
    tc_field_type type;
    size_t offset;   /* into tc_stats */
    const char *doc; /* one paragraph: the meaning, then "Unit: ...", then "Go: ..." (the
                      * MemStats field or runtime/metrics name, or what Go lacks) */
} tc_stats_field;

TC_API const tc_stats_field *tc_stats_fields(size_t *count);

/* ---- latency: histograms and MMU (hist.c, mmu.c) -------------------------------
 *
 * A latency histogram is TC_HIST_BUCKETS counts; counts[i] counts durations
 * in [bounds[i], bounds[i+1]) ns, where tc_hist_bounds() gives the
 * TC_HIST_BUCKETS + 1 bounds: 0, 1, ..., 8, then 8 buckets per power of two
 * up to 2^37 ns, and a last bound of UINT64_MAX meaning +infinity. */
TC_API void tc_hist_bounds(uint64_t out[TC_HIST_BUCKETS + 1]);

/* tc_gc_kind — the kinds of GC interval that take time from the program (the
 * ones MMU counts), in priority order: where intervals overlap, the time
 * counts once, for the kind listed first. */
typedef enum tc_gc_kind {
    TC_GC_PAUSE = 0,   /* "pause": stop-the-world */
    TC_GC_ASSIST,      /* "assist": mark assist inside an allocation */
    TC_GC_SLICE,       /* "slice": incremental mark slice */
    TC_GC_SWEEP,       /* "sweep": lazy sweeping inside an allocation */
    TC_GC_LIMIT_WAIT,  /* "limit_wait": waiting at the memory limit */
    TC_GC_KIND_COUNT
} tc_gc_kind;

TC_API const char *tc_gc_kind_name(tc_gc_kind k);
/* tc_gc_kind_parse — TC_ERR_VALUE (message lists the names) for an unknown name. */
TC_API tc_status tc_gc_kind_parse(const char *name, tc_gc_kind *out);

/* tc_interval — GC time [start_ns, end_ns) of one kind, monotonic ns. */
typedef struct tc_interval {
    int64_t start_ns, end_ns;
    tc_gc_kind kind;
} tc_interval;

/* tc_interval_check — TC_ERR_VALUE unless 0 <= start_ns <= end_ns and the
 * kind is known; the message says what is wrong (not where: the caller
 * prefixes the index in its own base). */
TC_API tc_status tc_interval_check(const tc_interval *iv);

/* tc_mmu_window_ns — a window length in seconds as ns (rounded, at least 1,
 * at most INT64_MAX). TC_ERR_VALUE unless finite and > 0. */
TC_API tc_status tc_mmu_window_ns(double seconds, int64_t *ns);

/* One window's result. Over a run [S, E] of length L, with GC time the union
 * of the intervals: mmu = 1 - (most GC ns in any window of length_ns inside
 * the run) / length_ns; bmu = the minimum of mmu over all window lengths >=
 * window_ns; the worst window is [worst_start_ns, worst_start_ns +
 * length_ns) (the earliest one) and by_kind_ns splits its GC time by kind
 * (sums to it). length_ns = min(window_ns, L): a window longer than the run
 * is the whole run. An empty run (L = 0) has mmu = bmu = 1. */
typedef struct tc_mmu_point {
    int64_t window_ns, length_ns;
    double mmu, bmu;
    int64_t worst_start_ns;
    uint64_t by_kind_ns[TC_GC_KIND_COUNT];
} tc_mmu_point;

/* tc_mmu — MMU and BMU (mmu.c's header has the definitions and proofs) of the
 * intervals `iv` (any order, may overlap, may be empty; clipped to the run)
 * over the run [*run_start, *run_end], for each of the nw windows (ns >= 1).
 * A NULL bound is the earliest start (latest end) among the intervals and
 * the other bound (0 when there is neither). TC_ERR_VALUE for a bad interval (message
 * names its 0-based index), window or run; TC_ERR_NOMEM. O(n log n) to
 * prepare, then O(n log n) per window; memory about 80 bytes per interval. */
TC_API tc_status tc_mmu(const tc_interval *iv, size_t n, const int64_t *run_start, const int64_t *run_end,
                        const int64_t *windows_ns, size_t nw, tc_mmu_point *out);

/* tc_heap_mmu — tc_mmu of the heap's recorded delay-kind events over the
 * run [heap creation, now]; *dropped = events the ring lost (the curve has
 * a gap: the caller warns). TC_ERR_CLOSED, TC_ERR_VALUE (windows), NOMEM. */
TC_API tc_status tc_heap_mmu(tc_heap *h, const int64_t *windows_ns, size_t nw, tc_mmu_point *out,
                             uint64_t *dropped);
/* tc_heap_intervals — the recorded delay-kind events as intervals (oldest
 * retained first, malloc'd: free()), for saving a run and tc_mmu later. */
TC_API tc_status tc_heap_intervals(tc_heap *h, tc_interval **out, size_t *n);
/* tc_heap_note_callback — the host ran a finalizer (kind TC_READY_FINALIZER)
 * or cleanup over [start_ns, end_ns] (plat monotonic ns): a trace event. */
TC_API void tc_heap_note_callback(tc_heap *h, tc_ready_kind kind, int64_t start_ns, int64_t end_ns);
/* tc_now_ns — the monotonic clock every event uses. */
TC_API int64_t tc_now_ns(void);

/* ---- observation ------------------------------------------------------------ */

/* tc_heap_drain_output — hand each queued gctrace line (no trailing newline)
 * to `sink`, on the calling thread, outside every heap lock, and forget it.
 * Cheap when nothing is queued: bindings call it after every allocation. */
typedef void (*tc_line_sink)(void *ud, const char *line);
TC_API void tc_heap_drain_output(tc_heap *h, tc_line_sink sink, void *ud);
TC_API bool tc_heap_has_output(const tc_heap *h);

/* tc_heap_verify — walk the whole heap with the world stopped: every
 * reference points at an allocated object of this heap, every counter
 * matches a recount. TC_ERR_CORRUPT with the first problem in tc_errmsg(). */
TC_API tc_status tc_heap_verify(tc_heap *h);

/* tc_trace_start — record Chrome trace events (cycles, phases, pauses, heap
 * size) until tc_trace_stop writes them to `path` as JSON that Perfetto and
 * chrome://tracing open. TC_ERR_STATE if a trace is already running;
 * TC_ERR_IO if the file cannot be created. */
TC_API tc_status tc_trace_start(tc_heap *h, const char *path);
TC_API tc_status tc_trace_stop(tc_heap *h);

/* ---- record and replay (record.c, replay.c; format: docs/replay.md) -------
 *
 * tc_record_start — write every heap operation made through the calls
 * above (new, slot stores and reference loads, handle release, forced
 * collections, finalizers, cleanups, weak references, unsafe free) to a
 * replay log at `path` until tc_record_stop. Raw-section calls are not
 * recorded. With several threads the log holds one global order (the order
 * the records take the recorder's lock). TC_ERR_IO naming the path if it
 * cannot be created, TC_ERR_STATE if a recording runs. tc_heap_close
 * finishes a running recording. */
TC_API tc_status tc_record_start(tc_heap *h, const char *path);
/* tc_record_stop — finish the log; TC_ERR_IO (naming the path) if a write
 * failed, TC_ERR_STATE if no recording runs. */
TC_API tc_status tc_record_stop(tc_heap *h);

/* What a replay did. A mismatch is a forced collection after which the
 * replaying heap's heap_objects or live-graph hash differ from the ones
 * recorded (the first one's byte offset is kept). */
typedef struct tc_replay_report {
    uint32_t version;       /* the log's format version */
    uint64_t records;       /* records replayed */
    uint64_t collects;      /* forced collections replayed */
    uint64_t checked;       /* of them, with a recorded graph hash (single-threaded recordings) */
    uint64_t mismatches;
    int64_t first_mismatch; /* byte offset, -1 if none */
    uint64_t objects;       /* objects allocated */
    uint64_t elapsed_ns;    /* wall time of the replay loop (validation excluded) */
} tc_replay_report;

/* tc_replay — read the log at `path`, validate all of it (checksums,
 * records, ids) before touching the heap, then drive `h` with its
 * operations on the calling thread, the interpreter out of the loop.
 * TC_ERR_IO naming the path if it cannot be read; TC_ERR_VALUE naming the
 * byte offset for a corrupted or truncated log, or both versions for
 * another format version; TC_ERR_STATE naming the byte offset if the heap
 * cannot follow the log (a weak reference the recording resolved was
 * already cleared here); any error of the calls it makes. Handles the
 * replay made are released before it returns. */
TC_API tc_status tc_replay(tc_heap *h, const char *path, tc_replay_report *out);

/* ---- introspection: why is an object alive (inspect.c) --------------------
 *
 * Answers from the object graph as the marker sees it (inspect.c's header
 * says what a root is). The whole-graph calls (roots, referrers, path_to,
 * retained) wait for a running cycle to end (finishing an incremental one),
 * hold new cycles off, and stop the world while they read the graph: a
 * pause that grows with the heap (docs/python.md has figures). Not from
 * inside a raw section: TC_ERR_STATE. Side tables come from malloc and are
 * freed before return; TC_ERR_NOMEM leaves the heap as it was. Objects come
 * back as new roots the caller owns (tc_root_release each); arrays are
 * freed with tc_inspect_free. obj of another heap: TC_ERR_CROSS_HEAP;
 * freed: TC_ERR_FREED. */

typedef enum tc_root_kind {
    TC_ROOT_HANDLE = 0,      /* "handle": a live tc_root */
    TC_ROOT_LOCAL,           /* "local": a raw section's local (tc_locals) */
    TC_ROOT_FINALIZER_QUEUE, /* "finalizer_queue": an object whose finalizer is due, until the host takes it */
    TC_ROOT_FINALIZER,       /* "finalizer": an object with a finalizer set; roots its referents, not itself */
    TC_ROOT_KIND_COUNT
} tc_root_kind;

TC_API const char *tc_root_kind_name(tc_root_kind k);

/* tc_link — one object of an answer: a new root for it (the caller owns
 * it); `kind`, how a root is rooted (roots, and the first step of a path:
 * later steps repeat it; referents and referrers: TC_ROOT_HANDLE); `slot`,
 * the 0-based slot that holds it (a path's later steps: of the previous
 * step; referents: of obj), or for a referrer the first of its slots that
 * holds obj; -1 for roots and a path's first step. */
typedef struct tc_link {
    tc_root *obj;
    tc_root_kind kind;
    int64_t slot;
} tc_link;

/* tc_heap_roots — every root, once per (kind, object), grouped by kind. */
TC_API tc_status tc_heap_roots(tc_heap *h, tc_link **out, size_t *n);
/* tc_obj_referents — the objects obj's slots reference, in slot order (one
 * entry per reference slot). One heap call: no pause. */
TC_API tc_status tc_obj_referents(tc_heap *h, tc_root *obj, tc_link **out, size_t *n);
/* tc_obj_referrers — each object holding a reference to obj, once: the
 * reachable ones (every handle counts, obj's too) and those with a
 * finalizer set; garbage the next cycle frees is not listed. */
TC_API tc_status tc_obj_referrers(tc_heap *h, tc_root *obj, tc_link **out, size_t *n);
/* tc_obj_path_to — a shortest chain from a root to obj: out[0] is a root
 * (for TC_ROOT_FINALIZER the object with the finalizer, which roots the
 * next step), each later step the object held by slot out[i].slot of
 * out[i-1], the last one obj. The handle `obj` is not a root; every other
 * one is. *n = 0 and *out = NULL when nothing else reaches obj. */
TC_API tc_status tc_obj_path_to(tc_heap *h, tc_root *obj, tc_link **out, size_t *n);
/* tc_obj_retained — the bytes (size-class slots, as heap_alloc counts) and
 * objects that would be unreachable if obj were: obj's subtree in the
 * dominator tree of the graph from every root but the handle `obj`, with
 * obj as one more root. obj is counted; what a finalizer roots is not. */
TC_API tc_status tc_obj_retained(tc_heap *h, tc_root *obj, uint64_t *bytes, uint64_t *objects);
/* tc_inspect_free — free an array returned above (not the roots in it). */
TC_API void tc_inspect_free(void *array);

/* ---- teaching: the manual collector (manual.c) ----------------------------
 *
 * On a heap with collector TC_COLLECTOR_MANUAL nothing starts a cycle but
 * these calls (and tc_heap_collect, a whole cycle; the whole-heap calls —
 * verify, scavenge, the introspection calls above, tc_obj_free — finish a
 * running one first, as they finish an incremental cycle). None of them is
 * a mutator call: not from inside a raw section (TC_ERR_STATE). On a heap
 * of another collector: TC_ERR_VALUE.
 *
 * tc_heap_gc_start — start a cycle: the start pause, every handle,
 * local and finalizer root grey; TC_ERR_STATE if one is running.
 * tc_heap_gc_step — mark up to n >= 1 grey objects (black, their white
 * referents grey); *marked = how many. When no grey object is left it
 * ends the mark (termination, with the Dijkstra barrier's root re-scan)
 * and the phase becomes sweep: *marked is 0 then, and whenever no cycle
 * is in its mark phase.
 * tc_heap_gc_finish — end the running cycle (mark what is left, sweep);
 * *freed = the objects it freed (0 with no cycle running).
 * tc_obj_color — obj's colour now: white between cycles, black once marked
 * (or allocated during the mark; in the sweep phase, once its span is
 * swept and it survived), grey while it waits in the grey set.
 * tc_heap_snapshot — the whole heap at once (world stopped; a debugging
 * call whose pause grows with the heap): objects by tc_obj_id with their
 * colours, the references, the roots, the grey set. Free with
 * tc_snapshot_free. */

typedef enum tc_color { TC_WHITE = 0, TC_GREY, TC_BLACK } tc_color;
TC_API const char *tc_color_name(tc_color c);
TC_API const char *tc_phase_name(int phase); /* 0 off, 1 mark, 2 sweep */

typedef struct tc_snap_edge {
    uint64_t src, dst; /* tc_obj_id */
    int64_t slot;      /* 0-based slot of src */
} tc_snap_edge;

typedef struct tc_snap_root {
    uint64_t id;
    tc_root_kind kind; /* handle, local or finalizer */
} tc_snap_root;

typedef struct tc_snapshot {
    int phase;           /* 0 off, 1 mark, 2 sweep (tc_phase_name) */
    size_t nobjects;     /* every allocated object, in heap order */
    uint64_t *objects;   /* tc_obj_id */
    uint8_t *colors;     /* tc_color of objects[i] */
    size_t nedges;
    tc_snap_edge *edges; /* in object order, then slot order */
    size_t nroots;
    tc_snap_root *roots; /* a handle per handle (an object may repeat) */
    size_t ngrey;
    uint64_t *grey;      /* the grey set, each object once */
} tc_snapshot;

TC_API tc_status tc_heap_gc_start(tc_heap *h);
TC_API tc_status tc_heap_gc_step(tc_heap *h, int64_t n, uint64_t *marked);
TC_API tc_status tc_heap_gc_finish(tc_heap *h, uint64_t *freed);
TC_API tc_status tc_obj_color(tc_heap *h, tc_root *obj, tc_color *out);
TC_API tc_status tc_heap_snapshot(tc_heap *h, tc_snapshot **out);
TC_API void tc_snapshot_free(tc_snapshot *s);

/* ---- raw access for C programs -------------------------------------------
 *
 * The calls above are each a complete heap call. A C program that builds
 * large graphs can instead open a raw section on its thread and work on
 * tc_obj pointers directly:
 *
 *     tc_mutator *m = tc_enter(h);
 *     tc_obj **loc = tc_locals(m, 2);     // two local roots, nil
 *     loc[0] = tc_alloc(m, 2, 0);         // may collect: keep pointers in locals
 *     loc[1] = tc_alloc(m, 2, 0);
 *     tc_store(m, loc[0], 0, tc_ref(loc[1]));
 *     tc_locals_pop(m, 2);
 *     tc_leave(m);
 *
 * Inside a section the thread counts as "inside a heap call": a stop-the-world
 * pause waits for it, so a long loop that does not allocate calls
 * tc_safepoint(). Raw pointers are valid until the next tc_alloc or
 * tc_safepoint unless they are in a local, a root or a reachable slot.
 * Sections nest; the checked calls above may be used inside one.
 * tc_store and tc_load do not check the index or the value (use the checked
 * calls for untrusted input); tc_store runs the write barrier. */

typedef struct tc_mutator tc_mutator;

/* tc_enter — open a raw section on the calling thread; NULL (with
 * tc_errmsg) if the heap is closed. */
TC_API tc_mutator *tc_enter(tc_heap *h);
TC_API void tc_leave(tc_mutator *m);
TC_API void tc_safepoint(tc_mutator *m);

/* tc_locals — push n nil local roots on the mutator's local stack and return
 * them; NULL if the stack cannot grow. tc_locals_pop pops the last n. */
TC_API tc_obj **tc_locals(tc_mutator *m, size_t n);
TC_API void tc_locals_pop(tc_mutator *m, size_t n);

/* tc_alloc — a new object (nil slots, zeroed payload); NULL on failure, with
 * tc_errmsg(). May run a collection. */
TC_API tc_obj *tc_alloc(tc_mutator *m, size_t nslots, size_t size);
TC_API void tc_store(tc_mutator *m, tc_obj *o, size_t i, tc_value v);
TC_API tc_value tc_load(const tc_obj *o, size_t i);
TC_API void *tc_payload(tc_obj *o);
TC_API size_t tc_obj_nslots_raw(const tc_obj *o);
TC_API size_t tc_obj_size_raw(const tc_obj *o);

/* ---- host integration ---------------------------------------------------- */

/* tc_heap_set_block_hooks — called around every wait of a heap call that may
 * block (for a pause, for another thread's collection, in tc_heap_collect):
 * `begin` returns a token that `end` gets back. Python releases the GIL
 * here. The hooks must not call into the heap. */
typedef void *(*tc_block_begin)(void *ud);
typedef void (*tc_block_end)(void *ud, void *token);
TC_API void tc_heap_set_block_hooks(tc_heap *h, tc_block_begin begin, tc_block_end end, void *ud);

#ifdef __cplusplus
}
#endif
#endif /* TRICOLOR_H */
