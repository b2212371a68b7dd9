/*
 * collector.c — the drivers of the cycle, and the trigger. The cycle
 * itself is one state machine, cycle.c's cycle_step; a driver decides only
 * when a step runs, on which thread, and how much it does (cycle.h).
 *
 * The drivers:
 *   "stw"          the whole cycle inside one pause, on the thread that
 *                  asked (the start step with d.stw); also every cycle
 *                  under gcstoptheworld=1.
 *   "concurrent"   a collector pthread per heap runs each cycle whole
 *                  (cycle_run with the workers); mutators ask for it at the
 *                  trigger and pace themselves meanwhile (assist.c). A
 *                  forked child without the thread runs its cycles on the
 *                  allocating thread, as the stw driver does.
 *   "incremental"  no thread: allocating mutators do the work in bounded
 *                  slices (INCR_MARK_BUDGET objects, INCR_SWEEP_BUDGET
 *                  spans) from their allocation slow path, like Lua's step;
 *                  the steps that stop the world run under mark_lock and
 *                  gc_lock, taken by whichever mutator finds one due.
 *   "manual"       the program steps the cycle (manual.c); the C tests'
 *                  hooks (hooks.c) step an incremental heap the same way.
 * Whole-heap calls (collect, inspect, scavenge, verify, fork) first finish
 * a running cycle (collector_quiesce: cycle_finish).
 *
 * Locks: mark_lock (one incremental marker) before gc_lock (the pauses and
 * the phase transitions) before ctl_lock (requests, cycle counts). A
 * mutator parks before it blocks on any of them.
 *
 * Trigger: the pacer (pacer.c) sets the goal and a trigger 70-95% of the
 * way from live to goal (collector_update_trigger); a cycle starts when the
 * heap reaches the trigger, or the goal itself under the stw collector
 * (and gcstoptheworld), whose cycle costs nothing until it starts. Near a
 * memory limit the start may wait for the CPU cap (no_start_before, set
 * at each cycle's end: cycle.c), up to the goal and no further.
 */
#include <stdio.h>
#include <string.h>

#include "assist.h"
#include "heap.h"
#include "platform.h"

#define INCR_MARK_BUDGET 2000 /* objects scanned per incremental mark slice */
#define INCR_SWEEP_BUDGET 8   /* spans swept per incremental sweep slice */

/* ---- trigger ---- */

void collector_update_trigger(tc_heap *h)
{
    h->pacer.live = h->heap_live;
    pacer_tune(&h->pacer, atomic_load(&h->gogc), atomic_load(&h->memory_limit));
    uint64_t goal = h->pacer.goal;
    /* a stw cycle costs nothing until it starts: wait for the goal itself */
    uint64_t trigger = cycle_stw(h) ? goal : h->pacer.trigger;
    atomic_store(&h->goal, goal);
    atomic_store(&h->trigger, trigger);
}

uint64_t collector_alloc_estimate(tc_heap *h)
{
    return h->heap_live + atomic_load_explicit(&h->flushed_bytes, memory_order_relaxed);
}

bool collector_over_trigger(tc_heap *h)
{
    uint64_t est = collector_alloc_estimate(h);
    if (est < atomic_load_explicit(&h->trigger, memory_order_relaxed))
        return false;
    /* the CPU cap near a memory limit puts a start off from the trigger up
     * to the goal, never past it: the limit still bounds the heap */
    uint64_t nsb = atomic_load_explicit(&h->no_start_before, memory_order_relaxed);
    return !nsb || est >= atomic_load_explicit(&h->goal, memory_order_relaxed) || plat_now_ns() >= nsb;
}

/* run_here — a whole cycle on this thread (mark_lock and gc_lock held,
 * phase OFF): stw, or the concurrent collector's own cycle with no thread
 * to run it (incremental forced collections, a forked child). */
static tc_status run_here(tc_heap *h, tc_mutator *m, bool forced)
{
    bool stw = cycle_stw(h);
    cycle_drive d = {.self = stw ? m : NULL, .forced = forced, .stw = stw, .whole = true,
                     .locks = CYCLE_LOCKS_BOTH, .pause = true, .mark = -1, .sweep = -1,
                     .mark_ev = EV_MARK, .sweep_ev = EV_BG_SWEEP};
    return cycle_run(h, &d);
}

/* ---- the incremental driver ---- */

/* incremental_step — one bounded slice of GC work by an allocating
 * mutator m (active on entry and on return): a sweep slice with no lock, a
 * mark slice under mark_lock, and, when one is due, the start, the
 * termination or the end, parked under both locks. */
static void incremental_step(tc_mutator *m)
{
    tc_heap *h = m->heap;
    cycle_state_t s = cycle_state(h);
    if (s == CYCLE_OFF && !collector_over_trigger(h))
        return;
    cycle_drive slice = {.self = m, .mark = INCR_MARK_BUDGET, .sweep = INCR_SWEEP_BUDGET,
                         .mark_ev = EV_SLICE, .sweep_ev = EV_SWEEP, .assist = true};
    if (s == CYCLE_SWEEP && !cycle_step(h, &slice))
        return;
    if (pthread_mutex_trylock(&h->mark_lock) != 0)
        return; /* another mutator is doing this slice */
    slice.locks = CYCLE_LOCKS_MARK;
    if (s == CYCLE_MARK && h->incr_ctx && !cycle_step(h, &slice)) {
        pthread_mutex_unlock(&h->mark_lock);
        return;
    }
    mutator_park(m);
    pthread_mutex_lock(&h->gc_lock);
    cycle_drive due = {.self = m, .stw = h->cfg.gcstoptheworld, .locks = CYCLE_LOCKS_BOTH, .pause = true, .mark = 0};
    s = cycle_state(h);
    bool step = s == CYCLE_MARK ? h->incr_ctx != NULL : s == CYCLE_SWEPT || (s == CYCLE_OFF && collector_over_trigger(h));
    uint64_t t0 = step ? plat_now_ns() : 0;
    pause_mark p0 = step ? stats_pause_mark(h) : (pause_mark){0};
    if (step)
        cycle_step(h, &due); /* the termination (if no work is left), the end, or the start */
    pthread_mutex_unlock(&h->gc_lock);
    if (step) /* this thread was the GC's for the whole step: beside its pause, the start's
               * handle scan, the end's figures and scavenging are a slice */
        stats_record_around_pauses(h, EV_SLICE, t0, plat_now_ns(), p0);
    pthread_mutex_unlock(&h->mark_lock);
    mutator_unpark(m);
}

/* ---- the concurrent driver: the collector thread ---- */

/* run_thread_cycle — one whole cycle on the collector thread. */
static void run_thread_cycle(tc_heap *h, bool forced)
{
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    sweep_finish(h);
    run_here(h, NULL, forced);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
}

/* collector_main — the collector thread: wait for a request (and no hold),
 * run one whole cycle, say it is idle; until the heap stops it. */
static void *collector_main(void *arg)
{
    tc_heap *h = arg;
    ev_name_thread(h, "collector");
    pthread_mutex_lock(&h->ctl_lock);
    for (;;) {
        while (!h->stopping && (!h->requested || h->holds > 0))
            pthread_cond_wait(&h->ctl_cond, &h->ctl_lock);
        if (h->stopping)
            break;
        bool forced = h->forced_requested;
        h->requested = h->forced_requested = false;
        h->cycle_running = true;
        h->cycles_started++;
        pthread_mutex_unlock(&h->ctl_lock);
        run_thread_cycle(h, forced);
        pthread_mutex_lock(&h->ctl_lock);
        h->cycle_running = false;
        pthread_cond_broadcast(&h->done_cond);
    }
    h->cycle_running = false;
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
    return NULL;
}

tc_status collector_start_thread(tc_heap *h)
{
    if (h->cfg.collector != TC_COLLECTOR_CONCURRENT)
        return TC_OK;
    if (pthread_create(&h->thread, NULL, collector_main, h) != 0)
        return tc_fail(TC_ERR_NOMEM, "cannot start the collector thread");
    h->thread_started = true;
    h->par = mark_par_new(h, h->cfg.mark_workers);
    return TC_OK;
}

void collector_stop_thread(tc_heap *h)
{
    if (!h->thread_started)
        return;
    pthread_mutex_lock(&h->ctl_lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->ctl_cond);
    pthread_mutex_unlock(&h->ctl_lock);
    pthread_join(h->thread, NULL);
    h->thread_started = false;
    mark_par_free(h->par);
    h->par = NULL;
}

/* collector_request — ask the collector thread for a cycle; with `wait`,
 * block (the caller is parked) until a cycle that started after the
 * request is done. */
tc_status collector_request(tc_heap *h, bool forced, bool wait)
{
    pthread_mutex_lock(&h->ctl_lock);
    uint64_t target = h->cycles_started + 1; /* the first cycle to start after this request */
    h->requested = true;
    h->forced_requested |= forced;
    pthread_cond_signal(&h->ctl_cond);
    if (wait) {
        void *tok;
        pthread_mutex_unlock(&h->ctl_lock);
        block_begin(h, &tok);
        pthread_mutex_lock(&h->ctl_lock);
        while (h->cycles_done < target && !h->stopping)
            pthread_cond_wait(&h->done_cond, &h->ctl_lock);
        pthread_mutex_unlock(&h->ctl_lock);
        block_end(h, tok);
        pthread_mutex_lock(&h->ctl_lock);
    }
    tc_status st = h->stopping ? tc_fail(TC_ERR_CLOSED, "the heap is closed") : wait ? h->last_status : TC_OK;
    char msg[sizeof h->last_errmsg];
    memcpy(msg, h->last_errmsg, sizeof msg);
    pthread_mutex_unlock(&h->ctl_lock);
    if (st != TC_OK && st != TC_ERR_CLOSED) /* the collector thread's message, on this thread */
        tc_fail(st, "%s", msg);
    return st;
}

/* collector_maybe_trigger — from an allocating mutator's slow path, after
 * it reported `bytes` of allocation. */
void collector_maybe_trigger(tc_mutator *m, uint64_t bytes)
{
    tc_heap *h = m->heap;
    switch (h->cfg.collector) {
    case TC_COLLECTOR_CONCURRENT:
        if (__builtin_expect(!h->thread_started, 0)) { /* no thread (it could not be restarted after a fork) */
            if (collector_over_trigger(h))
                collector_cycle(h, m, false);
            break;
        }
        assist_pace(m, bytes);
        break;
    case TC_COLLECTOR_INCREMENTAL:
        incremental_step(m);
        break;
    case TC_COLLECTOR_STW:
        if (collector_over_trigger(h))
            collector_cycle(h, m, false);
        break;
    case TC_COLLECTOR_MANUAL: /* only the program starts its cycles (manual.c) */
        break;
    }
}

/* collector_quiesce — take mark_lock and gc_lock with no cycle running (the
 * caller is parked or not a mutator). The host's lock (the GIL) stays
 * released until collector_unquiesce has dropped both locks: a host that
 * ends a thread while it waits for its lock back (CPython at shutdown) must
 * not take the heap's locks with it. Returns the block-hook token. */
void *collector_quiesce(tc_heap *h)
{
    void *tok;
    block_begin(h, &tok);
    if (h->thread_started)
        collector_hold(h);
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    cycle_finish(h);
    return tok;
}

void collector_unquiesce(tc_heap *h, void *tok)
{
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    if (h->thread_started)
        collector_release(h);
    block_end(h, tok);
}

/* collector_cycle — run (or, concurrent, wait for) one whole cycle; mark
 * and sweep are finished on return. `m` is the caller's mutator (active; it
 * is parked meanwhile) or NULL. */
tc_status collector_cycle(tc_heap *h, tc_mutator *m, bool forced)
{
    pthread_mutex_lock(&h->ctl_lock);
    uint64_t seen = h->cycles_done;
    pthread_mutex_unlock(&h->ctl_lock);
    if (m)
        mutator_park(m);
    tc_status st = TC_OK;
    if (atomic_load(&h->closed)) {
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    } else if (h->thread_started) {
        st = collector_request(h, forced, true);
    } else {
        void *tok = collector_quiesce(h);
        if (atomic_load(&h->closed))
            st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
        else if (forced || h->cycles_done == seen) /* else another thread just collected */
            st = run_here(h, m, forced);
        if (st != TC_OK && st != TC_ERR_CLOSED) /* the cycle's own message, whatever ran after it */
            tc_fail(st, "%s", h->cyc_errmsg);
        collector_unquiesce(h, tok);
    }
    if (m)
        mutator_unpark(m);
    return st;
}

void collector_hold(tc_heap *h)
{
    pthread_mutex_lock(&h->ctl_lock);
    h->holds++;
    while (h->cycle_running)
        pthread_cond_wait(&h->done_cond, &h->ctl_lock);
    pthread_mutex_unlock(&h->ctl_lock);
}

void collector_release(tc_heap *h)
{
    pthread_mutex_lock(&h->ctl_lock);
    h->holds--;
    pthread_cond_broadcast(&h->ctl_cond);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* collector_verify — run fn with no cycle running and the world stopped. */
tc_status collector_verify(tc_heap *h)
{
    void *tok = collector_quiesce(h);
    tc_status st;
    if (atomic_load(&h->closed)) {
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    } else {
        world_stop(h, NULL);
        st = check_heap(h);
        world_start(h);
    }
    collector_unquiesce(h, tok);
    return st;
}
