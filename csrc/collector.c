/*
 * collector.c — the collection cycle and when to run it.
 *
 * The "stw" collector runs Go's cycle with every phase inside one pause, on
 * the thread that asked for it (an allocating mutator past the trigger, or
 * tc_heap_collect):
 *
 *   1. stop the world: wait until no other mutator is inside a heap call
 *      (mutator.c); flush every allocation cache;
 *   2. mark from the roots (mark.c); with checkmark, mark again into the
 *      check bits and compare (check.c);
 *   3. sweep every span (sweep.c): unmarked objects are freed, empty spans
 *      go back to the page heap;
 *   4. set the next goal and trigger, start the world, record the pause,
 *      queue the gctrace line and trace events.
 *
 * One cycle at a time: gc_lock is held for the whole cycle. A thread waits
 * for gc_lock only while parked (not counted as active), so a cycle never
 * waits for a thread that waits for it.
 *
 * Trigger (a simple one until the pacer): collect when the heap reaches
 *   goal = live * (1 + gogc/100), at least 4 MiB * gogc/100 (Go's heapMinimum),
 * lowered to memory_limit when one is set; gogc = -1 means no proportional
 * goal, so only the memory limit (if any) starts cycles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

/* collector_update_trigger — recompute goal and trigger from heap_live and
 * the tunables (gc_lock held, or heap creation). */
void collector_update_trigger(tc_heap *h)
{
    int64_t gogc = atomic_load(&h->gogc), limit = atomic_load(&h->memory_limit);
    uint64_t goal = UINT64_MAX;
    if (gogc >= 0) {
        uint64_t base = h->heap_live;
        goal = base + base / 100 * (uint64_t)gogc + base % 100 * (uint64_t)gogc / 100;
        uint64_t floor = HEAP_MIN_TRIGGER / 100 * (uint64_t)gogc;
        if (goal < floor)
            goal = floor;
    }
    if (limit > 0 && (uint64_t)limit < goal)
        goal = (uint64_t)limit;
    atomic_store(&h->goal, goal);
    atomic_store(&h->trigger, goal);
}

static inline uint64_t heap_alloc_estimate(tc_heap *h)
{
    return h->heap_live + atomic_load_explicit(&h->flushed_bytes, memory_order_relaxed);
}

/* collector_maybe_trigger — called by an allocating mutator (active) after
 * reporting its allocation: run a cycle if the heap passed the trigger. */
void collector_maybe_trigger(tc_mutator *m)
{
    tc_heap *h = m->heap;
    if (heap_alloc_estimate(h) >= atomic_load_explicit(&h->trigger, memory_order_relaxed))
        collector_cycle(h, m, false);
}

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
    if (dec == 0) {
        snprintf(buf, cap, "%llu", (unsigned long long)x);
        return;
    }
    uint64_t p = 1;
    for (int i = 0; i < dec; i++)
        p *= 10;
    snprintf(buf, cap, "%llu.%0*llu", (unsigned long long)(x / p), dec, (unsigned long long)(x % p));
}

typedef struct cycle_times {
    uint64_t t0, t1, t2, t3;       /* requested, world stopped, mark done, sweep done */
    uint64_t cpu_mark, cpu_sweep;  /* CPU ns of the collecting thread */
    uint64_t heap0, heap1, live;   /* bytes: at start, at end of mark, live after */
} cycle_times;

static void queue_gctrace(tc_heap *h, const cycle_times *ct)
{
    char a[32], b[32], c[32], ca[32], cb[32], cc[32];
    fmt_ms(a, sizeof a, ct->t1 - ct->t0);
    fmt_ms(b, sizeof b, ct->t2 - ct->t1);
    fmt_ms(c, sizeof c, ct->t3 - ct->t2);
    fmt_ms(ca, sizeof ca, 0);
    fmt_ms(cb, sizeof cb, ct->cpu_mark);
    fmt_ms(cc, sizeof cc, ct->cpu_sweep);
    uint64_t elapsed = ct->t3 - h->start_ns;
    unsigned pct = elapsed ? (unsigned)(h->gc_cpu_ns * 100 / elapsed) : 0;
    char *line = malloc(256);
    if (!line)
        return;
    snprintf(line, 256, "gc %llu @%.3fs %u%%: %s+%s+%s ms clock, %s+0/%s/0+%s ms cpu, %llu->%llu->%llu MB, "
             "%llu MB goal, %d P", (unsigned long long)h->num_gc, (double)elapsed / 1e9, pct > 100 ? 100 : pct,
             a, b, c, ca, cb, cc, (unsigned long long)(ct->heap0 >> 20), (unsigned long long)(ct->heap1 >> 20),
             (unsigned long long)(ct->live >> 20), (unsigned long long)(atomic_load(&h->goal) >> 20),
             h->cfg.mark_workers);
    out_push(h, line);
}

static void trace_cycle(tc_heap *h, const cycle_times *ct)
{
    trace_emit(h, "GC cycle", 'X', ct->t0, ct->t3 - ct->t0, h->num_gc);
    trace_emit(h, "STW pause", 'X', ct->t1, ct->t3 - ct->t1, h->num_gc);
    trace_emit(h, "mark", 'X', ct->t1, ct->t2 - ct->t1, h->num_gc);
    trace_emit(h, "sweep", 'X', ct->t2, ct->t3 - ct->t2, h->num_gc);
    trace_emit(h, "heap_alloc", 'C', ct->t0, 0, ct->heap0);
    trace_emit(h, "heap_alloc", 'C', ct->t3, 0, ct->live);
}

/* flush_all — every mutator's cache and unreported allocation (world stopped). */
static void flush_all(tc_heap *h)
{
    pthread_mutex_lock(&h->lock);
    for (tc_mutator *m = h->mutators; m; m = m->next) {
        alloc_flush_cache(m);
        m->unflushed = 0;
    }
    pthread_mutex_unlock(&h->lock);
}

/* run_cycle — phases 1-4 with gc_lock held. */
static tc_status run_cycle(tc_heap *h, tc_mutator *self, bool forced)
{
    cycle_times ct = {0};
    tc_status st = TC_OK;
    ct.t0 = plat_now_ns();
    world_stop(h, self);
    ct.t1 = plat_now_ns();
    uint64_t cpu0 = plat_thread_cpu_ns();
    uint64_t mallocs, total;
    int64_t roots;
    stats_totals(h, &mallocs, &total, &roots);
    ct.heap0 = ct.heap1 = total - h->freed_bytes;
    flush_all(h);
    atomic_store(&h->phase, 1);
    mark_heap(h, false);
    if (h->cfg.checkmark)
        st = check_marks(h);
    ct.t2 = plat_now_ns();
    uint64_t cpu1 = plat_thread_cpu_ns();
    atomic_store(&h->phase, 2);
    sweep_all(h);
    atomic_store_explicit(&h->flushed_bytes, 0, memory_order_relaxed);
    h->heap_live = ct.live = h->heap_marked;
    ct.t3 = plat_now_ns();
    ct.cpu_mark = cpu1 - cpu0;
    ct.cpu_sweep = plat_thread_cpu_ns() - cpu1;
    h->num_gc++;
    if (forced)
        h->num_forced_gc++;
    h->mark_ns += ct.t2 - ct.t1;
    h->sweep_ns += ct.t3 - ct.t2;
    h->mark_cpu_ns += ct.cpu_mark;
    h->sweep_cpu_ns += ct.cpu_sweep;
    h->gc_cpu_ns += ct.cpu_mark + ct.cpu_sweep;
    collector_update_trigger(h);
    atomic_store(&h->phase, 0);
    stats_record_pause(h, ct.t3 - ct.t0);
    world_start(h);
    if (h->cfg.gctrace)
        queue_gctrace(h, &ct);
    trace_cycle(h, &ct);
    return st;
}

/* collector_cycle — run one cycle. `m` is the calling thread's mutator,
 * active (inside a heap call), or NULL. Returns with m active again. */
tc_status collector_cycle(tc_heap *h, tc_mutator *m, bool forced)
{
    uint64_t seen = h->num_gc;
    if (m)
        mutator_park(m);
    void *tok;
    block_begin(h, &tok);
    pthread_mutex_lock(&h->gc_lock);
    tc_status st = TC_OK;
    if (atomic_load(&h->closed))
        st = tc_fail(TC_ERR_CLOSED, "the heap is closed");
    else if (forced || h->num_gc == seen) /* another thread may have just collected */
        st = run_cycle(h, m, forced);
    pthread_mutex_unlock(&h->gc_lock);
    block_end(h, tok);
    if (m)
        mutator_unpark(m);
    return st;
}
