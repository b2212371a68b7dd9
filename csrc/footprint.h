/*
 * footprint.h — where a heap's memory is, at one moment (issue 16, the
 * memory row): a diagnostic for benchmarks and tests, not part of the
 * public API. footprint.c walks the page heap under heap->lock (O(spans):
 * milliseconds at a GiB, so never inside a pause or a timed path) and asks
 * the kernel (mincore) which pages of the arenas and of their side tables
 * are resident.
 *
 * Invariants of one snapshot (the walk holds heap->lock, so pages do not
 * change hands meanwhile; alloc, mark and black bits do, and are read
 * relaxed: a count of them is a sample, exact only with no mutator and no
 * marker running):
 *  - heap_sys = inuse_bytes + free_bytes + uncarved_bytes + scav_bytes
 *    (committed arena bytes: pages of in-use spans, free runs, committed
 *    pages past the arenas' frontier, pieces the scavenger holds);
 *  - inuse_bytes = sum over classes of the class's span bytes, large
 *    included (class 0);
 *  - a class's span bytes = its objects' slots (objects * size) + free
 *    slots + tail (bytes past the last slot);
 *  - among the objects, `garbage` are those of unswept spans with neither
 *    mark nor black bit (the running sweep frees them); the rest are
 *    allocated, reachable or not (the next mark decides).
 * Side tables are reserved lazily (plat_map_lazy): gc_sys counts what
 * their committed heap could touch, *_rss what the kernel holds now.
 * This header includes no core header, so a benchmark can include it.
 */
#ifndef TC_FOOTPRINT_H
#define TC_FOOTPRINT_H
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define TC_FOOTPRINT_CLASSES 96 /* SC_MAX_CLASSES: class 0 is large objects */

typedef struct tc_footprint_class {
    uint64_t spans, bytes;    /* in-use spans of the class and their pages' bytes */
    uint64_t objects, garbage; /* allocated slots (alloc bits); of them, unmarked in unswept spans */
    uint64_t free_slots, size; /* slots with no object; the class's slot size (0: large) */
    uint64_t tail;            /* bytes past the last slot, all spans */
    uint64_t unswept_spans;   /* spans of the class not yet swept this cycle */
} tc_footprint_class;

typedef struct tc_footprint {
    /* the page heap (heap_sys's parts) */
    uint64_t heap_sys, inuse_bytes, free_bytes, free_released, uncarved_bytes, scav_bytes;
    uint64_t inuse_spans, unswept_bytes;
    tc_footprint_class cls[TC_FOOTPRINT_CLASSES];
    /* totals over classes */
    uint64_t obj_bytes, garbage_bytes, free_slot_bytes, tail_bytes;
    /* what the kernel holds resident (mincore), bytes */
    uint64_t arena_rss;   /* committed arena pages */
    uint64_t bits_rss;    /* alloc and mark words (interleaved) */
    uint64_t black_rss;   /* black bits */
    uint64_t spanmap_rss; /* page -> span maps */
    uint64_t owners_rss;  /* mark-bit region owners */
    uint64_t span_structs; /* span slabs (malloc: resident once made) */
    uint64_t gc_sys;      /* the heap's own gc_sys figure */
    uint64_t process_rss; /* the whole process (/proc/self/statm), 0 if unreadable */
    int phase;            /* 0 off, 1 mark, 2 sweep */
} tc_footprint;

/* heap_debug_footprint — fill *out (see the top). TC_ERR_CLOSED for a
 * closed heap, TC_ERR_NOMEM if mincore's vector could not be allocated
 * (the page heap's figures are then filled, the *_rss ones 0). */
tc_status heap_debug_footprint(tc_heap *h, tc_footprint *out);
#pragma GCC visibility pop
#endif
