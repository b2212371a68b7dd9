/*
 * cycle.h — the collection cycle as one state machine (cycle.c). Every
 * driver (collector.c: stw, the concurrent collector's thread, incremental
 * slices; manual.c: the teaching collector; hooks.c: the C tests' stepping)
 * moves the cycle only through cycle_step, so the phase order, the start
 * sequence and the cycle's end are written once. Drivers differ only in
 * how much one step does (struct cycle_drive) and on which thread.
 *
 * Invariants:
 *  - the state is derived, never stored apart: CYCLE_OFF, CYCLE_MARK and
 *    CYCLE_SWEEP are h->phase; CYCLE_SWEPT is phase SWEEP with every span
 *    swept and no sweep in progress (sweep_done);
 *  - under mark_lock, phase MARK of a cycle that is not stw means the
 *    cycle's marker h->incr_ctx exists; it is freed by the step that ends
 *    the mark (the termination pause), so in SWEEP and OFF it is NULL;
 *  - only a step with d->pause stops the world or moves the phase (start,
 *    termination, end); it runs with mark_lock and gc_lock held, by a
 *    thread that is parked (d->self) or is no mutator. A mark step runs
 *    only under mark_lock (the phase cannot leave MARK under it, nor enter
 *    it); a sweep step needs no lock. The state is read inside the step,
 *    so a driver's earlier look that went stale costs nothing unsafe;
 *  - each step's work is bounded by what the drive asks (objects scanned,
 *    spans swept), and the pauses in it are O(1) in heap size, except the
 *    stw cycle's one pause (that is what the stw collector is).
 */
#ifndef TC_CYCLE_H
#define TC_CYCLE_H
#include <stdbool.h>
#include <stdint.h>

#include "events.h"
#include "tricolor.h"
#pragma GCC visibility push(hidden) /* internal to the core: heap.h */

typedef enum { CYCLE_OFF, CYCLE_MARK, CYCLE_SWEEP, CYCLE_SWEPT } cycle_state_t;

/* the heap locks a stepping thread holds, in their order */
typedef enum { CYCLE_LOCKS_NONE, CYCLE_LOCKS_MARK, CYCLE_LOCKS_BOTH } cycle_locks; /* BOTH: mark_lock, gc_lock */

/* cycle_drive.mark_ev / sweep_ev: record no event. EV_PAUSE (0, so a drive
 * that names no event records none): only pause_end records pauses. */
#define CYCLE_NO_EV EV_PAUSE

/* cycle_drive — how much one cycle_step does, and for whom (the driver's
 * choice; the step reads it and writes only the two out fields). */
typedef struct cycle_drive {
    struct tc_mutator *self; /* the stepping thread's mutator (parked at the locked steps), or NULL */
    bool forced;       /* a start starts a forced cycle (num_forced_gc, gctrace's "(forced)") */
    bool stw;          /* a start runs the whole cycle in one pause (the stw collector, gcstoptheworld) */
    bool whole;        /* the whole cycle on this thread: mark with the workers (h->par), fall back to a
                        * stw cycle without memory for a marker, honour the assists-only and
                        * stall-sweep test hooks */
    cycle_locks locks; /* the locks the stepping thread holds (a mark step needs mark_lock) */
    bool pause;        /* (CYCLE_LOCKS_BOTH) the step may stop the world and move the phase: start,
                        * termination, end; without it a step only marks or sweeps */
    int64_t mark;      /* objects a mark step scans: -1 until drained, 0 only looks for work */
    int sweep;         /* spans a sweep step sweeps: -1 all, waiting out sweeps in progress */
    ev_kind mark_ev;   /* the event a mark step records (EV_MARK, EV_SLICE), or none */
    ev_kind sweep_ev;  /* the event a sweep step records (EV_BG_SWEEP, EV_SWEEP), or none */
    bool assist;       /* a mark step is the stepping mutator's assist (assist_ns, assist_marked) */
    uint64_t marked;   /* out: objects marked by the mark steps, a termination's re-scan included */
    tc_status status;  /* out: why a start failed (no memory for a marker), else TC_OK */
} cycle_drive;

cycle_state_t cycle_state(struct tc_heap *h);
/* cycle_step — one unit of work in the cycle's state now, as much as d asks.
 * True when that state's work is done: OFF a cycle started (or, stw, ran
 * whole); MARK no grey work is left (d->pause: and the mark ended, phase
 * SWEEP); SWEEP every span is swept; SWEPT the cycle ended (phase OFF). */
bool cycle_step(struct tc_heap *h, cycle_drive *d);
tc_status cycle_run(struct tc_heap *h, cycle_drive *d); /* a whole cycle from OFF (both locks held) */
void cycle_finish(struct tc_heap *h);                     /* end the running cycle, if any (both locks held) */
bool cycle_stw(struct tc_heap *h);                        /* this heap's cycles run in one pause */
#pragma GCC visibility pop
#endif
