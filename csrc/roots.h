/*
 * roots.h — the handle table (roots.c): every live host handle owns one
 * root slot, and the slot's word says what it is.
 *
 * The slot encoding, read and written only through the helpers below:
 *
 *   value                 meaning
 *   0                     never used: every slot at or past its chunk's
 *                         `used` mark, and only those
 *   next | 1              free: a link in a free list (next 0: end of list)
 *   obj                   live: the address of an allocated object (8-byte
 *                         aligned, so bits 0-2 are clear)
 *   obj | 2               live, and obj was freed with tc_obj_free
 *                         (unsafe.free): a mark sets the bit (markroots.c)
 *                         so that later marks skip the slot in one load;
 *                         tc_root_freed (tricolor.h) reads the same bit
 *
 * Invariants:
 *  - slots live in chunks of ROOT_CHUNK words that never move or shrink
 *    until the heap closes (a tc_root* is a stable address), and the chunk
 *    list only grows at its head, under roots_lock;
 *  - a chunk hands out its slots in address order and counts them in
 *    `used` (only grows, under roots_lock, released after the slots'
 *    words are written): a slot that ever held a handle lies below `used`,
 *    so a walk of the handles reads slots [0, used) and no more (the
 *    Dijkstra termination re-scans them inside its pause: one handle costs
 *    a batch of slots there, not a 4,096-slot chunk);
 *  - a live slot holds the address of an allocated object of this heap,
 *    possibly with the freed bit; a slot is on at most one free list;
 *  - live handle slots = sum over mutators of (roots_new - roots_del) +
 *    roots_global;
 *  - a slot's word changes only with one atomic store (or CAS, for the
 *    freed bit), so a concurrent scan reads either the old or the new word:
 *    barrier.c says why that loses no object.
 */
#ifndef TC_ROOTS_H
#define TC_ROOTS_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define ROOT_CHUNK 4096     /* root slots per handle-table chunk */
#define ROOT_BATCH 64       /* root slots a mutator takes from the table at once */

#define ROOT_FREE_BIT ((uintptr_t)1)  /* the slot is a free-list link */
#define ROOT_FREED_BIT ((uintptr_t)2) /* the slot's object was freed with tc_obj_free */

typedef struct root_chunk {
    struct root_chunk *next;          /* the heap's chunk list (roots_lock) */
    _Atomic uint32_t used;            /* slots ever handed out, a prefix (roots_lock; read acquire) */
    _Atomic uintptr_t slot[ROOT_CHUNK]; /* the encoding above */
} root_chunk;

/* root_slot — the word behind handle r. */
static inline _Atomic uintptr_t *root_slot(const tc_root *r) { return (_Atomic uintptr_t *)(uintptr_t)r; }

/* root_val_live — does slot word v hold a live object not known freed
 * (neither never used, a free link, nor freed)? */
static inline bool root_val_live(uintptr_t v) { return v && !(v & (ROOT_FREE_BIT | ROOT_FREED_BIT)); }

/* root_val_used — does v belong to a handle (live, freed or not)? */
static inline bool root_val_used(uintptr_t v) { return v && !(v & ROOT_FREE_BIT); }

/* root_val_freed — does v carry the freed bit? */
static inline bool root_val_freed(uintptr_t v) { return (v & ROOT_FREED_BIT) != 0; }

/* root_free_link — the word of a free slot whose list continues at next
 * (a slot address, or 0 at the end). */
static inline uintptr_t root_free_link(uintptr_t next) { return next | ROOT_FREE_BIT; }

/* root_next_free — the next link of the free slot at address `slot`. */
static inline uintptr_t root_next_free(uintptr_t slot)
{
    return atomic_load_explicit((_Atomic uintptr_t *)slot, memory_order_relaxed) & ~ROOT_FREE_BIT;
}

/* root_mark_freed — set the freed bit of a slot still holding v (a CAS: a
 * slot released meanwhile keeps its new word). */
static inline void root_mark_freed(_Atomic uintptr_t *slot, uintptr_t v)
{
    atomic_compare_exchange_strong(slot, &v, v | ROOT_FREED_BIT);
}

/* roots.c (roots_new and roots_release, inline, are in roots_fast.h) */
tc_status roots_new_global(tc_heap *h, tc_obj *o, tc_root **out); /* no mutator (a queued finalizer's root) */
void roots_free_all(tc_heap *h);                              /* at close */
/* a root for roots_each: its object, its handle slot (NULL for locals and finalizer roots), its kind */
typedef bool (*roots_visit)(void *arg, uintptr_t obj, const tc_root *slot, tc_root_kind kind);
bool roots_each(tc_heap *h, roots_visit visit, void *arg); /* world stopped; false: a visit said stop */
#pragma GCC visibility pop
#endif
