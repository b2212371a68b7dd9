/*
 * markroots.c — what marking starts from: handles, local roots (and
 * finalizer roots: special.c), and the rescan that recovers candidates
 * dropped for want of memory.
 *
 * Out of memory. When no work buffer can be allocated, grey_put drops the
 * candidates and sets h->grey_overflow (bdwgc's mark-stack overflow; a
 * marker whose stack cannot grow hands its candidate to grey_put). The
 * mark may then not end: every dropped candidate was a root, a child of a
 * marked or black object, or an object a barrier shaded, which is reachable
 * only through such an object, a root or not at all (the barrier's
 * argument, barrier.c). So mark termination (or mark_heap) re-pushes every
 * unmarked root and every unmarked child of every marked or black object
 * (mark_rescan) and marks on; whatever was dropped is reached again. Each
 * round marks at least one more object if any is reachable and unmarked
 * (only unmarked candidates are pushed, and a marker's first stack chunk
 * always exists), so the rounds end even if memory never comes back.
 *
 * Invariants:
 *  - a root is pushed as a candidate, never marked here (drain.c marks);
 *  - in a rescan (c->rescan) only roots and children not marked yet are
 *    pushed, so each round pushes nothing twice and ends;
 *  - the handle table's slot encoding is read through roots.h only.
 */
#include <string.h>

#include "markctx.h"
#include "roots.h"
#include "special.h"
#include "plant.h"
#include "platform.h"

/* marked — is p already marked in the bits c marks into? */
static bool marked(const markctx *c, uintptr_t p)
{
    arena *a = arena_of(p);
    return a && (c->check ? bit_test(a->checkbits, a, p) : mark_test(a, p));
}

/* push_root — a root, unless mark_rescan runs and it is marked already. */
static inline void push_root(markctx *c, uintptr_t p)
{
    if (!c->rescan || !marked(c, p))
        push(c, p);
}

/* rescan_children — push p's referents that are not marked yet (scan
 * skips marked ones only for the real mark). */
static void rescan_children(markctx *c, uintptr_t p)
{
    const tc_obj *o = (const tc_obj *)p;
    for (uint32_t i = 0; i < obj_nslots(o); i++) {
        if ((atomic_load_explicit(&obj_tags(o)[i], memory_order_acquire) & TAG_KIND) != TC_REF)
            continue;
        uintptr_t q = atomic_load_explicit(&obj_words(o)[i], memory_order_relaxed);
        if (arena_of(q) && !marked(c, q))
            push(c, q);
    }
}

void mark_push_children(markctx *c, uintptr_t p)
{
    if (c->rescan)
        rescan_children(c, p);
    else
        scan(c, p);
}

#define RESCAN_AHEAD 16 /* handle slots a re-scan reads ahead, to fetch their mark-bit words */

/* prefetch_mark — a re-scan tests the mark bit of slot word v
 * RESCAN_AHEAD slots later: start loading that bitmap word now (the words
 * of random objects miss the cache, and one miss at a time would make the
 * Dijkstra termination's re-scan a memory round trip per handle). */
static inline void prefetch_mark(const markctx *c, uintptr_t v)
{
    arena *a = root_val_live(v) ? arena_of(v) : NULL;
    uint64_t bit;
    if (a)
        __builtin_prefetch(c->check ? (const void *)bit_word(a->checkbits, a, v, &bit) : (const void *)mark_word(a, v, &bit));
}

/* mark_push_handles — every live handle; safe while mutators create and
 * release handles (barrier.c says why). A handle to an object freed with
 * tc_obj_free gets the freed bit here and marks nothing (special.c): only
 * while such objects wait, and then one header load per handle. */
void mark_push_handles(markctx *c)
{
    tc_heap *h = c->h;
    bool freed = atomic_load(&h->freed_pending) != 0;
    plat_lock(&h->roots_lock);
    root_chunk *first = h->root_chunks;
    pthread_mutex_unlock(&h->roots_lock);
    for (root_chunk *k = first; k; k = k->next) {
        /* only the slots ever handed out (roots.h): a slot taken after this
         * load is one made during the walk, which barrier.c covers */
        size_t used = atomic_load_explicit(&k->used, memory_order_acquire);
        atomic_fetch_add_explicit(&h->roots_visited, used, memory_order_relaxed);
        if (planted(PLANT_ROOTS_SKIP_LAST) && used)
            used--;
        for (size_t i = 0; i < used; i++) {
            if (c->rescan && i + RESCAN_AHEAD < used)
                prefetch_mark(c, atomic_load_explicit(&k->slot[i + RESCAN_AHEAD], memory_order_relaxed));
            uintptr_t v = atomic_load_explicit(&k->slot[i], memory_order_acquire);
            if (!root_val_live(v)) /* never used, a free link, a freed object */
                continue;
            if (freed && obj_freed((const tc_obj *)v)) /* a released slot keeps its new value */
                root_mark_freed(&k->slot[i], v);
            else
                push_root(c, v);
        }
    }
}

/* mark_push_locals — every mutator's local roots (world stopped): the
 * listed mutators' (mutator.c: an unlisted one holds none), so idle
 * threads cost nothing. The list is only pushed at its head meanwhile. */
void mark_push_locals(markctx *c)
{
    tc_heap *h = c->h;
    for (tc_mutator *m = atomic_load_explicit(&h->enterq, memory_order_acquire); m; m = m->enter_next) {
        atomic_fetch_add_explicit(&h->stop_visited, 1, memory_order_relaxed);
        for (size_t i = 0; i < m->nlocals; i++)
            if (m->locals[i])
                push_root(c, (uintptr_t)m->locals[i]);
    }
}

/* rescan_arena — the unmarked children of every marked (for the real
 * mark: or black) object of arena a. Only reads: safe beside mutators and
 * markers (an object's header is written before its alloc bit, released). */
static void rescan_arena(markctx *c, arena *a)
{
    size_t words = (atomic_load_explicit(&a->frontier, memory_order_acquire) << TC_PAGE_SHIFT) >> 9;
    for (size_t w = 0; w < words; w++) {
        uint64_t live = atomic_load_explicit(c->check ? &a->checkbits[w] : &a->bits[w].mark, memory_order_relaxed);
        if (!c->check)
            live |= atomic_load_explicit(&a->blackbits[w], memory_order_relaxed);
        for (uint64_t bits = live & atomic_load_explicit(&a->bits[w].alloc, memory_order_acquire); bits;
             bits &= bits - 1)
            rescan_children(c, a->base + ((w * 64 + (size_t)__builtin_ctzll(bits)) << 3));
    }
}

/* mark_rescan_locals, mark_rescan — after candidates were dropped (see the
 * top): every unmarked local (world stopped), and every unmarked handle,
 * finalizer root and child of a marked or black object (safe beside
 * mutators: it only reads). */
void mark_rescan_locals(markctx *c)
{
    c->rescan = true;
    mark_push_locals(c);
    c->rescan = false;
}

/* mark_rescan_roots — the Dijkstra termination's re-scan (world stopped,
 * every marker stopped and flushed): every root not marked yet. A marked
 * root needs nothing: its marker scanned it when it set the bit (drain.c),
 * so its referents are marked or grey. Pushing only the unmarked ones keeps
 * the termination's drain to what the re-scan really found; a marked root
 * costs its mark-bit load here instead of a push and a pop. */
void mark_rescan_roots(markctx *c)
{
    c->rescan = true;
    mark_push_handles(c);
    mark_push_locals(c);
    special_push_finalizer_roots(c);
    c->rescan = false;
}

void mark_rescan(markctx *c)
{
    tc_heap *h = c->h;
    arena *as[TC_MAX_ARENAS];
    c->rescan = true;
    mark_push_handles(c);
    special_push_finalizer_roots(c);
    plat_lock(&h->lock); /* arenas are added under it */
    int n = h->narenas;
    memcpy(as, h->arenas, (size_t)n * sizeof *as);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < n; i++)
        rescan_arena(c, as[i]);
    c->rescan = false;
}
