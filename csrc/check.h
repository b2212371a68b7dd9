/*
 * check.h — hooks for the core's own tests (tests/c): step an incremental
 * cycle by hand so a test can interleave mutations with marking exactly.
 * Not part of the public API.
 */
#ifndef TC_CHECK_H
#define TC_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

tc_status collector_debug_start(tc_heap *h);              /* start a cycle: phase = mark */
bool collector_debug_mark(tc_heap *h, int64_t budget);    /* one slice; true when drained */
void collector_debug_blacken(tc_heap *h, tc_obj *o);      /* mark and scan o now */
tc_status collector_debug_finish(tc_heap *h);             /* finish; TC_ERR_CORRUPT if checkmark fired */
void collector_debug_assists_only(tc_heap *h, bool on);   /* concurrent: the collector thread leaves marking to assists */
void collector_debug_mark_pair(tc_heap *h, int64_t slice); /* drain with two markers taking turns, `slice` objects each */
/* concurrent: as if the OS did not schedule the collector thread, keep it from starting a cycle (hold),
 * after the start pause from marking (stall_mark: its roots go to the global queue, for assists), or,
 * after mark termination, from sweeping and ending the cycle (stall_sweep) */
void collector_debug_hold(tc_heap *h, bool on);
void collector_debug_stall_mark(tc_heap *h, bool on);
void collector_debug_stall_sweep(tc_heap *h, bool on);
uint64_t roots_debug_visited(tc_heap *h);                /* handle-table slots walked so far */
uint64_t cycle_debug_flushed(tc_heap *h);                /* mutator records read inside pauses so far */
uint64_t mutator_debug_stop_visited(tc_heap *h);         /* ...by world_stop and mark_push_locals */
bool mutator_debug_on_list(tc_heap *h, tc_mutator *m);   /* is m on heap->enterq? (no stop running) */
/* the longest wait for mutators to stop and the longest stretch with the
 * world stopped over the cycles' pauses so far (benchmarks/pause.c prints
 * them: which side a long pause was on) */
void cycle_debug_pause_split(tc_heap *h, uint64_t *wait_max_ns, uint64_t *inside_max_ns);
/* the longest cycle pause so far, in heap.h's PA_* order (kind, length, wait, stopped stretch, the
 * stopper's CPU time, involuntary and voluntary switches over it, the longest probed wait for one
 * mutator and that mutator's CPU time over it: which part a long pause spent its time in), and the
 * cycle pauses whose stopper was switched out involuntarily */
void cycle_debug_pause_longest(tc_heap *h, uint64_t out[9], uint64_t *stopper_preempted);
/* checkmarks of all cycles so far: out[0] passed, out[1] found a reachable
 * object left white, out[2] could not run (no memory). Counted before the
 * sweep, so a test sees a failure before the lost object is reused. */
void collector_debug_checkmarks(tc_heap *h, uint64_t out[3]);
/* the phase now: 0 off, 1 mark, 2 sweep (one atomic load: a test can
 * spin on it to act right after a mark starts) */
int collector_debug_phase(tc_heap *h);
/* an object's colour in this mark: 0 white, 1 marked (scanned, or about
 * to be), 2 allocated black; -1 if o is not in a heap (relaxed loads: a
 * test aims its mutations with it, it proves nothing) */
int collector_debug_color(tc_obj *o);
/* the message of the last cycle that failed ("" if none did) */
void collector_debug_last_error(tc_heap *h, char *buf, size_t cap);

/* TC_FAILPOINTS builds only (platform.c): the nth internal allocation
 * (malloc, mapping, commit) from now fails, and with `sticky` every later
 * one too; nth = 0 disarms. plat_failpoint_seen: allocations since. */
void plat_failpoint_arm(uint64_t nth, bool sticky);
uint64_t plat_failpoint_seen(void);
#pragma GCC visibility pop
#endif
