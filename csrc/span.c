/*
 * span.c — arenas from mmap, the address -> span map, the page heap.
 *
 * Owns: the process-wide arena table, each heap's arenas and its free page
 * runs. Free runs live in buckets by exact page count (the last bucket holds
 * every larger run, searched first-fit); freeing coalesces with both
 * neighbours through the span map, so free spans never touch. A bit per
 * bucket (freemask) says which buckets hold a run, so a request finds the
 * first bucket that fits with a count-trailing-zeros instead of walking up
 * to 127 empty list heads (a one-page refill of a heap whose free runs are
 * all large used to, on every refill: GCBench). Only free_push and
 * free_remove change the buckets; each keeps its bit equal to "not empty".
 * Free runs never touch, with one exception the scavenger makes: a run
 * whose pages are all released (s->released == s->npages) may touch runs
 * that still hold pages, because `released` is a count, not a map, and
 * merging would lose which pages are already given back (the scavenger
 * would release them again). pages_free merges with every free neighbour
 * as before (its run then holds some of both, counted in proportion).
 * Released runs go to the tail of their list (free_push_tail), so a
 * request takes runs that still hold pages first and faults nothing back.
 * Span structs come from a per-heap pool and are never handed back to
 * malloc while the heap lives: a stale span-map entry always points at a
 * span struct, which validation (range + state check) can read safely.
 * All functions here run with heap->lock held.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "plant.h"
#include "platform.h"

arena *_Atomic tc_arena_table[1u << 16];

#define SPAN_SLAB 63       /* with the slab's link (one line), SLAB_BYTES */
#define SLAB_BYTES 8192    /* two pages, mapped whole */
#define ARENA_PROBES 32 /* free 4 GiB slots tried (nearest the kernel's choice first) when it shares one with another arena */

/* the side tables of an arena of `size` bytes */
#define PREFAULT_BYTES ((size_t)256 << 10) /* fresh heap a refill faults in at once, parked (pages_prefault) */

static size_t spanmap_bytes(size_t size) { return (size >> TC_PAGE_SHIFT) * sizeof(span *); }
static size_t bitmap_bytes(size_t size) { return size / 64; }
static size_t owners_bytes(size_t size) { return (size >> TC_REGION_SHIFT) * sizeof(uint32_t); }

typedef struct span_slab {
    struct span_slab *next;
    span spans[SPAN_SLAB];
} span_slab;

/* span_slab_map — a new slab, zeroed, from mmap, not malloc: the refill
 * that prefaults makes it parked (pages_prefault), so a fork may copy the
 * process while it is inside; malloc is safe in such a child only if it
 * locks itself around fork (glibc's does, ASan's did not: its child's first
 * malloc of that size hung in 2 of 150 runs of the fork tests under ASan). */
static span_slab *span_slab_map(void)
{
    _Static_assert(sizeof(span_slab) <= SLAB_BYTES, "a slab fits its pages");
    return plat_map_lazy(SLAB_BYTES);
}

/* span_slab_add — put a new slab's spans in the pool (heap->lock). */
static void span_slab_add(tc_heap *h, span_slab *sl)
{
    sl->next = h->span_slabs;
    h->span_slabs = sl;
    h->gc_sys_bytes += SLAB_BYTES;
    for (int i = SPAN_SLAB - 1; i >= 0; i--) {
        sl->spans[i].next = h->span_pool;
        h->span_pool = &sl->spans[i];
    }
}

/* span_pool_low — fewer than SPAN_SLAB / 4 spans left in the pool
 * (heap->lock): a refill that prefaults makes the next slab (its first
 * touch faults too) while it is parked. */
static bool span_pool_low(const tc_heap *h)
{
    const span *s = h->span_pool;
    for (int i = 0; i < SPAN_SLAB / 4 && s; i++)
        s = s->next;
    return !s;
}

static span *span_new(tc_heap *h)
{
    if (!h->span_pool) {
        span_slab *sl = span_slab_map(); /* page-aligned: spans are cache-line aligned (span.h) */
        if (!sl)
            return NULL;
        span_slab_add(h, sl);
    }
    span *s = h->span_pool;
    h->span_pool = s->next;
    memset(s, 0, sizeof *s);
    return s;
}

static void span_dispose(tc_heap *h, span *s)
{
    s->state = SPAN_FREE;
    s->npages = 0;
    s->next = h->span_pool;
    h->span_pool = s;
}

static int bucket_of(size_t npages) { return npages < TC_FREE_BUCKETS ? (int)npages : TC_FREE_BUCKETS - 1; }

_Static_assert(TC_FREE_BUCKETS % 64 == 0, "freemask: whole words");

/* free_push, free_push_tail, free_remove — a free run into (at the head
 * or the tail) / out of its bucket, keeping the bucket's freemask bit (the
 * top) equal to "bucket not empty" and freetail at the list's last run. */
static void free_push(tc_heap *h, span *s)
{
    int b = bucket_of(s->npages);
    if (!h->freelist[b])
        h->freetail[b] = s;
    span_list_push(&h->freelist[b], s);
    h->freemask[b >> 6] |= (uint64_t)1 << (b & 63);
}

static void free_push_tail(tc_heap *h, span *s)
{
    int b = bucket_of(s->npages);
    span *t = h->freetail[b];
    if (!t) {
        free_push(h, s);
        return;
    }
    s->next = NULL;
    s->prev = t;
    t->next = s;
    h->freetail[b] = s;
}

static void free_remove(tc_heap *h, span *s)
{
    int b = bucket_of(s->npages);
    if (h->freetail[b] == s)
        h->freetail[b] = s->prev;
    span_list_remove(&h->freelist[b], s);
    if (!h->freelist[b])
        h->freemask[b >> 6] &= ~((uint64_t)1 << (b & 63));
}

static void map_range(arena *a, span *s, bool ends_only)
{
    size_t first = (s->base - a->base) >> TC_PAGE_SHIFT;
    if (ends_only) {
        a->spans[first] = s;
        a->spans[first + s->npages - 1] = s;
        return;
    }
    for (size_t i = 0; i < s->npages; i++)
        a->spans[first + i] = s;
}

/* free_insert — put a free run in its bucket, mapping its end pages. */
static void free_insert(tc_heap *h, arena *a, span *s)
{
    s->state = SPAN_FREE;
    map_range(a, s, true);
    free_push(h, s);
}

/* arena_tables — map the side tables of a, sized for a->size. */
static bool arena_tables(arena *a)
{
    a->spans = plat_map_lazy(spanmap_bytes(a->size));
    a->bits = plat_map_lazy(2 * bitmap_bytes(a->size)); /* alloc and mark words, interleaved (span.h) */
    a->blackbits = plat_map_lazy(bitmap_bytes(a->size));
    a->owners = plat_map_lazy(owners_bytes(a->size));
    return a->spans && a->bits && a->blackbits && a->owners;
}

/* arena_unmap — give back a's reservation and side tables (not a itself). */
static void arena_unmap(arena *a)
{
    if (a->base)
        plat_unreserve((void *)a->base, a->size);
    plat_unmap(a->spans, spanmap_bytes(a->size));
    plat_unmap((void *)a->bits, 2 * bitmap_bytes(a->size));
    plat_unmap((void *)a->blackbits, bitmap_bytes(a->size));
    plat_unmap((void *)a->checkbits, bitmap_bytes(a->size));
    plat_unmap((void *)a->owners, owners_bytes(a->size));
}

/* slots_claim — register a in the arena table for every 4 GiB slot it
 * covers (one or two); false, with nothing claimed, if another arena holds
 * one of them (the kernel placed two reservations of different heaps in one
 * slot; both are ours to move). */
static bool slots_claim(arena *a)
{
    size_t first = a->base >> TC_ARENA_SHIFT, last = (a->base + a->size - 1) >> TC_ARENA_SHIFT;
    for (size_t i = first; i <= last; i++) {
        arena *none = NULL;
        if (!atomic_compare_exchange_strong_explicit(&tc_arena_table[i], &none, a, memory_order_release,
                                                     memory_order_relaxed)) {
            while (i-- > first)
                atomic_store_explicit(&tc_arena_table[i], NULL, memory_order_relaxed);
            return false;
        }
    }
    return true;
}

static void slots_release(arena *a)
{
    size_t first = a->base >> TC_ARENA_SHIFT, last = (a->base + a->size - 1) >> TC_ARENA_SHIFT;
    for (size_t i = first; i <= last; i++)
        atomic_store_explicit(&tc_arena_table[i], NULL, memory_order_release);
}

/* arena_place — reserve `size` bytes for a and claim their slots. Where
 * the kernel puts the reservation is usually fine; if that shares a slot
 * with another arena (the kernel packs mappings, so a second heap's arena
 * often lands beside the first), it is given back and a is placed at the
 * start of a free slot nearby instead (only `size` bytes mapped at a time:
 * under an address-space cap nothing may be kept aside). */
static bool arena_place(arena *a, size_t size)
{
    void *base = plat_reserve(size, TC_ARENA_ALIGN);
    if (!base)
        return false;
    a->base = (uintptr_t)base;
    a->size = size;
    if (slots_claim(a))
        return true;
    plat_unreserve(base, size);
    size_t home = (uintptr_t)base >> TC_ARENA_SHIFT;
    /* Slots the table already holds (other heaps' arenas, which cluster
     * where the kernel maps) are stepped over without counting: only
     * reservations the OS refuses use up the ARENA_PROBES tries, so any
     * number of live heaps finds room while the address space has it. */
    int tries = 0;
    for (size_t k = 1; tries < ARENA_PROBES && k < (2u << 16); k++) {
        size_t slot = k & 1 ? home - (k + 1) / 2 : home + k / 2; /* below first: free space grows down */
        if (slot == 0 || slot >= (1u << 16) || atomic_load_explicit(&tc_arena_table[slot], memory_order_relaxed))
            continue;
        tries++;
        if (!(base = plat_reserve_at((uintptr_t)slot << TC_ARENA_SHIFT, size)))
            continue;
        a->base = (uintptr_t)base; /* at a slot's start, <= 4 GiB: it covers that slot only */
        if (slots_claim(a))
            return true;
        plat_unreserve(base, size);
    }
    a->base = 0;
    return false;
}

/* arena_new — reserve and register a new arena with room for npages:
 * 4 GiB if the OS grants it, else the largest power of two it grants down
 * to TC_ARENA_MIN (or npages' worth, if larger). NULL if refused. */
static arena *arena_new(tc_heap *h, size_t npages)
{
    if (h->narenas >= TC_MAX_ARENAS)
        return NULL;
    arena *a = plat_calloc_lines(sizeof *a);
    if (!a)
        return NULL;
    size_t need = npages << TC_PAGE_SHIFT, size = TC_ARENA_SIZE;
    size_t least = need > TC_ARENA_MIN ? need : TC_ARENA_MIN;
    bool placed = false;
    while (!placed && size >= least) {
        placed = arena_place(a, size);
        size /= 2;
    }
    if (!placed && size < least && least < size * 2) /* npages' worth, between two powers of two */
        placed = arena_place(a, (least + TC_ARENA_ALIGN - 1) & ~(TC_ARENA_ALIGN - 1));
    if (!placed || !arena_tables(a)) {
        if (placed)
            slots_release(a);
        arena_unmap(a);
        free(a);
        return NULL;
    }
    a->npages = a->size >> TC_PAGE_SHIFT;
    a->heap = h;
    h->arenas[h->narenas++] = a;
    return a;
}

/* arena_grow — carve npages from the top of the newest arena (a new arena if
 * it is full), committing memory as needed. NULL if refused. */
static span *arena_grow(tc_heap *h, size_t npages)
{
    arena *a = h->narenas ? h->arenas[h->narenas - 1] : NULL;
    if (!a || a->npages - a->frontier < npages) {
        if (a && a->frontier < a->npages && a->committed > (a->frontier << TC_PAGE_SHIFT)) {
            /* keep the committed tail of the old arena usable */
            span *t = span_new(h);
            if (t) {
                t->base = a->base + (a->frontier << TC_PAGE_SHIFT);
                t->npages = (uint32_t)((a->committed >> TC_PAGE_SHIFT) - a->frontier);
                a->frontier += t->npages;
                free_insert(h, a, t);
            }
        }
        a = arena_new(h, npages);
        if (!a)
            return NULL;
    }
    size_t need = (a->frontier + npages) << TC_PAGE_SHIFT;
    if (need > a->committed) {
        size_t upto = (need + TC_COMMIT_STEP - 1) & ~(TC_COMMIT_STEP - 1);
        if (upto > a->size)
            upto = a->size;
        if (!plat_commit((void *)(a->base + a->committed), upto - a->committed))
            return NULL;
        h->sys_bytes += upto - a->committed;
        h->gc_sys_bytes += (upto - a->committed) / 64 * 3 + /* mark, alloc and black bits */
                           ((upto - a->committed) >> TC_REGION_SHIFT) * sizeof *a->owners; /* mark-bit owners */
        a->committed = upto;
    }
    span *s = span_new(h);
    if (!s)
        return NULL;
    s->base = a->base + (a->frontier << TC_PAGE_SHIFT);
    s->npages = (uint32_t)npages;
    a->frontier += npages;
    return s;
}

/* pages_prefault_claim — s was just taken from the page heap: if it
 * reaches past the stretch of its arena already claimed for prefaulting
 * (pages past the frontier have never been touched), claim the next
 * stretch, from s to at least PREFAULT_BYTES on, and say so. Its first
 * touches would fault each page in (and, on a virtual machine, make the
 * host back it: single faults took 100-800 us on a loaded host), inside
 * the caller's heap call, where no pause can stop it; pages_prefault
 * takes those faults for the caller, parked (alloc.c: refill). */
bool pages_prefault_claim(tc_heap *h, span *s, prefault_range *r)
{
    arena *a = arena_of(s->base);
    size_t lo = s->base - a->base, end = lo + ((size_t)s->npages << TC_PAGE_SHIFT);
    if (end <= a->prefaulted)
        return false;
    if (lo < a->prefaulted)
        lo = a->prefaulted;
    size_t hi = lo + PREFAULT_BYTES > end ? lo + PREFAULT_BYTES : end;
    if (hi > a->committed)
        hi = a->committed;
    a->prefaulted = hi;
    *r = (prefault_range){.a = a, .lo = lo, .hi = hi, .slab = span_pool_low(h)};
    return true;
}

/* pages_prefault — fault in a claimed stretch and its side tables' pages
 * (alloc and mark bits, black bits, mark-bit owners), and the span map one
 * stretch further on: pages_alloc writes the next span's entries there
 * under heap->lock, before its own claim. The contents do not change, so
 * whoever uses these pages meanwhile is not disturbed. Also the span
 * pool's next slab, if the claim found the pool low. heap->lock not held. */
void pages_prefault(tc_heap *h, const prefault_range *r)
{
    if (r->slab) { /* the span pool's next slab, made (and its pages touched) here */
        span_slab *sl = span_slab_map();
        if (sl) {
            plat_lock(&h->lock);
            span_slab_add(h, sl);
            pthread_mutex_unlock(&h->lock);
        }
    }
    arena *a = r->a;
    size_t lo = r->lo, hi = r->hi, map_hi = hi + PREFAULT_BYTES < a->size ? hi + PREFAULT_BYTES : a->size;
    plat_prefault((void *)(a->base + lo), hi - lo);
    plat_prefault(a->bits + (lo >> 9), ((hi - lo) >> 9) * sizeof *a->bits);
    plat_prefault((void *)(a->blackbits + (lo >> 9)), ((hi - lo) >> 9) * sizeof *a->blackbits);
    plat_prefault((void *)(a->owners + (lo >> TC_REGION_SHIFT)), ((hi - lo) >> TC_REGION_SHIFT) * sizeof *a->owners);
    plat_prefault(a->spans + (lo >> TC_PAGE_SHIFT), ((map_hi - lo) >> TC_PAGE_SHIFT) * sizeof *a->spans);
}

/* first_bucket — the first non-empty bucket >= b, or TC_FREE_BUCKETS. */
static int first_bucket(const tc_heap *h, int b)
{
    for (int w = b >> 6; w < TC_FREE_BUCKETS / 64; w++) {
        uint64_t x = h->freemask[w];
        if (w == b >> 6)
            x &= ~(uint64_t)0 << (b & 63);
        if (x)
            return w * 64 + __builtin_ctzll(x);
    }
    return TC_FREE_BUCKETS;
}

/* take_free — a free run of at least npages: the head of the first
 * non-empty exact bucket that fits (every run there fits), else first-fit
 * in the last bucket. */
static span *take_free(tc_heap *h, size_t npages)
{
    for (int b = first_bucket(h, bucket_of(npages)); b < TC_FREE_BUCKETS; b = first_bucket(h, b + 1))
        for (span *s = h->freelist[b]; s; s = s->next)
            if (s->npages >= npages) {
                free_remove(h, s);
                return s;
            }
    return NULL;
}

/* pages_alloc — an in-use span of exactly npages, every page mapped to it. */
span *pages_alloc(tc_heap *h, size_t npages)
{
    if (npages == 0 || npages > TC_ARENA_PAGES || atomic_load_explicit(&h->closed, memory_order_relaxed))
        return NULL; /* closed: the teardown took (or will take) every page; map no more */
    span *s = take_free(h, npages);
    if (!s) {
        s = arena_grow(h, npages);
        if (!s)
            return NULL;
    }
    arena *a = arena_of(s->base);
    if (s->npages > npages) {
        span *rest = span_new(h);
        if (!rest) {
            free_insert(h, a, s);
            return NULL;
        }
        rest->base = s->base + (npages << TC_PAGE_SHIFT);
        rest->npages = s->npages - (uint32_t)npages;
        rest->needzero = s->needzero;
        /* released pages are split in proportion (the tail keeps its share) */
        rest->released = (uint32_t)((uint64_t)s->released * rest->npages / s->npages);
        s->released -= rest->released;
        s->npages = (uint32_t)npages;
        free_insert(h, a, rest);
    }
    if (s->released) { /* reused: those pages count as the heap's again */
        h->released_bytes -= (uint64_t)s->released << TC_PAGE_SHIFT;
        s->released = 0;
    }
    s->state = SPAN_INUSE;
    s->next = s->prev = NULL;
    map_range(a, s, false);
    h->spans_inuse++;
    return s;
}

/* free_left, free_right — the free run that ends just before s / starts
 * just after it, or NULL (the span map's entries at a free run's ends). */
static span *free_left(const arena *a, const span *s)
{
    size_t first = (s->base - a->base) >> TC_PAGE_SHIFT;
    span *l = first > 0 ? a->spans[first - 1] : NULL;
    return l && l->state == SPAN_FREE && l->npages && l->base + ((size_t)l->npages << TC_PAGE_SHIFT) == s->base
               ? l
               : NULL;
}

static span *free_right(const arena *a, const span *s)
{
    size_t end = ((s->base - a->base) >> TC_PAGE_SHIFT) + s->npages;
    span *r = end < a->frontier ? a->spans[end] : NULL;
    return r && r->state == SPAN_FREE && r->npages && r->base == s->base + ((size_t)s->npages << TC_PAGE_SHIFT)
               ? r
               : NULL;
}

/* pages_free — return an in-use span's pages, merging with every free run it
 * touches. */
void pages_free(tc_heap *h, span *s)
{
    arena *a = arena_of(s->base);
    h->spans_inuse--;
    s->state = SPAN_FREE;
    s->needzero = 1;
    span *n; /* loops: past a released neighbour may lie a run that holds pages (the top) */
    while ((n = free_left(a, s))) {
        free_remove(h, n);
        n->npages += s->npages;
        n->released += s->released;
        span_dispose(h, s);
        s = n;
        s->needzero = 1;
    }
    while ((n = free_right(a, s))) {
        free_remove(h, n);
        s->npages += n->npages;
        s->released += n->released;
        span_dispose(h, n);
    }
    free_insert(h, a, s);
}

/* scav_candidate — the first run at or below bucket *bucket (largest
 * first) that holds pages not yet released; *bucket moves down past the
 * buckets that have none. NULL when no free page is left unreleased. */
static span *scav_candidate(tc_heap *h, int *bucket)
{
    for (; *bucket > 0; (*bucket)--) {
        if (!(h->freemask[*bucket >> 6] >> (*bucket & 63) & 1))
            continue;
        for (span *s = h->freelist[*bucket]; s; s = s->next)
            if (s->released < s->npages)
                return s;
    }
    return NULL;
}

/* pages_scav_take — take off its free list up to maxpages of the largest
 * run that holds unreleased pages (its tail, if the run is larger: the
 * rest stays free for allocators meanwhile). The piece is SPAN_SCAV, its
 * end pages mapped to it, so no neighbour merges with it while the
 * scavenger releases it without the lock. NULL when nothing is left. */
span *pages_scav_take(tc_heap *h, int *bucket, size_t maxpages)
{
    span *s = scav_candidate(h, bucket);
    if (!s)
        return NULL;
    arena *a = arena_of(s->base);
    free_remove(h, s);
    if (s->npages > maxpages) {
        span *piece = span_new(h);
        if (!piece) {
            free_insert(h, a, s);
            return NULL;
        }
        piece->npages = (uint32_t)maxpages;
        piece->base = s->base + ((size_t)(s->npages - maxpages) << TC_PAGE_SHIFT);
        piece->needzero = s->needzero;
        piece->released = (uint32_t)((uint64_t)s->released * maxpages / s->npages);
        s->released -= piece->released;
        s->npages -= (uint32_t)maxpages;
        free_insert(h, a, s); /* at its list's head: the next take finds it first */
        s = piece;
    }
    s->state = planted(PLANT_SCAV_STAYS_FREE) ? SPAN_FREE : SPAN_SCAV;
    map_range(a, s, true);
    return s;
}

/* scav_merge — merge the fully released piece s with a fully released free
 * neighbour (left or right), which leaves its list; s survives. */
static span *scav_merge(tc_heap *h, span *s, span *n, bool left)
{
    free_remove(h, n);
    if (left)
        s->base = n->base;
    s->npages += n->npages;
    s->released = s->npages;
    s->needzero |= n->needzero; /* n's count may say "all" of a page never released (split in proportion) */
    span_dispose(h, n);
    return s;
}

/* pages_scav_put — return a piece pages_scav_take gave and whose pages are
 * now released: count them, merge it with released free neighbours only
 * (see the top), and put it at its list's tail. The bytes newly released. */
uint64_t pages_scav_put(tc_heap *h, span *s)
{
    arena *a = arena_of(s->base);
    uint64_t bytes = (uint64_t)(s->npages - s->released) << TC_PAGE_SHIFT;
    h->released_bytes += bytes;
    s->released = s->npages;
    s->needzero = 0; /* the kernel zeroes released pages */
    span *l = free_left(a, s), *r = free_right(a, s);
    if (l && l->released == l->npages) /* a released run touches only runs that hold pages: one step each side */
        s = scav_merge(h, s, l, true);
    if (r && r->released == r->npages)
        s = scav_merge(h, s, r, false);
    s->state = SPAN_FREE;
    map_range(a, s, true);
    free_push_tail(h, s);
    return bytes;
}

/* pages_release_all — unmap every arena and side table (heap close). */
void pages_release_all(tc_heap *h)
{
    for (int i = 0; i < h->narenas; i++) {
        arena *a = h->arenas[i];
        slots_release(a);
        arena_unmap(a);
        free(a);
        h->arenas[i] = NULL;
    }
    h->narenas = 0;
    memset(h->freemask, 0, sizeof h->freemask); /* the caller empties the buckets */
    while (h->span_slabs) {
        span_slab *sl = h->span_slabs;
        h->span_slabs = sl->next;
        plat_unmap(sl, SLAB_BYTES);
    }
    h->span_pool = NULL;
}

/* span_set_bitmaps — cache the span's stretch of the arena bitmaps. */
void span_set_bitmaps(span *s)
{
    arena *a = arena_of(s->base);
    s->pbits = a->bits + span_first_word(a, s);
    s->bbits = a->blackbits + span_first_word(a, s);
}

/* span_init_class — make a span fresh from pages_alloc hold objects of
 * class c. Its first group is all free without a look at the bitmap: a
 * free span has no alloc bit (span.h; its sweep cleared them, or the
 * arena's bitmap was never written there; check.c verifies), and not
 * reading it spares a page of the bitmap that nothing has written yet a
 * read fault on the zero page before the first allocation's write fault. */
void span_init_class(span *s, int c)
{
    s->sizeclass = (uint8_t)c;
    s->elemsize = sc_size[c];
    s->nelems = sc_nelems[c];
    s->nalloc = 0;
    span_set_bitmaps(s);
    s->cachebase = 0;
    s->alloccache = s->nelems >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << s->nelems) - 1;
}

/* span_free_slots — the free slots among first..first+63 as a bit mask,
 * gathered from the arena's alloc bits (stride elemsize/8 bits). Alloc bits
 * are set only at object starts, so when every bit from the first slot's
 * start to the last slot's is clear (a fresh span: most refills), all n
 * slots are free, and a few word loads say so without the gather. */
uint64_t span_free_slots(const span *s, uint32_t first)
{
    const arena *a = arena_of(s->base);
    size_t stride = s->elemsize >> 3, bi = ((s->base - a->base) >> 3) + (size_t)first * stride;
    uint32_t n = s->nelems - first < 64 ? s->nelems - first : 64;
    size_t last = bi + (size_t)(n - 1) * stride;
    uint64_t used = 0;
    for (size_t w = bi >> 6; w <= last >> 6; w++) {
        uint64_t x = atomic_load_explicit(&a->bits[w].alloc, memory_order_relaxed);
        if (w == bi >> 6)
            x &= ~(uint64_t)0 << (bi & 63);
        if (w == last >> 6)
            x &= ~(uint64_t)0 >> (63 - (last & 63));
        used |= x;
    }
    if (!used)
        return n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
    uint64_t free = 0;
    for (uint32_t k = 0; k < n; k++, bi += stride)
        if (!((atomic_load_explicit(&a->bits[bi >> 6].alloc, memory_order_relaxed) >> (bi & 63)) & 1))
            free |= (uint64_t)1 << k;
    return free;
}

/* span_refill_cache — restart the alloc cache at the span's first slot
 * (after a sweep changed its alloc bits). */
void span_refill_cache(span *s)
{
    s->cachebase = 0;
    s->alloccache = span_free_slots(s, 0);
}
