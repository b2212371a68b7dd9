/*
 * span.h — arenas, the page heap and spans.
 *
 * Memory comes in arenas: up to 4 GiB of address space reserved at once,
 * committed from the bottom as the heap grows (one mapping per arena, so a
 * 16 GiB heap uses a handful of mappings, far below the kernel's 65,530).
 * An arena is 4 GiB when the OS grants it, else the largest power of two
 * down to TC_ARENA_MIN that it grants (an address-space cap, `ulimit -v`):
 * it is reserved with only TC_ARENA_ALIGN of slack, never a second 4 GiB
 * for alignment (issue 10, point 5: the first arena used to map 8 GiB). The
 * process-wide arena table, indexed by address >> 32 (a 4 GiB "slot"), finds
 * an address's arena in one load and one range check: an arena covers one
 * or two slots, and a slot belongs to at most one arena. Each arena has a page -> span map and a mark
 * bitmap with one bit per 8 bytes, so that marking needs no span lookup and
 * touches no object header: the bit of the object at `p` is bit
 * (p - arena_base) / 8.
 *
 * A span is a run of 8 KiB pages: free, or in use holding objects of one size
 * class (or one large object). Alloc bits live beside the mark bits with the
 * same shape (bit of address p = allocated object starts at p): the arena's
 * `bits` array interleaves them, one alloc word and then the mark word of
 * the same 512 bytes of heap (a bmpair), so that the one cache line a
 * concurrent marker fetches for a candidate answers both "is this an
 * allocated object start" and "is it marked" (issue 16: with two arrays
 * the alloc word was a second miss per candidate, 15% of the mark loop),
 * and sweeping a span is `alloc &= mark; mark = 0` over its stretch of
 * pairs. Black and check bits are arrays of their own, one word per 512
 * bytes (the check bits are mapped only when a check runs). bit_word and
 * bit_test take those single bitmaps; alloc_word, mark_word, alloc_test and
 * mark_test the pairs. The price: a mutator setting alloc bits in a span
 * the marker is marking writes the line the marker writes (different
 * words, so only the line moves; no bit is lost).
 *
 * Invariants (checked by check.c):
 *  - every page of an in-use span maps to that span; the first and last page
 *    of a free span map to it;
 *  - free spans never touch each other (they are coalesced on free);
 *  - alloc bits are set only at object starts of in-use spans;
 *  - a span is swept (its alloc bits hold exactly the live objects, its
 *    mark bits are zero) whenever it is on a partial/full list or in a
 *    cache; unswept spans are only on the unswept lists;
 *  - a span whose `black` flag is clear has no black bit set (set_black
 *    flags it first; only its sweep clears the flag, with the bits).
 * Locking: the page heap, the span map and span lists are written under
 * heap->lock. span_of reads the map plainly, also without that lock, where
 * another edge orders the read after the entry's last write and before its
 * next: in the allocating thread (publish_large), in a pause (check.c,
 * manual.c), and under special_lock for an object with a special (its span
 * is freed only by a sweep that takes special_lock or acquires the 0 of
 * has_specials that the last special's unlink stored: special.c's top).
 * Coalescing rewrites a free span's end pages, so a reader without such an
 * edge races even when the entry it wants is stale. A
 * span's alloc bits are written by the mutator whose cache holds the span,
 * or by whoever took the span off a list to sweep it. Bitmap words are
 * atomic because a concurrent marker reads them.
 */
#ifndef TC_SPAN_H
#define TC_SPAN_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define TC_PAGE_SHIFT 13
#define TC_PAGE_SIZE ((size_t)1 << TC_PAGE_SHIFT)
#define TC_ARENA_SHIFT 32                /* the arena table's slot: 4 GiB */
#define TC_ARENA_SIZE ((size_t)1 << TC_ARENA_SHIFT) /* the largest arena (and object) */
#define TC_ARENA_PAGES (TC_ARENA_SIZE >> TC_PAGE_SHIFT)
#define TC_ARENA_MIN ((size_t)4 << 20)   /* the smallest arena tried under an address-space cap */
#define TC_ARENA_ALIGN ((size_t)1 << 20) /* arena bases are aligned to this (slack mapped, then trimmed) */
#define TC_COMMIT_STEP ((size_t)1 << 20) /* commit arenas 1 MiB at a time (a memory limit is honoured to ~1 MiB) */
#define TC_MAX_ARENAS 64                 /* 256 GiB of heap: the hard limit */
#define TC_REGION_SHIFT 12               /* mark-bit ownership regions: 4 KiB of heap, 8 bitmap words */
#define TC_FREE_BUCKETS 128              /* free lists by exact page count, last = larger */

struct tc_heap;

/* SPAN_SCAV: a free run the scavenger took off its free list to release
 * without the heap lock (scavenge.c); no neighbour merges with it. */
enum span_state { SPAN_FREE = 0, SPAN_INUSE = 1, SPAN_SCAV = 2 };

typedef struct span {
    _Alignas(64) uintptr_t base; /* first byte. A span starts a cache line: the fields the allocation
                                  * fast path reads and writes (through alloccache) share no line with
                                  * another span the sweeper or another mutator writes */
    uint32_t npages;
    uint8_t state;         /* enum span_state */
    uint8_t sizeclass;     /* 0 = one large object */
    uint8_t needzero;      /* pages may hold old data */
    uint8_t cached;        /* in some mutator's cache */
    uint32_t released;     /* free span: pages given back to the OS (madvise), counted in released_bytes */
    uint32_t elemsize;     /* bytes per slot (large: npages * page) */
    uint32_t nelems;       /* object slots */
    uint32_t nalloc;       /* allocated slots, as of the last sweep */
    uint32_t cachebase;    /* alloc cache: first slot index of `alloccache` */
    uint64_t alloccache;   /* free slots among cachebase..cachebase+63 (never past nelems) */
    struct bmpair *pbits;  /* this span's first pair of the arena's alloc / mark words */
    _Atomic uint64_t *bbits; /* this span's first word of the arena's black bits */
    struct span *next, *prev; /* in a class list or a free list */
    struct special *specials; /* finalizers, cleanups, weak refs, pins of its objects (special_lock) */
    _Atomic uint8_t has_specials; /* specials != NULL: written under special_lock (0 with release), read without it by the sweep (acquire: special.c) */
    _Atomic uint8_t black;        /* some black bit of it may be set: set by set_black (alloc.c) before the bits,
                                   * cleared by its sweep (sweep.c); without it the sweep reads no black bits */
    _Atomic uint64_t sweepgen; /* == heap's sweepgen once swept this cycle (special.c) */
} span;

/* bmpair — the alloc and mark words of the same 64 possible object starts
 * (512 bytes of heap): one 16-byte pair, four to a cache line. */
typedef struct bmpair {
    _Atomic uint64_t alloc; /* allocated object starts (mutators, sweep: span.h's locking) */
    _Atomic uint64_t mark;  /* marked objects (markers: share.c; sweep clears) */
} bmpair;
_Static_assert(sizeof(bmpair) == 16 && offsetof(bmpair, mark) == 8, "four pairs to a cache line");

typedef struct arena {
    uintptr_t base;        /* TC_ARENA_ALIGN aligned */
    size_t size;           /* bytes reserved: a power of two <= TC_ARENA_SIZE */
    size_t npages;         /* size / TC_PAGE_SIZE */
    struct tc_heap *heap;
    size_t committed;      /* bytes from base readable and writable */
    _Atomic size_t frontier; /* pages handed out from the bottom so far (written under heap->lock) */
    size_t prefaulted;     /* bytes from base claimed for pages_prefault (under heap->lock) */
    span **spans;          /* page index -> span, npages entries (under heap->lock) */
    bmpair *bits;                /* one alloc and one mark bit per 8 bytes, interleaved by words */
    _Atomic uint64_t *blackbits; /* same shape, one word per pair: allocated during this mark (only mutators write it) */
    _Atomic uint64_t *checkbits; /* same shape, for checkmark (lazily mapped) */
    _Atomic uint32_t *owners;    /* per 2^TC_REGION_SHIFT bytes: the mark session that owns its mark bits (share.c) */
} arena;

/* The process-wide arena table: address >> 32 -> the arena that covers
 * part of that 4 GiB slot (NULL if none). */
extern arena *_Atomic tc_arena_table[1u << 16];

/* arena_of — the arena holding address p, or NULL. */
static inline arena *arena_of(uintptr_t p)
{
    if (p >> 48)
        return NULL;
    arena *a = atomic_load_explicit(&tc_arena_table[p >> TC_ARENA_SHIFT], memory_order_relaxed);
    return a && p - a->base < a->size ? a : NULL;
}

static inline span *span_of(arena *a, uintptr_t p)
{
    return a->spans[(p - a->base) >> TC_PAGE_SHIFT];
}

/* bit_index — the word index and bit of address p in a's bitmaps. */
static inline size_t bit_index(const arena *a, uintptr_t p, uint64_t *bit)
{
    size_t idx = (p - a->base) >> 3;
    *bit = (uint64_t)1 << (idx & 63);
    return idx >> 6;
}

/* bit_word — the word and bit of address p in one of a's single bitmaps
 * (black or check bits; alloc and mark bits: alloc_word, mark_word). */
static inline _Atomic uint64_t *bit_word(_Atomic uint64_t *bitmap, const arena *a, uintptr_t p, uint64_t *bit)
{
    return bitmap + bit_index(a, p, bit);
}

static inline _Atomic uint64_t *alloc_word(const arena *a, uintptr_t p, uint64_t *bit)
{
    return &a->bits[bit_index(a, p, bit)].alloc;
}

static inline _Atomic uint64_t *mark_word(const arena *a, uintptr_t p, uint64_t *bit)
{
    return &a->bits[bit_index(a, p, bit)].mark;
}

/* pair_alloc — the alloc word beside mark word w (w = mark_word(...)). */
static inline _Atomic uint64_t *pair_alloc(_Atomic uint64_t *w)
{
    return &((bmpair *)(void *)((char *)w - offsetof(bmpair, mark)))->alloc;
}

static inline bool bit_test(_Atomic uint64_t *bitmap, const arena *a, uintptr_t p)
{
    uint64_t bit;
    return (atomic_load_explicit(bit_word(bitmap, a, p, &bit), memory_order_relaxed) & bit) != 0;
}

static inline bool mark_test(const arena *a, uintptr_t p)
{
    uint64_t bit;
    return (atomic_load_explicit(mark_word(a, p, &bit), memory_order_relaxed) & bit) != 0;
}

static inline bool alloc_test(const arena *a, uintptr_t p)
{
    uint64_t bit;
    return (atomic_load_explicit(alloc_word(a, p, &bit), memory_order_relaxed) & bit) != 0;
}

/* alloc_test_acquire — as alloc_test, and what was written before the bit
 * was set with release order (an object's header) is seen */
static inline bool alloc_test_acquire(const arena *a, uintptr_t p)
{
    uint64_t bit;
    return (atomic_load_explicit(alloc_word(a, p, &bit), memory_order_acquire) & bit) != 0;
}

/* bitmap words covering a span (spans start on pages: word aligned) */
static inline size_t span_first_word(const arena *a, const span *s) { return (s->base - a->base) >> 9; }
static inline size_t span_words(const span *s) { return ((size_t)s->npages << TC_PAGE_SHIFT) >> 9; }

/* is_object — is p the start of an allocated object of arena a's heap?
 * Safe to call concurrently with allocation and marking. */
static inline bool is_object(const arena *a, uintptr_t p)
{
    if ((p & 7) || ((p - a->base) >> TC_PAGE_SHIFT) >= atomic_load_explicit(&((arena *)a)->frontier,
                                                                         memory_order_acquire))
        return false;
    return alloc_test_acquire(a, p);
}

/* Doubly-linked span lists (free buckets, class lists): heap->lock held. */
static inline void span_list_push(span **head, span *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static inline void span_list_remove(span **head, span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static inline span *span_list_pop(span **head)
{
    span *s = *head;
    if (s)
        span_list_remove(head, s);
    return s;
}

/* Page heap (heap->lock held). */
span *pages_alloc(struct tc_heap *h, size_t npages);
void pages_free(struct tc_heap *h, span *s);
void pages_release_all(struct tc_heap *h);
span *pages_scav_take(struct tc_heap *h, int *bucket, size_t maxpages);
uint64_t pages_scav_put(struct tc_heap *h, span *piece);
/* Prefaulting (span.c): a stretch of arena fresh from the OS, with the
 * side-table pages that describe it, claimed under heap->lock and faulted
 * in by pages_prefault with no lock held. */
typedef struct prefault_range {
    arena *a;
    size_t lo, hi; /* bytes from a->base */
    bool slab;     /* and a slab of spans for the pool */
} prefault_range;
bool pages_prefault_claim(struct tc_heap *h, span *s, prefault_range *r); /* heap->lock held */
void pages_prefault(struct tc_heap *h, const prefault_range *r);           /* heap->lock not held */
/* span_init_class — turn a fresh in-use span into one of size class c. */
void span_init_class(span *s, int c);
void span_refill_cache(span *s);
uint64_t span_free_slots(const span *s, uint32_t first);
void span_set_bitmaps(span *s);
#pragma GCC visibility pop
#endif
