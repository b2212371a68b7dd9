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
 *  - after a cycle the heap keeps at least 125% of the largest of the last
 *    SCAVENGE_WINDOW goals plus SCAVENGE_SLACK (never more than 95% of a
 *    memory limit), so a wobbling goal does not fault pages back each cycle.
 */
#ifndef TC_SCAVENGE_H
#define TC_SCAVENGE_H
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

uint64_t pages_scavenge(struct tc_heap *h, uint64_t want); /* lock held: release up to `want` free bytes */
void scavenge_background(struct tc_heap *h);              /* after a cycle: give back what the goal does not need */
#pragma GCC visibility pop
#endif
