/*
 * scavenge.h — giving free pages back to the OS (scavenge.c): the policy
 * (how much, after each cycle and on tc_heap_scavenge) and the mechanism
 * (madvise of free page runs, largest first).
 *
 * Invariants:
 *  - only free pages are released: a released page is on a free list with
 *    span.released counting it, and reads as zero when reused (needzero is
 *    cleared: the kernel zeroes it);
 *  - released_bytes = the sum of span.released over free spans, in bytes,
 *    under `lock`; sys_bytes - released_bytes is what the heap holds;
 *  - the heap lock is dropped while pages are released, at most
 *    SCAVENGE_CHUNK pages a hold (scavenge.c says why that is safe);
 *  - after a cycle the scavenger releases only what the heap holds beyond
 *    125% of the largest of the last SCAVENGE_WINDOW goals plus
 *    SCAVENGE_SLACK (or beyond 95% of a memory limit, if that is lower), so
 *    a wobbling goal does not fault pages back in each cycle.
 */
#ifndef TC_SCAVENGE_H
#define TC_SCAVENGE_H
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* test hook (tests/c/test_scavenge.c): called with the heap lock dropped
 * before each piece's release; NULL in every real program. */
extern void (*_Atomic scavenge_test_unlocked)(struct tc_heap *h);
void scavenge_background(struct tc_heap *h);              /* after a cycle: give back what the goal does not need */
#pragma GCC visibility pop
#endif
