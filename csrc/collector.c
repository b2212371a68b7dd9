/*
 * collector.c — the collection cycle: one state machine, three drivers.
 *
 * The cycle is Go's (runtime/mgc.go), with the heap's `phase`:
 *
 *   OFF    mutators allocate; the trigger (below) decides when to start.
 *   start  (stop the world, tiny) every span is already swept; scan the
 *          local roots, turn the write barrier on, allocate black from now:
 *          phase = MARK. Nothing here depends on heap size or handle count.
 *   MARK   (concurrent) markers scan the handle table and drain grey work;
 *          mutators shade through the barrier (barrier.c).
 *   term.  (stop the world, tiny) if any grey work is left (a mutator
 *          flushed some as it stopped), start the world and go back to
 *          MARK; with the Dijkstra barrier, first re-scan every root and
 *          drain (that cost is the point of the option). Otherwise:
 *          checkmark if asked, barrier off, flush the allocation caches,
 *          every span becomes unswept: phase = SWEEP.
 *   SWEEP  (concurrent) the background sweeper and allocating mutators
 *          sweep span by span (sweep.c); when all are swept: phase = OFF,
 *          statistics, gctrace line.
 *
 * The drivers:
 *   "stw"          the whole cycle inside one pause, on the thread that
 *                  asked (run_stw_cycle); also every cycle under
 *                  gcstoptheworld=1.
 *   "concurrent"   a collector pthread per heap runs the cycle; mutators
 *                  ask for it at the trigger. A mutator that reaches the
 *                  goal before the thread started the cycle, or while the
 *                  last cycle still sweeps, waits for it (start_cycle,
 *                  finish_cycle): a thread the OS does not schedule must
 *                  not let the heap run past its goal and memory limit.
 *   "incremental"  no thread: allocating mutators do the work in bounded
 *                  slices (INCR_MARK_BUDGET objects, INCR_SWEEP_BUDGET spans)
 *                  from their allocation slow path, like Lua's step.
 *
 * Locks: mark_lock (one incremental marker) before gc_lock (the STW steps
 * and the phase transitions) before ctl_lock (requests, cycle counts). A
 * mutator parks before it blocks on any of them.
 *
 * Trigger: the pacer (pacer.c) sets the goal and a trigger 70-95% of the
 * way from live to goal (collector_update_trigger); a cycle starts when the
 * heap reaches the trigger, or the goal itself under the stw collector
 * (and gcstoptheworld), whose cycle costs nothing until it starts.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "heap.h"
#include "platform.h"

#define INCR_MARK_BUDGET 2000 /* objects scanned per incremental mark slice */
#define INCR_SWEEP_BUDGET 8   /* spans swept per incremental sweep slice */
#define ASSIST_MAX_NS 500000 /* the most one heap call (a host operation) spends in assists */
#define ASSIST_SLICE 128     /* candidates an assist marks between looks at the clock and for a pause */
#define ASSIST_JOIN_NS 20000 /* the longest an assist spins for the mark bits (mark.c) before waiting parked */

/* ---- trigger ---- */

void collector_update_trigger(tc_heap *h)
{
    h->pacer.live = h->heap_live;
    pacer_tune(&h->pacer, atomic_load(&h->gogc), atomic_load(&h->memory_limit));
    uint64_t goal = h->pacer.goal;
    /* a stw cycle costs nothing until it starts: wait for the goal itself */
    uint64_t trigger = h->cfg.collector == TC_COLLECTOR_STW || h->cfg.gcstoptheworld ? goal : h->pacer.trigger;
    atomic_store(&h->goal, goal);
    atomic_store(&h->trigger, trigger);
}

static inline uint64_t heap_alloc_estimate(tc_heap *h)
{
    return h->heap_live + atomic_load_explicit(&h->flushed_bytes, memory_order_relaxed);
}

static inline bool over_trigger(tc_heap *h)
{
    if (heap_alloc_estimate(h) < atomic_load_explicit(&h->trigger, memory_order_relaxed))
        return false;
    uint64_t nsb = atomic_load_explicit(&h->no_start_before, memory_order_relaxed);
    return !nsb || plat_now_ns() >= nsb; /* the CPU cap near a memory limit */
}

static uint64_t heap_alloc_now(tc_heap *h)
{
    uint64_t mallocs, total;
    int64_t roots;
    stats_totals(h, &mallocs, &total, &roots);
    pthread_mutex_lock(&h->lock);
    uint64_t freed = h->freed_bytes;
    pthread_mutex_unlock(&h->lock);
    return total - freed;
}

/* ---- gctrace and trace events ---- */

/* fmt_ms — Go's gctrace style: 3 significant digits, in ms. */
static void fmt_ms(char *buf, size_t cap, uint64_t ns)
{
    uint64_t x = ns / 1000; /* microseconds */
    if (ns >= 10000000) {
        snprintf(buf, cap, "%llu", (unsigned long long)(ns / 1000000));
        return;
    }
    int dec = 3;
    while (x >= 100 && dec > 0) {
        x /= 10;
        dec--;
    }
    uint64_t p = 1;
    for (int i = 0; i < dec; i++)
        p *= 10;
    unsigned long long whole = (unsigned long long)(x / p), frac = (unsigned long long)(x % p);
    if (dec == 0)
        snprintf(buf, cap, "%llu", (unsigned long long)x);
    else if (dec == 1)
        snprintf(buf, cap, "%llu.%01llu", whole, frac);
    else if (dec == 2)
        snprintf(buf, cap, "%llu.%02llu", whole, frac);
    else
        snprintf(buf, cap, "%llu.%03llu", whole, frac);
}

static void queue_gctrace(tc_heap *h)
{
    char a[32], b[32], c[32], ca[32], cas[32], cb[32], cc[32];
    fmt_ms(cas, sizeof cas, h->cyc_assist);
    fmt_ms(a, sizeof a, h->cyc_t2 - h->cyc_t0);
    uint64_t mark_wall = h->cyc_mark_end > h->cyc_t2 ? h->cyc_mark_end - h->cyc_t2 : 0;
    fmt_ms(b, sizeof b, mark_wall > h->cyc_term_ns ? mark_wall - h->cyc_term_ns : 0);
    fmt_ms(c, sizeof c, h->cyc_term_ns);
    fmt_ms(ca, sizeof ca, h->cyc_cpu_stw_start);
    fmt_ms(cb, sizeof cb, h->cyc_cpu_mark);
    fmt_ms(cc, sizeof cc, h->cyc_cpu_stw_end);
    uint64_t elapsed = h->cyc_t5 - h->start_ns;
    unsigned pct = elapsed ? (unsigned)(h->gc_cpu_ns * 100 / elapsed) : 0;
    char *line = plat_malloc(400);
    if (!line)
        return;
    snprintf(line, 400, "gc %llu @%.3fs %u%%: %s+%s+%s ms clock, %s+%s/%s/0+%s ms cpu, %llu->%llu->%llu MB, "
             "%llu MB goal, %d P%s", (unsigned long long)h->num_gc, (double)elapsed / 1e9, pct > 100 ? 100 : pct,
             a, b, c, ca, cas, cb, cc, (unsigned long long)(h->cyc_heap0 >> 20), (unsigned long long)(h->cyc_heap1 >> 20),
             (unsigned long long)(h->heap_live >> 20),
             (unsigned long long)(atomic_load(&h->goal) == UINT64_MAX ? 0 : atomic_load(&h->goal) >> 20),
             h->cfg.mark_workers, h->cyc_forced ? " (forced)" : ""); /* as Go marks a runtime.GC() cycle */
    out_push(h, line);
}

/* ---- the steps of a cycle ---- */

/* pause_end — record the pause that began at `since`; returns its length. */
static uint64_t pause_end(tc_heap *h, uint64_t since)
{
    uint64_t now = plat_now_ns();
    pthread_mutex_lock(&h->stats_lock);
    stats_record_pause(h, since, now); /* and its GC event */
    pthread_mutex_unlock(&h->stats_lock);
    return now - since;
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

/* cycle_start — the start pause (gc_lock held, every span swept). */
static void cycle_start(tc_heap *h, tc_mutator *self, markctx *ctx, bool forced)
{
    uint64_t cpu = plat_thread_cpu_ns();
    h->cyc_forced = forced;
    cycle_status(h, TC_OK);
    h->cyc_cpu_mark = h->cyc_cpu_sweep = 0;
    h->cyc_assist0 = atomic_load(&h->assist_ns);
    h->cyc_heap0 = heap_alloc_now(h);
    atomic_store(&h->ev.cycle, h->num_gc + 1);
    h->cyc_t0 = plat_now_ns();
    world_stop(h, self);
    TC_CHECK(check_pause_start(h));
    h->cyc_t1 = plat_now_ns();
    atomic_store(&h->marked_bytes, 0);
    atomic_store(&h->mark_progress, 0);
    atomic_store(&h->barrier_on, 1);
    atomic_store(&h->grey_overflow, 0);
    atomic_fetch_add(&h->mark_epoch, 1); /* no marker runs: regions shared last cycle are free */
    atomic_store(&h->phase, PHASE_MARK);
    mark_push_locals(ctx);
    world_start(h);
    h->cyc_t2 = plat_now_ns();
    pause_end(h, h->cyc_t0);
    h->cyc_cpu_stw_start = plat_thread_cpu_ns() - cpu;
    h->cyc_cpu_stw_end = h->cyc_term_ns = 0;
    pthread_mutex_lock(&h->ctl_lock); /* wake mutators waiting at the goal (wait_phase) */
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* flush_all — every mutator's cache and unreported allocation (world stopped). */
static void flush_all(tc_heap *h)
{
    pthread_mutex_lock(&h->mut_lock);
    pthread_mutex_lock(&h->lock);
    for (tc_mutator *m = h->mutators; m; m = m->next) {
        alloc_flush_cache(m);
        m->reported = atomic_load_explicit(&m->alloc_bytes, memory_order_relaxed);
    }
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->mut_lock);
}

/* cycle_try_terminate — the termination pause (gc_lock held, ctx drained).
 * false: grey work was left, marking goes on. */
static bool cycle_try_terminate(tc_heap *h, tc_mutator *self, markctx *ctx)
{
    uint64_t cpu = plat_thread_cpu_ns();
    uint64_t t = plat_now_ns();
    if (!h->cyc_t3)
        h->cyc_t3 = t;
    world_stop(h, self);
    if (h->cfg.barrier == TC_BARRIER_DIJKSTRA) {
        mark_push_handles(ctx);
        mark_push_locals(ctx);
        special_push_finalizer_roots(ctx);
        mark_drain(ctx, -1);
    }
    bool dropped = atomic_exchange(&h->grey_overflow, 0); /* no memory for grey work: mark.c */
    if (dropped)
        mark_rescan_locals(ctx);
    if (dropped || !mark_drain(ctx, 0)) {
        world_start(h);
        h->cyc_term_ns += pause_end(h, t);
        h->cyc_mark_end = plat_now_ns();
        h->cyc_cpu_stw_end += plat_thread_cpu_ns() - cpu;
        if (dropped)
            mark_rescan(ctx); /* with the world running again: it is O(heap) */
        return false;
    }
    TC_CHECK(check_pause_term(h));
    h->cyc_t4 = plat_now_ns();
    if (h->cfg.checkmark)
        checkmark(h);
    atomic_store(&h->barrier_on, 0);
    atomic_store(&h->phase, PHASE_SWEEP);
    flush_all(h);
    atomic_store_explicit(&h->flushed_bytes, 0, memory_order_relaxed);
    uint64_t now_alloc = heap_alloc_now(h);
    h->cyc_heap1 = now_alloc;
    /* live estimate until the sweep counts exactly: marked + allocated black */
    pthread_mutex_lock(&h->stats_lock);
    h->heap_live = atomic_load(&h->marked_bytes) + mark_bytes(ctx) +
                   (now_alloc > h->cyc_heap0 ? now_alloc - h->cyc_heap0 : 0);
    collector_update_trigger(h);
    pthread_mutex_unlock(&h->stats_lock);
    sweep_begin(h);
    world_start(h);
    h->cyc_term_ns += pause_end(h, t);
    h->cyc_mark_end = plat_now_ns();
    h->cyc_cpu_stw_end += plat_thread_cpu_ns() - cpu;
    return true;
}

/* cycle_end — after the sweep (gc_lock held): counters, trigger, output. */
static void cycle_end(tc_heap *h)
{
    h->cyc_t5 = plat_now_ns();
    pthread_mutex_lock(&h->lock);
    uint64_t live = h->sweep_live_bytes, live_objects = h->sweep_live_objects, freed = h->sweep_freed_objects;
    pthread_mutex_unlock(&h->lock);
    if (live_objects)
        atomic_store(&h->avg_obj_bytes, live / live_objects);
    uint64_t mallocs, total;
    int64_t roots;
    stats_totals(h, &mallocs, &total, &roots);
    pthread_mutex_lock(&h->lock);
    uint64_t alloc_now = total - h->freed_bytes, sys = h->sys_bytes + h->gc_sys_bytes, rel = h->released_bytes;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&h->stats_lock);
    h->heap_live = h->heap_marked = live;
    uint64_t in_use = sys - rel;
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
    atomic_store(&h->phase, PHASE_OFF);
    pthread_mutex_unlock(&h->stats_lock);
    scavenge_background(h);
    if (h->cfg.gctrace)
        queue_gctrace(h);
    trace_emit(h, "GC cycle", 'X', h->cyc_t0, h->cyc_t5 - h->cyc_t0, h->num_gc);
    if (h->cyc_t4 > h->cyc_t2)
        trace_emit(h, "mark phase", 'X', h->cyc_t2, h->cyc_t4 - h->cyc_t2, h->num_gc);
    trace_emit(h, "sweep phase", 'X', h->cyc_t4, h->cyc_t5 - h->cyc_t4, h->num_gc); /* not "sweep": that kind is a lazy sweep */
    trace_emit(h, "heap_alloc", 'C', h->cyc_t0, 0, h->cyc_heap0);
    trace_counters(h, true);
    pthread_mutex_lock(&h->ctl_lock);
    h->cycles_done++;
    h->last_status = h->cyc_status;
    if (h->cyc_status != TC_OK) /* kept until the next failure: request() reads it only with one */
        memcpy(h->last_errmsg, h->cyc_errmsg, sizeof h->last_errmsg);
    h->last_freed = freed;
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->ctl_lock);
}

/* run_stw_cycle — the whole cycle in one pause (gc_lock held, phase OFF). */
static tc_status run_stw_cycle(tc_heap *h, tc_mutator *self, bool forced)
{
    uint64_t cpu0 = plat_thread_cpu_ns();
    h->cyc_forced = forced;
    cycle_status(h, TC_OK);
    h->cyc_assist0 = atomic_load(&h->assist_ns);
    h->cyc_heap0 = h->cyc_heap1 = heap_alloc_now(h);
    atomic_store(&h->ev.cycle, h->num_gc + 1);
    h->cyc_t0 = plat_now_ns();
    world_stop(h, self);
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
    cycle_end(h);
    return h->cyc_status;
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

/* run_full_cycle — a whole non-stw cycle on the calling thread (incremental
 * forced collections and the first cycle of a fresh heap); gc_lock and
 * mark_lock held, phase OFF. Mutators keep running beside it. */
static tc_status run_full_cycle(tc_heap *h, bool forced)
{
    markctx *ctx = mark_new(h, true, false);
    if (!ctx)
        return run_stw_cycle(h, NULL, forced);
    h->cyc_t3 = 0;
    cycle_start(h, NULL, ctx, forced);
    uint64_t cpu = plat_thread_cpu_ns();
    mark_push_handles(ctx);
    special_push_finalizer_roots(ctx);
    do
        if (h->cfg.collector == TC_COLLECTOR_CONCURRENT && atomic_load(&h->debug_assists_only))
            wait_for_assists(h, ctx);
        else {
            uint64_t t = plat_now_ns(), b = mark_bytes(ctx);
            mark_drain_parallel(h->par, ctx);
            ev_record(h, EV_MARK, t, plat_now_ns(), mark_bytes(ctx) - b);
        }
    while (!cycle_try_terminate(h, NULL, ctx));
    mark_free(ctx);
    h->cyc_cpu_mark = plat_thread_cpu_ns() - cpu;
    while (atomic_load(&h->debug_stall_sweep) && !atomic_load(&h->closed)) /* test hook */
        nanosleep(&(struct timespec){0, 50000}, NULL);
    cpu = plat_thread_cpu_ns();
    uint64_t t = plat_now_ns();
    sweep_finish(h);
    ev_record(h, EV_BG_SWEEP, t, plat_now_ns(), 0);
    h->cyc_cpu_sweep = plat_thread_cpu_ns() - cpu;
    cycle_end(h);
    return h->cyc_status;
}

/* ---- the incremental driver ---- */

/* finish_incremental — bring a running incremental cycle to its end
 * (mark_lock and gc_lock held). */
static void finish_incremental(tc_heap *h)
{
    if (atomic_load(&h->phase) == PHASE_MARK) {
        markctx *ctx = h->incr_ctx;
        do
            mark_drain(ctx, -1);
        while (!cycle_try_terminate(h, NULL, ctx));
        mark_free(ctx);
        h->incr_ctx = NULL;
    }
    if (atomic_load(&h->phase) == PHASE_SWEEP) {
        sweep_finish(h);
        cycle_end(h);
    }
}

/* incremental_step — one bounded slice of GC work by an allocating
 * mutator m (active on entry and on return). */
static void incremental_step(tc_mutator *m)
{
    tc_heap *h = m->heap;
    int phase = atomic_load(&h->phase);
    if (phase == PHASE_OFF && !over_trigger(h))
        return;
    if (phase == PHASE_SWEEP) {
        uint64_t t0 = plat_now_ns();
        int i = 0;
        while (i < INCR_SWEEP_BUDGET && sweep_step(h))
            i++;
        if (i)
            ev_record(h, EV_SWEEP, t0, plat_now_ns(), 0);
        if (!sweep_done(h))
            return;
    }
    if (pthread_mutex_trylock(&h->mark_lock) != 0)
        return; /* another mutator is doing this slice */
    if (phase == PHASE_MARK && h->incr_ctx) {
        /* the allocating mutator marks: that is its assist (assist_ns,
         * assist_marked), as with the concurrent collector */
        uint64_t cpu = plat_thread_cpu_ns(), t0 = plat_now_ns(), b0 = mark_bytes(h->incr_ctx);
        bool drained = mark_drain(h->incr_ctx, INCR_MARK_BUDGET);
        h->cyc_cpu_mark += plat_thread_cpu_ns() - cpu;
        uint64_t t1 = plat_now_ns();
        atomic_fetch_add(&h->assist_ns, t1 - t0);
        ev_record(h, EV_SLICE, t0, t1, mark_bytes(h->incr_ctx) - b0);
        atomic_fetch_add(&h->assist_marked, mark_bytes(h->incr_ctx) - b0);
        if (!drained) {
            pthread_mutex_unlock(&h->mark_lock);
            return;
        }
    }
    mutator_park(m);
    pthread_mutex_lock(&h->gc_lock);
    phase = atomic_load(&h->phase);
    if (phase == PHASE_MARK && h->incr_ctx && mark_drain(h->incr_ctx, 0)) {
        if (cycle_try_terminate(h, m, h->incr_ctx)) {
            mark_free(h->incr_ctx);
            h->incr_ctx = NULL;
        }
    } else if (phase == PHASE_SWEEP && sweep_done(h)) {
        cycle_end(h);
    } else if (phase == PHASE_OFF && over_trigger(h)) {
        if (h->cfg.gcstoptheworld) {
            run_stw_cycle(h, m, false);
        } else if ((h->incr_ctx = mark_new(h, true, false)) != NULL) {
            h->cyc_t3 = 0;
            cycle_start(h, m, h->incr_ctx, false);
            mark_push_handles(h->incr_ctx);
            special_push_finalizer_roots(h->incr_ctx);
        }
    }
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    mutator_unpark(m);
}

/* ---- the concurrent driver: the collector thread ---- */

static void run_concurrent_cycle(tc_heap *h, bool forced)
{
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    sweep_finish(h);
    tc_status st;
    if (h->cfg.gcstoptheworld)
        st = run_stw_cycle(h, NULL, forced);
    else
        st = run_full_cycle(h, forced);
    (void)st;
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
}

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
        run_concurrent_cycle(h, forced);
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

/* request — ask the collector thread for a cycle; with `wait`, block (the
 * caller is parked) until a cycle that started after the request is done. */
static tc_status request(tc_heap *h, bool forced, bool wait)
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

/* ---- entry points ---- */

/* assist_release — an assist gives back the grey work it holds (c may be
 * NULL) and stops counting in assists_holding. */
static void assist_release(tc_heap *h, markctx *c)
{
    if (c) {
        atomic_fetch_add(&h->assist_marked, mark_bytes(c));
        mark_flush(c);
    }
    atomic_fetch_sub(&h->assists_holding, 1);
}

/* assist — a mutator allocating during mark while the heap is past its
 * goal owes mark work in proportion to what it allocated (pacer.c), and
 * pays it by marking: it drains grey work from the global queue in slices
 * of ASSIST_SLICE candidates with its own marker (mark.c says how markers
 * share the mark bits), polling for a pause between slices. With no work
 * in sight it says it is hungry (a busy marker donates) and, parked, waits
 * for the background marker's progress. At most ASSIST_MAX_NS per outermost
 * heap call (one host operation; a long raw section counts as one call), so
 * no single operation stalls long — except at 95% of a memory limit, where
 * it works or waits until the mark ends. */
static void assist(tc_mutator *m, uint64_t bytes)
{
    tc_heap *h = m->heap;
    uint64_t heap_now = heap_alloc_estimate(h), goal = atomic_load(&h->goal);
    if (heap_now < goal || atomic_load(&h->no_start_before))
        return; /* on schedule, or capped near the memory limit */
    pthread_mutex_lock(&h->stats_lock);
    uint64_t expected = h->pacer.live, done0 = atomic_load(&h->mark_progress);
    uint64_t debt = pacer_assist_debt(&h->pacer, bytes, heap_now, expected > done0 ? expected - done0 : 1);
    pthread_mutex_unlock(&h->stats_lock);
    if (!debt)
        return;
    /* at a memory limit the heap must not run away while the marker is
     * starved of CPU: work until the cycle finishes, however long */
    int64_t limit = atomic_load(&h->memory_limit);
    bool at_limit = false;
    if (limit > 0) {
        pthread_mutex_lock(&h->lock);
        uint64_t in_use = h->sys_bytes - h->released_bytes; /* what the heap holds, free pages too */
        pthread_mutex_unlock(&h->lock);
        at_limit = heap_now >= (uint64_t)limit / 20 * 19 || in_use >= (uint64_t)limit / 20 * 19;
    }
    if (!at_limit && m->call_assist_ns >= ASSIST_MAX_NS)
        return; /* this heap call (one host operation) has paid its share */
    uint64_t budget = ASSIST_MAX_NS - (m->call_assist_ns < ASSIST_MAX_NS ? m->call_assist_ns : ASSIST_MAX_NS);
    if (!m->assist_ctx)
        m->assist_ctx = mark_new(h, true, false); /* NULL: no memory, only wait */
    markctx *c = m->assist_ctx;
    uint64_t t0 = plat_now_ns(), now = t0;
    /* while this assist may hold grey work in c, it counts in assists_holding:
     * the collector does not try to end the mark meanwhile (mark.c) */
    atomic_fetch_add(&h->assists_holding, 1);
    while (atomic_load(&h->phase) == PHASE_MARK && !atomic_load(&h->closed) &&
           (at_limit || (atomic_load(&h->mark_progress) < done0 + debt && now - t0 < budget))) {
        if (atomic_load_explicit(&h->stw, memory_order_relaxed)) { /* a pause wants this thread */
            assist_release(h, c);
            tc_safepoint(m);
            atomic_fetch_add(&h->assists_holding, 1);
        } else if (!c || mark_drain_assist(c, ASSIST_SLICE, ASSIST_JOIN_NS) != MARK_MORE) { /* no work to do now */
            assist_release(h, c);
            uint64_t before = atomic_load(&h->mark_progress);
            mutator_park(m);
            void *tok;
            block_begin(h, &tok);
            atomic_fetch_add(&h->mark_hungry, 1);
            for (unsigned i = 0; atomic_load(&h->phase) == PHASE_MARK && !atomic_load(&h->closed) && grey_empty(h) &&
                                 atomic_load(&h->mark_progress) == before && (at_limit || plat_now_ns() - t0 < budget);
                 i++)
                if ((i & 63) == 63)
                    sched_yield();
                else
                    plat_cpu_relax();
            atomic_fetch_sub(&h->mark_hungry, 1);
            block_end(h, tok);
            mutator_unpark(m);
            atomic_fetch_add(&h->assists_holding, 1);
        }
        now = plat_now_ns();
    }
    assist_release(h, c);
    uint64_t t1 = plat_now_ns(), spent = t1 - t0;
    m->call_assist_ns += spent;
    atomic_fetch_add(&h->assist_ns, spent);
    ev_record(h, at_limit ? EV_LIMIT_WAIT : EV_ASSIST, t0, t1, atomic_load(&h->mark_progress) - done0);
}

/* ---- the concurrent driver: a mutator at the goal ----
 *
 * Invariant: a mutator of a concurrent heap does not allocate past the goal
 * (which a memory limit lowers to 0.9 x limit - overhead: pacer.c) while no
 * mark runs. Assists hold allocation back only during MARK; in OFF (cycle
 * asked for, not started) and in SWEEP (the last cycle not ended, so no new
 * one can start) nothing did, and a collector thread the OS did not
 * schedule let a raw section allocate on without limit. So the slow path
 * (pace_concurrent), with the heap at its goal:
 *   SWEEP  sweeps what is left itself (as Go's gcStart does before a new
 *          cycle), then waits for the thread to end the cycle;
 *   OFF    past the trigger, asks for a cycle (as before), then waits until
 *          the thread has started it;
 *   MARK   assists (as before).
 * Before the goal it only asks: the thread has the runway to start marking.
 *
 * No deadlock. The waiter is parked (a pause goes on without it; its
 * barrier buffer is flushed), has released the host's lock (block hooks)
 * and holds no heap lock; starting and ending a cycle need nothing from it
 * (the thread marks and sweeps by itself; the assists-only test hook leaves
 * marking to assists only in MARK, when nobody waits here). Each wait ends
 * with a change that is broadcast on done_cond under ctl_lock: the cycle
 * started (cycle_start), a cycle ended (cycles_done, cycle_end), the thread
 * went idle (cycle_running), the heap closes (close_begin: stopping) or the
 * thread exits. The predicate is read under ctl_lock, and each of these
 * writes its change before it takes ctl_lock to broadcast, so no wake-up is
 * lost. A collector_hold (an inspect, free, scavenge or verify session, a
 * fork) delays the start; its holder never allocates inside its session,
 * so it never waits for the waiter. A forked child with no collector
 * thread takes the other path (collector_maybe_trigger) and waits for
 * nothing. Under the CPU cap near a memory limit (no_start_before) the
 * trigger is not passed, so nobody waits for a start the cap delays.
 *
 * No livelock: each wait returns after one of those changes, and the
 * mutator then allocates at least until its next slow path. */

/* wait_phase — wait, parked and with the host's lock released, while the
 * phase is still `from`, no cycle ended since `seen` (cycles_done), a cycle
 * is asked for or running, and the heap is open. Returns the phase now. */
static int wait_phase(tc_mutator *m, int from, uint64_t seen)
{
    tc_heap *h = m->heap;
    void *tok;
    mutator_park(m);
    block_begin(h, &tok);
    pthread_mutex_lock(&h->ctl_lock);
    while (atomic_load(&h->phase) == from && h->cycles_done == seen && !h->stopping &&
           (h->requested || h->cycle_running))
        pthread_cond_wait(&h->done_cond, &h->ctl_lock);
    pthread_mutex_unlock(&h->ctl_lock);
    block_end(h, tok);
    mutator_unpark(m);
    return atomic_load(&h->phase);
}

/* start_cycle — phase OFF, past the trigger: ask the thread for a cycle
 * unless one is asked for or about to start, and at the goal wait until it
 * started (or a whole one ended). A thread that ended its cycle but has not
 * yet cleared cycle_running (cycles_started == cycles_done) is asked again:
 * it would otherwise go idle and the wait would end with no cycle coming. */
static int start_cycle(tc_mutator *m)
{
    tc_heap *h = m->heap;
    bool at_goal = heap_alloc_estimate(h) >= atomic_load(&h->goal);
    pthread_mutex_lock(&h->ctl_lock);
    uint64_t seen = h->cycles_done;
    bool ask = !h->requested && (!h->cycle_running || h->cycles_started == h->cycles_done);
    pthread_mutex_unlock(&h->ctl_lock);
    if (ask)
        request(h, false, false);
    return at_goal ? wait_phase(m, PHASE_OFF, seen) : atomic_load(&h->phase);
}

/* finish_cycle — phase SWEEP, at the goal: sweep the rest (looking for a
 * pause between spans: the sweep is proportional to the heap, a pause must
 * not wait for it), then wait for the thread to end the cycle. Returns the
 * phase now (OFF: the caller tests the trigger against the new goal). */
static int finish_cycle(tc_mutator *m)
{
    tc_heap *h = m->heap;
    while (!atomic_load(&h->closed) && sweep_step(h))
        tc_safepoint(m);
    pthread_mutex_lock(&h->ctl_lock);
    uint64_t seen = h->cycles_done;
    pthread_mutex_unlock(&h->ctl_lock);
    return wait_phase(m, PHASE_SWEEP, seen);
}

/* pace_concurrent — the slow path's pacing on a concurrent heap with its
 * collector thread (the essay above). */
static void pace_concurrent(tc_mutator *m, uint64_t bytes)
{
    tc_heap *h = m->heap;
    int phase = atomic_load_explicit(&h->phase, memory_order_relaxed);
    if (phase == PHASE_SWEEP && heap_alloc_estimate(h) >= atomic_load(&h->goal))
        phase = finish_cycle(m);
    /* twice: a wait may end because the cycle that was ending when it
     * began has ended, with no new one asked for yet */
    for (int i = 0; i < 2 && phase == PHASE_OFF && over_trigger(h); i++)
        phase = start_cycle(m);
    if (phase == PHASE_MARK)
        assist(m, bytes);
}

/* collector_maybe_trigger — from an allocating mutator's slow path, after
 * it reported `bytes` of allocation. */
void collector_maybe_trigger(tc_mutator *m, uint64_t bytes)
{
    tc_heap *h = m->heap;
    switch (h->cfg.collector) {
    case TC_COLLECTOR_CONCURRENT:
        if (__builtin_expect(!h->thread_started, 0)) { /* no thread (it could not be restarted after a fork) */
            if (over_trigger(h))
                collector_cycle(h, m, false);
            break;
        }
        pace_concurrent(m, bytes);
        break;
    case TC_COLLECTOR_INCREMENTAL:
        incremental_step(m);
        break;
    case TC_COLLECTOR_STW:
        if (over_trigger(h))
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
    finish_incremental(h);
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
        st = request(h, forced, true);
    } else {
        void *tok = collector_quiesce(h);
        if (atomic_load(&h->closed))
            st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
        else if (forced || h->cycles_done == seen) /* else another thread just collected */
            st = (h->cfg.collector == TC_COLLECTOR_STW || h->cfg.gcstoptheworld) ? run_stw_cycle(h, m, forced)
                                                                                  : run_full_cycle(h, forced);
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

/* ---- the manual driver's steps (manual.c; mark_lock and gc_lock held, the
 * caller in no heap call): the incremental driver's own, one at a time ---- */

/* collector_manual_start — a forced cycle's start pause and roots (phase OFF). */
tc_status collector_manual_start(tc_heap *h)
{
    if (!(h->incr_ctx = mark_new(h, true, false)))
        return tc_fail(TC_ERR_NOMEM, "no memory for a marker");
    h->cyc_t3 = 0;
    cycle_start(h, NULL, h->incr_ctx, true);
    mark_push_handles(h->incr_ctx);
    special_push_finalizer_roots(h->incr_ctx);
    return TC_OK;
}

/* collector_manual_terminate — the termination pause (incr_ctx drained):
 * true once the phase is SWEEP (incr_ctx freed), false if grey work was
 * left; *marked += what it marked (the Dijkstra barrier's re-scan). */
bool collector_manual_terminate(tc_heap *h, uint64_t *marked)
{
    uint64_t before = mark_count(h->incr_ctx);
    bool done = cycle_try_terminate(h, NULL, h->incr_ctx);
    *marked += mark_count(h->incr_ctx) - before;
    if (!done)
        return false;
    mark_free(h->incr_ctx);
    h->incr_ctx = NULL;
    return true;
}

/* collector_manual_finish — the rest of the running cycle, as a whole-heap call finishes it. */
void collector_manual_finish(tc_heap *h) { finish_incremental(h); }

/* ---- test hooks (tests/c only, declared in check.h): drive an
 * incremental heap's cycle one step at a time, with no mutator inside a
 * heap call. ---- */

tc_status collector_debug_start(tc_heap *h)
{
    if (h->cfg.collector != TC_COLLECTOR_INCREMENTAL)
        return tc_fail(TC_ERR_STATE, "debug stepping needs the incremental collector");
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    finish_incremental(h);
    tc_status st = TC_OK;
    if (!(h->incr_ctx = mark_new(h, true, false))) {
        st = tc_fail(TC_ERR_NOMEM, "no memory for a marker");
    } else {
        h->cyc_t3 = 0;
        cycle_start(h, NULL, h->incr_ctx, true);
        mark_push_handles(h->incr_ctx);
        special_push_finalizer_roots(h->incr_ctx);
    }
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    return st;
}

void collector_debug_assists_only(tc_heap *h, bool on) { atomic_store(&h->debug_assists_only, on); }

void collector_debug_hold(tc_heap *h, bool on)
{
    if (on)
        collector_hold(h);
    else
        collector_release(h);
}

void collector_debug_stall_sweep(tc_heap *h, bool on) { atomic_store(&h->debug_stall_sweep, on); }

void collector_debug_checkmarks(tc_heap *h, uint64_t out[3])
{
    for (int i = 0; i < 3; i++)
        out[i] = atomic_load(&h->checkmarks[i]);
}

int collector_debug_phase(tc_heap *h) { return atomic_load_explicit(&h->phase, memory_order_relaxed); }

int collector_debug_color(tc_obj *o)
{
    arena *a = arena_of((uintptr_t)o);
    if (!a)
        return -1;
    return bit_test(a->markbits, a, (uintptr_t)o) ? 1 : bit_test(a->blackbits, a, (uintptr_t)o) ? 2 : 0;
}

void collector_debug_last_error(tc_heap *h, char *buf, size_t cap)
{
    pthread_mutex_lock(&h->ctl_lock);
    snprintf(buf, cap, "%s", h->last_errmsg);
    pthread_mutex_unlock(&h->ctl_lock);
}

bool collector_debug_mark(tc_heap *h, int64_t budget)
{
    pthread_mutex_lock(&h->mark_lock);
    bool done = !h->incr_ctx || mark_drain(h->incr_ctx, budget);
    pthread_mutex_unlock(&h->mark_lock);
    return done;
}

void collector_debug_mark_pair(tc_heap *h, int64_t slice)
{
    pthread_mutex_lock(&h->mark_lock);
    if (h->incr_ctx)
        mark_debug_pair(h->incr_ctx, slice);
    pthread_mutex_unlock(&h->mark_lock);
}

void collector_debug_blacken(tc_heap *h, tc_obj *o)
{
    pthread_mutex_lock(&h->mark_lock);
    if (h->incr_ctx)
        mark_blacken(h->incr_ctx, (uintptr_t)o);
    pthread_mutex_unlock(&h->mark_lock);
}

tc_status collector_debug_finish(tc_heap *h)
{
    pthread_mutex_lock(&h->mark_lock);
    pthread_mutex_lock(&h->gc_lock);
    finish_incremental(h);
    tc_status st = h->cyc_status;
    if (st != TC_OK)
        tc_fail(st, "%s", h->cyc_errmsg);
    pthread_mutex_unlock(&h->gc_lock);
    pthread_mutex_unlock(&h->mark_lock);
    return st;
}

/* ---- the scavenger ---- */

#define SCAVENGE_SLACK ((uint64_t)16 << 20) /* keep this much free memory beyond the goals */
#define SCAVENGE_WINDOW 8                    /* cycles whose goals the scavenger remembers */

/* scavenge_background — after a cycle: release free pages the heap will not
 * need soon: beyond 125% of the largest goal of the last SCAVENGE_WINDOW
 * cycles, plus a little. Remembering recent goals keeps a heap whose goal
 * wobbles from releasing pages one cycle and faulting them back the next
 * (GCBench did that for 540 MB); resident memory still follows the live
 * heap down a few cycles after a large structure dies. */
void scavenge_background(tc_heap *h)
{
    uint64_t goal = atomic_load(&h->goal);
    h->goal_history[h->num_gc % SCAVENGE_WINDOW] = goal;
    for (int i = 0; i < SCAVENGE_WINDOW; i++)
        if (h->goal_history[i] > goal)
            goal = h->goal_history[i];
    pthread_mutex_lock(&h->lock);
    uint64_t in_use = h->sys_bytes - h->released_bytes;
    uint64_t keep = goal == UINT64_MAX ? in_use : goal + goal / 4 + SCAVENGE_SLACK;
    int64_t limit = atomic_load(&h->memory_limit);
    if (limit > 0 && keep > (uint64_t)limit / 20 * 19) /* under a memory limit, free pages count against it */
        keep = (uint64_t)limit / 20 * 19;
    uint64_t t = 0, got = 0;
    if (in_use > keep) {
        t = plat_now_ns();
        got = pages_scavenge(h, in_use - keep);
    }
    pthread_mutex_unlock(&h->lock);
    if (t)
        ev_record(h, EV_SCAVENGE, t, plat_now_ns(), got);
}

tc_status tc_heap_scavenge(tc_heap *h, uint64_t *released)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    void *tok = collector_quiesce(h); /* every span swept: all free pages are on the free lists */
    pthread_mutex_lock(&h->lock);
    uint64_t n = pages_scavenge(h, UINT64_MAX);
    pthread_mutex_unlock(&h->lock);
    collector_unquiesce(h, tok);
    if (released)
        *released = n;
    return TC_OK;
}
