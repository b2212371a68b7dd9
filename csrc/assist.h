/*
 * assist.h — mark assists and mutator pacing on a concurrent heap
 * (assist.c, whose opening essay gives the full argument).
 *
 * Invariants:
 *  - a mutator of a concurrent heap with its collector thread does not
 *    allocate past the goal while no mark runs: at the goal it sweeps and
 *    waits for the cycle's end (SWEEP) or waits for its start (OFF);
 *  - during MARK past the goal, an allocating mutator marks in proportion
 *    to what it allocated, at most ASSIST_MAX_NS per outermost heap call
 *    except at 95% of a memory limit;
 *  - an assist that may hold grey work counts in assists_holding; it waits
 *    only parked, with the host's lock released, holding no heap lock.
 */
#ifndef TC_ASSIST_H
#define TC_ASSIST_H
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* assist_pace — from an allocating mutator's slow path (active), after it
 * reported `bytes` of allocation, on a concurrent heap with its thread. */
void assist_pace(struct tc_mutator *m, uint64_t bytes);
#pragma GCC visibility pop
#endif
