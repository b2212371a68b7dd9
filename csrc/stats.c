/*
 * stats.c — counters, the pause ring, and the stats field table both
 * bindings build their Stats objects from (the gctrace queue: gctrace.c).
 *
 * Allocation and handle counters live in each mutator (written by its
 * owner, read relaxed here) so the fast paths share no cache line; cycle
 * counters live in the heap, written under gc_lock. A snapshot takes gc_lock
 * (without counting as a mutator), so it never sees half a cycle.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "platform.h"

/* stats_pause_total — the heap's stop-the-world time so far. */
uint64_t stats_pause_total(tc_heap *h) { return stats_pause_mark(h).total; }

/* stats_pause_mark — the pauses so far: count, total, the last one's bounds. */
pause_mark stats_pause_mark(tc_heap *h)
{
    pthread_mutex_lock(&h->stats_lock);
    uint64_t n = h->npauses_total;
    pause_mark p = {n, h->pause_total_ns, n ? h->pause_ends[(n - 1) % TC_PAUSE_RING] - h->pauses[(n - 1) % TC_PAUSE_RING] : 0,
                    n ? h->pause_ends[(n - 1) % TC_PAUSE_RING] : 0};
    pthread_mutex_unlock(&h->stats_lock);
    return p;
}

/* stats_record_around_pauses — a GC step [t0, t1] on a program thread as
 * delay of kind k beside the pauses inside it (events of their own): with
 * one pause, the pieces before and after it, so that no two delay
 * intervals overlap and delay_total is the sum of the intervals; with
 * more, one interval counted net of them. */
void stats_record_around_pauses(tc_heap *h, int k, uint64_t t0, uint64_t t1, pause_mark since)
{
    pause_mark now = stats_pause_mark(h);
    if (now.count == since.count) {
        ev_record(h, (ev_kind)k, t0, t1, 0);
    } else if (now.count == since.count + 1 && t0 <= now.last_start && now.last_end <= t1) {
        if (now.last_start > t0)
            ev_record(h, (ev_kind)k, t0, now.last_start, 0);
        if (t1 > now.last_end)
            ev_record(h, (ev_kind)k, now.last_end, t1, 0);
    } else {
        uint64_t paused = now.total - since.total;
        ev_record_net(h, (ev_kind)k, t0, t1, t1 - t0 > paused ? t1 - t0 - paused : 0);
    }
}

void stats_record_pause(tc_heap *h, uint64_t start, uint64_t end)
{
    uint64_t ns = end - start;
    h->pause_ends[h->npauses_total % TC_PAUSE_RING] = end;
    h->pauses[h->npauses_total % TC_PAUSE_RING] = ns;
    h->npauses_total++;
    h->pause_total_ns += ns;
    if (ns > h->pause_max_ns)
        h->pause_max_ns = ns;
    ev_pause(h, start, end); /* under stats_lock with pause_total (events.c: delay >= pause) */
}

/* sum_mutators — the per-mutator counters, summed in one walk under
 * mut_lock; the write barrier's too when `out` is not NULL. */
static void sum_mutators(tc_heap *h, uint64_t *mallocs, uint64_t *alloc_bytes, int64_t *roots, tc_stats *out)
{
    uint64_t ma = 0, by = 0, n = 0;
    int64_t r = 0;
    pthread_mutex_lock(&h->mut_lock);
    for (tc_mutator *m = h->mutators; m; m = m->next, n++) {
        uint64_t objects, bytes;
        alloc_totals(m, &objects, &bytes);
        ma += objects;
        by += bytes;
        r += (int64_t)(atomic_load_explicit(&m->roots_new, memory_order_relaxed) -
                       atomic_load_explicit(&m->roots_del, memory_order_relaxed));
        if (out) {
            out->barrier_slow += atomic_load_explicit(&m->barrier_slow, memory_order_relaxed);
            out->barrier_shaded += atomic_load_explicit(&m->barrier_shaded, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&h->mut_lock);
    if (atomic_load_explicit(&h->stw, memory_order_relaxed)) /* a walk inside a pause (cycle.c's test hook) */
        atomic_fetch_add_explicit(&h->flush_visited, n, memory_order_relaxed);
    *mallocs = ma;
    *alloc_bytes = by;
    *roots = r + atomic_load(&h->roots_global);
}

/* stats_totals — sums of the per-mutator counters. */
void stats_totals(tc_heap *h, uint64_t *mallocs, uint64_t *alloc_bytes, int64_t *roots)
{
    sum_mutators(h, mallocs, alloc_bytes, roots, NULL);
}

/* stats_heap_alloc — bytes allocated and not freed (heap_alloc), from the
 * mutators' counters and the sweep's; 0 rather than a wrapped value if a
 * free was counted before its allocation was summed. */
uint64_t stats_heap_alloc(tc_heap *h)
{
    uint64_t mallocs, total;
    int64_t roots;
    sum_mutators(h, &mallocs, &total, &roots, NULL);
    pthread_mutex_lock(&h->lock);
    uint64_t freed = h->freed_bytes;
    pthread_mutex_unlock(&h->lock);
    return total > freed ? total - freed : 0;
}

static const char *const phase_names[] = {"off", "mark", "sweep"};

tc_status tc_heap_stats(tc_heap *h, tc_stats *out)
{
    if (atomic_load(&h->closed))
        return tc_fail(TC_ERR_CLOSED, "the heap is closed");
    memset(out, 0, sizeof *out);
    uint64_t mallocs, total;
    int64_t roots;
    sum_mutators(h, &mallocs, &total, &roots, out); /* mut_lock, held alone: it ranks above lock and stats_lock */
    pthread_mutex_lock(&h->lock);
    uint64_t frees = h->frees, freed_bytes = h->freed_bytes;
    out->heap_sys = h->sys_bytes;
    out->gc_sys = h->gc_sys_bytes;
    out->assist_marked = atomic_load(&h->assist_marked);
    out->mark_regions_shared = atomic_load(&h->mark_regions_shared);
    out->heap_released = h->released_bytes;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&h->stats_lock);
    out->total_alloc = total;
    out->mallocs = mallocs < frees ? frees : mallocs;
    out->frees = frees;
    out->heap_alloc = total > freed_bytes ? total - freed_bytes : 0;
    out->heap_objects = out->mallocs - frees;
    out->heap_live = h->heap_live;
    out->heap_marked = h->heap_marked;
    out->heap_goal = atomic_load(&h->goal) == UINT64_MAX ? 0 : atomic_load(&h->goal);
    out->num_gc = h->num_gc;
    out->num_forced_gc = h->num_forced_gc;
    out->pause_total_ns = h->pause_total_ns;
    out->pause_max_ns = h->pause_max_ns;
    uint64_t n = h->npauses_total < TC_PAUSE_RING ? h->npauses_total : TC_PAUSE_RING;
    for (uint64_t i = 0; i < n; i++) {
        out->pauses_ns[i] = h->pauses[(h->npauses_total - n + i) % TC_PAUSE_RING];
        out->pause_end_ns[i] = h->pause_ends[(h->npauses_total - n + i) % TC_PAUSE_RING];
    }
    out->delay_total_ns = atomic_load_explicit(&h->ev.delay_total, memory_order_relaxed);
    out->delay_max_ns = atomic_load_explicit(&h->ev.delay_max, memory_order_relaxed);
    out->events_dropped = atomic_load_explicit(&h->ev.dropped, memory_order_relaxed);
    hist_read(&h->ev.pause_hist, out->pause_hist);
    hist_read(&h->ev.delay_hist, out->mutator_delay_hist);
    out->npauses = (uint32_t)n;
    uint64_t elapsed = plat_now_ns() - h->start_ns;
    /* GC CPU: the collector's (and its mark workers') plus the concurrent
     * assists' (the mutators' own threads: Go counts its assists too) */
    uint64_t assist_cpu = atomic_load(&h->assist_cpu_ns), gc_cpu = h->gc_cpu_ns + assist_cpu;
    double f = elapsed ? (double)gc_cpu / (double)elapsed : 0.0;
    out->gc_cpu_fraction = f < 0 ? 0 : f > 1 ? 1 : f;
    out->assist_ns = atomic_load(&h->assist_ns);
    out->roots = roots < 0 ? 0 : (uint64_t)roots;
    out->finalizers_pending = atomic_load(&h->nready);
    out->weak_refs = atomic_load(&h->nweak);
    out->mark_ns = h->mark_ns;
    out->sweep_ns = h->sweep_ns;
    out->mark_cpu_ns = h->mark_cpu_ns + assist_cpu;
    out->sweep_cpu_ns = h->sweep_cpu_ns;
    out->phase = phase_names[atomic_load(&h->phase)];
    out->collector = tc_collector_name(h->cfg.collector);
    out->barrier = tc_barrier_name(h->cfg.barrier);
    pthread_mutex_unlock(&h->stats_lock);
    return TC_OK;
}

/* The field table. Each doc says what the field counts, its unit and its Go
 * counterpart (a runtime.MemStats field or a runtime/metrics name), so that
 * Python's help(tricolor.Stats) and the docs come from this one list. */
#define F(name, type, doc) {#name, type, offsetof(tc_stats, name), doc}
static const tc_stats_field fields[] = {
    F(heap_alloc, TC_FIELD_U64, "Bytes in allocated objects, including garbage not yet swept. "
      "Unit: bytes. Go: MemStats.HeapAlloc, /memory/classes/heap/objects:bytes."),
    F(heap_live, TC_FIELD_U64, "Bytes marked live by the last cycle (an estimate from its mark "
      "termination until its sweep ends). Unit: bytes. Go: /gc/heap/live:bytes."),
    F(heap_objects, TC_FIELD_U64, "Objects allocated and not yet freed (mallocs - frees). "
      "Unit: objects. Go: MemStats.HeapObjects, /gc/heap/objects:objects."),
    F(heap_sys, TC_FIELD_U64, "Bytes of heap memory obtained from the OS (arenas), released "
      "pages included. Unit: bytes. Go: MemStats.HeapSys."),
    F(heap_released, TC_FIELD_U64, "Bytes of heap memory returned to the OS and not reused since. "
      "Unit: bytes. Go: MemStats.HeapReleased, /memory/classes/heap/released:bytes."),
    F(heap_goal, TC_FIELD_U64, "The heap size the pacer aims to finish the next cycle at (0: no "
      "goal, gogc and memory limit off). Unit: bytes. Go: MemStats.NextGC, /gc/heap/goal:bytes."),
    F(total_alloc, TC_FIELD_U64, "Bytes allocated since the heap was made (never decreases). "
      "Unit: bytes. Go: MemStats.TotalAlloc, /gc/heap/allocs:bytes."),
    F(mallocs, TC_FIELD_U64, "Objects allocated since the heap was made. Unit: objects. "
      "Go: MemStats.Mallocs, /gc/heap/allocs:objects."),
    F(frees, TC_FIELD_U64, "Objects freed since the heap was made (by sweeps and unsafe.free). "
      "Unit: objects. Go: MemStats.Frees, /gc/heap/frees:objects."),
    F(num_gc, TC_FIELD_U64, "Completed cycles. Unit: cycles. Go: MemStats.NumGC, "
      "/gc/cycles/total:gc-cycles."),
    F(num_forced_gc, TC_FIELD_U64, "Completed cycles that collect() asked for. Unit: cycles. "
      "Go: MemStats.NumForcedGC, /gc/cycles/forced:gc-cycles."),
    F(pause_total_ns, TC_FIELD_U64, "Total stop-the-world pause time. Unit: nanoseconds. "
      "Go: MemStats.PauseTotalNs."),
    F(pause_max_ns, TC_FIELD_U64, "The longest stop-the-world pause. Unit: nanoseconds. Go: none "
      "(the top of the /sched/pauses/total/gc:seconds histogram)."),
    F(pauses_ns, TC_FIELD_PAUSES, "The last (at most 256) stop-the-world pauses, oldest first. "
      "Unit: nanoseconds. Go: MemStats.PauseNs (a ring indexed by NumGC instead)."),
    F(gc_cpu_fraction, TC_FIELD_DOUBLE, "GC CPU time (the collector thread, its mark workers, "
      "the mark assists' thread CPU) over the wall time since the heap was made, at most 1. Unit: fraction. Go: MemStats.GCCPUFraction (which divides by "
      "GOMAXPROCS too)."),
    F(assist_ns, TC_FIELD_U64, "Time program threads spent marking (mark assists, incremental "
      "slices). Unit: nanoseconds. Go: /cpu/classes/gc/mark/assist:cpu-seconds."),
    F(roots, TC_FIELD_U64, "Live handles (host references to objects), each a root. Unit: "
      "handles. Go: none (Go's roots are stacks and globals)."),
    F(finalizers_pending, TC_FIELD_U64, "Finalizers and cleanups due but not yet run. Unit: "
      "callbacks. Go: none (the runtime's finalizer queue)."),
    F(weak_refs, TC_FIELD_U64, "Live weak references. Unit: weak references. Go: none."),
    F(phase, TC_FIELD_STRING, "The collector's phase: \"off\", \"mark\" or \"sweep\". Unit: "
      "name. Go: none (the runtime's internal gcphase)."),
    F(collector, TC_FIELD_STRING, "The collector: \"concurrent\", \"incremental\" or \"stw\". "
      "Unit: name. Go: none (Go's collector is concurrent)."),
    F(barrier, TC_FIELD_STRING, "The configured write barrier: \"hybrid\", \"dijkstra\" or "
      "\"yuasa\". Unit: name. Go: none (Go uses the hybrid barrier)."),
    F(mark_ns, TC_FIELD_U64, "Wall time from the end of the start pause to mark termination, "
      "all cycles. "
      "Unit: nanoseconds. Go: none (the GC trace's mark phases)."),
    F(sweep_ns, TC_FIELD_U64, "Wall time from mark termination to the end of the sweep, all "
      "cycles. Unit: nanoseconds. Go: none."),
    F(mark_cpu_ns, TC_FIELD_U64, "CPU time of marking (the collector thread, its mark workers, "
      "incremental slices and mark assists), all cycles; unlike gc_cpu_fraction never capped. Unit: "
      "nanoseconds. Go: /cpu/classes/gc/mark/dedicated:cpu-seconds."),
    F(sweep_cpu_ns, TC_FIELD_U64, "CPU time of the collector's sweeps, all cycles. Unit: "
      "nanoseconds. Go: none (Go counts sweeping as program time)."),
    F(heap_marked, TC_FIELD_U64, "Bytes the last cycle's sweep found live (exact). Unit: bytes. "
      "Go: the runtime's heapMarked, /gc/heap/live:bytes."),
    F(gc_sys, TC_FIELD_U64, "Bytes of collector metadata (bitmaps, span structs), not in "
      "heap_sys. Unit: bytes. Go: MemStats.GCSys, /memory/classes/metadata/other:bytes."),
    F(assist_marked, TC_FIELD_U64, "Bytes marked by mark assists and incremental slices, all "
      "cycles. Unit: bytes. Go: none."),
    F(mark_regions_shared, TC_FIELD_U64, "Mark-bit regions two markers wanted at once, so "
      "shared, all cycles. Unit: regions. Go: none."),
    F(pause_end_ns, TC_FIELD_PAUSES, "When each pause in pauses_ns ended (same order), on the "
      "monotonic clock of tricolor.now_ns() and of mmu's worst_start_ns. Unit: nanoseconds. "
      "Go: MemStats.PauseEnd (which uses wall-clock time)."),
    F(delay_total_ns, TC_FIELD_U64, "Mutator delay: every stop-the-world pause plus every interval "
      "a program thread spent inside a heap call doing or waiting for GC work (mark assist, "
      "incremental slice, lazy sweep, limit wait); always >= pause_total_ns. Unit: nanoseconds. "
      "Go: none (the assist and pause CPU classes come closest)."),
    F(delay_max_ns, TC_FIELD_U64, "The longest single mutator-delay interval (see delay_total_ns). "
      "Unit: nanoseconds. Go: none."),
    F(events_dropped, TC_FIELD_U64, "GC events the bounded event ring (option events_ring) lost "
      "before mmu() or a trace read them: mmu's curve has a gap. The histograms and totals never "
      "lose any. Unit: events. Go: none."),
    F(barrier_slow, TC_FIELD_U64, "Slot stores that went through the write barrier's slow path "
      "(stores while a mark ran, or under the manual collector between gc_start and the sweep), all "
      "cycles. Unit: stores. Go: none (the runtime's write-barrier buffer flushes come closest)."),
    F(barrier_shaded, TC_FIELD_U64, "Objects the write barrier greyed (a store's old or new "
      "value, a handle made or released) that were still white, all cycles; two threads greying "
      "one object at once count twice. Unit: objects. Go: none."),
    F(pause_hist, TC_FIELD_HIST, "Stop-the-world pauses as a log-bucketed histogram: "
      "{bounds_ns: [b0, b1, ...], counts: [c0, ...]}, counts[i] counts pauses in [b[i], b[i+1]) "
      "(8 buckets per power of two, the last bound +inf as 2^64-1). Unit: nanoseconds (bounds), "
      "pauses (counts). Go: /sched/pauses/total/gc:seconds (formerly /gc/pauses:seconds)."),
    F(mutator_delay_hist, TC_FIELD_HIST, "Every mutator-delay interval (see delay_total_ns) as a "
      "histogram shaped like pause_hist. Unit: nanoseconds (bounds), intervals (counts). Go: none."),
};
#undef F

const tc_stats_field *tc_stats_fields(size_t *count)
{
    *count = sizeof fields / sizeof fields[0];
    return fields;
}
