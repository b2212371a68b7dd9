/*
 * roots_fast.h — making and releasing a handle root on a mutator's own free
 * list (roots.h: the table and the slot encoding; roots.c: the batches
 * traded with the global list). Inline because heap.new and every slot read
 * of a reference make one and every dropped handle releases one; the
 * batch trades (one in ROOT_BATCH calls) are out of line.
 *
 * Invariants: roots.h's. The calls run on m's owner, m active (inside a
 * heap call: barrier_on cannot change meanwhile, barrier.h), but for one:
 * tc_slot_get_owned's roots_try_new, under the host's lock, where a mark may
 * start between the test and the store (object.c says why that is safe).
 */
#ifndef TC_ROOTS_FAST_H
#define TC_ROOTS_FAST_H
#include "barrier.h"
#include "roots.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

bool roots_take_batch(tc_mutator *m); /* roots.c: false if the table cannot grow */
void roots_give_batch(tc_mutator *m); /* roots.c */

/* roots_new — a root for o (m active). */
static inline tc_status roots_new(tc_mutator *m, tc_obj *o, tc_root **out)
{
    if (__builtin_expect(!m->rfree, 0) && !roots_take_batch(m))
        return tc_fail(TC_ERR_NOMEM, "cannot grow the handle table");
    _Atomic uintptr_t *slot = (_Atomic uintptr_t *)m->rfree;
    m->rfree = root_next_free((uintptr_t)slot);
    m->nrfree--;
    if (__builtin_expect(barrier_on(m->heap), 0))
        barrier_root_new(m, o);
    atomic_store_explicit(slot, (uintptr_t)o, memory_order_release);
    mut_count(&m->roots_new);
    *out = (tc_root *)slot;
    return TC_OK;
}

/* roots_try_new — roots_new with no call in it: a root for o from m's own
 * list, or NULL with nothing changed when that would need a call (the list
 * is empty, or the barrier is on and shades o). m active, or m's owner
 * inside tc_slot_get_owned (object.c says why it may be inactive there). */
static inline tc_root *roots_try_new(tc_mutator *m, tc_obj *o)
{
    uintptr_t head = m->rfree; /* read once: barrier_on's atomic load would make it twice */
    if (__builtin_expect(!head || barrier_on(m->heap), 0))
        return NULL;
    _Atomic uintptr_t *slot = (_Atomic uintptr_t *)head;
    m->rfree = root_next_free(head);
    m->nrfree--;
    atomic_store_explicit(slot, (uintptr_t)o, memory_order_release);
    mut_count(&m->roots_new);
    return (tc_root *)slot;
}

/* roots_try_release — roots_release with no call in it: false with nothing
 * changed when it would need one (the barrier is on, or m's list is full
 * and gives a batch back). m active. */
static inline bool roots_try_release(tc_mutator *m, tc_root *r)
{
    if (__builtin_expect(barrier_on(m->heap) || m->nrfree + 1 >= 2 * ROOT_BATCH, 0))
        return false;
    _Atomic uintptr_t *slot = root_slot(r);
    atomic_store_explicit(slot, root_free_link(m->rfree), memory_order_release);
    m->rfree = (uintptr_t)slot;
    m->nrfree++;
    mut_count(&m->roots_del);
    return true;
}

/* roots_release — free root r (m active). */
static inline void roots_release(tc_mutator *m, tc_root *r)
{
    _Atomic uintptr_t *slot = root_slot(r);
    if (__builtin_expect(barrier_on(m->heap), 0))
        barrier_root_release(m, (tc_obj *)atomic_load_explicit(slot, memory_order_relaxed));
    atomic_store_explicit(slot, root_free_link(m->rfree), memory_order_release);
    m->rfree = (uintptr_t)slot;
    m->nrfree++;
    mut_count(&m->roots_del);
    if (__builtin_expect(m->nrfree >= 2 * ROOT_BATCH, 0))
        roots_give_batch(m);
}
#pragma GCC visibility pop
#endif
