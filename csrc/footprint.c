/*
 * footprint.c — heap_debug_footprint: where the heap's memory is at one
 * moment (footprint.h states what the parts are and how they sum).
 *
 * The walk: every arena, page by page up to its frontier through the span
 * map, one span at a time (a span's first page maps to it, whatever its
 * state), under heap->lock, which every change of a page's owner takes
 * (span.c); a span being swept outside the lock (sweepers) is counted as it
 * stands. Residency comes after the lock is dropped: mincore over each
 * arena's committed bytes and the part of each side table they cover.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "footprint.h"
#include "heap.h"

_Static_assert(TC_FOOTPRINT_CLASSES == SC_MAX_CLASSES, "one row per size class");

static uint64_t load(_Atomic uint64_t *w) { return atomic_load_explicit(w, memory_order_relaxed); }

/* count_span — an in-use span's objects, and the ones an unswept span
 * will free (alloc bits with neither mark nor black bit). */
static void count_span(tc_heap *h, span *s, tc_footprint *out)
{
    tc_footprint_class *c = &out->cls[s->sizeclass];
    uint64_t bytes = (uint64_t)s->npages << TC_PAGE_SHIFT;
    bool unswept = atomic_load(&h->phase) == PHASE_SWEEP &&
                   atomic_load_explicit(&s->sweepgen, memory_order_relaxed) != atomic_load(&h->sweepgen);
    size_t words = bytes / 512; /* one pair of words per 512 bytes of heap */
    uint64_t objects = 0, garbage = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t a = load(&s->pbits[i].alloc);
        objects += (uint64_t)__builtin_popcountll(a);
        if (unswept)
            garbage += (uint64_t)__builtin_popcountll(a & ~(load(&s->pbits[i].mark) | load(&s->bbits[i])));
    }
    c->spans++;
    c->bytes += bytes;
    c->objects += objects;
    c->garbage += garbage;
    uint64_t nelems = s->sizeclass ? s->nelems : 1;
    c->size = s->sizeclass ? s->elemsize : 0;
    c->free_slots += nelems > objects ? nelems - objects : 0;
    c->tail += s->sizeclass ? bytes - (uint64_t)s->nelems * s->elemsize : 0;
    if (unswept) {
        c->unswept_spans++;
        out->unswept_bytes += bytes;
    }
    uint64_t slot = s->sizeclass ? s->elemsize : bytes;
    out->obj_bytes += objects * slot;
    out->garbage_bytes += garbage * slot;
    out->free_slot_bytes += (nelems > objects ? nelems - objects : 0) * slot;
    out->tail_bytes += c->size ? bytes - (uint64_t)s->nelems * s->elemsize : 0;
}

/* walk_arena — every span of a (lock held). */
static void walk_arena(tc_heap *h, arena *a, tc_footprint *out)
{
    size_t frontier = atomic_load_explicit(&a->frontier, memory_order_relaxed);
    for (size_t pg = 0; pg < frontier;) {
        span *s = a->spans[pg];
        uint64_t bytes = (uint64_t)s->npages << TC_PAGE_SHIFT;
        if (s->state == SPAN_INUSE) {
            out->inuse_spans++;
            out->inuse_bytes += bytes;
            count_span(h, s, out);
        } else if (s->state == SPAN_FREE) {
            out->free_bytes += bytes;
            out->free_released += (uint64_t)s->released << TC_PAGE_SHIFT;
        } else {
            out->scav_bytes += bytes;
        }
        pg += s->npages;
    }
    out->uncarved_bytes += a->committed - ((uint64_t)frontier << TC_PAGE_SHIFT);
}

/* resident — bytes of [p, p + len) the kernel holds (mincore); len is
 * rounded out to whole pages. false: no memory for the vector. */
static bool resident(const void *p, size_t len, uint64_t *sum)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(pg - 1), hi = ((uintptr_t)p + len + pg - 1) & ~(uintptr_t)(pg - 1);
    if (!p || hi <= lo)
        return true;
    size_t n = (hi - lo) / pg;
    unsigned char *vec = malloc(n);
    if (!vec)
        return false;
    if (mincore((void *)lo, hi - lo, vec) == 0)
        for (size_t i = 0; i < n; i++)
            *sum += (vec[i] & 1) ? pg : 0;
    free(vec);
    return true;
}

static uint64_t process_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    int got = f ? fscanf(f, "%llu %llu", &size, &rss) : 0;
    if (f)
        fclose(f);
    return got == 2 ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

tc_status heap_debug_footprint(tc_heap *h, tc_footprint *out)
{
    *out = (tc_footprint){0};
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    arena *as[TC_MAX_ARENAS];
    size_t committed[TC_MAX_ARENAS];
    plat_lock(&h->lock);
    int n = h->narenas;
    for (int i = 0; i < n; i++) {
        as[i] = h->arenas[i];
        committed[i] = as[i]->committed;
        walk_arena(h, as[i], out);
    }
    out->heap_sys = h->sys_bytes;
    out->gc_sys = h->gc_sys_bytes;
    pthread_mutex_unlock(&h->lock);
    out->phase = atomic_load(&h->phase);
    uint64_t tables = 0; /* gc_sys's side-table part (span.c's arena_grow counts it so) */
    bool ok = true;
    for (int i = 0; i < n; i++) { /* arenas and their tables stay mapped until the heap closes */
        arena *a = as[i];
        size_t c = committed[i];
        tables += c / 64 * 3 + (c >> TC_REGION_SHIFT) * sizeof *a->owners;
        ok = ok && resident((void *)a->base, c, &out->arena_rss);
        ok = ok && resident(a->bits, c / 64 * 2, &out->bits_rss);
        ok = ok && resident(a->blackbits, c / 64, &out->black_rss);
        ok = ok && resident(a->spans, (c >> TC_PAGE_SHIFT) * sizeof *a->spans, &out->spanmap_rss);
        ok = ok && resident(a->owners, (c >> TC_REGION_SHIFT) * sizeof *a->owners, &out->owners_rss);
    }
    out->span_structs = out->gc_sys > tables ? out->gc_sys - tables : 0;
    out->process_rss = process_rss();
    return ok ? TC_OK : tc_fail(TC_ERR_NOMEM, "no memory for mincore's vector");
}
