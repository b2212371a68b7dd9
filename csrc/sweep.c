/*
 * sweep.c — sweeping by bitmaps: mark bits become alloc bits.
 *
 * Sweeping a span is word-wise over its stretch of the arena bitmaps:
 *     live = mark | black;  freed = alloc & ~live;  alloc &= live;  mark = black = 0
 * (alloc bits are set only at object starts, so the AND needs no gather).
 * Only a span flagged `black` (span.h: set_black sets the flag before any
 * black bit, and only set_black sets black bits) has its black words read
 * and cleared: the black bits are a separate array, and reading it for
 * every span was half the sweep's CPU on GCBench (1,064 -> 570 us a cycle
 * at gogc=400 with no black read at all), most spans having had no
 * allocation during the mark. The flag is cleared with the bits, by the
 * span's owner (the sweeper), before a new mark can set it again.
 * A span left empty goes back to the page heap; one with room goes on its
 * class's partial list; a full one on the full list.
 *
 * At mark termination (world stopped) every in-use span becomes unswept:
 * the swept lists are moved whole onto the unswept lists (O(classes)).
 * After that, spans are swept one at a time, concurrently, by the
 * background sweeper (the collector thread, or incremental slices) and by
 * mutators that need a span to allocate from (lazy sweeping). Whoever takes
 * a span off an unswept list (under heap->lock) owns it until it is filed
 * again, so no span is swept twice and no allocation happens in an unswept
 * span. A new mark phase starts only once every span is swept
 * (sweep_finish), so stale mark bits never survive into the next cycle.
 *
 * The background sweeper's whole sweep (sweep_finish, sweep_all) claims
 * up to SWEEP_BATCH spans under one hold of heap->lock, sweeps their bits
 * with no lock, and files them all under a second hold: two lock round
 * trips per batch instead of two per span. That lock is the one every
 * allocating mutator's refill takes, so on a heap of a few MiB (thousands
 * of 8 KiB spans per cycle) the per-span round trips, and the spinning in
 * plat_lock while a mutator held it, were a large part of the sweep's CPU.
 * While it sweeps one span of the batch it prefetches the bitmap words of
 * the span SWEEP_AHEAD places on (a batch's spans lie anywhere in the
 * arena, so each span's words were a fresh cache miss the sweep waited
 * for). The batch changes no invariant: its spans are owned (counted in
 * `sweepers`) from the claim to the filing like a single span's, so
 * sweep_done still waits for them; a mutator that finds its class's
 * unswept lists empty meanwhile allocates from the page heap, as it would
 * had the sweeper taken one span; the batch is small (SWEEP_BATCH spans,
 * a few microseconds of bit work) so it holds few spans away from them.
 */
#include <sched.h>
#include <string.h>

#include "heap.h"
#include "special.h"
#include "sweep.h"

#define SWEEP_BATCH 16 /* spans the background sweeper claims per hold of heap->lock (see the top) */
#define SWEEP_AHEAD 2  /* spans of a batch whose bitmap words are prefetched ahead of the one swept */

/* sweep_bits — the bitmap work for one span; returns live objects. Built
 * twice, with and without the popcnt instruction, picked at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__) && \
    !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("popcnt", "default")))
#endif
static uint32_t sweep_bits(tc_heap *h, span *s, uint64_t *freed_out)
{
    arena *a = arena_of(s->base);
    size_t first = span_first_word(a, s), n = s->sizeclass ? span_words(s) : 1;
    bool black = atomic_load_explicit(&s->black, memory_order_relaxed); /* else its black bits are all 0 */
    uint64_t live = 0, freed = 0;
    for (size_t w = first; w < first + n; w++) {
        uint64_t al = atomic_load_explicit(&a->bits[w].alloc, memory_order_relaxed);
        uint64_t mk = atomic_load_explicit(&a->bits[w].mark, memory_order_relaxed) |
                      (black ? atomic_load_explicit(&a->blackbits[w], memory_order_relaxed) : 0);
        if (!al && !mk)
            continue;
        freed += (uint64_t)__builtin_popcountll(al & ~mk);
        live += (uint64_t)__builtin_popcountll(al & mk);
        atomic_store_explicit(&a->bits[w].alloc, al & mk, memory_order_relaxed);
        atomic_store_explicit(&a->bits[w].mark, 0, memory_order_relaxed);
        if (black)
            atomic_store_explicit(&a->blackbits[w], 0, memory_order_relaxed);
    }
    if (black)
        atomic_store_explicit(&s->black, 0, memory_order_relaxed);
    *freed_out = freed;
    return (uint32_t)live;
}

/* file_span — put a swept span where it belongs (lock held). */
static void file_span(tc_heap *h, span *s, uint32_t live)
{
    s->nalloc = live;
    s->needzero = 1; /* it has held objects: reused slots need clearing */
    if (live == 0) {
        pages_free(h, s);
    } else if (s->sizeclass == 0) {
        span_list_push(&h->large, s);
    } else if (live < s->nelems) {
        span_refill_cache(s);
        span_list_push(&h->partial[s->sizeclass], s);
    } else {
        span_list_push(&h->full[s->sizeclass], s);
    }
}

static _Thread_local sweep_tally tally; /* this thread's sweeping, all heaps (sweep_tally_now) */

sweep_tally sweep_tally_now(void) { return tally; }

void sweep_event(tc_heap *h, int k, uint64_t t0, uint64_t t1, sweep_tally since)
{
    ev_record_objs(h, (ev_kind)k, t0, t1, tally.bytes - since.bytes, tally.objects - since.objects);
}

static void account(tc_heap *h, span *s, uint64_t freed, uint32_t live)
{
    uint64_t esize = s->sizeclass ? s->elemsize : (uint64_t)s->npages << TC_PAGE_SHIFT;
    tally.objects += freed;
    tally.bytes += freed * esize;
    h->frees += freed;
    h->freed_bytes += freed * esize;
    h->sweep_live_bytes += (uint64_t)live * esize;
    h->sweep_live_objects += live;
    h->sweep_freed_objects += freed;
}

static bool sweep_batch(tc_heap *h);

/* sweep_all — sweep every span now (world stopped, caches flushed). */
void sweep_all(tc_heap *h)
{
    sweep_begin(h);
    while (sweep_batch(h)) {
    }
}

/* sweep_begin — every in-use span becomes unswept (world stopped, caches
 * flushed: cached spans are on the full lists). */
void sweep_begin(tc_heap *h)
{
    plat_lock(&h->lock);
    for (int c = 1; c < sc_count; c++) {
        h->unswept_p[c] = h->partial[c];
        h->unswept_f[c] = h->full[c];
        h->partial[c] = h->full[c] = NULL;
    }
    h->unswept_large = h->large;
    h->large = NULL;
    h->sweep_live_bytes = 0;
    h->sweep_live_objects = 0;
    h->sweep_freed_objects = 0;
    atomic_fetch_add(&h->sweepgen, 1);
    pthread_mutex_unlock(&h->lock);
}

/* sweep_take — claim an unswept span of class c (c = 0: any span, large
 * ones first). Lock held. */
span *sweep_take(tc_heap *h, int c)
{
    span *s = NULL;
    if (c > 0) {
        if (!(s = span_list_pop(&h->unswept_p[c])))
            s = span_list_pop(&h->unswept_f[c]);
    } else {
        s = span_list_pop(&h->unswept_large);
        for (int k = 1; !s && k < sc_count; k++)
            if (!(s = span_list_pop(&h->unswept_p[k])))
                s = span_list_pop(&h->unswept_f[k]);
    }
    if (s)
        h->sweepers++;
    return s;
}

/* sweep_span — sweep a claimed span (lock not held) and file it; true if
 * it still has a free slot (it was then filed on the partial list). */
bool sweep_span(tc_heap *h, span *s)
{
    special_sweep(h, s);
    uint64_t freed;
    uint32_t live = sweep_bits(h, s, &freed);
    plat_lock(&h->lock);
    account(h, s, freed, live);
    file_span(h, s, live);
    h->sweepers--;
    pthread_mutex_unlock(&h->lock);
    return live && live < s->nelems;
}

/* take_batch — sweep_take(h, 0) up to SWEEP_BATCH times in one walk over
 * the lists (lock held): large spans first, then class by class. */
static int take_batch(tc_heap *h, span **b)
{
    int n = 0;
    while (n < SWEEP_BATCH && (b[n] = span_list_pop(&h->unswept_large)) != NULL)
        n++;
    for (int k = 1; n < SWEEP_BATCH && k < sc_count; k++) {
        while (n < SWEEP_BATCH && (b[n] = span_list_pop(&h->unswept_p[k])) != NULL)
            n++;
        while (n < SWEEP_BATCH && (b[n] = span_list_pop(&h->unswept_f[k])) != NULL)
            n++;
    }
    h->sweepers += n;
    return n;
}

/* prefetch_bits — ask for a claimed span's alloc / mark words (and its
 * black words if flagged) ahead of sweep_bits: a hint, no lock. */
static inline void prefetch_bits(const span *s)
{
    size_t n = s->sizeclass ? span_words(s) : 1;
    const char *p = (const char *)s->pbits, *k = (const char *)s->bbits;
    for (size_t off = 0; off < n * sizeof(bmpair); off += 64)
        __builtin_prefetch(p + off, 1);
    if (atomic_load_explicit(&s->black, memory_order_relaxed))
        for (size_t off = 0; off < n * sizeof(uint64_t); off += 64)
            __builtin_prefetch(k + off, 1);
}

/* sweep_batch — claim up to SWEEP_BATCH unswept spans (any class) under
 * one hold of the lock, sweep them unlocked, file them under one more;
 * false if none was left. */
static bool sweep_batch(tc_heap *h)
{
    span *b[SWEEP_BATCH];
    uint64_t freed[SWEEP_BATCH];
    uint32_t live[SWEEP_BATCH];
    plat_lock(&h->lock);
    int n = take_batch(h, b);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < n && i < SWEEP_AHEAD; i++)
        prefetch_bits(b[i]);
    for (int i = 0; i < n; i++) {
        if (i + SWEEP_AHEAD < n)
            prefetch_bits(b[i + SWEEP_AHEAD]);
        special_sweep(h, b[i]);
        live[i] = sweep_bits(h, b[i], &freed[i]);
    }
    if (!n)
        return false;
    plat_lock(&h->lock);
    for (int i = 0; i < n; i++) {
        account(h, b[i], freed[i], live[i]);
        file_span(h, b[i], live[i]);
    }
    h->sweepers -= n;
    pthread_mutex_unlock(&h->lock);
    return true;
}

bool sweep_step(tc_heap *h)
{
    plat_lock(&h->lock);
    span *s = sweep_take(h, 0);
    pthread_mutex_unlock(&h->lock);
    if (!s)
        return false;
    sweep_span(h, s);
    return true;
}

bool sweep_done(tc_heap *h)
{
    plat_lock(&h->lock);
    bool done = h->sweepers == 0 && !h->unswept_large;
    for (int c = 1; done && c < sc_count; c++)
        done = !h->unswept_p[c] && !h->unswept_f[c];
    pthread_mutex_unlock(&h->lock);
    return done;
}

/* sweep_finish — sweep what is left and wait out sweeps in progress. */
void sweep_finish(tc_heap *h)
{
    while (sweep_batch(h)) {
    }
    while (!sweep_done(h))
        sched_yield();
}
