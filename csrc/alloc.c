/*
 * alloc.c — per-mutator allocation caches and the allocation slow paths.
 *
 * Each mutator caches one span per size class and takes free slots from it
 * with no lock and no atomic read-modify-write: the span's `alloccache` holds
 * the free slots of one 64-slot word of its alloc bits, and a count-trailing-
 * zeros finds the next one (Go's nextFreeFast). Loading a group clears its
 * free slots (group_zero), so the fast path never clears. When the cached
 * span is exhausted, the mutator reports what it allocated since its last
 * report (which may start a collection: the pacer's only check), then takes
 * a swept span with free slots from the class's partial list, or fresh
 * pages.
 *
 * Invariants: alloc.h's (the fast path is there, inline).
 */
#include <string.h>

#include "alloc.h"
#include "plant.h"
#include "platform.h"

#define REFILL_SWEEP_MAX 16 /* spans a refill sweeps at most (Go's sweepone budget is similar) */

/* group_zero — clear the free slots of s's current group (those set in
 * `alloccache`) if its pages may hold old data, so that the fast path hands
 * them out without clearing (alloc.h). One memset per run of free slots: a
 * whole group (64 slots) for a span fresh from the page heap. Owner only:
 * a free slot has no alloc bit, so no marker reads it, and the clearing is
 * ordered before the slot's alloc bit as the header is (release). */
static void group_zero(span *s)
{
    if (!s->needzero)
        return;
    uint64_t c = s->alloccache;
    unsigned char *base = (unsigned char *)s->base + (size_t)s->cachebase * s->elemsize;
    while (c) {
        unsigned first = (unsigned)__builtin_ctzll(c);
        uint64_t gaps = ~(c >> first); /* its lowest set bit ends the run */
        unsigned len = gaps ? (unsigned)__builtin_ctzll(gaps) : 64 - first;
        memset(base + (size_t)first * s->elemsize, 0, (size_t)len * s->elemsize);
        c = first + len >= 64 ? 0 : c & (~(uint64_t)0 << (first + len));
    }
}

/* next_group — the free slots of s's group at s->cachebase (< nelems). A
 * span fresh from the page heap has nalloc 0 while it is cached
 * (span_init_class; refill caches no other span with nalloc 0: a swept
 * span on a partial list holds its live count, at least 1, and a flushed
 * one waits on the full list for its sweep), and the only alloc bits in it
 * are its owner's, all below cachebase: its next group is all free without
 * a look at the bitmap (GCBench: 225K group loads, ~115 instructions each,
 * all of them in fresh spans). */
static uint64_t next_group(const span *s)
{
    if (s->nalloc)
        return span_free_slots(s, s->cachebase);
    uint32_t n = s->nelems - s->cachebase;
    uint64_t all = n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
    TC_ASSERT(all == span_free_slots(s, s->cachebase));
    return all;
}

/* set_black — OR mask into s's black-bit word `word` (the owner, or the
 * world-stopper): allocate black, for a group or a large object. The
 * planted ALLOC_WHITE bug's one site. Flags the span first (span.h:
 * `black`), so that its sweep reads its black bits (sweep.c: the sweep
 * runs after the termination pause, which orders both stores before it);
 * the planted BLACK_UNFLAGGED bug leaves the flag out. */
static inline void set_black(span *s, size_t word, uint64_t mask)
{
    if (planted(PLANT_ALLOC_WHITE))
        return;
    if (!planted(PLANT_BLACK_UNFLAGGED) && !atomic_load_explicit(&s->black, memory_order_relaxed))
        atomic_store_explicit(&s->black, 1, memory_order_relaxed);
    _Atomic uint64_t *w = s->bbits + word;
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | mask, memory_order_relaxed);
}

/* stride_bits — bit 0 and every step-th bit after it (step >= 1). */
static inline uint64_t stride_bits(size_t step)
{
    uint64_t bits = 0;
    for (size_t b = 0; b < 64; b += step)
        bits |= (uint64_t)1 << b;
    return bits;
}

/* group_black_run — group_black for a group whose free slots are one
 * run of n (a span fresh from the page heap: next_group; the start pause
 * finds it partly handed out), the run's slot k's black bit at
 * off + k * step: each black-bit word's mask is one shifted
 * stride pattern, whose top bit says where the next word's first slot
 * is. One pass per word (GCBench's 40-byte class: 5 words, against 64
 * passes of the slot loop: 752 -> 229 instructions a group, callgrind). */
static void group_black_run(span *s, size_t off, size_t step, unsigned n)
{
    uint64_t pattern = stride_bits(step);
    size_t last = off + (size_t)(n - 1) * step; /* the last slot's bit */
    for (size_t p = off; p <= last;) {
        size_t lo = p & ~(size_t)63;
        uint64_t mask = pattern << (p - lo);
        size_t next = lo + 63 - (size_t)__builtin_clzll(mask) + step; /* the first slot past this word */
        if (last - lo < 63)
            mask &= ((uint64_t)2 << (last - lo)) - 1;
        set_black(s, lo >> 6, mask);
        p = next;
    }
}

/* group_black — during mark, set the black bit of every slot of s's
 * current group (those set in `alloccache`), so that the fast path hands
 * them out black without a look at the phase (alloc.h). One store per
 * black-bit word the group covers (elemsize / 8 of them), by the owner, or
 * the start pause with the world stopped. A slot blackened but never
 * handed out before the mark ends has no alloc bit: the sweep keeps
 * nothing for it and clears its black bit (sweep.c). */
static void group_black(span *s)
{
    size_t step = s->elemsize >> 3, off = (size_t)s->cachebase * step; /* slot k's first word: off + k * step */
    uint64_t c = s->alloccache;
    if (!c)
        return;
    unsigned first = (unsigned)__builtin_ctzll(c), n = 64 - (unsigned)__builtin_clzll(c) - first;
    if (c >> first == ~(uint64_t)0 >> (64 - n)) { /* one run of slots: a fresh span's group, maybe begun */
        group_black_run(s, off + first * step, step, n);
        return;
    }
    size_t cur = off >> 6;
    uint64_t mask = 0;
    for (; c; c >>= 1, off += step) {
        if (off >> 6 != cur) {
            if (mask)
                set_black(s, cur, mask);
            mask = 0;
            cur = off >> 6;
        }
        mask |= (c & 1) << (off & 63);
    }
    if (mask)
        set_black(s, cur, mask);
}

/* group_loaded — s's owner just loaded a group into `alloccache` (or cached
 * s): blacken it during mark. The owner is running, so the phase cannot
 * change before its next safepoint, and a start pause there blackens what
 * it caches then (alloc_cache_black). */
static inline void group_loaded(tc_mutator *m, span *s)
{
    if (atomic_load_explicit(&m->heap->phase, memory_order_relaxed) == PHASE_MARK)
        group_black(s);
}

/* alloc_cache_black — the start pause (world stopped, phase just MARK):
 * blacken the current group of every cached span. Only mutators on the
 * flush queue cache spans (cycle.c), and each caches at most one per size
 * class: one look per mutator that allocated since the last flush, none
 * per idle one, as flush_all. */
void alloc_cache_black(tc_heap *h)
{
    plat_lock(&h->lock);
    for (tc_mutator *m = h->flushq; m; m = m->flush_next)
        for (int c = 1; c < sc_count; c++)
            if (m->cache[c])
                group_black(m->cache[c]);
    pthread_mutex_unlock(&h->lock);
}

/* span_next_free — the index of a free slot of s, consuming it from the
 * cache; false if the span has none left. A new group is cleared as it is
 * loaded (group_zero), and during mark blackened (group_loaded). */
static inline bool span_next_free(tc_mutator *m, span *s, uint32_t *out)
{
    for (;;) {
        uint64_t c = s->alloccache;
        if (c) {
            uint32_t i = s->cachebase + (uint32_t)__builtin_ctzll(c);
            if (i >= s->nelems)
                return false;
            s->alloccache = c & (c - 1);
            *out = i;
            return true;
        }
        s->cachebase += 64;
        if (s->cachebase >= s->nelems)
            return false;
        s->alloccache = next_group(s);
        group_zero(s);
        group_loaded(m, s);
    }
}

/* alloc_totals — the objects and bytes m has allocated: the per-class
 * counts of the classes it has used (classes_used, a bit or two on most
 * heaps), times their sizes, and the large objects. Any thread: relaxed
 * reads, exact for the owner and for a world-stopper; another thread may
 * see a count a few allocations old, as it could before. */
void alloc_totals(const tc_mutator *m, uint64_t *objects, uint64_t *bytes)
{
    uint64_t n = atomic_load_explicit(&m->large_objects, memory_order_relaxed);
    uint64_t b = atomic_load_explicit(&m->large_bytes, memory_order_relaxed);
    for (int w = 0; w < (SC_MAX_CLASSES + 63) / 64; w++)
        for (uint64_t used = atomic_load_explicit(&m->classes_used[w], memory_order_relaxed); used;
             used &= used - 1) {
            int c = w * 64 + __builtin_ctzll(used);
            uint64_t k = atomic_load_explicit(&m->nsmall[c], memory_order_relaxed);
            n += k;
            b += k * sc_size[c];
        }
    *objects = n;
    *bytes = b;
}

uint64_t alloc_bytes_total(const tc_mutator *m)
{
    uint64_t objects, bytes;
    alloc_totals(m, &objects, &bytes);
    return bytes;
}

/* count_large — one large object of `bytes` (its pages) in m's counters
 * (owner: plain load and store, read relaxed by stats). */
static void count_large(tc_mutator *m, uint64_t bytes)
{
    atomic_store_explicit(&m->large_objects, atomic_load_explicit(&m->large_objects, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&m->large_bytes, atomic_load_explicit(&m->large_bytes, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
}

/* class_used — m is about to cache its first span of class c, maybe:
 * alloc_totals must read nsmall[c] from now on (owner). */
static inline void class_used(tc_mutator *m, int c)
{
    _Atomic uint64_t *w = &m->classes_used[c >> 6];
    uint64_t used = atomic_load_explicit(w, memory_order_relaxed), bit = (uint64_t)1 << (c & 63);
    if (!(used & bit))
        atomic_store_explicit(w, used | bit, memory_order_relaxed);
}

/* report_alloc — hand the mutator's unreported allocation to the heap and
 * start a collection if the heap passed its trigger. Either may park the
 * mutator (a pause, an assist, a cycle); false if the heap was closed
 * meanwhile: the caller maps nothing more for it. */
static bool report_alloc(tc_mutator *m)
{
    tc_heap *h = m->heap;
    tc_safepoint(m); /* a raw section that only allocates still stops for pauses */
    uint64_t total = alloc_bytes_total(m), bytes = total - m->reported;
    if (bytes) {
        atomic_fetch_add_explicit(&h->flushed_bytes, bytes, memory_order_relaxed);
        m->reported = total;
    }
    collector_maybe_trigger(m, bytes);
    if (atomic_load_explicit(&h->ev.tracing, memory_order_relaxed))
        trace_counters(h, false); /* the trace's heap curves, every 10 ms of allocation */
    return !atomic_load_explicit(&h->closed, memory_order_acquire);
}

/* flushq_add — m is about to cache a span or count a large object: the
 * next pause's flush_all must visit it (cycle.c). heap->lock held. */
static inline void flushq_add(tc_heap *h, tc_mutator *m)
{
    if (!m->in_flushq) {
        m->in_flushq = true;
        m->flush_next = h->flushq;
        h->flushq = m;
    }
}

/* prefault_parked — fault in fresh pages (pages_prefault_claim) with m
 * parked: a page fault cannot look for a pause, and one first touch of a
 * page the host has never backed took up to 800 us of CPU on the pause
 * workload's building (perf: the kernel's page allocator under
 * exc_page_fault, from the fast path's header and alloc-bit stores), so
 * a pause waited for it. Parked, a pause runs meanwhile: the span the
 * pages are for is in no list and has no alloc bit, as a large object's
 * is while it is cleared (clear_large), and its sweepgen is set after. */
static void prefault_parked(tc_mutator *m, const prefault_range *pf)
{
    mutator_park(m);
    int one = 1;
    if (atomic_compare_exchange_strong(&m->heap->debug_prefault_hold, &one, 2)) /* test hook */
        while (atomic_load(&m->heap->debug_prefault_hold) == 2)
            plat_cpu_relax();
    pages_prefault(m->heap, pf);
    mutator_unpark(m);
}

/* refill — give mutator m a span of class c with a free slot. */
static span *refill(tc_mutator *m, int c)
{
    tc_heap *h = m->heap;
    if (!report_alloc(m))
        return NULL;
    plat_lock(&h->lock);
    span *old = m->cache[c];
    if (old) {
        old->cached = 0;
        old->nalloc = old->nelems;
        m->cache[c] = NULL;
        m->ncached--;
    }
    span *s;
    /* lazy sweeping: sweep unswept spans of this class until one has room,
     * at most REFILL_SWEEP_MAX of them; a span swept empty went back to the
     * page heap, where the allocation below finds it, so stop there too
     * (garbage that dies whole subtrees at a time leaves spans full or
     * empty, and one refill used to sweep a whole class) */
    uint64_t swept_t0 = 0, swept_t1 = 0; /* the lazy sweep's GC event, recorded outside the lock */
    sweep_tally swept_from = sweep_tally_now();
    for (int k = 0; k < REFILL_SWEEP_MAX && !h->partial[c] && (s = sweep_take(h, c)) != NULL; k++) {
        uint64_t free_before = h->spans_inuse;
        pthread_mutex_unlock(&h->lock);
        if (!swept_t0)
            swept_t0 = plat_now_ns();
        sweep_span(h, s);
        swept_t1 = plat_now_ns();
        plat_lock(&h->lock);
        if (h->spans_inuse < free_before)
            break;
    }
    s = h->partial[c];
    if (s) {
        span_list_remove(&h->partial[c], s);
    } else {
        s = pages_alloc(h, sc_npages[c]);
        if (!s) {
            pthread_mutex_unlock(&h->lock);
            if (swept_t0)
                sweep_event(h, EV_SWEEP, swept_t0, swept_t1, swept_from);
            return NULL;
        }
        span_init_class(s, c);
        prefault_range pf;
        if (pages_prefault_claim(h, s, &pf)) { /* s is in no list meanwhile (prefault_parked) */
            m->clearing = s;                  /* a fork meanwhile hands it back in the child (fork.c) */
            pthread_mutex_unlock(&h->lock);
            prefault_parked(m, &pf);
            plat_lock(&h->lock);
            m->clearing = NULL;
        }
        atomic_store(&s->sweepgen, atomic_load(&h->sweepgen)); /* after the wait: as alloc_large's */
    }
    span_list_push(&h->full[c], s);
    s->cached = 1;
    class_used(m, c);
    m->cache[c] = s;
    m->ncached++;
    flushq_add(h, m);
    pthread_mutex_unlock(&h->lock);
    group_zero(s); /* the group the sweep or span_init_class loaded; s is ours now */
    group_loaded(m, s);
    if (swept_t0)
        sweep_event(h, EV_SWEEP, swept_t0, swept_t1, swept_from);
    return s;
}

static tc_obj *alloc_small(tc_mutator *m, size_t nslots, size_t size, size_t bytes)
{
    int c = sizeclass_of(bytes);
    /* a look for a pause at every group of 64 slots, not only at a refill
     * (a span's worth: 512 small objects), bounds what a pause waits for
     * (cycle.c); before the cache is read, which the stopper may flush */
    tc_safepoint(m);
    span *s = m->cache[c];
    uint32_t i;
    if (!s || !span_next_free(m, s, &i)) {
        s = refill(m, c);
        if (!s || !span_next_free(m, s, &i))
            return NULL;
    }
    return alloc_finish(m, s, s->base + (size_t)i * s->elemsize, nslots, size, c); /* cleared with its group */
}

#define ALLOC_CLEAR_CHUNK ((size_t)256 << 10) /* bytes a large clear does between two looks for a pause */

/* clear_large — zero a large object's reused pages, looking for a pause
 * after each chunk: the clear is proportional to the object (a 1 GiB one
 * took a whole pause's wait), and a pause must not wait for it. Meanwhile
 * the span is in no list and its object unpublished (no alloc bit): no
 * marker, sweeper or checker the pause lets run can see it. */
static void clear_large(tc_mutator *m, uintptr_t base, size_t bytes)
{
    int one = 1;
    if (atomic_compare_exchange_strong(&m->heap->debug_clear_hold, &one, 2)) /* test hook */
        while (!atomic_load(&m->heap->stw))
            plat_cpu_relax();
    for (size_t off = 0; off < bytes; off += ALLOC_CLEAR_CHUNK) {
        memset((void *)(base + off), 0, bytes - off < ALLOC_CLEAR_CHUNK ? bytes - off : ALLOC_CLEAR_CHUNK);
        tc_safepoint(m);
    }
}

static tc_obj *alloc_large(tc_mutator *m, size_t bytes)
{
    tc_heap *h = m->heap;
    size_t npages = (bytes + TC_PAGE_SIZE - 1) >> TC_PAGE_SHIFT;
    if (!report_alloc(m))
        return NULL;
    plat_lock(&h->lock);
    span *s = pages_alloc(h, npages);
    if (!s) {
        pthread_mutex_unlock(&h->lock);
        return NULL;
    }
    s->sizeclass = 0;
    s->elemsize = (uint32_t)(npages << TC_PAGE_SHIFT > 0xffffffffu ? 0 : npages << TC_PAGE_SHIFT);
    s->nelems = 1;
    s->nalloc = 1;
    span_set_bitmaps(s);
    bool zero = s->needzero;
    if (zero) { /* cleared first, out of every list, looking for pauses (clear_large) */
        m->clearing = s;
        pthread_mutex_unlock(&h->lock);
        clear_large(m, s->base, bytes);
        plat_lock(&h->lock);
        m->clearing = NULL;
    }
    /* swept as of now: a cycle that ended during the clear must not sweep it */
    atomic_store(&s->sweepgen, atomic_load(&h->sweepgen));
    span_list_push(&h->large, s);
    flushq_add(h, m);
    pthread_mutex_unlock(&h->lock);
    return (tc_obj *)s->base; /* the caller writes the header, then publishes it */
}

/* publish_large — the alloc bit of a large object, after its header is
 * written, and during mark its black bit (no group: it is its span's one
 * slot, and no cache holds it). */
static void publish_large(tc_mutator *m, tc_obj *o)
{
    span *s = span_of(arena_of((uintptr_t)o), (uintptr_t)o);
    if (atomic_load_explicit(&m->heap->phase, memory_order_relaxed) == PHASE_MARK)
        set_black(s, 0, 1);
    alloc_set_bits(s, (uintptr_t)o);
}


/* retry_cycle — the cycle an allocation the heap refused waits for. With
 * the collector thread that wait is the thread's limit wait (GC event).
 * The incremental collector runs the whole cycle here: its pauses are
 * events of their own, and the rest (mark and sweep on this thread) is a
 * limit wait counted net of them, so delay_total does not count a pause
 * twice. Under stw the cycle is one pause. */
static tc_status retry_cycle(tc_mutator *m)
{
    tc_heap *h = m->heap;
    uint64_t t0 = plat_now_ns(), paused0 = stats_pause_total(h);
    tc_status st = collector_cycle(h, m, false);
    uint64_t t1 = plat_now_ns();
    if (h->thread_started) {
        ev_record(h, EV_LIMIT_WAIT, t0, t1, 0);
    } else if (h->cfg.collector == TC_COLLECTOR_INCREMENTAL && !h->cfg.gcstoptheworld) {
        uint64_t paused = stats_pause_total(h) - paused0;
        ev_record_net(h, EV_LIMIT_WAIT, t0, t1, t1 - t0 > paused ? t1 - t0 - paused : 0);
    }
    return st;
}

/* alloc_object_slow — every case the fast path does not take: a new span
 * for the cache (which may start a collection), large objects, and a
 * refusal, after which it collects once and tries again. */
__attribute__((noinline)) tc_obj *alloc_object_slow(tc_mutator *m, size_t nslots, size_t size)
{
    size_t bytes = obj_bytes(nslots, size);
    if (bytes > ALLOC_MAX_BYTES) {
        tc_fail(TC_ERR_NOMEM, "object of %zu bytes is larger than the largest span (4 GiB)", bytes);
        return NULL;
    }
    tc_obj *o = NULL;
    for (int attempt = 0; attempt < 2 && !o; attempt++) {
        if (bytes <= SC_MAX_SIZE) {
            o = alloc_small(m, nslots, size, bytes);
        } else if ((o = alloc_large(m, bytes)) != NULL) {
            obj_hdr(o)->nslots = (uint32_t)nslots;
            obj_hdr(o)->size = (uint32_t)size;
            publish_large(m, o);
            count_large(m, (bytes + TC_PAGE_SIZE - 1) & ~(TC_PAGE_SIZE - 1));
        }
        if (!o && attempt == 0 && m->heap->cfg.collector == TC_COLLECTOR_MANUAL)
            break; /* only the program starts a manual heap's cycles (manual.c) */
        if (!o && attempt == 0 && retry_cycle(m) == TC_ERR_CLOSED)
            break;
    }
    if (!o && atomic_load(&m->heap->closed))
        tc_fail(TC_ERR_CLOSED, "the heap was closed during the allocation");
    else if (!o)
        tc_fail(TC_ERR_NOMEM, "cannot allocate %zu bytes: the OS refused memory or the heap passed its "
                "hard limit", bytes);
    return o;
}

/* alloc_flush_cache — give back m's cached spans (world stopped or owner). */
void alloc_flush_cache(tc_mutator *m)
{
    for (int c = 1; m->ncached && c < sc_count; c++) {
        span *s = m->cache[c];
        if (s) {
            s->cached = 0;
            m->cache[c] = NULL;
            m->ncached--;
        }
    }
}
