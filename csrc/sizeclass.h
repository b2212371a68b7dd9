/*
 * sizeclass.h — the small-object size classes.
 *
 * Invariants: class 0 is unused (it stands for "large"); classes grow
 * strictly; every class size is a multiple of 8; a span of class c has
 * sc_npages[c] pages and holds sc_nelems[c] objects, wasting at most 1/8 of
 * the span at its tail. Sizes above SC_MAX_SIZE get a span of their own.
 */
#ifndef TC_SIZECLASS_H
#define TC_SIZECLASS_H
#include <stddef.h>
#include <stdint.h>
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define SC_MAX_SIZE 32768u
#define SC_MAX_CLASSES 96

extern int sc_count;                       /* classes 1..sc_count-1 are used */
extern uint32_t sc_size[SC_MAX_CLASSES];
extern uint32_t sc_npages[SC_MAX_CLASSES];
extern uint32_t sc_nelems[SC_MAX_CLASSES];
extern uint8_t sc_lookup_small[1024 / 8 + 1]; /* (size+7)/8 -> class, size <= 1024 */
extern uint8_t sc_lookup_large[(SC_MAX_SIZE - 1024) / 128 + 1];

void sizeclass_init(void);

/* sizeclass_of — the smallest class holding `size` bytes (1..SC_MAX_SIZE). */
static inline int sizeclass_of(size_t size)
{
    if (__builtin_expect(size <= 1024, 1)) /* the allocation fast path's common case, kept in line */
        return sc_lookup_small[(size + 7) >> 3];
    return sc_lookup_large[(size - 1024 + 127) >> 7];
}
#pragma GCC visibility pop
#endif
