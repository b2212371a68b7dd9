/*
 * special.c — finalizers, cleanups, weak references, pins, and the unsafe
 * free: everything that attaches a record to one object (Go's "specials").
 *
 * A special lives on its object's span's list and on the heap's list of all
 * specials, both under special_lock. The collector meets them twice:
 *
 *  - During mark, the referents of every object with a finalizer are pushed
 *    as roots (the object itself is not marked). So everything a finalizer
 *    could see stays alive, and if A references B and both have finalizers, B
 *    is marked through A and only A's finalizer is due this cycle (B's in a
 *    later one, as in Go). A cycle of finalizable objects marks itself and is
 *    never collected (as in Go: documented).
 *
 *  - When a span is swept (special_sweep, before its bits), each special of an
 *    object that is neither marked nor black decides the object's fate:
 *      weak       cleared (first, so a resurrected object's weak refs stay cleared);
 *      finalizer  the object is resurrected (its mark bit set, so this sweep
 *                 keeps it), the finalizer is queued with a new root that keeps
 *                 the object alive until the host has run it, and the record is
 *                 dropped (it runs once);
 *      cleanup    queued, unless a finalizer resurrected the object this time
 *                 (then it waits for the object's real death);
 *      freed      (tc_obj_free) the object's alloc bit is cleared, so this
 *                 sweep does not count it again and its slot is free.
 *    A sweep allocates nothing for this: a finalizer's or cleanup's queue
 *    record is made with its special (where TC_ERR_NOMEM can still be
 *    returned); only a finalizer's root may find no memory, and then the
 *    object stays alive with its finalizer, due again next cycle.
 *
 * The unsafe free. tc_obj_free cannot find the handles to an object without
 * walking the whole handle table, and must not do that with the world
 * stopped (the pause would grow with the handles). So it marks the object
 * instead: its header becomes "freed" (obj.h), which every use of a handle
 * checks (tc_root_freed), its counters move at once, and a SP_FREED special
 * keeps its memory allocated (quarantined: no new object can take its
 * place while a handle still holds its plain address). The next cycle's
 * root scan, which walks every handle anyway, gives each handle to a freed
 * object the freed bit and does not mark through it; that cycle's sweep
 * then takes the memory back, unless something still references the object
 * (the caller's bug, which verify reports): it stays quarantined, marked,
 * for as long as that lasts, so a dangling reference never reaches reused
 * memory. No handle to it can appear after the scan: tc_root_new and stores
 * refuse a freed object; a slot read that finds one (that bug again) makes a
 * root the hybrid barrier shades, the Dijkstra termination re-scan marks
 * freed, and a Yuasa snapshot keeps through the slot it was read from.
 *
 * Weak get and the sweep agree through special_lock and the span's sweepgen:
 * a get of a target in a span that is not swept yet returns nothing if the
 * target is unmarked (it is dead: the sweep is about to clear the reference),
 * and a get during mark shades the target (golang/go#69210).
 *
 * The lock-free skip. special_sweep reads a span's has_specials without
 * special_lock and, seeing 0, sweeps (and may free: pages_free rewrites the
 * span map and recycles the span struct) without taking the lock. Whoever
 * unlinked the span's last special held special_lock, had read the span
 * map to find the span (span_of_obj) and wrote s->specials; only the 0 it
 * stores orders those before the sweep's writes. So that store is a
 * release and the sweep's load an acquire (with both relaxed, fuzz_tsan
 * seed 4 saw tc_weak_release's span_of race with pages_free; test_special.c
 * weak_release_then_sweep_frees_the_span replays it). If the sweep frees
 * the span, the 0 it read is that last unlinker's: earlier unlinkers handed
 * special_lock on to it, and no special was added since, for specials are
 * only added to objects a mutator holds, which were live at mark
 * termination and keep their span this sweep. A stale 0 (from before such
 * an add) thus skips only specials of kept objects; a stale 1 takes the
 * lock and finds the list empty.
 *
 * Nothing here calls the host: due callbacks wait in the ready queue until the
 * host takes them (tc_take_ready) on a thread of its choosing.
 */
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "mark.h"
#include "roots_fast.h"
#include "platform.h"
#include "record.h"
#include "roots.h"
#include "special.h"

static span *span_of_obj(uintptr_t p)
{
    arena *a = arena_of(p);
    return a ? span_of(a, p) : NULL;
}

static bool obj_live_bits(uintptr_t p)
{
    arena *a = arena_of(p);
    return mark_test(a, p) || bit_test(a->blackbits, a, p);
}

/* special_add — a new special for object p (special_lock held); NULL if
 * out of memory. A finalizer or cleanup gets its queue record now, when
 * the caller can still report TC_ERR_NOMEM: the sweep that queues it
 * cannot. */
static special *special_add(tc_heap *h, uintptr_t p, int kind)
{
    special *sp = plat_calloc(1, sizeof *sp);
    if (sp && (kind == SP_FINALIZER || kind == SP_CLEANUP) && !(sp->rd = plat_malloc(sizeof *sp->rd))) {
        free(sp);
        sp = NULL;
    }
    if (!sp)
        return NULL;
    span *s = span_of_obj(p);
    sp->obj = p;
    sp->kind = (uint8_t)kind;
    sp->next = s->specials;
    s->specials = sp;
    atomic_store_explicit(&s->has_specials, 1, memory_order_relaxed);
    sp->all_next = h->specials;
    if (h->specials)
        h->specials->all_prev = sp;
    h->specials = sp;
    if (kind == SP_FINALIZER)
        h->nfinalizers++;
    return sp;
}

/* special_unlink — remove sp from both lists and free it (special_lock). */
static void special_unlink(tc_heap *h, span *s, special *sp)
{
    for (special **pp = &s->specials; *pp; pp = &(*pp)->next)
        if (*pp == sp) {
            *pp = sp->next;
            break;
        }
    if (!s->specials) /* release: the top ("The lock-free skip") */
        atomic_store_explicit(&s->has_specials, 0, memory_order_release);
    if (sp->all_prev)
        sp->all_prev->all_next = sp->all_next;
    else
        h->specials = sp->all_next;
    if (sp->all_next)
        sp->all_next->all_prev = sp->all_prev;
    if (sp->kind == SP_FINALIZER)
        h->nfinalizers--;
    if (sp->kind == SP_WEAK && sp->weak) {
        atomic_store(&sp->weak->obj, 0);
        sp->weak->sp = NULL;
    }
    free(sp->rd);
    free(sp);
}

static special *special_find(span *s, uintptr_t p, int kind)
{
    for (special *sp = s->specials; sp; sp = sp->next)
        if (sp->obj == p && sp->kind == kind)
            return sp;
    return NULL;
}

/* ready_push — queue sp's callback with the record it was made with. */
static void ready_push(tc_heap *h, special *sp, tc_ready_kind kind, tc_root *root)
{
    ready *r = sp->rd;
    sp->rd = NULL;
    r->next = NULL;
    r->kind = kind;
    r->token = sp->token;
    r->root = root;
    if (h->ready_tail)
        h->ready_tail->next = r;
    else
        h->ready_head = r;
    h->ready_tail = r;
    atomic_fetch_add(&h->nready, 1);
}

/* special_push_finalizer_roots — push the referents of every finalizable
 * object (mark phase, any thread that marks). */
void special_push_finalizer_roots(markctx *c)
{
    tc_heap *h = mark_owner(c);
    plat_lock(&h->special_lock);
    for (special *sp = h->specials; sp; sp = sp->all_next)
        if (sp->kind == SP_FINALIZER)
            mark_push_children(c, sp->obj);
    pthread_mutex_unlock(&h->special_lock);
}

/* special_sweep — decide the fate of the specials of span s, which the
 * caller has claimed for sweeping (its bits not yet swept). Most spans
 * have none: has_specials is looked at without special_lock (the top says
 * why a 0 seen there is safe to act on). */
void special_sweep(tc_heap *h, span *s)
{
    uint64_t gen = atomic_load(&h->sweepgen);
    if (!atomic_load_explicit(&s->has_specials, memory_order_acquire)) { /* the top: the lock-free skip */
        atomic_store(&s->sweepgen, gen);
        return;
    }
    plat_lock(&h->special_lock);
    for (special *sp = s->specials; sp; sp = sp->next)
        sp->dead = !obj_live_bits(sp->obj);
    /* weak references first: cleared before any finalizer can resurrect */
    for (special *sp = s->specials, *next; sp; sp = next) {
        next = sp->next;
        if (sp->dead && (sp->kind == SP_WEAK || sp->kind == SP_PIN))
            special_unlink(h, s, sp);
    }
    arena *a = arena_of(s->base);
    for (special *sp = s->specials, *next; sp; sp = next) {
        next = sp->next;
        if (!sp->dead || sp->kind != SP_FINALIZER)
            continue;
        uint64_t bit;
        _Atomic uint64_t *w = mark_word(a, sp->obj, &bit);
        atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | bit, memory_order_relaxed);
        for (special *o = s->specials; o; o = o->next) /* it lives on this cycle */
            if (o->obj == sp->obj)
                o->dead = 0;
        tc_root *root = NULL;
        if (roots_new_global(h, (tc_obj *)sp->obj, &root) != TC_OK)
            continue; /* no memory for its root: it stays, finalizable, and is due again next cycle */
        ready_push(h, sp, TC_READY_FINALIZER, root);
        special_unlink(h, s, sp);
    }
    for (special *sp = s->specials, *next; sp; sp = next) {
        next = sp->next;
        if (sp->dead && sp->kind == SP_CLEANUP) {
            ready_push(h, sp, TC_READY_CLEANUP, NULL);
            special_unlink(h, s, sp);
        } else if (sp->dead && sp->kind == SP_FREED) {
            /* no handle names it any more (this cycle's root scan marked
             * them freed) and nothing marked it: take it back, uncounted
             * (tc_obj_free counted it). The sweeper owns the span's bits. */
            uint64_t bit;
            _Atomic uint64_t *w = alloc_word(a, sp->obj, &bit);
            atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) & ~bit, memory_order_relaxed);
            atomic_fetch_sub(&h->freed_pending, 1);
            special_unlink(h, s, sp);
        }
    }
    atomic_store(&s->sweepgen, gen);
    pthread_mutex_unlock(&h->special_lock);
}

void special_free_all(tc_heap *h)
{
    plat_lock(&h->special_lock);
    while (h->specials) {
        special *sp = h->specials;
        h->specials = sp->all_next;
        if (sp->kind == SP_WEAK && sp->weak) {
            atomic_store(&sp->weak->obj, 0);
            sp->weak->sp = NULL;
        }
        free(sp->rd);
        free(sp);
    }
    h->nfinalizers = 0;
    while (h->ready_head) {
        ready *r = h->ready_head;
        h->ready_head = r->next;
        free(r);
    }
    h->ready_tail = NULL;
    atomic_store(&h->nready, 0);
    pthread_mutex_unlock(&h->special_lock);
}

/* ---- public: finalizers and cleanups ---- */

/* live_obj — the object of root r, or a failure for a freed object. */
static tc_status live_obj(tc_root *r, uintptr_t *p)
{
    if (tc_root_freed(r))
        return tc_fail(TC_ERR_FREED, "the object was freed with unsafe.free");
    *p = (uintptr_t)tc_root_obj(r);
    return TC_OK;
}

/* enter_live — start a heap call on the object of root r: *p is its address.
 * On failure nothing is left entered. */
static tc_status enter_live(tc_heap *h, tc_root *r, tc_mutator **m, uintptr_t *p)
{
    tc_status st = mutator_enter(h, m);
    if (st != TC_OK)
        return st;
    if ((st = live_obj(r, p)) != TC_OK)
        mutator_leave(*m);
    return st;
}

tc_status tc_set_finalizer(tc_heap *h, tc_root *r, tc_token token, tc_token *old)
{
    tc_mutator *m;
    uintptr_t p = 0;
    tc_status st = enter_live(h, r, &m, &p);
    if (st != TC_OK)
        return st;
    plat_lock(&h->special_lock);
    special *sp = special_find(span_of_obj(p), p, SP_FINALIZER);
    if (old)
        *old = sp ? sp->token : 0;
    if (sp && token)
        sp->token = token;
    else if (sp)
        special_unlink(h, span_of_obj(p), sp);
    else if (token && !(sp = special_add(h, p, SP_FINALIZER)))
        st = tc_fail(TC_ERR_NOMEM, "out of memory for a finalizer");
    else if (sp)
        sp->token = token;
    pthread_mutex_unlock(&h->special_lock);
    if (st == TC_OK && rec_on(h))
        rec_special(h, REC_FINALIZER, r, token);
    mutator_leave(m);
    return st;
}

tc_status tc_add_cleanup(tc_heap *h, tc_root *r, tc_token token)
{
    tc_mutator *m;
    uintptr_t p = 0;
    tc_status st = enter_live(h, r, &m, &p);
    if (st != TC_OK)
        return st;
    plat_lock(&h->special_lock);
    special *sp = special_add(h, p, SP_CLEANUP);
    if (sp)
        sp->token = token;
    else
        st = tc_fail(TC_ERR_NOMEM, "out of memory for a cleanup");
    pthread_mutex_unlock(&h->special_lock);
    if (st == TC_OK && rec_on(h))
        rec_special(h, REC_CLEANUP, r, token);
    mutator_leave(m);
    return st;
}

bool tc_has_ready(const tc_heap *h) { return atomic_load(&((tc_heap *)h)->nready) != 0; }

/* ready_record — record that the host took a due finalizer (inside a heap
 * call, as record.h wants: the queue is taken from outside one). */
static void ready_record(tc_heap *h, tc_token token, tc_root *root)
{
    tc_mutator *m;
    if (mutator_enter(h, &m) != TC_OK)
        return;
    rec_ready(h, token, root);
    mutator_leave(m);
}

tc_ready_kind tc_take_ready(tc_heap *h, tc_token *token, tc_root **obj)
{
    if (!atomic_load(&h->nready) || atomic_load(&h->closed))
        return TC_READY_NONE;
    plat_lock(&h->special_lock);
    ready *r = h->ready_head;
    if (r) {
        h->ready_head = r->next;
        if (!h->ready_head)
            h->ready_tail = NULL;
        atomic_fetch_sub(&h->nready, 1);
    }
    pthread_mutex_unlock(&h->special_lock);
    if (!r)
        return TC_READY_NONE;
    tc_ready_kind k = r->kind;
    *token = r->token;
    *obj = r->root;
    free(r);
    if (k == TC_READY_FINALIZER && rec_on(h))
        ready_record(h, *token, *obj);
    return k;
}

/* ---- public: weak references ---- */

tc_status tc_weak_new(tc_heap *h, tc_root *r, tc_weak **out)
{
    tc_mutator *m;
    uintptr_t p = 0;
    tc_status st = enter_live(h, r, &m, &p);
    if (st != TC_OK)
        return st;
    tc_weak *w = plat_calloc(1, sizeof *w);
    plat_lock(&h->special_lock);
    special *sp = w ? special_add(h, p, SP_WEAK) : NULL;
    if (sp) {
        sp->weak = w;
        w->sp = sp;
        atomic_store(&w->obj, p);
        atomic_fetch_add(&h->nweak, 1);
        *out = w;
        if (rec_on(h))
            rec_weak(h, REC_WEAK_NEW, w, r);
    } else {
        free(w);
        st = tc_fail(TC_ERR_NOMEM, "out of memory for a weak reference");
    }
    pthread_mutex_unlock(&h->special_lock);
    mutator_leave(m);
    return st;
}

tc_status tc_weak_get(tc_heap *h, tc_weak *w, tc_root **out)
{
    tc_mutator *m;
    tc_status st = mutator_enter(h, &m);
    if (st != TC_OK)
        return st;
    *out = NULL;
    plat_lock(&h->special_lock);
    uintptr_t p = atomic_load(&w->obj);
    if (p) {
        int phase = atomic_load(&h->phase);
        span *s = span_of_obj(p);
        if (phase == PHASE_SWEEP && atomic_load(&s->sweepgen) != atomic_load(&h->sweepgen) && !obj_live_bits(p))
            p = 0; /* dead, about to be swept: the sweep will clear w */
        else if (phase == PHASE_MARK)
            shade(m, p); /* the mutator now holds it: it must not stay white */
    }
    if (p)
        st = roots_new(m, (tc_obj *)p, out);
    pthread_mutex_unlock(&h->special_lock);
    if (st == TC_OK && rec_on(h))
        rec_weak(h, REC_WEAK_GET, w, *out);
    mutator_leave(m);
    return st;
}

/* tc_weak_release — unlink w's special, then free w. Even when this thread
 * cannot enter the heap (it cannot register: no memory; or the heap is
 * closed) the special must not keep pointing at w: special_lock alone
 * guards the specials (as for tc_take_ready), and after a close w->sp is
 * already NULL. */
void tc_weak_release(tc_heap *h, tc_weak *w)
{
    if (!w)
        return;
    tc_mutator *m;
    bool entered = mutator_enter(h, &m) == TC_OK;
    if (entered && rec_on(h))
        rec_weak(h, REC_WEAK_RELEASE, w, NULL);
    plat_lock(&h->special_lock);
    if (w->sp)
        special_unlink(h, span_of_obj(w->sp->obj), w->sp);
    if (!atomic_load(&h->closed))
        atomic_fetch_sub(&h->nweak, 1);
    pthread_mutex_unlock(&h->special_lock);
    if (entered)
        mutator_leave(m);
    free(w);
}

/* ---- public: unsafe ---- */

tc_status tc_obj_payload(tc_heap *h, tc_root *r, void **ptr, size_t *size)
{
    tc_mutator *m;
    uintptr_t p = 0;
    tc_status st = enter_live(h, r, &m, &p);
    if (st != TC_OK)
        return st;
    *ptr = obj_payload((tc_obj *)p);
    *size = obj_size((tc_obj *)p);
    mutator_leave(m);
    return st;
}

tc_status tc_obj_pin(tc_heap *h, tc_root *r)
{
    tc_mutator *m;
    uintptr_t p = 0;
    tc_status st = enter_live(h, r, &m, &p);
    if (st != TC_OK)
        return st;
    plat_lock(&h->special_lock);
    special *sp = special_find(span_of_obj(p), p, SP_PIN);
    if (!sp)
        sp = special_add(h, p, SP_PIN);
    if (sp)
        sp->pins++;
    else
        st = tc_fail(TC_ERR_NOMEM, "out of memory for a pin");
    pthread_mutex_unlock(&h->special_lock);
    mutator_leave(m);
    return st;
}

void tc_obj_unpin(tc_heap *h, tc_root *r)
{
    tc_mutator *m;
    uintptr_t p = 0;
    if (mutator_enter(h, &m) != TC_OK)
        return;
    if (live_obj(r, &p) == TC_OK) {
        plat_lock(&h->special_lock);
        special *sp = special_find(span_of_obj(p), p, SP_PIN);
        if (sp && --sp->pins == 0)
            special_unlink(h, span_of_obj(p), sp);
        pthread_mutex_unlock(&h->special_lock);
    }
    mutator_leave(m);
}

/* free_now — free object p (world stopped, no cycle running: every span is
 * swept and no marker runs). O(specials of its span): no handle is visited
 * (the top says how its handles learn). */
static tc_status free_now(tc_heap *h, uintptr_t p, tc_token *finalizer)
{
    span *s = span_of_obj(p);
    plat_lock(&h->special_lock);
    if (special_find(s, p, SP_PIN)) {
        pthread_mutex_unlock(&h->special_lock);
        return tc_fail(TC_ERR_STATE, "the object is pinned by a buffer view; release the view first");
    }
    special *q = special_add(h, p, SP_FREED);
    if (!q) {
        pthread_mutex_unlock(&h->special_lock);
        return tc_fail(TC_ERR_NOMEM, "out of memory for freeing an object");
    }
    for (special *sp = s->specials, *next; sp; sp = next) {
        next = sp->next;
        if (sp->obj != p || sp == q)
            continue;
        if (sp->kind == SP_CLEANUP) /* the object is reclaimed now: its cleanups are due */
            ready_push(h, sp, TC_READY_CLEANUP, NULL);
        else if (sp->kind == SP_FINALIZER) /* the host forgets its callback */
            *finalizer = sp->token;
        special_unlink(h, s, sp); /* a finalizer does not run for a freed object */
    }
    pthread_mutex_unlock(&h->special_lock);
    objhdr *hd = obj_hdr((tc_obj *)p);
    hd->nslots = 0;
    hd->size = OBJ_FREED_SIZE;
    atomic_fetch_add(&h->freed_pending, 1);
    uint64_t esize = s->sizeclass ? s->elemsize : (uint64_t)s->npages << TC_PAGE_SHIFT;
    plat_lock(&h->lock);
    h->frees++;
    h->freed_bytes += esize;
    h->heap_live = h->heap_live > esize ? h->heap_live - esize : 0;
    pthread_mutex_unlock(&h->lock);
    return TC_OK;
}

tc_status tc_obj_free(tc_heap *h, tc_root *r)
{
    tc_token unused;
    return tc_obj_free_token(h, r, &unused);
}

tc_status tc_obj_free_token(tc_heap *h, tc_root *r, tc_token *finalizer)
{
    uintptr_t p = 0;
    tc_status st;
    *finalizer = 0;
    if (atomic_load(&h->closed)) /* first: after close the handle table is gone */
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    if ((st = live_obj(r, &p)) != TC_OK)
        return st;
    void *tok = collector_quiesce(h);
    if (atomic_load(&h->closed)) {
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    } else if ((st = live_obj(r, &p)) != TC_OK) {
        /* another thread freed it meanwhile */
    } else {
        uint64_t t0 = world_stop(h, NULL); /* from the request, as cycle.c's pauses */
        st = free_now(h, p, finalizer);
        world_start(h);
        ev_record(h, EV_PAUSE, t0, plat_now_ns(), 0); /* a pause the program waits out: delay, MMU, trace */
    }
    collector_unquiesce(h, tok);
    tc_mutator *m;
    if (st == TC_OK && rec_on(h) && mutator_enter(h, &m) == TC_OK) {
        rec_special(h, REC_FREE, r, 0);
        mutator_leave(m);
    }
    return st;
}
