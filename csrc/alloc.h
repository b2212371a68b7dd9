/*
 * alloc.h — allocation: the inline fast path (alloc_object) and the slow
 * paths and caches of alloc.c. Included by heap.h after struct tc_heap
 * (the fast path reads the mutator's cache and the heap's phase).
 *
 * The fast path takes the next free slot of the mutator's cached span for
 * the size class: one ctz on the span's `alloccache` word, no lock, no
 * atomic read-modify-write (Go's nextFreeFast), no clearing (the slow path
 * cleared the whole group of slots when it loaded `alloccache`: one memset
 * per 64 slots, and it brings their cache lines in ahead of the
 * allocations, as bdwgc clears a block when it builds its free list);
 * everything else (an empty cache, a large object, a refusal) is
 * alloc_object_slow, never inlined.
 *
 * Invariants:
 *  - a span with `cached` set is in exactly one mutator's cache and only its
 *    owner writes its alloc bits (or the world-stopper, after flushing);
 *  - every cached or full span is on h->full[c]; every span on h->partial[c]
 *    has a free slot and is in no cache;
 *  - an allocated slot has its alloc bit set from the moment it is handed out;
 *  - in a cached span, every slot whose bit is set in `alloccache` is free
 *    and all zero (alloc.c's group_zero, when the owner loaded the word), so
 *    the fast path writes only the header; nothing else writes a free slot;
 *  - during mark, an object is allocated black, and the fast path neither
 *    reads the phase nor writes a black bit: while phase is MARK every slot
 *    set in a cached span's `alloccache` already has its black bit (the
 *    start pause blackens the groups cached then, alloc_cache_black; a group
 *    loaded or a span cached during mark is blackened as it is, alloc.c),
 *    so a slot handed out is black before its address is returned. The
 *    sweep keeps alloc & (mark | black): a black slot never handed out has
 *    no alloc bit and keeps nothing (its slots are nil, and later stores
 *    into a new object go through the barrier);
 *  - a mutator allocates only from swept spans: during the sweep phase a
 *    refill sweeps unswept spans of its class itself (lazy sweeping).
 */
#ifndef TC_ALLOC_H
#define TC_ALLOC_H
#include <string.h>

#include "heap.h"
#include "plant.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* alloc.c */
tc_obj *alloc_object_slow(tc_mutator *m, size_t nslots, size_t size); /* NULL + tc_fail on error */
void alloc_flush_cache(tc_mutator *m);     /* world stopped or owner */
void alloc_cache_black(tc_heap *h);        /* the start pause (world stopped, phase MARK) */

void alloc_totals(const tc_mutator *m, uint64_t *objects, uint64_t *bytes); /* any thread: relaxed reads */
uint64_t alloc_bytes_total(const tc_mutator *m);

/* alloc_count_small — one object of class c in m's counters (owner: plain
 * load and store, read relaxed by stats). One count per class, not an
 * object count and a byte count: an object of class c is sc_size[c] bytes,
 * so alloc_totals multiplies when it is read (at a refill, a pause, a
 * stats call) and the fast path does one add, not two. */
static inline void alloc_count_small(tc_mutator *m, size_t c)
{
    atomic_store_explicit(&m->nsmall[c], atomic_load_explicit(&m->nsmall[c], memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* alloc_set_bits — record a new object at p in span s: its alloc bit (its
 * black bit, during mark, was set with its group: see the top). Only s's
 * owner writes these words now, so a plain store does; the release store
 * orders the alloc bit before the object can be published. Mutators never
 * write mark bits: those are the markers' (shared between mark sessions,
 * share.c), and black bits are a separate bitmap, so allocating black needs
 * no locked instruction either. */
static inline void alloc_set_bits(span *s, uintptr_t p)
{
    size_t off = (p - s->base) >> 3; /* s->base is 512-byte aligned: pbits' bit 0 is its first word */
    _Atomic uint64_t *w = &s->pbits[off >> 6].alloc;
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | (uint64_t)1 << (off & 63),
                          memory_order_release);
}

/* alloc_finish — the header, bits and count of a new object at p in s,
 * of class c, whose bytes are already zero (fresh pages, or cleared with
 * its group). The header goes first: alloc_set_bits publishes it to a
 * validating marker. */
static inline __attribute__((always_inline)) tc_obj *alloc_finish(tc_mutator *m, span *s, uintptr_t p,
                                                                  size_t nslots, size_t size, size_t c)
{
    *(objhdr *)p = (objhdr){.nslots = (uint32_t)nslots, .size = (uint32_t)size};
    alloc_set_bits(s, p);
    alloc_count_small(m, c);
    return (tc_obj *)p;
}

#define ALLOC_INLINE_MAX 1024 /* bytes: larger objects take alloc_object_slow (its own lock-free cache path) */
#define ALLOC_MAX_BYTES (TC_ARENA_SIZE - TC_PAGE_SIZE) /* the largest object (obj_bytes): one span in one arena */

/* alloc_object — a zeroed object with the given shape, or NULL with
 * tc_fail(TC_ERR_NOMEM), or TC_ERR_CLOSED if the heap was closed while the
 * allocation waited (a pause, a cycle). The caller (inside a heap call)
 * checked that both fields fit 32 bits, so `bytes` cannot overflow.
 *
 * The fast path takes the next free slot of the cached span, already
 * zero: no lock, no atomic read-modify-write, no call and no stack frame
 * (every other case is the tail call alloc_object_slow: an empty cache, an
 * object above ALLOC_INLINE_MAX, a refusal). One compare picks the small
 * classes' table (sizeclass_of's common case; the slow path serves the
 * rest of the classes from the same cache without a lock). It is always
 * inlined, so that each entry point (tc_alloc, tc_obj_new) carries its own
 * copy rather than a call. */
static inline __attribute__((always_inline)) tc_obj *alloc_object(tc_mutator *m, size_t nslots, size_t size)
{
    size_t bytes = obj_bytes(nslots, size);
    if (__builtin_expect(bytes <= ALLOC_INLINE_MAX, 1)) {
        size_t k = sc_lookup_small[(bytes + 7) >> 3];
        span *s = m->cache[k];
        uint64_t c;
        if (__builtin_expect(s && (c = s->alloccache) != 0, 1)) {
            s->alloccache = c & (c - 1);
            uintptr_t p = s->base + (size_t)(s->cachebase + (uint32_t)__builtin_ctzll(c)) * s->elemsize;
            return alloc_finish(m, s, p, nslots, size, k);
        }
    }
    return alloc_object_slow(m, nslots, size);
}

#pragma GCC visibility pop
#endif
