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
 *
 * The pause checkers hold the headers' invariants to the heap with the
 * world stopped: check_pause_start (the start pause, and verify: span.h's
 * "swept spans have zero mark bits", alloc.c's cache and partial-list
 * membership, no grey work) and check_pause_term (mark termination: no grey
 * work anywhere, no black object pointing at a white one). Debug builds run
 * them at every pause (TC_CHECK, debug.h); release builds never do, since
 * they are proportional to the heap. check_mid_mark holds the strong
 * tri-color invariant mid-mark (dijkstra and hybrid: a black object points
 * at a white one only if that one is grey); debug builds run it whenever
 * a look (manual.c: colour, snapshot) stops the world mid-mark.
 *
 * In a debug build this file also keeps the lock order (heap.h's table):
 * each thread's held ranked locks, checked on every acquisition.
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
    if (!alloc_test(a, p)) {
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
        if (!alloc_test(a, p))
            continue;
        seen++;
        tc_status st = check_object(h, s, p, rc);
        if (st != TC_OK)
            return st;
    }
    /* alloc bits only at object starts */
    uint64_t bits = 0;
    for (size_t w = span_first_word(a, s); w < span_first_word(a, s) + span_words(s); w++)
        bits += (uint64_t)__builtin_popcountll(atomic_load_explicit(&a->bits[w].alloc, memory_order_relaxed));
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
            if ((i >= atomic_load(&c->used)) != !v) /* never used: past `used` and only there (roots.h) */
                return tc_fail(TC_ERR_CORRUPT, "handle slot %zu of a chunk using %u reads %#" PRIxPTR, i,
                               (unsigned)atomic_load(&c->used), v);
            if (!root_val_used(v))
                continue;
            (*live)++;
            if (!root_val_freed(v) && !valid_object(h, v, &why))
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

/* all_released — a free run whose pages are all given back: it may touch
 * a run that holds pages, never another of its kind (span.c). */
static bool all_released(const span *s) { return s->released == s->npages; }

static tc_status check_free_spans(tc_heap *h)
{
    for (int b = 0; b < TC_FREE_BUCKETS; b++)
        if (!h->freelist[b] != !(h->freemask[b >> 6] >> (b & 63) & 1))
            return tc_fail(TC_ERR_CORRUPT, "free bucket %d is %sempty but its freemask bit says otherwise", b,
                           h->freelist[b] ? "not " : "");
    for (int b = 0; b < TC_FREE_BUCKETS; b++)
        for (span *s = h->freelist[b]; s; s = s->next) {
            arena *a = arena_of(s->base);
            size_t first = (s->base - a->base) >> TC_PAGE_SHIFT, end = first + s->npages;
            if (s->state != SPAN_FREE || a->spans[first] != s || a->spans[end - 1] != s)
                return tc_fail(TC_ERR_CORRUPT, "free span %#" PRIxPTR " is not mapped as free", s->base);
            span *l = first > 0 ? a->spans[first - 1] : NULL, *r = end < a->frontier ? a->spans[end] : NULL;
            if ((l && l->state == SPAN_FREE && l->base + ((size_t)l->npages << TC_PAGE_SHIFT) == s->base &&
                 all_released(l) == all_released(s)) ||
                (r && r->state == SPAN_FREE && r->base == s->base + ((size_t)s->npages << TC_PAGE_SHIFT) &&
                 all_released(r) == all_released(s)))
                return tc_fail(TC_ERR_CORRUPT, "free span %#" PRIxPTR " touches another free span of its kind", s->base);
            for (size_t w = span_first_word(a, s); w < span_first_word(a, s) + span_words(s); w++)
                if (atomic_load_explicit(&a->bits[w].alloc, memory_order_relaxed))
                    return tc_fail(TC_ERR_CORRUPT, "free span %#" PRIxPTR " has an alloc bit", s->base);
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
    return check_pause_start(h); /* no cycle runs: the start pause's invariants hold */
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
                              ~(atomic_load_explicit(&a->bits[w].mark, memory_order_relaxed) |
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

/* ---- the pause checkers: run at every pause by debug builds (debug.h),
 * and by tc_heap_verify. Each is proportional to the heap: never in a
 * release build's pause. ---- */

/* span_unmarked — s's stretch of mark and black bits is zero (a swept span). */
static bool span_unmarked(const span *s)
{
    arena *a = arena_of(s->base);
    for (size_t w = span_first_word(a, s); w < span_first_word(a, s) + span_words(s); w++)
        if (atomic_load_explicit(&a->bits[w].mark, memory_order_relaxed) |
            atomic_load_explicit(&a->blackbits[w], memory_order_relaxed))
            return false;
    return true;
}

/* span_black_unflagged — s has a black bit set but its `black` flag is
 * clear (span.h: the sweep would not read that bit). */
static bool span_black_unflagged(const span *s)
{
    if (atomic_load_explicit(&s->black, memory_order_relaxed))
        return false;
    for (size_t w = 0; w < span_words(s); w++)
        if (atomic_load_explicit(&s->bbits[w], memory_order_relaxed))
            return true;
    return false;
}

typedef struct list_walk {
    tc_heap *h;
    bool swept;          /* no cycle runs: every span swept, mark bits zero */
    uint64_t cached;     /* spans on the full lists with `cached` set */
} list_walk;

/* list_span — span.h's and alloc.c's list invariants for one listed span. */
static tc_status list_span(void *ud, span *s, int c)
{
    list_walk *w = ud;
    if (s->cached && c == 0)
        return tc_fail(TC_ERR_CORRUPT, "large span %#" PRIxPTR " is flagged cached", s->base);
    w->cached += s->cached;
    if (w->swept && !span_unmarked(s))
        return tc_fail(TC_ERR_CORRUPT, "swept span %#" PRIxPTR " has mark bits set", s->base);
    if (span_black_unflagged(s))
        return tc_fail(TC_ERR_CORRUPT, "span %#" PRIxPTR " has black bits but no black flag", s->base);
    if (w->swept && atomic_load(&s->sweepgen) != atomic_load(&w->h->sweepgen))
        return tc_fail(TC_ERR_CORRUPT, "span %#" PRIxPTR " is listed as swept but its sweepgen is old", s->base);
    return TC_OK;
}

/* check_partial — every span on a partial list has a free slot and is in
 * no cache (alloc.c). */
static tc_status check_partial(tc_heap *h)
{
    for (int c = 1; c < sc_count; c++)
        for (span *s = h->partial[c]; s; s = s->next)
            if (s->cached || s->nalloc >= s->nelems)
                return tc_fail(TC_ERR_CORRUPT, "span %#" PRIxPTR " on partial list %d is %s", s->base, c,
                               s->cached ? "in a cache" : "full");
    return TC_OK;
}

/* check_caches — each cache entry is a cached in-use span of its class;
 * the entries number what the full lists hold flagged `cached` (so no span
 * is in two caches, none flagged in none); no shaded address waits in a
 * mutator's buffer. mut_lock and lock held, world stopped. */
static tc_status check_caches(tc_heap *h, uint64_t cached_on_lists)
{
    uint64_t entries = 0;
    for (tc_mutator *m = h->mutators; m; m = m->next) {
        uint32_t n = 0;
        for (int c = 1; c < sc_count; c++) {
            span *s = m->cache[c];
            if (!s)
                continue;
            n++;
            if (!s->cached || s->sizeclass != c || s->state != SPAN_INUSE)
                return tc_fail(TC_ERR_CORRUPT, "cache entry %d of a mutator is span %#" PRIxPTR " (class %d%s)", c,
                               s->base, s->sizeclass, s->cached ? "" : ", not flagged cached");
        }
        if (n != m->ncached)
            return tc_fail(TC_ERR_CORRUPT, "a mutator caches %u spans but counts %u", n, m->ncached);
        if (n && !m->in_flushq) /* the next pause's flush_all would miss its spans (cycle.c) */
            return tc_fail(TC_ERR_CORRUPT, "a mutator caches %u spans but is not on the flush queue", n);
        if (m->gbuf_n)
            return tc_fail(TC_ERR_CORRUPT, "a mutator holds %u shaded addresses at a pause", m->gbuf_n);
        entries += n;
    }
    if (entries != cached_on_lists)
        return tc_fail(TC_ERR_CORRUPT, "%" PRIu64 " cache entries but %" PRIu64 " spans flagged cached on the lists",
                       entries, cached_on_lists);
    return TC_OK;
}

/* check_lists — the span lists and caches, world stopped; `swept`: no
 * cycle runs, so nothing is unswept and every mark bit is zero. */
static tc_status check_lists(tc_heap *h, bool swept)
{
    list_walk w = {h, swept, 0};
    pthread_mutex_lock(&h->mut_lock);
    pthread_mutex_lock(&h->lock);
    tc_status st = check_each_span(h, list_span, &w);
    if (st == TC_OK)
        st = check_partial(h);
    if (st == TC_OK)
        st = check_caches(h, w.cached);
    for (int c = 0; c < sc_count && st == TC_OK && swept; c++)
        if ((c && (h->unswept_p[c] || h->unswept_f[c])) || (!c && h->unswept_large) || h->sweepers)
            st = tc_fail(TC_ERR_CORRUPT, "a span is unswept (class %d) with no cycle running", c);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->mut_lock);
    return st;
}

/* check_pause_start — the start pause, world stopped, every span swept:
 * the lists and caches agree, mark bits are zero, no grey work is left. */
tc_status check_pause_start(tc_heap *h)
{
    if (!grey_empty(h))
        return tc_fail(TC_ERR_CORRUPT, "grey work is queued before marking starts");
    return check_lists(h, true);
}

/* no_white_child — no marked object of s points at an unmarked one; with
 * ud (the mid-mark check) an unmarked child may be grey instead: its check
 * bit set by note_grey. */
static tc_status no_white_child(void *ud, span *s, int c)
{
    arena *a = arena_of(s->base);
    for (uint32_t k = 0; k < s->nelems; k++) {
        uintptr_t p = s->base + (size_t)k * s->elemsize;
        if (!alloc_test(a, p) || !(mark_test(a, p) || bit_test(a->blackbits, a, p)))
            continue;
        const tc_obj *o = (const tc_obj *)p;
        if (obj_freed(o))
            continue;
        for (uint32_t i = 0; i < obj_nslots(o); i++) {
            uintptr_t q = (uintptr_t)atomic_load_explicit(&obj_words(o)[i], memory_order_relaxed);
            arena *qa = arena_of(q);
            if ((atomic_load_explicit(&obj_tags(o)[i], memory_order_relaxed) & TAG_KIND) != TC_REF || !q || !qa)
                continue;
            if (!mark_test(qa, q) && !bit_test(qa->blackbits, qa, q) &&
                !(ud && bit_test(qa->checkbits, qa, q)))
                return tc_fail(TC_ERR_CORRUPT, "black object %#" PRIxPTR " slot %u points at white %#" PRIxPTR
                               "%s", p, i, q, ud ? " mid-mark, and it is not grey" : "");
        }
    }
    return TC_OK;
}

/* note_grey — a grey candidate's check bit (mid-mark: the scratch set). */
static void note_grey(void *ud, uintptr_t p)
{
    arena *a = arena_of(p);
    if (a && a->heap == ud && a->checkbits) {
        uint64_t bit;
        _Atomic uint64_t *w = bit_word(a->checkbits, a, p, &bit);
        atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
    }
}

/* clear_check_bits — every arena's check bitmap back to zero. */
static void clear_check_bits(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        size_t words = (atomic_load(&a->frontier) << TC_PAGE_SHIFT) >> 9;
        for (size_t w = 0; a->checkbits && w < words; w++)
            atomic_store_explicit(&a->checkbits[w], 0, memory_order_relaxed);
    }
}

/* check_mid_mark — during mark, the world stopped (or no other thread in
 * the heap), mark_lock and gc_lock held or the cycle stepped by hand, and
 * every marker's work flushed to the global queue: under the dijkstra and
 * hybrid barriers (which shade every value stored), no black object points
 * at a white one that is not grey — the strong tri-color invariant for
 * heap objects, barrier.c. Yuasa keeps only the weak invariant (a black
 * object may point at a white one that a grey path still reaches), and
 * "none" loses objects on purpose: neither is checked. The grey set is
 * noted in the check bitmaps, which are zero again on return. */
tc_status check_mid_mark(tc_heap *h)
{
    if (atomic_load(&h->phase) != PHASE_MARK ||
        (h->cfg.barrier != TC_BARRIER_DIJKSTRA && h->cfg.barrier != TC_BARRIER_HYBRID))
        return TC_OK;
    if (!mark_check_bitmap(h))
        return tc_fail(TC_ERR_NOMEM, "check_mid_mark: no memory for the check bitmap");
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m; m = m->next) /* world stopped: empty (check_pause_* say so) */
        for (uint32_t i = 0; i < m->gbuf_n; i++)
            note_grey(h, m->gbuf[i]);
    pthread_mutex_unlock(&h->mut_lock);
    grey_each(h, note_grey, h);
    pthread_mutex_lock(&h->lock);
    tc_status st = check_each_span(h, no_white_child, h);
    pthread_mutex_unlock(&h->lock);
    clear_check_bits(h);
    return st;
}

/* check_pause_term — mark termination, world stopped, marking drained: no
 * grey work anywhere (queue, markers, mutator buffers) and no black object
 * points at a white one, so the sweep frees nothing a marked object uses
 * (but under barrier "none", whose lost objects are the lesson). */
tc_status check_pause_term(tc_heap *h)
{
    if (!mark_quiet(h))
        return tc_fail(TC_ERR_CORRUPT, "grey work is left at mark termination");
    tc_status st = check_lists(h, false);
    if (st != TC_OK)
        return st;
    if (h->cfg.barrier == TC_BARRIER_NONE)
        return TC_OK; /* teaching mode loses objects on purpose: the user's choice, not a broken invariant */
    pthread_mutex_lock(&h->lock);
    st = check_each_span(h, no_white_child, NULL);
    pthread_mutex_unlock(&h->lock);
    return st;
}

/* check_alloc_flushed — right after flush_all, world stopped: the flushed
 * total is the sum of every mutator's bytes allocated (cycle.c's flush queue
 * invariant), read here without the pause's walk counter. */
tc_status check_alloc_flushed(tc_heap *h)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&h->mut_lock);
    pthread_mutex_lock(&h->lock);
    for (tc_mutator *m = h->mutators; m; m = m->next)
        sum += alloc_bytes_total(m);
    uint64_t flushed = h->alloc_flushed;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->mut_lock);
    if (sum != flushed)
        return tc_fail(TC_ERR_CORRUPT, "the mutators allocated %" PRIu64 " bytes but the flushes counted %" PRIu64,
                       sum, flushed);
    return TC_OK;
}

tc_status tc_heap_verify(tc_heap *h)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    return collector_verify(h);
}

#ifdef TC_DEBUG
/* ---- debug builds: the lock-order check (debug.h; the table is in heap.h) ---- */

_Thread_local const char *check_failed_at;

/* rank_offset — struct tc_heap's own mutexes in the order they may be
 * taken: rank = index + 1 (heap.h's table). Rank 0 is the registry lock,
 * before every heap's locks; RANK_WORKERS is the mark workers' lock, in
 * a struct of its own (workers.c registers it with check_lock_add). */
static const size_t rank_offset[] = {
    offsetof(tc_heap, mark_lock),  offsetof(tc_heap, gc_lock),    offsetof(tc_heap, ctl_lock),
    offsetof(tc_heap, mut_lock),   offsetof(tc_heap, lock),       offsetof(tc_heap, special_lock),
    offsetof(tc_heap, roots_lock), offsetof(tc_heap, grey_lock),  offsetof(tc_heap, stats_lock),
    offsetof(tc_heap, out_lock),   offsetof(tc_heap, trace_lock), offsetof(tc_heap, rec_lock),
    offsetof(tc_heap, world_lock), offsetof(tc_heap, ev.lock),
};
#define NRANKS (sizeof rank_offset / sizeof rank_offset[0])
#define RANK_REGISTRY 0
#define RANK_WORKERS ((int)NRANKS + 1)

/* The registry: mutex address -> its heap and rank, open addressing with
 * tombstones (a key is written once, by tc_heap_new before the heap is
 * published or by mark_par_new before its threads start, and read
 * lock-free by every lock call). */
#define LOCKTAB_BITS 13
#define LOCKTAB_DEAD ((uintptr_t)1)
static struct {
    _Atomic uintptr_t key;
    _Atomic(tc_heap *) heap;
    _Atomic int rank;
} locktab[1u << LOCKTAB_BITS];

static size_t locktab_hash(uintptr_t k)
{
    return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> (64 - LOCKTAB_BITS));
}

static void locktab_put(uintptr_t k, tc_heap *h, int rank)
{
    size_t mask = (1u << LOCKTAB_BITS) - 1;
    for (size_t i = locktab_hash(k), n = 0; n <= mask; i = (i + 1) & mask, n++) {
        uintptr_t cur = atomic_load(&locktab[i].key);
        if ((cur == 0 || cur == LOCKTAB_DEAD) && atomic_compare_exchange_strong(&locktab[i].key, &cur, k)) {
            atomic_store(&locktab[i].heap, h);
            atomic_store(&locktab[i].rank, rank);
            return;
        }
    }
    /* full (more than 500 live heaps): this lock goes unchecked */
}

static size_t locktab_find(uintptr_t k)
{
    size_t mask = (1u << LOCKTAB_BITS) - 1;
    for (size_t i = locktab_hash(k), n = 0; n <= mask; i = (i + 1) & mask, n++) {
        uintptr_t cur = atomic_load(&locktab[i].key);
        if (cur == k)
            return i;
        if (cur == 0)
            break;
    }
    return (size_t)-1;
}

static void locktab_drop(uintptr_t k)
{
    size_t i = locktab_find(k);
    if (i != (size_t)-1)
        atomic_store(&locktab[i].key, LOCKTAB_DEAD);
}

void check_locks_register(tc_heap *h)
{
    for (size_t r = 0; r < NRANKS; r++)
        locktab_put((uintptr_t)h + rank_offset[r], h, (int)r + 1);
}

void check_locks_forget(tc_heap *h)
{
    for (size_t r = 0; r < NRANKS; r++)
        locktab_drop((uintptr_t)h + rank_offset[r]);
}

void check_lock_add(tc_heap *h, pthread_mutex_t *m) { locktab_put((uintptr_t)m, h, RANK_WORKERS); }
void check_lock_remove(pthread_mutex_t *m) { locktab_drop((uintptr_t)m); }

/* The locks this thread holds (ranked ones only). A fork holds every
 * heap's fifteen; past HELD_MAX they go uncounted (`lost`). */
#define HELD_MAX 64
static _Thread_local struct held {
    pthread_mutex_t *m;
    tc_heap *h;
    int rank;
} held[HELD_MAX];
static _Thread_local int nheld, lost;

/* lock_rank — m's heap and rank: RANK_REGISTRY (heap NULL) for the
 * registry lock, -1 for a mutex that is in no table (a condition's
 * helper, a test's own). */
static int lock_rank(pthread_mutex_t *m, tc_heap **h)
{
    if (m == &heap_registry_lock) {
        *h = NULL;
        return RANK_REGISTRY;
    }
    size_t i = locktab_find((uintptr_t)m);
    if (i == (size_t)-1)
        return -1;
    *h = atomic_load(&locktab[i].heap);
    return atomic_load(&locktab[i].rank);
}

/* check_order — trap unless every lock this thread holds ranks below
 * `rank`: within one heap for a heap's lock, any lock at all for the
 * registry lock (it comes before every heap's). */
static void check_order(tc_heap *h, int rank)
{
    for (int i = 0; i < nheld; i++)
        TC_ASSERT(h ? held[i].h != h || held[i].rank < rank : false); /* out of order (heap.h's table), or taken twice */
}

static void held_push(pthread_mutex_t *m, tc_heap *h, int rank)
{
    if (nheld == HELD_MAX) {
        lost++;
        return;
    }
    held[nheld++] = (struct held){m, h, rank};
}

/* take — lock m with `lock`, in order. A trylock cannot deadlock, but
 * plat_lock's spin is a trylock in front of a lock, so trylocks are held
 * to the same order. */
static int take(pthread_mutex_t *m, int (*lock)(pthread_mutex_t *))
{
    tc_heap *h = NULL;
    int rank = lock_rank(m, &h);
    if (rank >= 0)
        check_order(h, rank);
    int rc = lock(m);
    if (rank >= 0 && rc == 0)
        held_push(m, h, rank);
    return rc;
}

int check_lock_take(pthread_mutex_t *m) { return take(m, (pthread_mutex_lock)); }
int check_lock_try(pthread_mutex_t *m) { return take(m, (pthread_mutex_trylock)); }

int check_lock_drop(pthread_mutex_t *m)
{
    for (int i = nheld - 1; i >= 0; i--)
        if (held[i].m == m) {
            held[i] = held[--nheld];
            return (pthread_mutex_unlock)(m);
        }
    if (lost)
        lost -= lock_rank(m, &(tc_heap *){NULL}) >= 0;
    return (pthread_mutex_unlock)(m);
}
#endif
