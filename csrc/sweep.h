/*
 * sweep.h — sweeping (sweep.c): after mark termination every in-use span
 * becomes unswept, and spans are then swept one at a time, concurrently, by
 * the background sweeper and by allocating mutators (lazy sweeping).
 *
 * Invariants:
 *  - a span is swept at most once per cycle: whoever takes it off an
 *    unswept list (sweep_take, under heap->lock) owns it until it is filed
 *    again (sweep_span), and `sweepers` counts the spans owned so;
 *  - a swept span has zero mark bits and zero black bits (live = mark |
 *    black became its alloc bits: check_pause_start checks it);
 *  - no allocation happens in an unswept span, and a new mark starts only
 *    once sweep_done (sweep_finish): stale mark bits never reach the next
 *    cycle;
 *  - the sweep's counts (sweep_live_*, sweep_freed_objects, freed_bytes,
 *    frees) are written under heap->lock.
 */
#ifndef TC_SWEEP_H
#define TC_SWEEP_H
#include <stdbool.h>

#include "span.h"
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

/* sweep.c */
void sweep_all(tc_heap *h);            /* world stopped: sweep every span now */
void sweep_begin(tc_heap *h);          /* world stopped: every span becomes unswept */
span *sweep_take(tc_heap *h, int c);   /* lock held: an unswept span of class c (0 = any/large), claimed */
bool sweep_span(tc_heap *h, span *s);  /* lock NOT held: sweep a claimed span and file it; true if it has room */
bool sweep_step(tc_heap *h);           /* sweep one span; false if none was left */
void sweep_finish(tc_heap *h);         /* sweep until done and no sweep is in progress */
bool sweep_done(tc_heap *h);
/* sweep_tally — what this thread's sweeping has freed so far (running
 * totals, thread-local): a sweep event's objects and bytes are the
 * difference across it, whatever other threads sweep meanwhile. */
typedef struct sweep_tally { uint64_t objects, bytes; } sweep_tally;
sweep_tally sweep_tally_now(void);
/* sweep_event — record a sweep interval of kind k with what this thread freed since `since`. */
void sweep_event(tc_heap *h, int k, uint64_t t0, uint64_t t1, sweep_tally since);
#pragma GCC visibility pop
#endif
