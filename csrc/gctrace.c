/*
 * gctrace.c — what a finished cycle tells the user: its gctrace line (Go's
 * format, runtime/extern.go: clock and CPU times per phase, heap sizes,
 * goal, workers), queued for the host to print, and its spans in a running
 * Chrome trace. gctrace.h states the queue's invariants.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gctrace.h"
#include "heap.h"
#include "platform.h"

/* out_push — queue a line (malloc'd; the queue owns it), dropping the
 * oldest when full. Any thread. */
static void out_push(tc_heap *h, char *line)
{
    pthread_mutex_lock(&h->out_lock);
    if (h->out_count == OUT_MAX_LINES) { /* drop the oldest */
        free(h->out_lines[h->out_head]);
        h->out_head = (h->out_head + 1) % OUT_MAX_LINES;
        h->out_count--;
    }
    h->out_lines[(h->out_head + h->out_count) % OUT_MAX_LINES] = line;
    h->out_count++;
    atomic_store_explicit(&h->out_pending, h->out_count, memory_order_release);
    pthread_mutex_unlock(&h->out_lock);
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

/* queue_gctrace — the cycle's line in Go's gctrace format (runtime/extern.go). */
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
    uint64_t gc_cpu = h->gc_cpu_ns + atomic_load(&h->assist_cpu_ns); /* as gc_cpu_fraction: stats.c */
    unsigned pct = elapsed ? (unsigned)(gc_cpu * 100 / elapsed) : 0;
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


/* gctrace_cycle — after cycle_end's figures (gc_lock held): the gctrace
 * line if asked, and the cycle's spans and counters in a running trace. */
void gctrace_cycle(tc_heap *h)
{
    if (h->cfg.gctrace)
        queue_gctrace(h);
    trace_emit(h, "GC cycle", 'X', h->cyc_t0, h->cyc_t5 - h->cyc_t0, h->num_gc);
    if (h->cyc_t4 > h->cyc_t2)
        trace_emit(h, "mark phase", 'X', h->cyc_t2, h->cyc_t4 - h->cyc_t2, h->num_gc);
    trace_emit(h, "sweep phase", 'X', h->cyc_t4, h->cyc_t5 - h->cyc_t4, h->num_gc); /* not "sweep": that kind is a lazy sweep */
    trace_emit(h, "heap_alloc", 'C', h->cyc_t0, 0, h->cyc_heap0);
    trace_counters(h, true);
}

bool tc_heap_has_output(const tc_heap *h)
{
    return atomic_load_explicit(&((tc_heap *)h)->out_pending, memory_order_acquire) != 0;
}

void tc_heap_drain_output(tc_heap *h, tc_line_sink sink, void *ud)
{
    while (tc_heap_has_output(h)) {
        pthread_mutex_lock(&h->out_lock);
        char *line = NULL;
        if (h->out_count) {
            line = h->out_lines[h->out_head];
            h->out_head = (h->out_head + 1) % OUT_MAX_LINES;
            h->out_count--;
        }
        atomic_store_explicit(&h->out_pending, h->out_count, memory_order_release);
        pthread_mutex_unlock(&h->out_lock);
        if (!line)
            return;
        if (sink)
            sink(ud, line);
        free(line);
    }
}
