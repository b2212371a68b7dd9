/*
 * mutator.h — the inline fast paths of a heap call: entering (the thread's
 * mutator is in front of its TLS cache, no pause is requested, the heap is
 * open) and leaving. Everything else is mutator.c's. Included by heap.h.
 *
 * Invariants: `active` and `depth` are written only by the owning thread
 * (depth with plain loads and stores: a closing thread reads it); a
 * thread's depth > 0 exactly while it is inside a heap call (calls nest),
 * and the outermost leave has finished with the heap's memory (flushed its
 * grey buffer) before it stores depth = 0 with release order.
 */
#ifndef TC_MUTATOR_H
#define TC_MUTATOR_H
#include "plant.h"
#include "platform.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

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

/* mutator_enter — start a heap call on this thread. */
static inline tc_status mutator_enter(tc_heap *h, tc_mutator **out)
{
    tls_entry *e = &tc_tls_cache[0];
    if (__builtin_expect(e->heap != h || e->uid != h->uid, 0))
        return mutator_enter_slow(h, out);
    tc_mutator *m = e->m;
    if (depth_add(m, 1) == 0) {
        m->call_assist_ns = 0;
        atomic_store_explicit(&m->active, 1, memory_order_relaxed);
        light_fence();
        if (__builtin_expect(atomic_load_explicit(&h->stw, memory_order_acquire) |
                                 atomic_load_explicit(&h->closed, memory_order_acquire), 0)) {
            depth_add(m, -1);
            set_inactive(m);
            return mutator_enter_slow(h, out);
        }
    }
    *out = m;
    return TC_OK;
}

static inline void mutator_leave(tc_mutator *m)
{
    int d = atomic_load_explicit(&m->depth, memory_order_relaxed);
    if (d == 1) {
        if (__builtin_expect(m->gbuf_n != 0, 0) && !planted(PLANT_GBUF_NO_FLUSH))
            grey_flush_mutator(m);
        atomic_store_explicit(&m->depth, 0, memory_order_release); /* a closer may tear down from here */
        set_inactive(m);
    } else {
        atomic_store_explicit(&m->depth, d - 1, memory_order_relaxed);
    }
}
#pragma GCC visibility pop
#endif
