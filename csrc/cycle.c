/*
 * cycle.c — the collection cycle: one state machine (cycle_step) that every
 * driver steps (cycle.h lists them; collector.c says how each one drives).
 *
 * The cycle is Go's (runtime/mgc.go), with the heap's `phase`:
 *
 *   OFF    mutators allocate; the trigger (collector.c) decides when to start.
 *   start  (stop the world, tiny) every span is already swept; scan the
 *          local roots, turn the write barrier on, allocate black from now:
 *          phase = MARK. Then, with the world running, the handle table and
 *          the finalizer roots become grey work. Nothing in the pause
 *          depends on heap size or handle count.
 *   MARK   (concurrent) markers scan the handle table and drain grey work;
 *          mutators shade through the barrier (barrier.c).
 *   term.  (stop the world, tiny) if any grey work is left (a mutator
 *          flushed some as it stopped), start the world and go back to
 *          MARK; with the Dijkstra barrier, first re-scan every root (that
 *          cost, proportional to the handles, is the point of the option)
 *          and drain what it finds for at most TERM_DRAIN_NS. Otherwise:
 *          checkmark if asked, barrier off, flush the allocation caches,
 *          every span becomes unswept: phase = SWEEP.
 *   SWEEP  (concurrent) the background sweeper and allocating mutators
 *          sweep span by span (sweep.c); when all are swept (SWEPT): the
 *          end, phase = OFF, statistics, pacing, gctrace line, scavenger.
 *
 * The Dijkstra termination's drain is bounded, not the whole closure of
 * what the re-scan finds (a handle made during mark to a white object
 * heading a large white structure, or the stack an assist flushed as the
 * world stopped, would make it grow with the heap). With work left after
 * TERM_DRAIN_NS the attempt fails like any other: the world restarts, the
 * markers drain the rest concurrently, and the next attempt re-scans every
 * root (the roots may have changed meanwhile, so nothing found before
 * counts). It still ends: an attempt stops early only after a drain of
 * TERM_DRAIN_CHUNK objects it marked inside its pause, no object turns
 * white again during mark (new objects are black), so at most
 * (white objects / TERM_DRAIN_CHUNK) attempts fail that way.
 *
 * What each pause costs (the world is stopped from world_stop to
 * world_start; the pause is recorded from the moment world_stop requests
 * it, so the wait for running mutators to reach a safepoint counts, and
 * the fairness wait before the request, with the world running, does
 * not):
 *   both   world_stop: one `active` flag per listed mutator (one that may
 *          be inside a heap call or hold locals: mutator.c), and the
 *          longest stretch a running mutator goes without a safepoint
 *          (allocation polls at every group of 64 slots of its cached span,
 *          so at most 64 allocations between two: tests/c/test_pause.c
 *          counts them; it polled only at a refill before, a span's worth,
 *          204 objects of 40 bytes or 512 of 16; assists poll every 128
 *          candidates; a large object's clearing polls every 256 KiB:
 *          alloc.c, clear_large; fresh pages are faulted in parked, so
 *          no first-touch page fault is inside such a stretch: alloc.c,
 *          prefault_parked).
 *   start  O(1) stores, the locals: one word per listed mutator plus
 *          each one's live locals, and the cached groups' black bits:
 *          one look per mutator that allocated since the last flush, at
 *          most one group per size class it caches (alloc_cache_black,
 *          flush_all's queue).
 *   term.  the look for grey work: O(1). Dijkstra: the re-scan, one word
 *          per handle-table slot ever handed out (roots.h: the most
 *          handles held at once, in batches of 64) plus the locals and one
 *          per special, and a mark-bit load per live root (proportional to
 *          the handles, as above; only unmarked roots are pushed:
 *          markroots.c), then the bounded drain. Then checkmark,
 *          only when asked (a verification mode: O(heap)); flush_all, one
 *          look per mutator that allocated since the last flush plus one
 *          per span it caches (at most one per size class): a thread idle
 *          since then costs nothing (heap->flushq, below); the heap figure
 *          (flush_all's running total, below: none per idle mutator), the
 *          pacer (O(1)), and sweep_begin
 *          (two list heads per size class).
 *
 * The flush queue. heap->flushq lists, under heap->lock, every mutator
 * that cached a span or allocated a large object since the last flush_all
 * (alloc.c adds it under that lock, at the refill or the large allocation,
 * before it can allocate from the span or count the object). Invariant: a
 * mutator not on the queue caches no span and has allocated nothing since
 * flush_all last took it off (reported == flushed_alloc == alloc_bytes_total),
 * because the only ways to allocate are from a cached span or a large
 * object, and flush_all empties both before it takes a mutator off. So
 * flush_all walks the queue, not every registered mutator, and leaves
 * nothing behind (check_caches verifies that every mutator caching a span
 * is queued); and heap->alloc_flushed, which flush_all keeps as the sum of
 * every mutator's flushed_alloc, equals the sum of their alloc_bytes_total right
 * after it: the termination's heap_alloc without a walk of every mutator.
 * Measured on the 1 GiB pause workload (issue 16), a pause the scheduler
 * did not preempt spent 5-30 us waiting for the mutator's safepoint and
 * under 30 us inside; the long ones (ms) were a mutator the OS had
 * descheduled inside its heap call.
 *
 * cycle_step is Lua's singlestep: one switch over that state, each case one
 * bounded unit of work that may advance it. The stw cycle is a start that
 * runs the whole cycle inside one pause (stw_cycle) and leaves the state OFF.
 *
 * Accounting. Each pause is recorded once, by pause_end (its GC event and
 * the pause ring). A mark step adds its CPU time to cyc_cpu_mark (under
 * mark_lock), an unbounded sweep step (the locks held) to cyc_cpu_sweep; a
 * sweep slice by an allocating mutator runs without a lock and counts as
 * the mutator's time. The events a mark or sweep step records are the
 * driver's (cycle_drive): EV_MARK / EV_BG_SWEEP for the collector, EV_SLICE
 * / EV_SWEEP for incremental slices, none for finishing a cycle.
 *
 * Locks: mark_lock (one marker steps the cycle's marker) before gc_lock
 * (the pauses and the phase transitions) before ctl_lock (requests, cycle
 * counts). A mutator parks before it blocks on any of them.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gctrace.h"
#include "heap.h"
#include "platform.h"
#include "scavenge.h"

#define TERM_DRAIN_NS 20000  /* the most the Dijkstra termination drains inside its pause */
#define TERM_DRAIN_CHUNK 64  /* objects it marks between looks at the clock */

bool cycle_stw(tc_heap *h) { return h->cfg.collector == TC_COLLECTOR_STW || h->cfg.gcstoptheworld; }

cycle_state_t cycle_state(tc_heap *h)
{
    int phase = atomic_load(&h->phase);
    if (phase == PHASE_MARK)
        return CYCLE_MARK;
    if (phase == PHASE_SWEEP)
        return sweep_done(h) ? CYCLE_SWEPT : CYCLE_SWEEP;
    return CYCLE_OFF;
}

/* pause_end — record the pause that began at `since`; returns its length.
 * Its two sides, the wait for the mutators to stop (a mutator that runs
 * long between safepoints, or that the OS or the hypervisor did not run)
 * and the stretch with the world stopped (this file's own work), keep a
 * maximum each. */
static uint64_t pause_end(tc_heap *h, uint64_t since)
{
    uint64_t now = plat_now_ns(), stopped = h->world_stopped_at;
    pthread_mutex_lock(&h->stats_lock);
    stats_record_pause(h, since, now); /* and its GC event */
    if (stopped >= since && stopped <= now) {
        if (stopped - since > h->pause_wait_max_ns)
            h->pause_wait_max_ns = stopped - since;
        if (now - stopped > h->pause_inside_max_ns)
            h->pause_inside_max_ns = now - stopped;
    }
    pthread_mutex_unlock(&h->stats_lock);
    return now - since;
}

/* cycle_debug_pause_split — the test and benchmark hook of check.h. */
void cycle_debug_pause_split(tc_heap *h, uint64_t *wait_max_ns, uint64_t *inside_max_ns)
{
    pthread_mutex_lock(&h->stats_lock);
    *wait_max_ns = h->pause_wait_max_ns;
    *inside_max_ns = h->pause_inside_max_ns;
    pthread_mutex_unlock(&h->stats_lock);
}

/* cycle_status — the cycle's result, with this thread's message for it
 * (cycle_end hands both to whoever waits for the cycle). */
static void cycle_status(tc_heap *h, tc_status st)
{
    h->cyc_status = st;
    snprintf(h->cyc_errmsg, sizeof h->cyc_errmsg, "%s", st == TC_OK ? "" : tc_errmsg());
}

/* checkmark — verify this cycle's mark (world stopped, after mark) and
 * count the outcome for the tests (collector_debug_checkmarks; a failure's
 * message is kept at once, before the sweep reuses the lost object). */
static void checkmark(tc_heap *h)
{
    tc_status st = check_marks(h);
    atomic_fetch_add(&h->checkmarks[st == TC_OK ? 0 : st == TC_ERR_CORRUPT ? 1 : 2], 1);
    cycle_status(h, st);
    if (st != TC_OK) {
        pthread_mutex_lock(&h->ctl_lock);
        memcpy(h->last_errmsg, h->cyc_errmsg, sizeof h->last_errmsg);
        pthread_mutex_unlock(&h->ctl_lock);
    }
}

/* flush_all — give back the caches and unreported allocation of the
 * mutators that allocated since the last flush (world stopped), and return
 * heap_alloc (stats_heap_alloc's figure) from the flushed totals. Every
 * other mutator caches no span and allocated nothing since (see the top),
 * so the pause costs one look per mutator that allocated, none per idle
 * one, for the caches and for the heap figure alike. */
static uint64_t flush_all(tc_heap *h)
{
    pthread_mutex_lock(&h->lock);
    for (tc_mutator *m = h->flushq, *next; m; m = next) {
        next = m->flush_next;
        atomic_fetch_add_explicit(&h->flush_visited, 1, memory_order_relaxed);
        alloc_flush_cache(m);
        uint64_t total = alloc_bytes_total(m);
        m->reported = total;
        h->alloc_flushed += total - m->flushed_alloc;
        m->flushed_alloc = total;
        m->flush_next = NULL;
        m->in_flushq = false;
    }
    h->flushq = NULL;
    uint64_t heap_alloc = h->alloc_flushed > h->freed_bytes ? h->alloc_flushed - h->freed_bytes : 0;
    pthread_mutex_unlock(&h->lock);
    return heap_alloc;
}

/* cycle_debug_flushed — the test hook of check.h. */
uint64_t cycle_debug_flushed(tc_heap *h) { return atomic_load(&h->flush_visited); }

/* cycle_begin — what every cycle does first, before its world stops: the
 * cycle's status, figures and event cycle number. */
static void cycle_begin(tc_heap *h, bool forced)
{
    h->cyc_forced = forced;
    cycle_status(h, TC_OK);
    h->cyc_assist0 = atomic_load(&h->assist_ns);
    h->cyc_heap0 = stats_heap_alloc(h);
    atomic_store(&h->ev.cycle, h->num_gc + 1);
    h->cyc_t0 = plat_now_ns();
}

/* start_pause — the start pause (every span swept): phase MARK, then the
 * handle table and finalizer roots as grey work with the world running. */
static void start_pause(tc_heap *h, tc_mutator *self, markctx *ctx, bool forced)
{
    uint64_t cpu = plat_thread_cpu_ns();
    cycle_begin(h, forced);
    h->cyc_cpu_mark = h->cyc_cpu_sweep = 0;
    h->cyc_t3 = 0;
    h->cyc_t0 = world_stop(h, self); /* the pause starts when it is requested */
    TC_CHECK(check_pause_start(h));
    h->cyc_t1 = plat_now_ns();
    atomic_store(&h->marked_bytes, 0);
    atomic_store(&h->mark_progress, 0);
    atomic_store(&h->barrier_on, 1);
    atomic_store(&h->grey_overflow, 0);
    atomic_fetch_add(&h->mark_epoch, 1); /* no marker runs: regions shared last cycle are free */
    atomic_store(&h->phase, PHASE_MARK);
    alloc_cache_black(h); /* allocate black from now: the cached groups (alloc.h) */
    mark_push_locals(ctx);
    world_start(h);
    h->cyc_t2 = plat_now_ns();
    pause_end(h, h->cyc_t0);
    h->cyc_cpu_stw_start = plat_thread_cpu_ns() - cpu;
    h->cyc_cpu_stw_end = h->cyc_term_ns = 0;
    pthread_mutex_lock(&h->ctl_lock); /* wake mutators waiting at the goal (assist.c: wait_phase) */
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
    cpu = plat_thread_cpu_ns();
    mark_push_handles(ctx);
    special_push_finalizer_roots(ctx);
    h->cyc_cpu_mark += plat_thread_cpu_ns() - cpu;
}

/* stw_cycle — the whole cycle in one pause (phase OFF, left OFF). */
static void stw_cycle(tc_heap *h, tc_mutator *self, bool forced)
{
    uint64_t cpu0 = plat_thread_cpu_ns();
    cycle_begin(h, forced);
    h->cyc_heap1 = h->cyc_heap0;
    h->cyc_t0 = world_stop(h, self);
    h->cyc_t1 = h->cyc_t2 = h->cyc_t3 = plat_now_ns();
    flush_all(h);
    TC_CHECK(check_pause_start(h));
    atomic_store(&h->phase, PHASE_MARK);
    atomic_store(&h->marked_bytes, 0);
    if (!mark_heap(h, false)) { /* nothing marked: keep everything this cycle */
        mark_keep_all(h);
        cycle_status(h, tc_fail(TC_ERR_NOMEM, "no memory to mark: this cycle kept every object"));
    } else {
        TC_CHECK(check_pause_term(h));
        if (h->cfg.checkmark)
            checkmark(h);
    }
    h->cyc_t4 = plat_now_ns();
    uint64_t cpu1 = plat_thread_cpu_ns();
    atomic_store(&h->phase, PHASE_SWEEP);
    sweep_all(h);
    atomic_store_explicit(&h->flushed_bytes, 0, memory_order_relaxed);
    h->cyc_cpu_stw_start = h->cyc_cpu_stw_end = 0; /* one pause: its CPU is the mark's and the sweep's */
    h->cyc_cpu_mark = cpu1 - cpu0;
    h->cyc_cpu_sweep = plat_thread_cpu_ns() - cpu1;
    world_start(h);
    h->cyc_mark_end = h->cyc_t0 + pause_end(h, h->cyc_t0);
    h->cyc_term_ns = h->cyc_mark_end - h->cyc_t2; /* gctrace: the pause after the world stopped */
}

/* term_end — a termination pause is over (world started): its figures. */
static void term_end(tc_heap *h, uint64_t t, uint64_t cpu)
{
    h->cyc_term_ns += pause_end(h, t);
    h->cyc_mark_end = plat_now_ns();
    h->cyc_cpu_stw_end += plat_thread_cpu_ns() - cpu;
}

/* term_sweep — the mark is complete (world stopped): checkmark, barrier
 * off, caches flushed, the live estimate and trigger, every span unswept. */
static void term_sweep(tc_heap *h, markctx *ctx)
{
    TC_CHECK(check_pause_term(h));
    h->cyc_t4 = plat_now_ns();
    if (h->cfg.checkmark)
        checkmark(h);
    atomic_store(&h->barrier_on, 0);
    atomic_store(&h->phase, PHASE_SWEEP);
    uint64_t now_alloc = flush_all(h); /* stats_heap_alloc's figure, without a walk of every mutator */
    TC_CHECK(check_alloc_flushed(h)); /* debug builds: the flush queue's invariant (the top) */
    atomic_store_explicit(&h->flushed_bytes, 0, memory_order_relaxed);
    h->cyc_heap1 = now_alloc;
    /* live estimate until the sweep counts exactly: marked + allocated black */
    pthread_mutex_lock(&h->stats_lock);
    uint64_t black = now_alloc > h->cyc_heap0 ? now_alloc - h->cyc_heap0 : 0;
    h->heap_live = pacer_live_estimate(&h->pacer, atomic_load(&h->marked_bytes) + mark_bytes(ctx), black);
    pacer_mark_done(&h->pacer, h->heap_live, black); /* the sweep's goal: from the snapshot too */
    collector_update_trigger(h);
    pthread_mutex_unlock(&h->stats_lock);
    sweep_begin(h);
}

/* dijkstra_rescan — the Dijkstra barrier's termination work (world
 * stopped): every root, then a drain of what that finds for at most
 * TERM_DRAIN_NS; false if grey work is left (see the top: the attempt
 * fails and marking goes on with the world running). */
static bool dijkstra_rescan(markctx *ctx)
{
    mark_rescan_roots(ctx);
    uint64_t until = plat_now_ns() + TERM_DRAIN_NS;
    while (!mark_drain(ctx, TERM_DRAIN_CHUNK)) /* false: it marked TERM_DRAIN_CHUNK objects */
        if (plat_now_ns() >= until)
            return false;
    return true;
}

/* try_terminate — the termination pause (ctx drained). false: grey work
 * was left, marking goes on. */
static bool try_terminate(tc_heap *h, tc_mutator *self, markctx *ctx)
{
    uint64_t cpu = plat_thread_cpu_ns();
    if (!h->cyc_t3)
        h->cyc_t3 = plat_now_ns();
    uint64_t t = world_stop(h, self);
    bool left = h->cfg.barrier == TC_BARRIER_DIJKSTRA && !dijkstra_rescan(ctx);
    bool dropped = atomic_exchange(&h->grey_overflow, 0); /* no memory for grey work: markroots.c */
    if (dropped)
        mark_rescan_locals(ctx);
    if (left || dropped || !mark_drain(ctx, 0)) {
        world_start(h);
        term_end(h, t, cpu);
        if (dropped)
            mark_rescan(ctx); /* with the world running again: it is O(heap) */
        return false;
    }
    term_sweep(h, ctx);
    world_start(h);
    term_end(h, t, cpu);
    return true;
}

/* end_figures — the end's statistics and pacing (stats_lock held): returns
 * the cycle's CPU time. */
static uint64_t end_figures(tc_heap *h, uint64_t live, uint64_t alloc_now, uint64_t in_use)
{
    h->heap_live = h->heap_marked = live;
    pacer_cycle_done(&h->pacer, live, h->cyc_heap1 > h->cyc_heap0 ? h->cyc_heap1 - h->cyc_heap0 : 0,
                     atomic_load(&h->marked_bytes), in_use > alloc_now ? in_use - alloc_now : 0);
    h->num_gc++;
    if (h->cyc_forced)
        h->num_forced_gc++;
    h->mark_ns += (h->cyc_t4 > h->cyc_t2 ? h->cyc_t4 - h->cyc_t2 : 0);
    h->sweep_ns += h->cyc_t5 - h->cyc_t4;
    h->mark_cpu_ns += h->cyc_cpu_mark;
    h->sweep_cpu_ns += h->cyc_cpu_sweep;
    uint64_t cyc_cpu = h->cyc_cpu_mark + h->cyc_cpu_sweep + h->cyc_cpu_stw_start + h->cyc_cpu_stw_end;
    h->gc_cpu_ns += cyc_cpu;
    h->cyc_assist = atomic_load(&h->assist_ns) - h->cyc_assist0;
    collector_update_trigger(h);
    /* near a memory limit, cycles could run back to back: cap GC CPU at 50% of
     * the machine over the time since the last cycle ended, by not starting
     * the next cycle before the mutator had its share */
    uint64_t window = h->cyc_t5 - (h->last_cycle_end ? h->last_cycle_end : h->start_ns);
    uint64_t capacity = window * (uint64_t)plat_ncpu();
    uint64_t nsb = 0;
    if (h->pacer.limit_bound && cyc_cpu * 2 > capacity + capacity / 5) /* > 60%: clearly over the cap */
        nsb = h->cyc_t5 + (cyc_cpu * 2 - capacity) / (uint64_t)plat_ncpu();
    atomic_store(&h->no_start_before, nsb);
    h->last_cycle_end = h->cyc_t5;
    return cyc_cpu;
}

/* cycle_end — after the sweep: counters, trigger, output; phase OFF, and
 * whoever waits for the cycle is woken. The one place a cycle ends. */
static void cycle_end(tc_heap *h)
{
    h->cyc_t5 = plat_now_ns();
    pthread_mutex_lock(&h->lock);
    uint64_t live = h->sweep_live_bytes, live_objects = h->sweep_live_objects, freed = h->sweep_freed_objects;
    pthread_mutex_unlock(&h->lock);
    if (live_objects)
        atomic_store(&h->avg_obj_bytes, live / live_objects);
    uint64_t alloc_now = stats_heap_alloc(h);
    pthread_mutex_lock(&h->lock);
    uint64_t sys = h->sys_bytes + h->gc_sys_bytes, rel = h->released_bytes;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&h->stats_lock);
    end_figures(h, live, alloc_now, sys - rel);
    atomic_store(&h->phase, PHASE_OFF);
    pthread_mutex_unlock(&h->stats_lock);
    scavenge_background(h);
    gctrace_cycle(h);
    pthread_mutex_lock(&h->ctl_lock);
    h->cycles_done++;
    h->last_status = h->cyc_status;
    if (h->cyc_status != TC_OK) /* kept until the next failure: collector_request reads it only with one */
        memcpy(h->last_errmsg, h->cyc_errmsg, sizeof h->last_errmsg);
    h->last_freed = freed;
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* ---- the steps: one per state ---- */

/* step_start — OFF: start a cycle (or run a stw one whole). */
static bool step_start(tc_heap *h, cycle_drive *d)
{
    markctx *ctx = d->stw ? NULL : mark_new(h, true, false);
    if (!ctx && !d->stw && !d->whole) {
        d->status = tc_fail(TC_ERR_NOMEM, "no memory for a marker");
        return false;
    }
    if (!ctx) { /* stw, or the whole cycle here without memory for a marker */
        stw_cycle(h, d->self, d->forced);
        cycle_end(h);
        return true;
    }
    h->incr_ctx = ctx;
    start_pause(h, d->self, ctx, d->forced);
    return true;
}

/* wait_for_assists — the test hook collector_debug_assists_only: hand the
 * roots to the global queue and let allocating mutators' assists mark it
 * all (the hook can be turned off meanwhile). */
static void wait_for_assists(tc_heap *h, markctx *ctx)
{
    mark_flush(ctx);
    while (atomic_load(&h->debug_assists_only) && !mark_quiet(h))
        nanosleep(&(struct timespec){0, 50000}, NULL);
}

/* stall_mark — the test hook collector_debug_stall_mark: as if the OS did
 * not run the collector thread after its start pause. Its roots go to the
 * global queue (assists can mark them), then it waits until the hook is
 * off or the heap closes, and marks on as usual. */
static void stall_mark(tc_heap *h, markctx *ctx)
{
    if (!atomic_load(&h->debug_stall_mark))
        return;
    mark_flush(ctx);
    while (atomic_load(&h->debug_stall_mark) && !atomic_load(&h->closed))
        nanosleep(&(struct timespec){0, 50000}, NULL);
}

/* mark_work — a mark step's drain of up to d->mark objects; true if no
 * grey work is left. A whole-cycle driver drains until every marker is
 * idle and goes to the termination, which looks again inside its pause. */
static bool mark_work(tc_heap *h, cycle_drive *d, markctx *ctx)
{
    if (d->whole && h->cfg.collector == TC_COLLECTOR_CONCURRENT && atomic_load(&h->debug_assists_only)) {
        wait_for_assists(h, ctx); /* the assists' work, not this thread's: no event */
        return true;
    }
    if (d->whole && h->cfg.collector == TC_COLLECTOR_CONCURRENT)
        stall_mark(h, ctx);
    uint64_t cpu = plat_thread_cpu_ns(), t0 = plat_now_ns(), b0 = mark_bytes(ctx), n0 = mark_count(ctx);
    bool drained = true;
    uint64_t helpers = 0; /* the mark workers' CPU: this thread's clock does not see it */
    if (d->whole)
        helpers = mark_drain_parallel(h->par, ctx);
    else
        drained = mark_drain(ctx, d->mark);
    h->cyc_cpu_mark += plat_thread_cpu_ns() - cpu + helpers;
    uint64_t t1 = plat_now_ns(), bytes = mark_bytes(ctx) - b0, objects = mark_count(ctx) - n0;
    d->marked += objects;
    if (d->assist) { /* the allocating mutator marks: that is its assist, as with the concurrent collector */
        atomic_fetch_add(&h->assist_ns, t1 - t0);
        atomic_fetch_add(&h->assist_marked, bytes);
    }
    if (d->mark_ev != CYCLE_NO_EV)
        ev_record_objs(h, d->mark_ev, t0, t1, bytes, objects);
    return drained;
}

/* step_mark — MARK: mark work, then (d->pause) the termination pause if
 * no work was left. */
static bool step_mark(tc_heap *h, cycle_drive *d)
{
    markctx *ctx = h->incr_ctx;
    if (!ctx) /* none: a closing heap freed it (heap.c); cycle_busy stops here */
        return false;
    bool drained = d->mark ? mark_work(h, d, ctx) : mark_drain(ctx, 0);
    if (!drained || !d->pause)
        return drained;
    uint64_t before = mark_count(ctx);
    bool done = try_terminate(h, d->self, ctx);
    d->marked += mark_count(ctx) - before; /* the Dijkstra barrier's re-scan */
    if (done) {
        mark_free(ctx);
        h->incr_ctx = NULL;
    }
    return done;
}

/* step_sweep — SWEEP: up to d->sweep spans (-1: all, and wait out sweeps
 * in progress); true once every span is swept. */
static bool step_sweep(tc_heap *h, cycle_drive *d)
{
    if (d->sweep < 0) {
        while (d->whole && atomic_load(&h->debug_stall_sweep) && !atomic_load(&h->closed)) /* test hook */
            nanosleep(&(struct timespec){0, 50000}, NULL);
        uint64_t cpu = plat_thread_cpu_ns(), t = plat_now_ns();
        sweep_tally from = sweep_tally_now();
        sweep_finish(h);
        if (d->sweep_ev != CYCLE_NO_EV)
            sweep_event(h, d->sweep_ev, t, plat_now_ns(), from);
        h->cyc_cpu_sweep += plat_thread_cpu_ns() - cpu;
        return true;
    }
    uint64_t t0 = plat_now_ns();
    sweep_tally from = sweep_tally_now();
    int i = 0;
    while (i < d->sweep && sweep_step(h))
        i++;
    if (i && d->sweep_ev != CYCLE_NO_EV)
        sweep_event(h, d->sweep_ev, t0, plat_now_ns(), from);
    return sweep_done(h);
}

/* cycle_step — the state is read afresh: a driver's earlier look may be
 * stale (another mutator may have swept the last span, ended the cycle or
 * started the next). A step the drive's locks do not cover is not run: no
 * cycle started, no mark work done, or (the end) nothing left to sweep. */
bool cycle_step(tc_heap *h, cycle_drive *d)
{
    TC_ASSERT(!d->pause || d->locks == CYCLE_LOCKS_BOTH);
    switch (cycle_state(h)) {
    case CYCLE_OFF:
        return d->pause && step_start(h, d);
    case CYCLE_MARK:
        return d->locks >= CYCLE_LOCKS_MARK && step_mark(h, d);
    case CYCLE_SWEEP:
        return step_sweep(h, d);
    case CYCLE_SWEPT:
        if (d->pause)
            cycle_end(h);
        return true;
    }
    return false;
}

/* cycle_busy — a cycle runs that a step can move on (a mark without its
 * marker is a closed heap's: nothing to do). */
static bool cycle_busy(tc_heap *h)
{
    cycle_state_t s = cycle_state(h);
    return s != CYCLE_OFF && (s != CYCLE_MARK || h->incr_ctx);
}

/* cycle_run — a whole cycle from OFF to OFF on this thread (mark_lock and
 * gc_lock held); the cycle's status. */
tc_status cycle_run(tc_heap *h, cycle_drive *d)
{
    if (!cycle_step(h, d))
        return d->status;
    while (cycle_busy(h))
        cycle_step(h, d);
    return h->cyc_status;
}

/* cycle_finish — bring a running cycle to its end (mark_lock and gc_lock
 * held), as every whole-heap call does before it looks at the heap. */
void cycle_finish(tc_heap *h)
{
    cycle_drive d = {.locks = CYCLE_LOCKS_BOTH, .pause = true, .mark = -1, .sweep = -1};
    while (cycle_busy(h))
        cycle_step(h, &d);
}
