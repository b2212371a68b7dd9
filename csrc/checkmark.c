/*
 * checkmark.c — the stop-the-world mark: the stw collector's mark, and the
 * checkmark's re-mark into a second bitmap (check.c compares the two).
 *
 * Invariants:
 *  - the world is stopped: no mutator runs, no other marker is counted, so
 *    the marker marks alone with plain stores (drain.c's stop-the-world
 *    loop, no validation);
 *  - a checkmark writes only check bits and counts nothing: the real
 *    mark's bits and byte counts are untouched;
 *  - mark_heap returns only when the grey queue is empty and no candidate
 *    was dropped (grey_overflow clear), or false having marked nothing.
 */
#include "markctx.h"
#include "plant.h"
#include "platform.h"

/* mark_check_bitmap — make sure every arena has its check bitmap: the
 * checkmark's bits, and the mid-mark checker's scratch (check.c). Zero
 * whenever no check runs; mapped lazily, so it costs address space until
 * first used. */
bool mark_check_bitmap(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        if (!a->checkbits && !(a->checkbits = plat_map_lazy(a->size / 64)))
            return false;
    }
    return true;
}

/* mark_heap — mark everything reachable from the roots, world stopped, into
 * the mark bits (or with `check` the checkmark bits). false if there was no
 * memory for the marker (or the check bitmap): then nothing was marked. */
bool mark_heap(tc_heap *h, bool check)
{
    if (check && !mark_check_bitmap(h))
        return false;
    markctx *c = mark_new(h, false, check);
    if (!c)
        return false;
    mark_push_handles(c);
    mark_push_locals(c);
    special_push_finalizer_roots(c);
    mark_drain(c, -1);
    while (atomic_exchange(&h->grey_overflow, 0)) { /* candidates were dropped: markroots.c */
        mark_rescan_locals(c);
        mark_rescan(c);
        mark_drain(c, -1);
    }
    if (check)
        c->marked_objects = 0; /* the real count is the real mark's */
    mark_free(c);
    return true;
}

/* mark_keep_all — every allocated object counts as marked: a stop-the-world
 * cycle that could not mark sweeps nothing rather than everything. */
void mark_keep_all(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        size_t words = (atomic_load(&a->frontier) << TC_PAGE_SHIFT) >> 9;
        for (size_t w = 0; w < words; w++)
            atomic_fetch_or_explicit(&a->bits[w].mark, atomic_load_explicit(&a->bits[w].alloc, memory_order_relaxed),
                                     memory_order_relaxed);
    }
}
