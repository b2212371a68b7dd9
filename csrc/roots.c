/*
 * roots.c — the handle table: every live host handle owns one root slot.
 *
 * Slots live in chunks of ROOT_CHUNK words that never move (so a tc_root*
 * is a stable address); roots.h gives the slot encoding (live, free link,
 * freed) and the only helpers that read or write it. Creating and
 * releasing are O(1): each mutator keeps a private free list and trades
 * batches of ROOT_BATCH slots with the global list under roots_lock, so
 * the common case takes no lock.
 *
 * Invariants: roots.h's. Handle scanning (mark_push_handles, markroots.c)
 * does NOT stop the world: it reads every slot of every chunk concurrently
 * with mutators that create and release handles: each slot is one atomic
 * word, and barrier.c says why a slot that changes while the
 * table is scanned loses no object (hybrid and Yuasa shade on handle
 * release, hybrid on creation too; Dijkstra re-scans at termination).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "roots_fast.h"
#include "record.h"
#include "check.h"

/* chunk_carve — up to `want` never-used slots of the newest chunk (a new
 * chunk if it has none left), linked as a free list ending in 0; returns
 * its head and sets *tail and *n, or 0 if there is no memory for a chunk.
 * The chunk's `used` mark covers them before anyone can hold them (see
 * roots.h). roots_lock held. */
static uintptr_t chunk_carve(tc_heap *h, uint32_t want, uintptr_t *tail, uint32_t *n)
{
    root_chunk *c = h->root_chunks;
    if (!c || atomic_load_explicit(&c->used, memory_order_relaxed) == ROOT_CHUNK) {
        if (!(c = plat_calloc(1, sizeof *c)))
            return 0;
        c->next = h->root_chunks;
        h->root_chunks = c;
    }
    uint32_t used = atomic_load_explicit(&c->used, memory_order_relaxed);
    *n = want < ROOT_CHUNK - used ? want : ROOT_CHUNK - used;
    for (uint32_t i = used; i < used + *n; i++) {
        uintptr_t next = i + 1 < used + *n ? (uintptr_t)&c->slot[i + 1] : 0;
        atomic_store_explicit(&c->slot[i], root_free_link(next), memory_order_relaxed);
    }
    atomic_store_explicit(&c->used, used + *n, memory_order_release);
    *tail = (uintptr_t)&c->slot[used + *n - 1];
    return (uintptr_t)&c->slot[used];
}

/* roots_take_batch — move up to ROOT_BATCH free slots from the global list
 * (or never-used ones, when it is empty) to m's list. */
bool roots_take_batch(tc_mutator *m)
{
    tc_heap *h = m->heap;
    plat_lock(&h->roots_lock);
    uintptr_t head = h->root_free, tail = head;
    uint32_t n = 1;
    if (!head) {
        head = chunk_carve(h, ROOT_BATCH, &tail, &n);
    } else {
        while (n < ROOT_BATCH && root_next_free(tail)) {
            tail = root_next_free(tail);
            n++;
        }
        h->root_free = root_next_free(tail);
    }
    pthread_mutex_unlock(&h->roots_lock);
    if (!head)
        return false;
    atomic_store_explicit((_Atomic uintptr_t *)tail, root_free_link(m->rfree), memory_order_relaxed);
    m->rfree = head;
    m->nrfree += n;
    return true;
}

/* roots_give_batch — return ROOT_BATCH slots of m's list to the global list. */
void roots_give_batch(tc_mutator *m)
{
    tc_heap *h = m->heap;
    uintptr_t head = m->rfree, tail = head;
    for (uint32_t n = 1; n < ROOT_BATCH; n++)
        tail = root_next_free(tail);
    m->rfree = root_next_free(tail);
    m->nrfree -= ROOT_BATCH;
    plat_lock(&h->roots_lock);
    atomic_store_explicit((_Atomic uintptr_t *)tail, root_free_link(h->root_free), memory_order_relaxed);
    h->root_free = head;
    pthread_mutex_unlock(&h->roots_lock);
}

/* roots_new_global — a root made outside any mutator (the sweeper queuing a
 * finalizer): from the global free list, counted in roots_global. */
tc_status roots_new_global(tc_heap *h, tc_obj *o, tc_root **out)
{
    plat_lock(&h->roots_lock);
    uintptr_t tail;
    uint32_t n;
    if (!h->root_free && !(h->root_free = chunk_carve(h, 1, &tail, &n))) {
        pthread_mutex_unlock(&h->roots_lock);
        return tc_fail(TC_ERR_NOMEM, "cannot grow the handle table");
    }
    _Atomic uintptr_t *slot = (_Atomic uintptr_t *)h->root_free;
    h->root_free = root_next_free((uintptr_t)slot);
    atomic_store_explicit(slot, (uintptr_t)o, memory_order_release);
    pthread_mutex_unlock(&h->roots_lock);
    atomic_fetch_add(&h->roots_global, 1);
    *out = (tc_root *)slot;
    return TC_OK;
}

void roots_free_all(tc_heap *h)
{
    while (h->root_chunks) {
        root_chunk *c = h->root_chunks;
        h->root_chunks = c->next;
        free(c);
    }
    h->root_free = 0;
}

/* ---- public ---- */

tc_status tc_root_new(tc_heap *h, tc_obj *o, tc_root **out)
{
    tc_mutator *m;
    tc_status st = mutator_enter(h, &m);
    if (st != TC_OK)
        return st;
    arena *a = o && !((uintptr_t)o & 7) ? arena_of((uintptr_t)o) : NULL;
    if (o && root_val_freed((uintptr_t)o))
        st = tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    else if (!a || a->heap != h)
        st = tc_fail(TC_ERR_CROSS_HEAP, "the object does not belong to this heap");
    else if (!is_object(a, (uintptr_t)o))
        st = tc_fail(TC_ERR_VALUE, "%#" PRIxPTR " is not the address of an object", (uintptr_t)o);
    else if (obj_freed(o))
        st = tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    else
        st = roots_new(m, o, out);
    mutator_leave(m);
    return st;
}

/* root_release_slow — tc_root_release but for its fast path: `m` is what
 * mutator_try_enter returned, `entered` whether the call may go on in it
 * (else it backs out, if m is not NULL, and enters through mutator_enter). */
static __attribute__((noinline)) void root_release_slow(tc_mutator *m, bool entered, tc_heap *h, tc_root *r)
{
    if (!entered) {
        if (m)
            mutator_back_out(m);
        if (mutator_enter(h, &m) != TC_OK)
            return;
    }
    if (rec_on(h))
        rec_release(h, r);
    roots_release(m, r);
    mutator_leave(m);
}

/* tc_root_release — fast path: unrecorded, onto m's own list with no call
 * (roots_try_release); every other case a tail call, so that the fast path
 * keeps no callee-saved register (every dropped handle comes here). */
void tc_root_release(tc_heap *h, tc_root *r)
{
    if (!r)
        return;
    bool back_out;
    tc_mutator *m = mutator_try_enter(h, &back_out);
    if (__builtin_expect(m == NULL || back_out, 0)) {
        root_release_slow(m, false, h, r);
        return;
    }
    if (__builtin_expect(rec_on(h) || !roots_try_release(m, r), 0)) {
        root_release_slow(m, true, h, r);
        return;
    }
    mutator_leave(m);
}

/* roots_release_chain — roots_release of each non-NULL root of r[0..n)
 * (m active, the barrier off: no shade is due, and it cannot turn on while
 * m is active): the slots are linked into one chain, spliced onto the front
 * of m's list, and the counters move once; a list grown past two batches
 * gives batches back, as roots_release does. Each slot's word changes in
 * one atomic store, as roots_release's (roots.h). */
static void roots_release_chain(tc_mutator *m, tc_root *const *r, size_t n)
{
    uintptr_t head = m->rfree;
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i])
            continue;
        _Atomic uintptr_t *slot = root_slot(r[i]);
        atomic_store_explicit(slot, root_free_link(head), memory_order_release);
        head = (uintptr_t)slot;
        k++;
    }
    m->rfree = head;
    m->nrfree += k;
    atomic_store_explicit(&m->roots_del, atomic_load_explicit(&m->roots_del, memory_order_relaxed) + k,
                          memory_order_relaxed);
    while (m->nrfree >= 2 * ROOT_BATCH)
        roots_give_batch(m);
}

/* roots_release_batch — tc_root_release_n's heap call for roots[0..k),
 * k <= ROOT_BATCH; false if h is closed (nothing released). Inside the
 * call barrier_on cannot change: with it on (or a recording running) each
 * root takes roots_release's shade (and rec_release), else one chain
 * (roots_release_chain). Its own function, not the body of
 * tc_root_release_n's loop: gcc 12 -O1 with UBSan's null check compiled
 * the loop's inlined TLS lookup into a null report (test-asan). */
static bool roots_release_batch(tc_heap *h, tc_root *const *roots, size_t k)
{
    tc_mutator *m;
    if (mutator_enter(h, &m) != TC_OK)
        return false;
    bool rec = rec_on(h);
    if (__builtin_expect(barrier_on(h) || rec, 0)) {
        for (size_t j = 0; j < k; j++)
            if (roots[j]) {
                if (rec)
                    rec_release(h, roots[j]);
                roots_release(m, roots[j]);
            }
    } else {
        roots_release_chain(m, roots, k);
    }
    mutator_leave(m);
    return true;
}

/* tc_root_release_n — tc_root_release of each of roots[0..n), in heap
 * calls of at most ROOT_BATCH roots each (roots_release_batch): a host that
 * holds back the roots of dropped handles (the Python binding,
 * _tricolor_obj.c) pays one entry and one leave per batch, not one per
 * root. The bound keeps a pause's wait for one call as short as one batch. */
void tc_root_release_n(tc_heap *h, tc_root *const *roots, size_t n)
{
    for (size_t i = 0; i < n; i += ROOT_BATCH)
        if (!roots_release_batch(h, roots + i, n - i > ROOT_BATCH ? ROOT_BATCH : n - i))
            return; /* closed: nothing to release */
}

/* roots_debug_visited — the test hook of check.h. */
uint64_t roots_debug_visited(tc_heap *h) { return atomic_load(&h->roots_visited); }

/* roots_each — visit every root, the world stopped: each live handle (with
 * its slot, so a caller can tell one handle apart), each mutator's locals,
 * each object with a finalizer, in that order; stops at the first visit
 * that returns false, and returns false then. The handle-slot encoding
 * (free `|1`, freed `|2`) is read here, not by the callers. */
bool roots_each(tc_heap *h, roots_visit visit, void *arg)
{
    bool ok = true;
    plat_lock(&h->roots_lock);
    root_chunk *first = h->root_chunks;
    pthread_mutex_unlock(&h->roots_lock);
    for (root_chunk *k = first; k && ok; k = k->next)
        for (size_t i = 0; i < ROOT_CHUNK && ok; i++) {
            uintptr_t p = atomic_load_explicit(&k->slot[i], memory_order_relaxed);
            if (root_val_live(p))
                ok = visit(arg, p, (const tc_root *)&k->slot[i], TC_ROOT_HANDLE);
        }
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m && ok; m = m->next)
        for (size_t i = 0; i < m->nlocals && ok; i++)
            if (m->locals[i])
                ok = visit(arg, (uintptr_t)m->locals[i], NULL, TC_ROOT_LOCAL);
    pthread_mutex_unlock(&h->mut_lock);
    plat_lock(&h->special_lock);
    for (special *sp = h->specials; sp && ok; sp = sp->all_next)
        if (sp->kind == SP_FINALIZER)
            ok = visit(arg, sp->obj, NULL, TC_ROOT_FINALIZER);
    pthread_mutex_unlock(&h->special_lock);
    return ok;
}
