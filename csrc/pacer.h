/*
 * pacer.h — when to start a cycle and how hard mutators must help: pure
 * math, no threads, no heap, so tests can simulate it cycle by cycle.
 *
 * Invariants: heap_min * gogc / 100 <= goal for gogc >= 0 unless the memory
 * limit binds; base <= live after a cycle, and a gogc goal is at least
 * live * (1 + gogc/200); trigger <= goal; when goal > live, live < trigger and the
 * trigger stays within [0.7, 0.95] of the runway from live to goal; when
 * goal <= live (gogc = 0), trigger == goal: a cycle is due at once.
 * goal == PACER_NONE means no cycle is due (gogc off, no limit), else goal
 * <= PACER_GOAL_MAX: the math saturates instead of wrapping.
 */
#ifndef TC_PACER_H
#define TC_PACER_H
#include <stdbool.h>
#include <stdint.h>
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

#define PACER_NONE UINT64_MAX
#define PACER_HEAP_MIN ((uint64_t)4 << 20) /* Go's heapMinimum at gogc=100 */
#define PACER_GOAL_MAX ((uint64_t)1 << 62)  /* goals and triggers saturate here (heaps stop at 256 GiB) */

typedef struct pacer {
    int64_t gogc;          /* percent, or -1: off */
    int64_t limit;         /* soft memory limit in bytes, or -1: none */
    uint64_t live;         /* bytes marked by the last cycle */
    uint64_t base;         /* bytes the gogc goal grows from (pacer.c, "Goal"); the estimate while sweeping */
    uint64_t snapshot;     /* the last cycle's exact live bytes less its black allocation */
    uint64_t overhead;     /* bytes the heap holds beyond live objects (fragmentation, free spans not released) */
    double cons_mark;      /* smoothed bytes allocated per byte of mark work, during mark */
    bool have_cons_mark;
    uint64_t goal, trigger;
    bool limit_bound;      /* the memory limit, not gogc, sets the goal */
    double remarked;       /* share of the last mark's black allocation its markers marked again (0..1) */
} pacer;

void pacer_init(pacer *p, int64_t gogc, int64_t limit);
/* pacer_tune — new gogc / limit; goal and trigger follow at once. */
void pacer_tune(pacer *p, int64_t gogc, int64_t limit);
/* pacer_cycle_done — what the cycle that just ended saw: live bytes after
 * it, bytes allocated while it marked, its mark work (bytes scanned), and the
 * heap's overhead beyond live objects. Updates cons/mark, goal, trigger. */
void pacer_cycle_done(pacer *p, uint64_t live, uint64_t alloc_during_mark, uint64_t scan_work, uint64_t overhead);
/* pacer_mark_done — at mark termination: the goal for the sweep grows from
 * the live estimate by the same rule as pacer_cycle_done's (no lesson is
 * learnt from an estimate). Then pacer_tune with the estimate as live. */
void pacer_mark_done(pacer *p, uint64_t live_estimate, uint64_t alloc_during_mark);
/* pacer_live_estimate — the live bytes at mark termination, before the
 * sweep counts them: `marked` (the markers' bytes) plus `alloc_during_mark`
 * (allocated black), less the share of the latter the last cycle's markers
 * had marked too (pacer.c says why they do). */
uint64_t pacer_live_estimate(const pacer *p, uint64_t marked, uint64_t alloc_during_mark);
/* pacer_assist_debt — during mark: how many bytes of mark work a mutator
 * owes for `bytes` allocated, given the work left and the heap left to the
 * goal (heap_now). 0 when marking is on schedule. */
uint64_t pacer_assist_debt(const pacer *p, uint64_t bytes, uint64_t heap_now, uint64_t work_left);
#pragma GCC visibility pop
#endif
