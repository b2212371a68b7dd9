/*
 * barrier.h — the write barrier's fast path (inline) and the shade
 * operation; the slow paths and the invariants are in barrier.c.
 *
 * Invariants: barrier_on is set and cleared only with the world stopped,
 * so a mutator sees one value for a whole heap call; while it is on, every
 * slot store and every handle creation/release by a mutator goes through
 * barrier_store_slow / barrier_root_*, but for a handle tc_slot_get_owned
 * makes outside a heap call as the mark starts (object.c: harmless).
 */
#ifndef TC_BARRIER_H
#define TC_BARRIER_H
#include "heap.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* mut_count — add 1 to a counter of m's that only m's owner writes (a
 * relaxed load and store: no locked instruction; stats reads it relaxed). */
static inline void mut_count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* shade — make p grey unless it is already marked: add it to the mutator's
 * grey buffer (the marker tests and sets the mark bit). Counted in
 * barrier_shaded (an object may be counted by two mutators that shade it
 * before the marker sets its bit: the count is of greyings, an upper bound
 * on the objects). */
static inline void shade(tc_mutator *m, uintptr_t p)
{
    arena *a = arena_of(p);
    /* black bit first: a value stored during mark is most often an object
     * this mutator just allocated (its black word is in this core's cache),
     * while mark words are the markers' and live in the other core's */
    if (!a || bit_test(a->blackbits, a, p) || mark_test(a, p))
        return; /* already black: allocated during this mark, or marked */
    mut_count(&m->barrier_shaded);
    m->gbuf[m->gbuf_n++] = p;
    if (__builtin_expect(m->gbuf_n == MUT_GBUF, 0))
        grey_flush_mutator(m);
}

static inline bool barrier_on(const tc_heap *h)
{
    return atomic_load_explicit(&((tc_heap *)h)->barrier_on, memory_order_relaxed) != 0;
}

void barrier_store_slow(tc_mutator *m, tc_obj *o, size_t i, tc_value v);
void barrier_shades(tc_mutator *m, tc_value old, tc_value v); /* what a store of v over old shades */
void barrier_root_new(tc_mutator *m, tc_obj *o);
void barrier_root_release(tc_mutator *m, tc_obj *o);

/* barrier_store — store v into slot i of o, through the barrier when on. */
static inline void barrier_store(tc_mutator *m, tc_obj *o, size_t i, tc_value v)
{
    if (__builtin_expect(barrier_on(m->heap), 0))
        barrier_store_slow(m, o, i, v);
    else
        slot_write_raw(o, i, v);
}

/* barrier_store_checked — barrier_store for a checked call (tc_slot_set):
 * the slot is locked for the store (obj.h), so concurrent stores into it
 * take turns and the deletion shade sees exactly the value it overwrites. */
static inline void barrier_store_checked(tc_mutator *m, tc_obj *o, size_t i, tc_value v)
{
    uint8_t old = slot_lock(o, i);
    if (__builtin_expect(barrier_on(m->heap), 0))
        barrier_shades(m, word_value(old & TAG_KIND, atomic_load_explicit(&obj_words(o)[i], memory_order_relaxed)),
                       v);
    slot_publish(o, i, old, v);
}
#pragma GCC visibility pop
#endif
