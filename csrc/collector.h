/*
 * collector.h — the drivers of the cycle (collector.c) and the trigger: how
 * the rest of the core asks for collections, waits for them, and keeps
 * them out of the way. The cycle itself: cycle.h.
 *
 * Invariants:
 *  - a cycle starts only at the trigger (collector_update_trigger: 70-95%
 *    of the way from live to goal, the goal itself for stw cycles), on
 *    request (collector_cycle, forced), or by the program (manual);
 *  - on return from collector_cycle a whole cycle that began after the call
 *    has ended (mark and sweep finished), unless the heap closed;
 *  - between collector_quiesce and collector_unquiesce no cycle runs and no
 *    marker holds grey work: the caller holds mark_lock and gc_lock, every
 *    span is swept, the phase is OFF; the host's lock stays released all
 *    the while (a host may end a thread that waits for it);
 *  - collector_hold keeps the collector thread from starting a cycle until
 *    the matching collector_release; a holder never allocates meanwhile.
 */
#ifndef TC_COLLECTOR_H
#define TC_COLLECTOR_H
#include <stdbool.h>
#include <stdint.h>

#include "cycle.h"
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

tc_status collector_cycle(tc_heap *h, struct tc_mutator *m, bool forced); /* a whole cycle, on return swept */
void collector_maybe_trigger(struct tc_mutator *m, uint64_t bytes);       /* the allocation slow path's step */
void collector_update_trigger(tc_heap *h);    /* stats_lock held: goal and trigger from the pacer */
uint64_t collector_alloc_estimate(tc_heap *h); /* heap_live + flushed allocation, relaxed */
bool collector_over_trigger(tc_heap *h);       /* the estimate passed the trigger, and the CPU cap allows */
tc_status collector_start_thread(tc_heap *h);
void collector_stop_thread(tc_heap *h);
/* collector_request — ask the collector thread for a cycle; with `wait`
 * (the caller parked), until a cycle that started after the request ended */
tc_status collector_request(tc_heap *h, bool forced, bool wait);
void collector_hold(tc_heap *h);    /* wait for the running cycle; keep new ones from starting */
void collector_release(tc_heap *h);
tc_status collector_verify(tc_heap *h); /* verify with no cycle running, world stopped */
void *collector_quiesce(tc_heap *h); /* hold mark_lock + gc_lock with no cycle running (not from a heap call) */
void collector_unquiesce(tc_heap *h, void *tok);
#pragma GCC visibility pop
#endif
