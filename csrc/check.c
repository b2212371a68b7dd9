/*
 * check.c — executable invariants: the heap verifier behind tc_heap_verify
 * and checkmark (re-mark and compare).
 *
 * verify walks every in-use span with the world stopped and checks, for each
 * allocated object: its shape fits its slot; every tag is a tc_kind; every
 * reference points at the start of an allocated object of this heap. It
 * checks every live root and local the same way, recounts objects, bytes and
 * roots against the counters, and checks the page heap (spans mapped, free
 * spans not touching).
 *
 * checkmark marks again from the roots into a second bitmap and reports any
 * object reachable there that the real mark left white: the oracle for
 * every concurrency test of the concurrent collector.
 */
#include <inttypes.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

/* valid_object — is p the start of an allocated object of heap h? */
static bool valid_object(tc_heap *h, uintptr_t p, const char **why)
{
    arena *a = arena_of(p);
    if (!a || a->heap != h) {
        *why = "points outside this heap";
        return false;
    }
    if ((p - a->base) >> TC_PAGE_SHIFT >= atomic_load(&a->frontier)) {
        *why = "points past the heap's pages";
        return false;
    }
    span *s = span_of(a, p);
    if (!s || s->state != SPAN_INUSE || p < s->base || p >= s->base + ((size_t)s->npages << TC_PAGE_SHIFT)) {
        *why = "points into free pages";
        return false;
    }
    size_t off = p - s->base;
    if (s->sizeclass ? off % s->elemsize != 0 : off != 0) {
        *why = "points inside an object";
        return false;
    }
    if (!bit_test(a->allocbits, a, p)) {
        *why = "points at a free slot";
        return false;
    }
    return true;
}

typedef struct recount {
    uint64_t objects, bytes;
} recount;

static tc_status check_object(tc_heap *h, span *s, uintptr_t p, recount *rc)
{
    const tc_obj *o = (const tc_obj *)p;
    size_t esize = s->sizeclass ? s->elemsize : (size_t)s->npages << TC_PAGE_SHIFT;
    if (obj_freed(o))
        return TC_OK; /* freed, its memory kept until no handle names it: no longer counted */
    if (obj_bytes(obj_nslots(o), obj_size(o)) > esize)
        return tc_fail(TC_ERR_CORRUPT, "object %#" PRIxPTR " (%u slots, %u bytes) overflows its %zu-byte slot", p,
                       obj_nslots(o), obj_size(o), esize);
    for (uint32_t i = 0; i < obj_nslots(o); i++) {
        uint8_t tag = atomic_load(&obj_tags(o)[i]);
        if ((tag & TAG_BUSY) || (tag & TAG_KIND) > TC_REF)
            return tc_fail(TC_ERR_CORRUPT, "object %#" PRIxPTR " slot %u has bad tag %u", p, i, tag);
        const char *why;
        uintptr_t q = (uintptr_t)atomic_load(&obj_words(o)[i]);
        if ((tag & TAG_KIND) == TC_REF && !valid_object(h, q, &why))
            return tc_fail(TC_ERR_CORRUPT, "object %#" PRIxPTR " slot %u: reference %#" PRIxPTR " %s", p, i, q, why);
        if ((tag & TAG_KIND) == TC_REF && obj_freed((const tc_obj *)q))
            return tc_fail(TC_ERR_CORRUPT, "object %#" PRIxPTR " slot %u: reference %#" PRIxPTR
                           " points at an object freed with unsafe.free", p, i, q);
    }
    rc->objects++;
    rc->bytes += esize;
    return TC_OK;
}

static tc_status check_span(tc_heap *h, span *s, int c, recount *rc)
{
    if (s->state != SPAN_INUSE || s->sizeclass != c)
        return tc_fail(TC_ERR_CORRUPT, "span %#" PRIxPTR " is on the wrong list", s->base);
    arena *a = arena_of(s->base);
    size_t first = (s->base - a->base) >> TC_PAGE_SHIFT;
    for (size_t i = 0; i < s->npages; i++)
        if (a->spans[first + i] != s)
            return tc_fail(TC_ERR_CORRUPT, "page %zu of span %#" PRIxPTR " maps elsewhere", i, s->base);
    uint64_t seen = 0;
    for (uint32_t k = 0; k < s->nelems; k++) {
        uintptr_t p = s->base + (size_t)k * s->elemsize;
        if (!bit_test(a->allocbits, a, p))
            continue;
        seen++;
        tc_status st = check_object(h, s, p, rc);
        if (st != TC_OK)
            return st;
    }
    /* alloc bits only at object starts */
    uint64_t bits = 0;
    for (size_t w = span_first_word(a, s); w < span_first_word(a, s) + span_words(s); w++)
        bits += (uint64_t)__builtin_popcountll(atomic_load_explicit(&a->allocbits[w], memory_order_relaxed));
    if (bits != seen)
        return tc_fail(TC_ERR_CORRUPT, "span %#" PRIxPTR " has alloc bits off its object starts", s->base);
    return TC_OK;
}

static tc_status check_roots(tc_heap *h, int64_t *live)
{
    const char *why;
    *live = 0;
    for (root_chunk *c = h->root_chunks; c; c = c->next)
        for (size_t i = 0; i < ROOT_CHUNK; i++) {
            uintptr_t v = atomic_load(&c->slot[i]);
            if (!v || (v & 1))
                continue;
            (*live)++;
            if (!(v & 2) && !valid_object(h, v, &why))
                return tc_fail(TC_ERR_CORRUPT, "handle %#" PRIxPTR " %s", v, why);
        }
    tc_status st = TC_OK;
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m && st == TC_OK; m = m->next)
        for (size_t i = 0; i < m->nlocals && st == TC_OK; i++)
            if (m->locals[i] && !valid_object(h, (uintptr_t)m->locals[i], &why))
                st = tc_fail(TC_ERR_CORRUPT, "local root %zu %s", i, why);
    pthread_mutex_unlock(&h->mut_lock);
    return st;
}

static tc_status check_free_spans(tc_heap *h)
{
    for (int b = 0; b < TC_FREE_BUCKETS; b++)
        for (span *s = h->freelist[b]; s; s = s->next) {
            arena *a = arena_of(s->base);
            size_t first = (s->base - a->base) >> TC_PAGE_SHIFT, end = first + s->npages;
            if (s->state != SPAN_FREE || a->spans[first] != s || a->spans[end - 1] != s)
                return tc_fail(TC_ERR_CORRUPT, "free span %#" PRIxPTR " is not mapped as free", s->base);
            if ((first > 0 && a->spans[first - 1] && a->spans[first - 1]->state == SPAN_FREE &&
                 a->spans[first - 1]->base + ((size_t)a->spans[first - 1]->npages << TC_PAGE_SHIFT) == s->base) ||
                (end < a->frontier && a->spans[end] && a->spans[end]->state == SPAN_FREE &&
                 a->spans[end]->base == s->base + ((size_t)s->npages << TC_PAGE_SHIFT)))
                return tc_fail(TC_ERR_CORRUPT, "free span %#" PRIxPTR " touches another free span", s->base);
        }
    return TC_OK;
}

/* check_each_span — fn(ud, s, c) for every in-use span s of class c (0:
 * large) on the partial, full and large lists, until fn fails. With every
 * span swept (no cycle running) those lists hold every in-use span, cached
 * ones included (they are on the full lists). Caller holds h->lock or has
 * the world stopped with no cycle running. */
tc_status check_each_span(tc_heap *h, tc_status (*fn)(void *ud, span *s, int c), void *ud)
{
    tc_status st = TC_OK;
    for (int c = 1; c < sc_count && st == TC_OK; c++) {
        for (span *s = h->partial[c]; s && st == TC_OK; s = s->next)
            st = fn(ud, s, c);
        for (span *s = h->full[c]; s && st == TC_OK; s = s->next)
            st = fn(ud, s, c);
    }
    for (span *s = h->large; s && st == TC_OK; s = s->next)
        st = fn(ud, s, 0);
    return st;
}

typedef struct verify_walk {
    tc_heap *h;
    recount rc;
} verify_walk;

static tc_status verify_span(void *ud, span *s, int c)
{
    verify_walk *v = ud;
    return check_span(v->h, s, c, &v->rc);
}

/* check_heap — the whole verifier; world stopped, caches may be live (their
 * spans are on the full lists and their alloc bits are exact). */
tc_status check_heap(tc_heap *h)
{
    verify_walk v = {h, {0, 0}};
    pthread_mutex_lock(&h->lock);
    tc_status st = check_each_span(h, verify_span, &v);
    if (st == TC_OK)
        st = check_free_spans(h);
    pthread_mutex_unlock(&h->lock);
    recount rc = v.rc;
    if (st != TC_OK)
        return st;
    int64_t live_roots, roots;
    if ((st = check_roots(h, &live_roots)) != TC_OK)
        return st;
    uint64_t mallocs, total;
    stats_totals(h, &mallocs, &total, &roots);
    if (rc.objects != mallocs - h->frees)
        return tc_fail(TC_ERR_CORRUPT, "heap holds %" PRIu64 " objects but the counters say %" PRIu64, rc.objects,
                       mallocs - h->frees);
    if (rc.bytes != total - h->freed_bytes)
        return tc_fail(TC_ERR_CORRUPT, "heap holds %" PRIu64 " bytes but the counters say %" PRIu64, rc.bytes,
                       total - h->freed_bytes);
    if (live_roots != roots)
        return tc_fail(TC_ERR_CORRUPT, "handle table holds %" PRId64 " roots but the counters say %" PRId64,
                       live_roots, roots);
    return TC_OK;
}

/* check_marks — checkmark: re-mark into the check bits, then every object
 * marked there must be marked in the real bits. World stopped, after mark,
 * before sweep. The check bits are cleared again. TC_ERR_NOMEM if the
 * re-mark could not run: the cycle was not verified, and says so. */
tc_status check_marks(tc_heap *h)
{
    if (!mark_heap(h, true))
        return tc_fail(TC_ERR_NOMEM, "checkmark: no memory for its bitmap or mark stack: this cycle was not verified");
    tc_status st = TC_OK;
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        if (!a->checkbits)
            continue;
        size_t words = (atomic_load(&a->frontier) << TC_PAGE_SHIFT) >> 9;
        for (size_t w = 0; w < words; w++) {
            uint64_t missed = atomic_load_explicit(&a->checkbits[w], memory_order_relaxed) &
                              ~(atomic_load_explicit(&a->markbits[w], memory_order_relaxed) |
                                atomic_load_explicit(&a->blackbits[w], memory_order_relaxed));
            if (missed && st == TC_OK) {
                uintptr_t p = a->base + ((w * 64 + (size_t)__builtin_ctzll(missed)) << 3);
                st = tc_fail(TC_ERR_CORRUPT, "checkmark: object %#" PRIxPTR " is reachable but was left white", p);
            }
            atomic_store_explicit(&a->checkbits[w], 0, memory_order_relaxed);
        }
    }
    return st;
}

tc_status tc_heap_verify(tc_heap *h)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    return collector_verify(h);
}
