/*
 * mutator.h — the inline fast paths of a heap call: entering (the thread's
 * mutator is in front of its TLS cache, no pause is requested, the heap is
 * open) and leaving; struct tc_mutator and mutator.c's calls (thread
 * registration, the stop-the-world handshake). Included by heap.h, after
 * struct tc_heap.
 *
 * Invariants: `active` and `depth` are written only by the owning thread
 * (depth with plain loads and stores: a closing thread reads it); a
 * thread's depth > 0 exactly while it is inside a heap call (calls nest),
 * and the outermost leave has finished with the heap's memory (flushed its
 * grey buffer) before it stores depth = 0 with release order. A mutator
 * with active = 1 past its entry check (stw read 0, then `listed` read 1)
 * is on heap->enterq, where every pause reads its `active` word (mutator.c,
 * invariant L); `listed` is set only by the owner, cleared only by a
 * stopper that took it off the list.
 */
#ifndef TC_MUTATOR_H
#define TC_MUTATOR_H
#include "plant.h"
#include "platform.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define MUT_FLUSH_BYTES (64u << 10) /* allocation a mutator reports at once */
#define MUT_MAX_LOCALS ((size_t)1 << 20) /* local roots per mutator (8 MiB, mapped lazily) */

struct tc_mutator {
    struct tc_heap *heap;
    _Atomic int active;          /* 1 while inside a heap call; written by the owner */
    _Atomic int depth;           /* nesting of heap calls: written by the owner (plain loads and
                                  * stores, no read-modify-write), read by a closing thread */
    _Atomic uint64_t stw_ack;    /* the stw_seq of a pause this mutator saw requested after it went
                                  * inactive (mutator_wake_stopper): written by the owner, release */
    _Atomic int rec_busy;        /* 1 while the owner writes a replay record without rec_spin
                                  * (record.c's owner path): written by the owner, read by a revoker */
    pthread_t owner;             /* the thread using it, valid if `owned` */
    uint32_t tid;                /* the owner's ev_tid(): its track in traces (set with owner) */
    _Atomic int requesting;      /* 1 while parked in its request for a cycle (assist.c): written by the
                                  * owner; a stopper waits a while for its acknowledgement (wait_out) */
    _Atomic int ktid;            /* the owner's kernel thread id (set with owner): a stopper reads its
                                  * CPU clock while it waits for it (mutator.c: wait_out) */
    bool owned;                  /* protected by heap->mut_lock */
    span *cache[SC_MAX_CLASSES]; /* current span per size class (owner; the world-stopper flushes) */
    tc_obj **locals;             /* the local root stack (tc_locals) */
    size_t nlocals, cap_locals;
    uintptr_t rfree;             /* local free list of root slots (roots.h's encoding; owner) */
    uint32_t nrfree;
    uint64_t reported;           /* bytes allocated (alloc_totals) already reported to the heap (owner,
                                  * or the stopper) */
    uint64_t call_assist_ns;     /* assist time in the current outermost heap call (owner) */
    _Atomic(struct ev_local *) evl; /* GC events of this thread, made by the owner (events.c) */
    struct markctx *assist_ctx;  /* this mutator's marker for assists, made on first use (owner) */
    uint32_t ncached;            /* spans in `cache` (owner, or the stopper) */
    uint32_t gbuf_n;             /* shaded addresses in gbuf (owner); flushed on leave/park */
    uintptr_t gbuf[MUT_GBUF];
    /* counters: written by the owner (or the stopper), read relaxed by stats */
    _Atomic uint64_t nsmall[SC_MAX_CLASSES]; /* small objects allocated, per size class: the fast
                                              * path's one count (bytes: times sc_size, alloc_totals) */
    _Atomic uint64_t classes_used[(SC_MAX_CLASSES + 63) / 64]; /* bit c: nsmall[c] may be nonzero (set
                                              * by the owner's refill, before its first object of c) */
    _Atomic uint64_t large_objects, large_bytes; /* large objects allocated and their pages' bytes */
    _Atomic uint64_t roots_new, roots_del;
    _Atomic uint64_t barrier_slow;   /* slot stores that took the barrier's slow path (barrier.c) */
    _Atomic uint64_t barrier_shaded; /* objects the barrier greyed (shade: barrier.h) */
    struct tc_mutator *next;     /* heap->mutators list, under mut_lock */
    _Atomic bool listed;         /* on heap->enterq: set by the owner as it pushes itself, cleared by a
                                  * stopper that drops it (mutator.c: mutator_list) */
    struct tc_mutator *enter_next; /* heap->enterq */
    struct tc_mutator *flush_next; /* heap->flushq, under heap->lock (cycle.c: flush_all) */
    bool in_flushq;              /* on heap->flushq (heap->lock) */
    uint64_t flushed_alloc;      /* bytes allocated at its last flush_all (heap->lock, world stopped) */
    span *clearing;              /* a span held in no list at a safepoint (heap->lock): a large one
                                  * alloc_large clears, or a refill's whose pages it prefaults; a
                                  * fork's child, where this thread does not exist, frees it (fork.c) */
};

/* mutator.c: thread registration and the stop-the-world handshake */
tc_mutator *mutator_get(tc_heap *h);       /* this thread's mutator, registering it */
tc_status mutator_enter_slow(tc_heap *h, tc_mutator **out);
void mutator_wake_stopper(tc_mutator *m);
void mutator_park(tc_mutator *m);          /* stop counting as active (before blocking) */
void mutator_unpark(tc_mutator *m);        /* count as active again, waiting out a pause */
uint64_t world_stop(tc_heap *h, tc_mutator *self); /* the pause's start: when it was requested */
void world_start(tc_heap *h);
void mutators_free(tc_heap *h);
tc_mutator *mutator_self(tc_heap *h);      /* this thread's mutator, or NULL (never registers) */
bool mutator_inside(tc_heap *h);           /* is this thread inside a heap call of h? */
void mutators_drain(tc_heap *h);           /* wait until no other thread is inside a heap call of h */
void block_begin(tc_heap *h, void **tok);
void block_end(tc_heap *h, void *tok);

#define TLS_WAYS 4
/* initial-exec: read on every heap call; the general dynamic model costs a
 * __tls_get_addr call inside a loaded module */
#define TC_TLS_IE __attribute__((tls_model("initial-exec")))

typedef struct tls_entry {
    tc_heap *heap;
    uint64_t uid;
    tc_mutator *m;
} tls_entry;

extern _Thread_local tls_entry tc_tls_cache[TLS_WAYS] TC_TLS_IE;

/* light_fence — the mutator's half of the asymmetric handshake (platform.h) */
static inline void light_fence(void)
{
    if (plat_have_membarrier)
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
}

/* set_inactive — active = 0, and wake a stopper waiting for it. The light
 * fence orders the store before the load of `stw` (the same Dekker pairing
 * as on entry), so either the stopper sees 0 or we see its request. */
static inline void set_inactive(tc_mutator *m)
{
    atomic_store_explicit(&m->active, 0, memory_order_release);
    light_fence();
    if (__builtin_expect(atomic_load_explicit(&m->heap->stw, memory_order_relaxed), 0))
        mutator_wake_stopper(m);
}

/* depth_add — m->depth += d by its owner; returns the old depth. */
static inline int depth_add(tc_mutator *m, int d)
{
    int old = atomic_load_explicit(&m->depth, memory_order_relaxed);
    atomic_store_explicit(&m->depth, old + d, memory_order_relaxed);
    return old;
}

/* mutator_cached — this thread's mutator of h if h is in front of its TLS
 * cache, else NULL; no entry (mutator_try_enter's lookup). */
static inline __attribute__((always_inline)) tc_mutator *mutator_cached(tc_heap *h)
{
    tls_entry *e = &tc_tls_cache[0];
    if (__builtin_expect(e->heap != h || e->uid != h->uid, 0))
        return NULL;
    if (e->m == NULL) /* never: an entry for h is made with its mutator (mutator.c) */
        __builtin_unreachable();
    return e->m;
}

/* mutator_try_enter — mutator_enter's fast path alone, with no call in it,
 * for fast paths that want none (object.c, roots.c: a call on a branch that
 * rejoins costs the whole function its callee-saved registers). NULL with
 * nothing changed if h is not in front of the TLS cache; else this thread's
 * mutator, inside a heap call of h, with *back_out set if a pause is
 * requested, h is closed or the mutator is not listed (mutator.c): then
 * the caller may not use the heap, and calls mutator_back_out (out of
 * line, from its slow path) before going through mutator_enter. */
static inline __attribute__((always_inline)) tc_mutator *mutator_try_enter(tc_heap *h, bool *back_out)
{
    tc_mutator *m = mutator_cached(h);
    if (__builtin_expect(m == NULL, 0))
        return NULL;
    *back_out = false;
    if (depth_add(m, 1) == 0) {
        m->call_assist_ns = 0;
        atomic_store_explicit(&m->active, 1, memory_order_relaxed);
        light_fence();
        bool stop = (atomic_load_explicit(&h->stw, memory_order_acquire) |
                     atomic_load_explicit(&h->closed, memory_order_acquire)) != 0;
        /* `listed` after the acquire of stw, sequenced (mutator.c, step 2) */
        *back_out = stop | !atomic_load_explicit(&m->listed, memory_order_relaxed);
    }
    return m;
}

/* mutator_back_out — undo a mutator_try_enter that said back out. */
static inline void mutator_back_out(tc_mutator *m)
{
    depth_add(m, -1);
    set_inactive(m);
}

/* mutator_enter — start a heap call on this thread. Always inline: every
 * checked call begins with it, and out of line (gcc's choice in files with
 * many calls) the call and its frame cost a slot load or store ~15% more
 * instructions (benchmarks/binding_ir_py.sh). */
static inline __attribute__((always_inline)) tc_status mutator_enter(tc_heap *h, tc_mutator **out)
{
    bool back_out;
    tc_mutator *m = mutator_try_enter(h, &back_out);
    if (__builtin_expect(m != NULL && !back_out, 1)) {
        *out = m;
        return TC_OK;
    }
    if (m != NULL)
        mutator_back_out(m);
    return mutator_enter_slow(h, out);
}

/* mutator_leave — end a heap call. The flush of shaded addresses is out of
 * line (mutator_leave_flush, mutator.c) and ends the call itself, so the
 * only call left inline is set_inactive's last one. */
void mutator_leave_flush(tc_mutator *m);
static inline __attribute__((always_inline)) void mutator_leave(tc_mutator *m)
{
    int d = atomic_load_explicit(&m->depth, memory_order_relaxed);
    if (d != 1) {
        atomic_store_explicit(&m->depth, d - 1, memory_order_relaxed);
        return;
    }
    if (__builtin_expect(m->gbuf_n != 0, 0) && !planted(PLANT_GBUF_NO_FLUSH)) {
        mutator_leave_flush(m);
        return;
    }
    atomic_store_explicit(&m->depth, 0, memory_order_release); /* a closer may tear down from here */
    set_inactive(m);
}
#pragma GCC visibility pop
#endif
